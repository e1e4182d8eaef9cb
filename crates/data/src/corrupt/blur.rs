//! Blur: defocus (disk kernel), glass (blur, local pixel shuffling, blur), motion (a one-sided
//! Gaussian streak along a random angle) and zoom (the average of centre zooms).

use super::filter::{cv_gaussian_kernel, gaussian_blur, separable, Border, Kernel2d};
use super::resample::{clipped_zoom, numpy_arange};
use super::{quantize_round, to_level, Image, Severity};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The reference's `disk(radius, alias_blur)`: the indicator of `x² + y² ≤ r²` on the grid
/// −8…8 (radii ≤ 8), normalised, then anti-aliased by OpenCV's 3×3 Gaussian blur of σ =
/// `alias_blur`; trimmed to its non-zero support.
fn disk_kernel(radius: f64, alias_blur: f64) -> Kernel2d {
    let reach: isize = if radius <= 8.0 { 8 } else { radius as isize };
    let size = (2 * reach + 1) as usize;
    let mut values = Vec::with_capacity(size * size);
    for y in -reach..=reach {
        for x in -reach..=reach {
            let inside = ((x * x + y * y) as f64) <= radius * radius;
            values.push(if inside { 1.0 } else { 0.0 });
        }
    }
    let sum: f64 = values.iter().sum();
    values.iter_mut().for_each(|v| *v /= sum);
    let ksize = if radius <= 8.0 { 3 } else { 5 };
    let g = cv_gaussian_kernel(ksize, alias_blur);
    let blurred = separable(&values, size, size, &g, Border::Reflect101);
    Kernel2d {
        h: size,
        w: size,
        values: blurred,
    }
    .trimmed()
}

/// Defocus blur: every channel filtered (OpenCV `filter2D`, reflect-101 border) with the
/// anti-aliased disk of (radius, alias σ) = (.3,.4), (.4,.5), (.5,.6), (1,.2), (1.5,.1). Below
/// radius 1 the disk is the centre pixel alone, so severities 1–3 are a 3×3 Gaussian of σ .4–.6.
/// Exact.
pub fn defocus_blur(image: &Image, severity: Severity) -> Image {
    let (radius, alias) =
        severity.pick(&[(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1)]);
    let kernel = disk_kernel(radius, alias);
    let (h, w) = (image.height(), image.width());
    image
        .map_planes(|_, p| kernel.correlate(p, h, w, Border::Reflect101))
        .clipped()
}

/// Glass blur with (σ, max δ, iterations) = (.05,1,1), (.25,1,1), (.4,1,1), (.25,1,2), (.4,1,2):
/// a Gaussian blur of σ (scikit-image: truncated at 4σ, nearest border), quantised to 8 bits
/// (truncating, as the reference's `np.uint8`), then `iterations` sweeps from the bottom-right
/// corner (rows and columns `size−δ` down to `δ+1`) that swap each pixel, all channels together,
/// with the pixel at offset `(dy, dx)`, each drawn uniformly from `−δ … δ−1` (NumPy's
/// `randint(−δ, δ)` excludes δ), then the blur again. Exact.
pub fn glass_blur(image: &Image, severity: Severity, rng: &mut ChaCha8Rng) -> Image {
    let (sigma, delta, iterations) = severity.pick(&[
        (0.05, 1usize, 1usize),
        (0.25, 1, 1),
        (0.4, 1, 1),
        (0.25, 1, 2),
        (0.4, 1, 2),
    ]);
    let (h, w, ch) = (image.height(), image.width(), image.channels());
    let blur =
        |img: &Image| img.map_planes(|_, p| gaussian_blur(p, h, w, sigma, 4.0, Border::Nearest));
    let mut data: Vec<f64> = blur(image)
        .data()
        .iter()
        .map(|&v| f64::from(to_level(v)) / 255.0)
        .collect();
    let d = delta as isize;
    for _ in 0..iterations {
        for y in (delta + 1..=h.saturating_sub(delta)).rev() {
            for x in (delta + 1..=w.saturating_sub(delta)).rev() {
                let dx = rng.gen_range(-d..d);
                let dy = rng.gen_range(-d..d);
                let (y2, x2) = ((y as isize + dy) as usize, (x as isize + dx) as usize);
                if y >= h || x >= w || y2 >= h || x2 >= w {
                    continue;
                }
                for c in 0..ch {
                    data.swap((c * h + y) * w + x, (c * h + y2) * w + x2);
                }
            }
        }
    }
    blur(&image.with_data(data)).clipped()
}

/// ImageMagick's `MotionBlurImage(radius, σ, angle)` on one plane: `2·ceil(radius) + 1` taps
/// (ImageMagick's `GetOptimalKernelWidth1D` for a positive radius) with the one-sided Gaussian
/// weights `exp(−i²/2σ²)`, i = 0, 1, …, normalised; tap `i` reads the pixel at `round(i·(cos θ,
/// sin θ))` (ImageMagick's `ceil(t − ½)`) from the output pixel, the edge pixel outside the
/// image (ImageMagick's default edge virtual pixels).
pub(crate) fn motion_blur_plane(
    plane: &[f64],
    h: usize,
    w: usize,
    radius: f64,
    sigma: f64,
    angle_deg: f64,
) -> Vec<f64> {
    let width = 2 * radius.ceil().max(0.0) as usize + 1;
    let mut kernel: Vec<f64> = (0..width)
        .map(|i| (-((i * i) as f64) / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f64 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= sum);
    let theta = angle_deg.to_radians();
    let (px, py) = (width as f64 * theta.sin(), width as f64 * theta.cos());
    let hyp = px.hypot(py);
    let offsets: Vec<(isize, isize)> = (0..width)
        .map(|i| {
            let ox = (i as f64 * py / hyp - 0.5).ceil() as isize;
            let oy = (i as f64 * px / hyp - 0.5).ceil() as isize;
            (ox, oy)
        })
        .collect();
    let mut out = vec![0.0; h * w];
    for y in 0..h {
        for x in 0..w {
            out[y * w + x] = kernel
                .iter()
                .zip(&offsets)
                .map(|(k, (ox, oy))| {
                    let sy = Border::Nearest.index(y as isize + oy, h);
                    let sx = Border::Nearest.index(x as isize + ox, w);
                    k * plane[sy * w + sx]
                })
                .sum();
        }
    }
    out
}

/// Motion blur with (radius, σ) = (6,1), (6,1.5), (6,2), (8,2), (9,2.5) along an angle drawn
/// uniformly from ±45°, rounded to 8 bits as ImageMagick writes it back.
///
/// **Approximation:** the reference calls ImageMagick (Wand) itself; this is a
/// re-implementation of that algorithm ([`motion_blur_plane`], the same kernel and offsets as the
/// `imagecorruptions` package's NumPy port), so it can differ from it by the rounding of
/// ImageMagick's quantum arithmetic and wherever an ImageMagick version changed the kernel.
pub fn motion_blur(image: &Image, severity: Severity, rng: &mut ChaCha8Rng) -> Image {
    let (radius, sigma) =
        severity.pick(&[(6.0, 1.0), (6.0, 1.5), (6.0, 2.0), (8.0, 2.0), (9.0, 2.5)]);
    let angle = rng.gen_range(-45.0..45.0);
    let (h, w) = (image.height(), image.width());
    image
        .map_planes(|_, p| motion_blur_plane(p, h, w, radius, sigma, angle))
        .map_values(quantize_round)
}

/// The zoom factors of zoom blur: NumPy's `arange(1, stop, 0.01)` for stop = 1.06, 1.11, 1.16,
/// 1.21, 1.26, which (binary rounding) gives 1.00…1.06 (7 factors), 1.00…1.11 (12), 1.00…1.15
/// (16), 1.00…1.20 (21) and 1.00…1.25 (26).
pub fn zoom_factors(severity: Severity) -> Vec<f64> {
    let stop = severity.pick(&[1.06, 1.11, 1.16, 1.21, 1.26]);
    numpy_arange(1.0, stop, 0.01)
}

/// Zoom blur: the mean of the image and its centre zooms by every factor of [`zoom_factors`]
/// (each the reference's `clipped_zoom`: SciPy's linear `zoom` of the central window, trimmed).
/// Exact.
pub fn zoom_blur(image: &Image, severity: Severity) -> Image {
    let factors = zoom_factors(severity);
    let (h, w) = (image.height(), image.width());
    let n = (factors.len() + 1) as f64;
    image
        .map_planes(|_, p| {
            let mut acc = p.to_vec();
            for &z in &factors {
                for (a, v) in acc.iter_mut().zip(clipped_zoom(p, h, w, z)) {
                    *a += v;
                }
            }
            acc.into_iter().map(|v| v / n).collect()
        })
        .clipped()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_disks_are_a_centred_gaussian() {
        // r = .3: the disk is the centre pixel, blurred by a 3×3 Gaussian of σ = .4.
        let k = disk_kernel(0.3, 0.4);
        assert_eq!((k.h, k.w), (3, 3));
        let g = cv_gaussian_kernel(3, 0.4);
        for y in 0..3 {
            for x in 0..3 {
                assert!((k.values[y * 3 + x] - g[y] * g[x]).abs() < 1e-12);
            }
        }
        // r = 1.5: the 3×3 block, blurred to 5×5; weights sum to one.
        let k = disk_kernel(1.5, 0.1);
        assert_eq!((k.h, k.w), (5, 5));
        assert!((k.values.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn motion_blur_of_angle_zero_streaks_along_rows() {
        // One bright pixel; at angle 0 the output pixel reads pixels to its right, so the
        // bright pixel spreads to the left along its row and nowhere else.
        let (h, w) = (5, 9);
        let mut plane = vec![0.0; h * w];
        plane[2 * w + 6] = 1.0;
        let out = motion_blur_plane(&plane, h, w, 2.0, 1.0, 0.0);
        for y in 0..h {
            for x in 0..w {
                let v = out[y * w + x];
                if y == 2 && (2..=6).contains(&x) {
                    assert!(v > 0.0, "({y},{x})");
                } else {
                    assert_eq!(v, 0.0, "({y},{x})");
                }
            }
        }
        // The weights decrease with the distance.
        assert!(out[2 * w + 6] > out[2 * w + 5] && out[2 * w + 5] > out[2 * w + 4]);
    }
}
