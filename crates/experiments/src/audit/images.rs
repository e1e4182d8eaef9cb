//! Images for the vision audit (`eigenformer audit --images DIR`): every JPEG/PNG file of a
//! directory (sorted by name), resized, centre-cropped to `crop × crop`, scaled to [0, 1] and
//! normalised per channel, as the checkpoint's `preprocessor_config.json` says, or flags.
//!
//! The resize follows transformers' image processors: `size: {shortest_edge: s}` (DINOv2) keeps
//! the aspect ratio with the shorter side `s` and the longer `⌊s · long / short⌋`;
//! `size: {height: s, width: s}` (ViT, DeiT) resizes both sides to `s`. The resampling filter is
//! the config's `resample` (PIL's codes: 0 nearest, 1 Lanczos, 2 bilinear, 3 bicubic), applied
//! with the support widened when downscaling, as PIL does. The pixel values agree with
//! transformers' to within a few 1/255 steps (tests/preprocess_reference.rs).

use image::imageops::FilterType;
use ndarray::Array3;
use serde_json::Value;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why images could not be read.
#[derive(Debug, Error)]
pub enum ImageError {
    /// The directory could not be listed.
    #[error("{}: {source}", dir.display())]
    Dir {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file that is not a readable image.
    #[error("{}: not a readable image: {reason}", file.display())]
    Unreadable {
        /// The file.
        file: PathBuf,
        /// The decoder's message.
        reason: String,
    },
    /// No image in the directory.
    #[error("{}: no .jpg, .jpeg or .png files", dir.display())]
    Empty {
        /// The directory.
        dir: PathBuf,
    },
    /// Inconsistent preprocessing settings.
    #[error("image preprocessing: {0}")]
    Settings(String),
}

/// How the image is resized before the crop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResizeMode {
    /// The shorter side to `resize` pixels, the aspect ratio kept (`size.shortest_edge`).
    ShortestEdge,
    /// Both sides to `resize` pixels (`size.height` = `size.width`).
    Exact,
}

/// The resampling filter (PIL's `resample` codes in brackets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resample {
    /// `0`.
    Nearest,
    /// `1`, Lanczos with a = 3.
    Lanczos,
    /// `2`, triangle.
    Bilinear,
    /// `3`, the cubic with a = −0.5 (Catmull–Rom).
    Bicubic,
}

impl Resample {
    /// From PIL's code, as `preprocessor_config.json` stores it.
    pub fn from_pil(code: u64) -> Result<Resample, ImageError> {
        match code {
            0 => Ok(Resample::Nearest),
            1 => Ok(Resample::Lanczos),
            2 => Ok(Resample::Bilinear),
            3 => Ok(Resample::Bicubic),
            _ => Err(ImageError::Settings(format!(
                "resample {code} is not supported (0 nearest, 1 Lanczos, 2 bilinear, 3 bicubic)"
            ))),
        }
    }

    fn filter(self) -> FilterType {
        match self {
            Resample::Nearest => FilterType::Nearest,
            Resample::Lanczos => FilterType::Lanczos3,
            Resample::Bilinear => FilterType::Triangle,
            Resample::Bicubic => FilterType::CatmullRom,
        }
    }
}

/// How images are turned into the model's input.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocess {
    /// The resized shorter side (or both sides, [`ResizeMode::Exact`]), pixels.
    pub resize: u32,
    /// How `resize` applies.
    pub mode: ResizeMode,
    /// The resampling filter.
    pub resample: Resample,
    /// The side of the centre crop (the model's input), pixels.
    pub crop: u32,
    /// Per-channel mean (after scaling to [0, 1]).
    pub mean: [f32; 3],
    /// Per-channel standard deviation.
    pub std: [f32; 3],
}

/// ImageNet's channel statistics (DINOv2, DeiT).
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet's channel standard deviations.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];

impl Preprocess {
    /// DINOv2's processor: shorter side 256 (bicubic), crop 224, ImageNet statistics.
    pub fn dinov2() -> Preprocess {
        Preprocess {
            resize: 256,
            mode: ResizeMode::ShortestEdge,
            resample: Resample::Bicubic,
            crop: 224,
            mean: IMAGENET_MEAN,
            std: IMAGENET_STD,
        }
    }

    /// HF ViT's processor for an `image_size` model: both sides to the size (bilinear), no
    /// crop, mean = std = 0.5.
    pub fn vit(image_size: u32) -> Preprocess {
        Preprocess {
            resize: image_size,
            mode: ResizeMode::Exact,
            resample: Resample::Bilinear,
            crop: image_size,
            mean: [0.5; 3],
            std: [0.5; 3],
        }
    }

    /// Override with the fields of a `preprocessor_config.json` text: `size` (`shortest_edge`,
    /// `height` and `width`, or a number in the family's mode), `crop_size`, `image_mean`,
    /// `image_std`, `do_center_crop`, `resample`.
    pub fn with_preprocessor_config(mut self, text: &str) -> Result<Preprocess, ImageError> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| ImageError::Settings(format!("preprocessor_config.json: {e}")))?;
        let side = |x: &Value| -> Option<u32> {
            x.as_u64()
                .or_else(|| x.get("shortest_edge").and_then(Value::as_u64))
                .or_else(|| x.get("height").and_then(Value::as_u64))
                .and_then(|n| u32::try_from(n).ok())
        };
        if let Some(size) = v.get("size") {
            if let Some(s) = side(size) {
                self.resize = s;
                self.crop = s;
            }
            // A bare number keeps the family's mode (ViT's processors square it, DINOv2's
            // treat it as the shortest edge).
            let height = size.get("height").and_then(Value::as_u64);
            if let Some(h) = height {
                if size.get("width").and_then(Value::as_u64) != Some(h) {
                    return Err(ImageError::Settings(format!(
                        "size {size}: only square resizes (height = width) are supported"
                    )));
                }
                self.mode = ResizeMode::Exact;
            } else if size.get("shortest_edge").is_some() {
                self.mode = ResizeMode::ShortestEdge;
            }
        }
        if let Some(code) = v.get("resample").and_then(Value::as_u64) {
            self.resample = Resample::from_pil(code)?;
        }
        if v.get("do_center_crop").and_then(Value::as_bool) != Some(false) {
            if let Some(c) = v.get("crop_size").and_then(side) {
                self.crop = c;
            }
        }
        let triple = |k: &str| -> Option<[f32; 3]> {
            let a = v.get(k)?.as_array()?;
            (a.len() == 3).then(|| {
                let f = |i: usize| a[i].as_f64().unwrap_or(f64::NAN) as f32;
                [f(0), f(1), f(2)]
            })
        };
        if let Some(m) = triple("image_mean") {
            self.mean = m;
        }
        if let Some(s) = triple("image_std") {
            self.std = s;
        }
        self.check()?;
        Ok(self)
    }

    /// Sizes positive, crop within the resize, std positive and everything finite.
    pub fn check(&self) -> Result<(), ImageError> {
        if self.crop == 0 || self.resize < self.crop || self.resize > 8192 {
            return Err(ImageError::Settings(format!(
                "need 0 < crop ({}) ≤ resize ({}) ≤ 8192",
                self.crop, self.resize
            )));
        }
        if self.std.iter().any(|s| !(s.is_finite() && *s > 0.0))
            || self.mean.iter().any(|m| !m.is_finite())
        {
            return Err(ImageError::Settings(format!(
                "mean {:?} / std {:?}: need finite values and std > 0",
                self.mean, self.std
            )));
        }
        Ok(())
    }

    /// One image file as `[3, crop, crop]`.
    pub fn load(&self, file: &Path) -> Result<Array3<f32>, ImageError> {
        let img = image::open(file).map_err(|e| ImageError::Unreadable {
            file: file.to_path_buf(),
            reason: e.to_string(),
        })?;
        Ok(self.apply(&img.to_rgb8()))
    }

    /// The size `(width, height)` an image of `w × h` is resized to, as transformers computes it
    /// (the longer side truncated, not rounded), at least the crop.
    pub fn resized_size(&self, w: u32, h: u32) -> (u32, u32) {
        let (nw, nh) = match self.mode {
            ResizeMode::Exact => (self.resize, self.resize),
            ResizeMode::ShortestEdge => {
                let (short, long) = (w.min(h).max(1), w.max(h));
                let long = (u64::from(self.resize) * u64::from(long) / u64::from(short)) as u32;
                if w <= h {
                    (self.resize, long)
                } else {
                    (long, self.resize)
                }
            }
        };
        (nw.max(self.crop), nh.max(self.crop))
    }

    /// Resize, crop and normalise an RGB image.
    pub fn apply(&self, img: &image::RgbImage) -> Array3<f32> {
        let (w, h) = img.dimensions();
        let (nw, nh) = self.resized_size(w, h);
        let resized = image::imageops::resize(img, nw, nh, self.resample.filter());
        let (x0, y0) = ((nw - self.crop) / 2, (nh - self.crop) / 2);
        let c = self.crop as usize;
        Array3::from_shape_fn((3, c, c), |(ch, y, x)| {
            let p = resized.get_pixel(x0 + x as u32, y0 + y as u32);
            (f32::from(p[ch]) / 255.0 - self.mean[ch]) / self.std[ch]
        })
    }
}

/// The image files of `dir` (`.jpg`, `.jpeg`, `.png`, any case), sorted by name, the first
/// `limit`.
pub fn image_files(dir: &Path, limit: usize) -> Result<Vec<PathBuf>, ImageError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ImageError::Dir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png")
                })
        })
        .collect();
    files.sort();
    files.truncate(limit);
    if files.is_empty() {
        return Err(ImageError::Empty {
            dir: dir.to_path_buf(),
        });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_crop_normalise() {
        // 40×20, left half black, right half white: shorter side 20 → 10 means 20×10,
        // centre crop 10×10 straddles the edge.
        let img = image::RgbImage::from_fn(40, 20, |x, _| {
            if x < 20 {
                image::Rgb([0, 0, 0])
            } else {
                image::Rgb([255, 255, 255])
            }
        });
        let p = Preprocess {
            resize: 10,
            mode: ResizeMode::ShortestEdge,
            resample: Resample::Bicubic,
            crop: 10,
            mean: [0.5; 3],
            std: [0.5; 3],
        };
        let a = p.apply(&img);
        assert_eq!(a.shape(), &[3, 10, 10]);
        assert!((a[[0, 5, 0]] + 1.0).abs() < 1e-6, "{}", a[[0, 5, 0]]);
        assert!((a[[2, 5, 9]] - 1.0).abs() < 1e-6, "{}", a[[2, 5, 9]]);
    }

    #[test]
    fn unreadable_image_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("broken.png");
        std::fs::write(&bad, b"not a png").unwrap();
        let e = Preprocess::dinov2().load(&bad).unwrap_err();
        assert!(e.to_string().contains("broken.png"), "{e}");
        let files = image_files(dir.path(), 10).unwrap();
        assert_eq!(files, vec![bad]);
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            image_files(empty.path(), 10),
            Err(ImageError::Empty { .. })
        ));
    }

    #[test]
    fn preprocessor_config_overrides() {
        let p = Preprocess::vit(224)
            .with_preprocessor_config(
                r#"{"size": {"shortest_edge": 256}, "crop_size": {"height": 224, "width": 224},
                   "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
                   "resample": 3}"#,
            )
            .unwrap();
        assert_eq!(p, Preprocess::dinov2());
        assert!(Preprocess::vit(224)
            .with_preprocessor_config(r#"{"image_std": [0, 1, 1]}"#)
            .is_err());
    }
}
