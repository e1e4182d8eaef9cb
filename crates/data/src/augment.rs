//! Normalisation and augmentation.
//!
//! Images are converted from `u8` to `f32` as `(p / 255 − mean[c]) / std[c]`. Augmentation
//! follows torchvision's `RandomCrop(size, padding=pad)` then `RandomHorizontalFlip()`, applied
//! before normalisation: the image is padded with `pad` black (0) pixels on every side, a
//! window of the original size is cut at a uniformly random offset, and the window is mirrored
//! left-right with probability 1/2. Random erasing (timm's `RandomErasing(mode="pixel")`, as in
//! DeiT) then, with probability `erase`, replaces one rectangle of 2–33 % of the image, with an
//! aspect ratio in [0.3, 3.3], by standard-normal noise in normalised units (every channel).
//! Every random choice comes from the caller's RNG (the
//! [`Loader`](super::Loader) uses a `ChaCha8Rng` seeded from `(seed, epoch, batch)`), so the
//! same seed gives the same images.

use super::DataError;
use ndarray::{Array3, Array4, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Per-channel normalisation: `x = (p / 255 − mean[c]) / std[c]`.
///
/// The standard constants are the per-channel mean and standard deviation of all training-set
/// pixels scaled to `[0, 1]`:
///
/// | dataset | mean | std |
/// |---|---|---|
/// | MNIST | 0.1307 | 0.3081 |
/// | Fashion-MNIST | 0.2860 | 0.3530 |
/// | CIFAR-10 | 0.4914, 0.4822, 0.4465 | 0.2470, 0.2435, 0.2616 |
/// | CIFAR-100 | 0.5071, 0.4865, 0.4409 | 0.2673, 0.2564, 0.2762 |
///
/// (For CIFAR-10, the often-copied std `0.2023, 0.1994, 0.2010` is the mean of per-image
/// standard deviations, not the pixel standard deviation; the table has the latter.)
#[derive(Clone, Debug, PartialEq)]
pub struct Normalize {
    mean: Vec<f32>,
    std: Vec<f32>,
}

impl Normalize {
    /// Normalisation with the given per-channel means and standard deviations (in `[0, 1]`
    /// pixel units). Errors if the lengths differ, are zero, or a std is not positive.
    pub fn new(mean: Vec<f32>, std: Vec<f32>) -> Result<Self, DataError> {
        if mean.is_empty() || mean.len() != std.len() {
            return Err(DataError::Invalid(format!(
                "normalisation needs one mean and one std per channel, got {} and {}",
                mean.len(),
                std.len()
            )));
        }
        if let Some(s) = std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(DataError::Invalid(format!(
                "normalisation std must be positive, got {s}"
            )));
        }
        Ok(Normalize { mean, std })
    }
    /// Only the scaling to `[0, 1]` (mean 0, std 1), for `channels` channels.
    pub fn unit(channels: usize) -> Self {
        Normalize {
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
        }
    }
    /// MNIST: mean 0.1307, std 0.3081.
    pub fn mnist() -> Self {
        Normalize {
            mean: vec![0.1307],
            std: vec![0.3081],
        }
    }
    /// Fashion-MNIST: mean 0.2860, std 0.3530.
    pub fn fashion_mnist() -> Self {
        Normalize {
            mean: vec![0.2860],
            std: vec![0.3530],
        }
    }
    /// CIFAR-10: mean (0.4914, 0.4822, 0.4465), std (0.2470, 0.2435, 0.2616).
    pub fn cifar10() -> Self {
        Normalize {
            mean: vec![0.4914, 0.4822, 0.4465],
            std: vec![0.2470, 0.2435, 0.2616],
        }
    }
    /// CIFAR-100: mean (0.5071, 0.4865, 0.4409), std (0.2673, 0.2564, 0.2762).
    pub fn cifar100() -> Self {
        Normalize {
            mean: vec![0.5071, 0.4865, 0.4409],
            std: vec![0.2673, 0.2564, 0.2762],
        }
    }
    /// Per-channel means.
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }
    /// Per-channel standard deviations.
    pub fn std(&self) -> &[f32] {
        &self.std
    }
    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.mean.len()
    }
    /// For each channel, the normalised value of each of the 256 pixel values.
    pub(crate) fn lookup_tables(&self) -> Vec<[f32; 256]> {
        self.mean
            .iter()
            .zip(&self.std)
            .map(|(&m, &s)| std::array::from_fn(|p| (p as f32 / 255.0 - m) / s))
            .collect()
    }
}

/// Training augmentation: random crop with `crop_pad` pixels of zero padding (0 = no crop),
/// random horizontal flips, and random erasing with probability `erase` (0 = never).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Augment {
    pub crop_pad: usize,
    pub hflip: bool,
    pub erase: f64,
}

/// The random choices for one image: the crop window's offset from the centred position (each in
/// `-pad..=pad`), whether to mirror, and the erased rectangle if any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AugmentParams {
    pub dy: isize,
    pub dx: isize,
    pub flip: bool,
    pub erase: Option<EraseRect>,
}

/// One erased rectangle: rows `top..top + height`, columns `left..left + width`, filled with
/// standard-normal noise drawn from a generator seeded with `noise_seed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EraseRect {
    pub top: usize,
    pub left: usize,
    pub height: usize,
    pub width: usize,
    pub noise_seed: u64,
}

/// The erased area's range as a fraction of the image, and its aspect ratio's range (timm's and
/// DeiT's defaults).
const ERASE_AREA: (f64, f64) = (0.02, 1.0 / 3.0);
const ERASE_RATIO: (f64, f64) = (0.3, 1.0 / 0.3);
/// How many rectangles are drawn before giving up when none fits (timm's value).
const ERASE_ATTEMPTS: usize = 10;

impl EraseRect {
    /// Draw a rectangle for an `h × w` image the way timm does: up to ten attempts at an area
    /// and log-uniform aspect ratio, keeping the first that fits strictly inside the image.
    pub fn sample<R: Rng + ?Sized>(h: usize, w: usize, rng: &mut R) -> Option<EraseRect> {
        let area = (h * w) as f64;
        for _ in 0..ERASE_ATTEMPTS {
            let target = area * rng.gen_range(ERASE_AREA.0..ERASE_AREA.1);
            let ratio = rng.gen_range(ERASE_RATIO.0.ln()..ERASE_RATIO.1.ln()).exp();
            let eh = (target * ratio).sqrt().round() as usize;
            let ew = (target / ratio).sqrt().round() as usize;
            if eh > 0 && ew > 0 && eh < h && ew < w {
                let top = rng.gen_range(0..=h - eh);
                let left = rng.gen_range(0..=w - ew);
                return Some(EraseRect {
                    top,
                    left,
                    height: eh,
                    width: ew,
                    noise_seed: rng.gen(),
                });
            }
        }
        None
    }

    /// Overwrite the rectangle of every channel of a normalised image `[C, H, W]` (as a flat
    /// slice) with standard-normal noise.
    pub fn fill(&self, [c, h, w]: [usize; 3], dst: &mut [f32]) {
        let mut rng = ChaCha8Rng::seed_from_u64(self.noise_seed);
        for ch in 0..c {
            for y in self.top..(self.top + self.height).min(h) {
                let row = &mut dst[(ch * h + y) * w..(ch * h + y + 1) * w];
                for v in &mut row[self.left..(self.left + self.width).min(w)] {
                    *v = StandardNormal.sample(&mut rng);
                }
            }
        }
    }
}

impl Augment {
    /// No augmentation.
    pub fn none() -> Self {
        Augment::default()
    }
    /// CIFAR's standard: crop with padding 4 and horizontal flips.
    pub fn cifar() -> Self {
        Augment {
            crop_pad: 4,
            hflip: true,
            erase: 0.0,
        }
    }
    /// Whether this augmentation changes nothing.
    pub fn is_identity(&self) -> bool {
        self.crop_pad == 0 && !self.hflip && self.erase <= 0.0
    }
    /// Draw the random choices for one `h × w` image. Draws nothing when the augmentation is the
    /// identity, and nothing for erasing when `erase` is 0 (so adding erasing to a recipe leaves
    /// the other choices of the recipes without it unchanged).
    pub fn sample<R: Rng + ?Sized>(&self, h: usize, w: usize, rng: &mut R) -> AugmentParams {
        let pad = self.crop_pad as isize;
        let (dy, dx) = if pad > 0 {
            (rng.gen_range(-pad..=pad), rng.gen_range(-pad..=pad))
        } else {
            (0, 0)
        };
        let flip = self.hflip && rng.gen_bool(0.5);
        let erase = if self.erase > 0.0 && rng.gen_bool(self.erase.min(1.0)) {
            EraseRect::sample(h, w, rng)
        } else {
            None
        };
        AugmentParams {
            dy,
            dx,
            flip,
            erase,
        }
    }

    /// Augment every image of a float batch `[B, C, H, W]` (padding value 0), with fresh random
    /// choices per image. The shape is preserved.
    pub fn apply_batch<R: Rng + ?Sized>(&self, batch: &Array4<f32>, rng: &mut R) -> Array4<f32> {
        let mut out = batch.clone();
        let (_, c, h, w) = batch.dim();
        for (src, mut dst) in batch.outer_iter().zip(out.outer_iter_mut()) {
            let p = self.sample(h, w, rng);
            let mut img = shift_flip(&src.to_owned(), p);
            if let (Some(rect), Some(flat)) = (p.erase, img.as_slice_mut()) {
                rect.fill([c, h, w], flat);
            }
            dst.assign(&img);
        }
        out
    }
}

/// The image shifted by the crop offset (vacated pixels 0) and mirrored if `p.flip`: output
/// pixel `(y, x)` is input pixel `(y + dy, x' + dx)` with `x' = W−1−x` when flipped, else `x`.
/// (Erasing is not applied here: it acts on normalised values, see [`EraseRect::fill`].)
pub fn shift_flip(img: &Array3<f32>, p: AugmentParams) -> Array3<f32> {
    let (c, h, w) = img.dim();
    let mut out = Array3::<f32>::zeros((c, h, w));
    for ch in 0..c {
        for y in 0..h {
            let sy = y as isize + p.dy;
            if sy < 0 || sy >= h as isize {
                continue;
            }
            for x in 0..w {
                let xs = if p.flip { w - 1 - x } else { x };
                let sx = xs as isize + p.dx;
                if sx >= 0 && sx < w as isize {
                    out[[ch, y, x]] = img[[ch, sy as usize, sx as usize]];
                }
            }
        }
    }
    out
}

/// Mirror an image `[C, H, W]` left-right.
pub fn hflip(img: &Array3<f32>) -> Array3<f32> {
    let mut out = img.clone();
    out.invert_axis(Axis(2));
    out.as_standard_layout().to_owned()
}

/// torchvision's `RandomCrop(padding=pad)` with a chosen window: pad by `pad` zeros on every
/// side and cut the `H×W` window whose top-left corner is at `(top, left)` of the padded image
/// (each in `0..=2·pad`).
pub fn pad_crop(img: &Array3<f32>, pad: usize, top: usize, left: usize) -> Array3<f32> {
    let p = AugmentParams {
        dy: top.min(2 * pad) as isize - pad as isize,
        dx: left.min(2 * pad) as isize - pad as isize,
        flip: false,
        erase: None,
    };
    shift_flip(img, p)
}

/// Convert one `u8` image `[C, H, W]` to normalised `f32` with the given augmentation choices,
/// writing `C·H·W` values into `dst`. Padding pixels are black (0) before normalisation; the
/// erased rectangle, if any, is filled after it.
pub(crate) fn convert_image(
    src: &[u8],
    shape: [usize; 3],
    p: AugmentParams,
    tables: &[[f32; 256]],
    dst: &mut [f32],
) {
    convert_shifted(src, shape, p, tables, dst);
    if let Some(rect) = p.erase {
        rect.fill(shape, dst);
    }
}

/// The crop and flip of [`convert_image`].
fn convert_shifted(
    src: &[u8],
    [c, h, w]: [usize; 3],
    p: AugmentParams,
    tables: &[[f32; 256]],
    dst: &mut [f32],
) {
    let plane = h * w;
    for ch in 0..c {
        let lut = &tables[ch];
        let s = &src[ch * plane..(ch + 1) * plane];
        let d = &mut dst[ch * plane..(ch + 1) * plane];
        if p.dy == 0 && p.dx == 0 && !p.flip {
            for (o, &v) in d.iter_mut().zip(s) {
                *o = lut[v as usize];
            }
            continue;
        }
        for y in 0..h {
            let row = &mut d[y * w..(y + 1) * w];
            let sy = y as isize + p.dy;
            if sy < 0 || sy >= h as isize {
                row.fill(lut[0]);
                continue;
            }
            let srow = &s[sy as usize * w..(sy as usize + 1) * w];
            for (x, o) in row.iter_mut().enumerate() {
                let xs = if p.flip { w - 1 - x } else { x };
                let sx = xs as isize + p.dx;
                *o = if sx >= 0 && sx < w as isize {
                    lut[srow[sx as usize] as usize]
                } else {
                    lut[0]
                };
            }
        }
    }
}
