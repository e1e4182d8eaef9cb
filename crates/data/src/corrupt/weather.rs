//! Weather: snow (a thresholded, zoomed noise layer streaked by motion blur) and fog (a plasma
//! fractal). Frost, which needs image files, is in [`super::frost`].

use super::blur::motion_blur_plane;
use super::resample::clipped_zoom;
use super::{quantize_round, to_level, Image, Severity};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// Snow with (loc, scale, zoom, threshold, blur radius, blur σ, blend) =
/// (.1,.2,1,.6,8,3,.95), (.1,.2,1,.5,10,4,.9), (.15,.3,1.75,.55,10,4,.9), (.25,.3,2.25,.6,12,6,.85),
/// (.3,.3,1.25,.65,14,12,.8):
///
/// 1. a snow layer of `N(loc, scale²)` per pixel, zoomed by `zoom` (the reference's
///    `clipped_zoom`), values below the threshold set to 0, clipped to [0, 1] and stored in 8 bits
///    (truncating, as the reference's `astype(np.uint8)`);
/// 2. the layer motion-blurred with (radius, σ) along an angle uniform in [−135°, −45°] and
///    rounded back to 8 bits ([`motion_blur_plane`], as ImageMagick writes it);
/// 3. the image whitened: `blend·x + (1 − blend)·max(x, 1.5·grey + 0.5)` (grey: OpenCV's RGB→grey
///    weights; a grayscale image is its own grey);
/// 4. the layer and the layer turned by 180° added, clipped.
///
/// **Approximation:** step 2 re-implements ImageMagick's `MotionBlurImage` (see
/// [`super::blur::motion_blur`]); the rest is exact.
pub fn snow(image: &Image, severity: Severity, rng: &mut ChaCha8Rng) -> Image {
    let (loc, scale, zoom, threshold, radius, sigma, blend) = severity.pick(&[
        (0.1, 0.2, 1.0, 0.6, 8.0, 3.0, 0.95),
        (0.1, 0.2, 1.0, 0.5, 10.0, 4.0, 0.9),
        (0.15, 0.3, 1.75, 0.55, 10.0, 4.0, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12.0, 6.0, 0.85),
        (0.3, 0.3, 1.25, 0.65, 14.0, 12.0, 0.8),
    ]);
    let (h, w) = (image.height(), image.width());
    let normal = Normal::new(loc, scale).unwrap_or_else(|_| unreachable!("constant parameters"));
    let layer: Vec<f64> = (0..h * w).map(|_| normal.sample(rng)).collect();
    let layer: Vec<f64> = clipped_zoom(&layer, h, w, zoom)
        .into_iter()
        .map(|v| {
            let v = if v < threshold { 0.0 } else { v };
            f64::from(to_level(v)) / 255.0
        })
        .collect();
    let angle = rng.gen_range(-135.0..-45.0);
    let layer: Vec<f64> = motion_blur_plane(&layer, h, w, radius, sigma, angle)
        .into_iter()
        .map(quantize_round)
        .collect();
    let grey = image.gray();
    let n = h * w;
    let whitened = image.map_planes(|_, p| {
        p.iter()
            .zip(&grey)
            .enumerate()
            .map(|(i, (&x, &g))| {
                let x = blend * x + (1.0 - blend) * x.max(1.5 * g + 0.5);
                x + layer[i] + layer[n - 1 - i]
            })
            .collect()
    });
    whitened.clipped()
}

/// The reference's plasma fractal (diamond-square) on a `size × size` torus, `size` a power of
/// two: corner value 0, then for step = size, size/2, …, 2 the square centres and the diamond
/// centres are set to the mean of their four neighbours (wrapping around) plus `wibble · U(−wibble,
/// wibble)` (sic: the noise scale is the square of `wibble`), `wibble` starting at 100 and divided
/// by `decay` after each step; finally shifted and scaled to [0, 1]. Row-major `size²` values.
pub fn plasma_fractal(size: usize, decay: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let size = size.max(2).next_power_of_two();
    let mut map = vec![0.0f64; size * size];
    let mut step = size;
    let mut wibble = 100.0f64;
    let noise = |rng: &mut ChaCha8Rng, wibble: f64| wibble * rng.gen_range(-wibble..wibble);
    while step >= 2 {
        let half = step / 2;
        let n = size / step;
        let at = |map: &[f64], y: usize, x: usize| map[y * size + x];
        // Squares: centre = mean of the four corners.
        let corner = |map: &[f64], i: usize, j: usize| at(map, (i % n) * step, (j % n) * step);
        for i in 0..n {
            for j in 0..n {
                let sum = corner(&map, i, j)
                    + corner(&map, i + 1, j)
                    + corner(&map, i, j + 1)
                    + corner(&map, i + 1, j + 1);
                map[(i * step + half) * size + j * step + half] = sum / 4.0 + noise(rng, wibble);
            }
        }
        // Diamonds: the midpoints of the square edges, from the two centres and two corners
        // they touch.
        let centre =
            |map: &[f64], i: usize, j: usize| at(map, (i % n) * step + half, (j % n) * step + half);
        let mut top = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                let up = (i + n - 1) % n;
                top[i * n + j] = centre(&map, i, j)
                    + centre(&map, up, j)
                    + corner(&map, i, j)
                    + corner(&map, i, j + 1);
            }
        }
        for i in 0..n {
            for j in 0..n {
                map[i * step * size + j * step + half] = top[i * n + j] / 4.0 + noise(rng, wibble);
            }
        }
        let mut left = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                let l = (j + n - 1) % n;
                left[i * n + j] = centre(&map, i, j)
                    + centre(&map, i, l)
                    + corner(&map, i, j)
                    + corner(&map, i + 1, j);
            }
        }
        for i in 0..n {
            for j in 0..n {
                map[(i * step + half) * size + j * step] =
                    left[i * n + j] / 4.0 + noise(rng, wibble);
            }
        }
        step /= 2;
        wibble /= decay;
    }
    let min = map.iter().copied().fold(f64::INFINITY, f64::min);
    map.iter_mut().for_each(|v| *v -= min);
    let max = map.iter().copied().fold(0.0, f64::max);
    if max > 0.0 {
        map.iter_mut().for_each(|v| *v /= max);
    }
    map
}

/// Fog with (strength, decay) = (.2,3), (.5,3), (.75,2.5), (1,2), (1.5,1.75): a plasma fractal of
/// size 32 (the reference's `mapsize=32`; the next power of two of a larger image), its top-left
/// `H × W` corner added with weight `strength` to every channel, and the result rescaled by
/// `max / (max + strength)` (`max`: the image's brightest value) and clipped. Exact.
pub fn fog(image: &Image, severity: Severity, rng: &mut ChaCha8Rng) -> Image {
    let (strength, decay) =
        severity.pick(&[(0.2, 3.0), (0.5, 3.0), (0.75, 2.5), (1.0, 2.0), (1.5, 1.75)]);
    let (h, w) = (image.height(), image.width());
    let size = h.max(w).max(32).next_power_of_two();
    let plasma = plasma_fractal(size, decay, rng);
    let max_val = image.data().iter().copied().fold(0.0, f64::max);
    let factor = max_val / (max_val + strength);
    image
        .map_planes(|_, p| {
            p.iter()
                .enumerate()
                .map(|(i, &x)| (x + strength * plasma[(i / w) * size + i % w]) * factor)
                .collect()
        })
        .clipped()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn plasma_spans_zero_to_one_and_is_smooth() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let p = plasma_fractal(32, 2.0, &mut rng);
        assert_eq!(p.len(), 32 * 32);
        let min = p.iter().copied().fold(f64::INFINITY, f64::min);
        let max = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert!(min.abs() < 1e-12 && (max - 1.0).abs() < 1e-12);
        // Neighbours differ much less than the range (a fractal, not white noise).
        let mut diff = 0.0;
        for y in 0..32 {
            for x in 0..31 {
                diff += (p[y * 32 + x] - p[y * 32 + x + 1]).abs();
            }
        }
        assert!(
            diff / (32.0 * 31.0) < 0.2,
            "mean neighbour difference {diff}"
        );
    }
}
