//! The 15 common corruptions of CIFAR-10-C (Hendrycks & Dietterich, 2019) at severities 1…5,
//! with the 32×32 parameters of the reference `make_cifar_c.py`.
//!
//! The corrupted test sets measure how a model trained on clean data degrades under noise, blur,
//! weather and digital distortions (the "corrupted data" experiment). Everything is written from
//! the mathematics of the reference, not translated from it; where the reference relies on another
//! library's exact kernel the approximation is stated in the function's documentation:
//!
//! | family | corruptions | module |
//! |---|---|---|
//! | noise | `gaussian_noise`, `shot_noise`, `impulse_noise` | [`noise`] |
//! | blur | `defocus_blur`, `glass_blur`, `motion_blur`, `zoom_blur` | [`blur`] |
//! | weather | `snow`, `frost`, `fog` | [`weather`], [`frost`] |
//! | digital | `brightness`, `contrast`, `elastic_transform`, `pixelate`, `jpeg_compression` | [`digital`] |
//!
//! **Representation.** An [`Image`] holds `[C, H, W]` planes as `f64` in `[0, 1]` (the
//! reference's pixel scale); [`Image::from_u8`] / [`Image::to_u8`] convert from and to the
//! dataset's bytes. The final conversion truncates like the reference's `np.uint8(...)`. A
//! single-channel (grayscale, 28×28) image gets the same corruption on its one channel; where
//! the reference mixes channels (snow's grey level, frost's colour texture) the grey value of a
//! grayscale image is the image itself. Sizes other than 32×32 use the same parameters, with the
//! image's own height and width wherever the reference hard-codes 32.
//!
//! **Determinism.** Every image gets its own ChaCha8 stream, keyed by `(seed, corruption,
//! severity)` and numbered by the image's index ([`image_rng`]), so a corrupted data set does not
//! depend on the number of threads or on which other images are corrupted with it.
//! [`corrupt_dataset`] corrupts a whole [`Dataset`] in parallel with rayon.

pub mod blur;
pub mod digital;
mod filter;
pub mod frost;
pub mod noise;
mod resample;
pub mod weather;

pub use frost::{load_frost_images, FrostImage};

use crate::Dataset;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use thiserror::Error;

/// Version of the corruptions' output: part of the names of cached corrupted test sets, raised
/// whenever a change alters the corrupted pixels, so stale caches are never reused.
pub const CORRUPTION_VERSION: u32 = 1;

/// Everything that can go wrong when corrupting an image.
#[derive(Debug, Error)]
pub enum CorruptError {
    /// The name is not one of the 15 corruptions.
    #[error("unknown corruption `{name}`; the corruptions are: {}", Corruption::names().join(", "))]
    UnknownCorruption { name: String },
    /// A severity outside 1..=5.
    #[error("severity `{value}` is out of range: severities are the integers 1 to 5")]
    Severity { value: String },
    /// Pixel data that do not match the stated shape (or an empty image).
    #[error("invalid image: {0}")]
    Shape(String),
    /// `frost` was asked for without frost images.
    #[error(
        "the frost corruption needs the frost images of the PyPI package imagecorruptions==1.1.2 \
         (folder imagecorruptions/frost/: {}); none were given",
        frost::frost_files().join(", ")
    )]
    FrostImagesMissing,
    /// A frost image could not be read or decoded, or is too small for the image.
    #[error("frost image {}: {message}", .path.display())]
    FrostImage { path: PathBuf, message: String },
    /// The JPEG round trip failed (encoder or decoder error).
    #[error("JPEG round trip at quality {quality}: {message}")]
    Jpeg { quality: u8, message: String },
}

/// The 15 corruptions of CIFAR-10-C, in the reference's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Corruption {
    GaussianNoise,
    ShotNoise,
    ImpulseNoise,
    DefocusBlur,
    GlassBlur,
    MotionBlur,
    ZoomBlur,
    Snow,
    Frost,
    Fog,
    Brightness,
    Contrast,
    ElasticTransform,
    Pixelate,
    JpegCompression,
}

impl Corruption {
    /// All 15, in the order of the reference (noise, blur, weather, digital).
    pub const ALL: [Corruption; 15] = [
        Corruption::GaussianNoise,
        Corruption::ShotNoise,
        Corruption::ImpulseNoise,
        Corruption::DefocusBlur,
        Corruption::GlassBlur,
        Corruption::MotionBlur,
        Corruption::ZoomBlur,
        Corruption::Snow,
        Corruption::Frost,
        Corruption::Fog,
        Corruption::Brightness,
        Corruption::Contrast,
        Corruption::ElasticTransform,
        Corruption::Pixelate,
        Corruption::JpegCompression,
    ];

    /// The standard name (the file name of CIFAR-10-C's `.npy`), e.g. `gaussian_noise`.
    pub fn name(self) -> &'static str {
        match self {
            Corruption::GaussianNoise => "gaussian_noise",
            Corruption::ShotNoise => "shot_noise",
            Corruption::ImpulseNoise => "impulse_noise",
            Corruption::DefocusBlur => "defocus_blur",
            Corruption::GlassBlur => "glass_blur",
            Corruption::MotionBlur => "motion_blur",
            Corruption::ZoomBlur => "zoom_blur",
            Corruption::Snow => "snow",
            Corruption::Frost => "frost",
            Corruption::Fog => "fog",
            Corruption::Brightness => "brightness",
            Corruption::Contrast => "contrast",
            Corruption::ElasticTransform => "elastic_transform",
            Corruption::Pixelate => "pixelate",
            Corruption::JpegCompression => "jpeg_compression",
        }
    }

    /// The 15 standard names.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|c| c.name()).collect()
    }

    /// Whether the corruption draws random numbers (all but defocus and zoom blur, brightness,
    /// contrast, pixelate and JPEG, which are deterministic functions of the image).
    pub fn is_random(self) -> bool {
        !matches!(
            self,
            Corruption::DefocusBlur
                | Corruption::ZoomBlur
                | Corruption::Brightness
                | Corruption::Contrast
                | Corruption::Pixelate
                | Corruption::JpegCompression
        )
    }

    /// Position in [`Corruption::ALL`] (part of the RNG key).
    fn index(self) -> u8 {
        Self::ALL.iter().position(|&c| c == self).unwrap_or(0) as u8
    }
}

impl fmt::Display for Corruption {
    /// The standard name (honouring width and alignment, for tables).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for Corruption {
    type Err = CorruptError;
    /// The standard name; `-` is accepted for `_` and case is ignored (`Motion-Blur`).
    fn from_str(s: &str) -> Result<Self, CorruptError> {
        let norm = s.trim().to_ascii_lowercase().replace('-', "_");
        Self::ALL
            .into_iter()
            .find(|c| c.name() == norm)
            .ok_or_else(|| CorruptError::UnknownCorruption { name: s.into() })
    }
}

/// A severity, 1 (mildest) to 5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Severity(u8);

impl Severity {
    /// Severities 1 to 5.
    pub const ALL: [Severity; 5] = [
        Severity(1),
        Severity(2),
        Severity(3),
        Severity(4),
        Severity(5),
    ];

    /// Severity `s`; an error unless `1 <= s <= 5`.
    pub fn new(s: u8) -> Result<Self, CorruptError> {
        if (1..=5).contains(&s) {
            Ok(Severity(s))
        } else {
            Err(CorruptError::Severity {
                value: s.to_string(),
            })
        }
    }
    /// The severity as a number, 1 to 5.
    pub fn get(self) -> u8 {
        self.0
    }
    /// Index into a table of five per-severity parameters.
    pub(crate) fn idx(self) -> usize {
        usize::from(self.0 - 1)
    }
    /// The parameter of this severity in a five-entry table.
    pub(crate) fn pick<T: Copy>(self, table: &[T; 5]) -> T {
        table[self.idx()]
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Severity {
    type Err = CorruptError;
    fn from_str(s: &str) -> Result<Self, CorruptError> {
        let err = || CorruptError::Severity { value: s.into() };
        let v: u8 = s.trim().parse().map_err(|_| err())?;
        Severity::new(v).map_err(|_| err())
    }
}

/// One image as `[C, H, W]` planes of `f64` pixels in `[0, 1]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Image {
    channels: usize,
    height: usize,
    width: usize,
    data: Vec<f64>,
}

impl Image {
    /// An image from planar `[C, H, W]` data. Errors on a zero dimension or a length mismatch.
    pub fn new(
        channels: usize,
        height: usize,
        width: usize,
        data: Vec<f64>,
    ) -> Result<Self, CorruptError> {
        if channels == 0 || height == 0 || width == 0 {
            return Err(CorruptError::Shape(format!(
                "image of {channels}×{height}×{width}"
            )));
        }
        if data.len() != channels * height * width {
            return Err(CorruptError::Shape(format!(
                "{} values for an image of {channels}×{height}×{width}",
                data.len()
            )));
        }
        Ok(Image {
            channels,
            height,
            width,
            data,
        })
    }

    /// An image from `u8` pixels in `[C, H, W]` order, scaled to `[0, 1]`.
    pub fn from_u8(shape: [usize; 3], pixels: &[u8]) -> Result<Self, CorruptError> {
        let data = pixels.iter().map(|&p| f64::from(p) / 255.0).collect();
        Image::new(shape[0], shape[1], shape[2], data)
    }

    /// The pixels as `u8`: clipped to `[0, 1]`, scaled by 255 and truncated, as the reference's
    /// `np.uint8(np.clip(x, 0, 1) * 255)`. A tiny guard (1e-6 of a grey level) keeps a value that
    /// is an integer grey level up to rounding error at that level.
    pub fn to_u8(&self) -> Vec<u8> {
        self.data.iter().map(|&v| to_level(v)).collect()
    }

    /// `[C, H, W]`.
    pub fn shape(&self) -> [usize; 3] {
        [self.channels, self.height, self.width]
    }
    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.channels
    }
    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }
    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }
    /// All values, `[C, H, W]` row-major.
    pub fn data(&self) -> &[f64] {
        &self.data
    }
    /// Channel `c` as an `H·W` row-major plane.
    pub fn plane(&self, c: usize) -> &[f64] {
        let n = self.height * self.width;
        &self.data[c * n..(c + 1) * n]
    }
    /// The value at channel `c`, row `y`, column `x`.
    pub fn at(&self, c: usize, y: usize, x: usize) -> f64 {
        self.data[(c * self.height + y) * self.width + x]
    }

    /// A new image of the same shape with every plane replaced by `f(plane_index, plane)`.
    pub(crate) fn map_planes(&self, mut f: impl FnMut(usize, &[f64]) -> Vec<f64>) -> Image {
        let mut data = Vec::with_capacity(self.data.len());
        for c in 0..self.channels {
            data.extend(f(c, self.plane(c)));
        }
        Image { data, ..*self }
    }
    /// A new image of the same shape with every value replaced by `f(value)`.
    pub(crate) fn map_values(&self, f: impl Fn(f64) -> f64) -> Image {
        Image {
            data: self.data.iter().map(|&v| f(v)).collect(),
            ..*self
        }
    }
    /// A new image of the same shape from `data` (length checked by the callers' construction).
    pub(crate) fn with_data(&self, data: Vec<f64>) -> Image {
        debug_assert_eq!(data.len(), self.data.len());
        Image { data, ..*self }
    }
    /// Every value clipped to `[0, 1]`.
    pub(crate) fn clipped(self) -> Image {
        self.map_values(|v| v.clamp(0.0, 1.0))
    }
    /// The luma of every pixel, `H·W` (the image itself when it has one channel): the ITU-R
    /// 601 weights of OpenCV's `COLOR_RGB2GRAY` (0.299, 0.587, 0.114) for three channels, the
    /// plain mean otherwise.
    pub(crate) fn gray(&self) -> Vec<f64> {
        match self.channels {
            1 => self.plane(0).to_vec(),
            3 => {
                let (r, g, b) = (self.plane(0), self.plane(1), self.plane(2));
                (0..r.len())
                    .map(|i| 0.299 * r[i] + 0.587 * g[i] + 0.114 * b[i])
                    .collect()
            }
            c => {
                let n = self.height * self.width;
                (0..n)
                    .map(|i| (0..c).map(|k| self.data[k * n + i]).sum::<f64>() / c as f64)
                    .collect()
            }
        }
    }
}

/// A value in `[0, 1]` as an 8-bit level, truncating like `np.uint8` (see [`Image::to_u8`]).
pub(crate) fn to_level(v: f64) -> u8 {
    let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
    (v * 255.0 + 1e-6).floor().min(255.0) as u8
}

/// A value in `[0, 1]` rounded to the nearest 8-bit level and back, for the steps where the
/// reference passes an image through an 8-bit file (ImageMagick's motion blur, PIL's resize).
pub(crate) fn quantize_round(v: f64) -> f64 {
    (v.clamp(0.0, 1.0) * 255.0).round() / 255.0
}

/// The RNG of image `index` for `corruption` at `severity` under `seed`: a ChaCha8 key made of
/// the seed, the corruption and the severity, and the image index as the stream number, so every
/// image has an independent stream whatever the order or threading of the work.
pub fn image_rng(seed: u64, corruption: Corruption, severity: Severity, index: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_le_bytes());
    key[8] = corruption.index();
    key[9] = severity.get();
    key[16..32].copy_from_slice(b"eigenformer-corr");
    let mut rng = ChaCha8Rng::from_seed(key);
    rng.set_stream(index);
    rng
}

/// Corrupt one image. `frost` holds the decoded frost images (see [`load_frost_images`]); it is
/// needed only by [`Corruption::Frost`], which errors without it. All randomness comes from
/// `rng`.
pub fn apply(
    image: &Image,
    corruption: Corruption,
    severity: Severity,
    rng: &mut ChaCha8Rng,
    frost: Option<&[FrostImage]>,
) -> Result<Image, CorruptError> {
    let s = severity;
    Ok(match corruption {
        Corruption::GaussianNoise => noise::gaussian_noise(image, s, rng),
        Corruption::ShotNoise => noise::shot_noise(image, s, rng),
        Corruption::ImpulseNoise => noise::impulse_noise(image, s, rng),
        Corruption::DefocusBlur => blur::defocus_blur(image, s),
        Corruption::GlassBlur => blur::glass_blur(image, s, rng),
        Corruption::MotionBlur => blur::motion_blur(image, s, rng),
        Corruption::ZoomBlur => blur::zoom_blur(image, s),
        Corruption::Snow => weather::snow(image, s, rng),
        Corruption::Frost => match frost {
            Some(images) => frost::frost(image, s, images, rng)?,
            None => return Err(CorruptError::FrostImagesMissing),
        },
        Corruption::Fog => weather::fog(image, s, rng),
        Corruption::Brightness => digital::brightness(image, s),
        Corruption::Contrast => digital::contrast(image, s),
        Corruption::ElasticTransform => digital::elastic_transform(image, s, rng),
        Corruption::Pixelate => digital::pixelate(image, s),
        Corruption::JpegCompression => digital::jpeg_compression(image, s)?,
    })
}

/// Corrupt every image of `dataset` (in parallel; image `i` uses [`image_rng`]`(seed, corruption,
/// severity, i)`), keeping the labels. The result is named `<name>/<corruption>-<severity>`.
pub fn corrupt_dataset(
    dataset: &Dataset,
    corruption: Corruption,
    severity: Severity,
    seed: u64,
    frost: Option<&[FrostImage]>,
) -> Result<Dataset, CorruptError> {
    if corruption == Corruption::Frost && frost.is_none() {
        return Err(CorruptError::FrostImagesMissing);
    }
    let shape = dataset.image_shape();
    let per = shape.iter().product::<usize>();
    let mut pixels = vec![0u8; dataset.images().len()];
    if per > 0 {
        pixels.par_chunks_mut(per).enumerate().try_for_each(
            |(i, out)| -> Result<(), CorruptError> {
                let image = Image::from_u8(shape, dataset.image(i))?;
                let mut rng = image_rng(seed, corruption, severity, i as u64);
                let corrupted = apply(&image, corruption, severity, &mut rng, frost)?;
                out.copy_from_slice(&corrupted.to_u8());
                Ok(())
            },
        )?;
    }
    let labels = dataset.labels().to_vec();
    Dataset::new(
        format!("{}/{corruption}-{severity}", dataset.name()),
        pixels,
        dataset.shape(),
        labels,
        dataset.num_classes(),
    )
    .map_err(|e| CorruptError::Shape(e.to_string()))
}

#[cfg(test)]
mod tests;
