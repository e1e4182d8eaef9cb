//! Normalisation and augmentation.
//!
//! Images are converted from `u8` to `f32` as `(p / 255 − mean[c]) / std[c]`. Augmentation
//! follows torchvision's `RandomCrop(size, padding=pad)` then `RandomHorizontalFlip()`, applied
//! before normalisation: the image is padded with `pad` black (0) pixels on every side, a
//! window of the original size is cut at a uniformly random offset, and the window is mirrored
//! left-right with probability 1/2. Every random choice comes from the caller's RNG (the
//! [`Loader`](super::Loader) uses a `ChaCha8Rng` seeded from `(seed, epoch, batch)`), so the
//! same seed gives the same images.

use super::DataError;
use ndarray::{Array3, Array4, Axis};
use rand::Rng;

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

/// Training augmentation: random crop with `crop_pad` pixels of zero padding (0 = no crop) and
/// random horizontal flips.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Augment {
    pub crop_pad: usize,
    pub hflip: bool,
}

/// The random choices for one image: the crop window's offset from the centred position (each in
/// `-pad..=pad`) and whether to mirror.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AugmentParams {
    pub dy: isize,
    pub dx: isize,
    pub flip: bool,
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
        }
    }
    /// Whether this augmentation changes nothing.
    pub fn is_identity(&self) -> bool {
        self.crop_pad == 0 && !self.hflip
    }
    /// Draw the random choices for one image. Draws nothing when the augmentation is the
    /// identity.
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> AugmentParams {
        let pad = self.crop_pad as isize;
        let (dy, dx) = if pad > 0 {
            (rng.gen_range(-pad..=pad), rng.gen_range(-pad..=pad))
        } else {
            (0, 0)
        };
        let flip = self.hflip && rng.gen_bool(0.5);
        AugmentParams { dy, dx, flip }
    }

    /// Augment every image of a float batch `[B, C, H, W]` (padding value 0), with fresh random
    /// choices per image. The shape is preserved.
    pub fn apply_batch<R: Rng + ?Sized>(&self, batch: &Array4<f32>, rng: &mut R) -> Array4<f32> {
        let mut out = batch.clone();
        for (src, mut dst) in batch.outer_iter().zip(out.outer_iter_mut()) {
            let p = self.sample(rng);
            dst.assign(&shift_flip(&src.to_owned(), p));
        }
        out
    }
}

/// The image shifted by the crop offset (vacated pixels 0) and mirrored if `p.flip`: output
/// pixel `(y, x)` is input pixel `(y + dy, x' + dx)` with `x' = W−1−x` when flipped, else `x`.
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
    };
    shift_flip(img, p)
}

/// Convert one `u8` image `[C, H, W]` to normalised `f32` with the given augmentation choices,
/// writing `C·H·W` values into `dst`. Padding pixels are black (0) before normalisation.
pub(crate) fn convert_image(
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
        if p == AugmentParams::default() {
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
