//! Frost: a crop of a photograph of frost blended over the image.
//!
//! The frost photographs are data, not code: the six files of the folder `imagecorruptions/frost/`
//! of the PyPI package `imagecorruptions==1.1.2` (Apache-2.0), the same files as in Hendrycks &
//! Dietterich's repository. The asset resolver fetches them (asset [`FROST_ASSET`], files
//! [`frost_files`], pinned by sha256 in the asset catalog); [`load_frost_images`] decodes and shrinks them
//! once, and [`frost`] takes the decoded images, so the corruption itself does no I/O.

use super::resample::cv_resize_linear;
use super::{CorruptError, Image, Severity};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// Name of the asset holding the frost images (for the resolver).
pub const FROST_ASSET: &str = "imagecorruptions-frost";

/// The frost image files, in the reference's order (pinned in the asset catalog).
pub fn frost_files() -> Vec<&'static str> {
    eigenformer_assets::file_names(FROST_ASSET)
}

/// The factor the reference shrinks the frost photographs by for 32×32 images.
pub const FROST_SCALE: f64 = 0.2;

/// How many of the images the reference draws from: `np.random.randint(5)` picks one of the
/// first five, so `frost6.jpg` is never used (kept for completeness of the asset).
const FROST_CHOICES: usize = 5;

/// A decoded, shrunk frost photograph: RGB planes `[3, H, W]` of 8-bit levels.
#[derive(Clone, Debug, PartialEq)]
pub struct FrostImage {
    height: usize,
    width: usize,
    rgb: Vec<u8>,
}

impl FrostImage {
    /// A frost image from planar RGB levels `[3, height, width]`, used as is (already shrunk).
    pub fn new(height: usize, width: usize, rgb: Vec<u8>) -> Result<Self, CorruptError> {
        if height == 0 || width == 0 || rgb.len() != 3 * height * width {
            return Err(CorruptError::Shape(format!(
                "frost image: {} bytes for 3×{height}×{width}",
                rgb.len()
            )));
        }
        Ok(FrostImage { height, width, rgb })
    }

    /// A full-size photograph (interleaved RGB, `height × width × 3`) shrunk by `scale` as the
    /// reference's `cv2.resize(frost, (0, 0), fx=scale, fy=scale)` (bilinear, no anti-aliasing:
    /// at 0.2 every fifth pixel), rounded to 8 bits.
    pub fn from_full_size(
        height: usize,
        width: usize,
        interleaved_rgb: &[u8],
        scale: f64,
    ) -> Result<Self, CorruptError> {
        if height == 0 || width == 0 || interleaved_rgb.len() != 3 * height * width {
            return Err(CorruptError::Shape(format!(
                "frost photograph: {} bytes for {height}×{width}×3",
                interleaved_rgb.len()
            )));
        }
        let mut rgb = Vec::new();
        let (mut out_h, mut out_w) = (0, 0);
        for c in 0..3 {
            let plane: Vec<f64> = interleaved_rgb
                .iter()
                .skip(c)
                .step_by(3)
                .map(|&v| f64::from(v))
                .collect();
            let (small, oh, ow) = cv_resize_linear(&plane, height, width, scale);
            (out_h, out_w) = (oh, ow);
            rgb.extend(small.into_iter().map(|v| v.round().clamp(0.0, 255.0) as u8));
        }
        FrostImage::new(out_h, out_w, rgb)
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }
    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }
    /// The level of channel `c` at row `y`, column `x`.
    pub(crate) fn at(&self, c: usize, y: usize, x: usize) -> f64 {
        f64::from(self.rgb[(c * self.height + y) * self.width + x])
    }
}

/// Decode the six frost photographs [`frost_files`] from `dir` and shrink them by
/// [`FROST_SCALE`]. An alpha channel is dropped (as OpenCV's `imread` does).
pub fn load_frost_images(dir: &Path) -> Result<Vec<FrostImage>, CorruptError> {
    frost_files()
        .into_iter()
        .map(|name| {
            let path = dir.join(name);
            let err = |message: String| CorruptError::FrostImage {
                path: path.clone(),
                message,
            };
            let bytes = std::fs::read(&path).map_err(|e| err(format!("cannot read: {e}")))?;
            let decoded =
                image::load_from_memory(&bytes).map_err(|e| err(format!("cannot decode: {e}")))?;
            let rgb = decoded.to_rgb8();
            let (w, h) = (rgb.width() as usize, rgb.height() as usize);
            FrostImage::from_full_size(h, w, rgb.as_raw(), FROST_SCALE)
                .map_err(|e| err(e.to_string()))
        })
        .collect()
}

/// Frost with (image, frost) weights = (1,.2), (1,.3), (.9,.4), (.85,.4), (.75,.45): one of the
/// first five frost images drawn uniformly, an `H × W` window of it at a uniformly drawn offset
/// (the reference's `randint(0, size − H)`, so the last row and column are never the window's
/// start), and `clip(a·x + b·frost)`. A grayscale image gets the frost's luma (the
/// `imagecorruptions` weights .2989, .5870, .1140). Exact, given the images.
pub fn frost(
    image: &Image,
    severity: Severity,
    images: &[FrostImage],
    rng: &mut ChaCha8Rng,
) -> Result<Image, CorruptError> {
    let (a, b) = severity.pick(&[
        (1.0, 0.2),
        (1.0, 0.3),
        (0.9, 0.4),
        (0.85, 0.4),
        (0.75, 0.45),
    ]);
    if images.is_empty() {
        return Err(CorruptError::FrostImagesMissing);
    }
    let choice = rng.gen_range(0..images.len().min(FROST_CHOICES));
    let f = &images[choice];
    let (h, w) = (image.height(), image.width());
    if f.height <= h || f.width <= w {
        return Err(CorruptError::FrostImage {
            path: frost_files().get(choice).copied().unwrap_or("frost").into(),
            message: format!(
                "{}×{} pixels after shrinking, too small for a {h}×{w} crop",
                f.height, f.width
            ),
        });
    }
    let top = rng.gen_range(0..f.height - h);
    let left = rng.gen_range(0..f.width - w);
    let three = image.channels() == 3;
    let out = image.map_planes(|c, p| {
        p.iter()
            .enumerate()
            .map(|(i, &x)| {
                let (y, xx) = (top + i / w, left + i % w);
                let level = if three {
                    f.at(c, y, xx)
                } else {
                    0.2989 * f.at(0, y, xx) + 0.5870 * f.at(1, y, xx) + 0.1140 * f.at(2, y, xx)
                };
                a * x + b * level / 255.0
            })
            .collect()
    });
    Ok(out.clipped())
}
