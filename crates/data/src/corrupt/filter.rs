//! Linear filters on one `H·W` plane: Gaussian kernels as SciPy builds them, separable and
//! dense correlation, with the border rules of the libraries the reference calls.

/// How a filter reads outside the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Border {
    /// Repeat the edge pixel (`aaa|abcd|ddd`): SciPy/scikit-image `mode='nearest'`, ImageMagick's
    /// default edge virtual pixels.
    Nearest,
    /// Half-sample symmetric (`dcba|abcd|dcba`): SciPy `mode='reflect'`.
    Reflect,
    /// Whole-sample symmetric (`dcb|abcd|cba`): OpenCV's default `BORDER_REFLECT_101`.
    Reflect101,
}

impl Border {
    /// The in-range index that index `i` of an axis of length `n` reads.
    pub(crate) fn index(self, i: isize, n: usize) -> usize {
        let n = n as isize;
        if (0..n).contains(&i) {
            return i as usize;
        }
        let mapped = match self {
            Border::Nearest => i.clamp(0, n - 1),
            Border::Reflect => {
                let period = 2 * n;
                let m = i.rem_euclid(period);
                if m < n {
                    m
                } else {
                    period - 1 - m
                }
            }
            Border::Reflect101 => {
                if n == 1 {
                    0
                } else {
                    let period = 2 * n - 2;
                    let m = i.rem_euclid(period);
                    if m < n {
                        m
                    } else {
                        period - m
                    }
                }
            }
        };
        mapped as usize
    }
}

/// SciPy's 1-D Gaussian kernel (`gaussian_filter1d`): radius `int(truncate·σ + 0.5)`, weights
/// `exp(−x²/2σ²)` normalised to sum 1. A σ of (almost) zero gives the identity `[1]`, as SciPy
/// skips such axes.
pub(crate) fn gaussian_kernel(sigma: f64, truncate: f64) -> Vec<f64> {
    if sigma <= 1e-15 {
        return vec![1.0];
    }
    let radius = (truncate * sigma + 0.5) as isize;
    let w: Vec<f64> = (-radius..=radius)
        .map(|x| (-0.5 * (x * x) as f64 / (sigma * sigma)).exp())
        .collect();
    let sum: f64 = w.iter().sum();
    w.into_iter().map(|v| v / sum).collect()
}

/// OpenCV's `getGaussianKernel(ksize, σ)` for σ > 0: `exp(−x²/2σ²)` at `x = i − (ksize−1)/2`,
/// normalised.
pub(crate) fn cv_gaussian_kernel(ksize: usize, sigma: f64) -> Vec<f64> {
    let mid = (ksize as f64 - 1.0) / 2.0;
    let w: Vec<f64> = (0..ksize)
        .map(|i| {
            let x = i as f64 - mid;
            (-(x * x) / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let sum: f64 = w.iter().sum();
    w.into_iter().map(|v| v / sum).collect()
}

/// Correlate a plane with the same odd 1-D `kernel` along rows and then along columns (a
/// separable filter), reading outside the plane by `border`.
pub(crate) fn separable(
    plane: &[f64],
    h: usize,
    w: usize,
    kernel: &[f64],
    border: Border,
) -> Vec<f64> {
    if kernel.len() == 1 {
        return plane.iter().map(|v| v * kernel[0]).collect();
    }
    let r = (kernel.len() / 2) as isize;
    let mut rows = vec![0.0; h * w];
    for y in 0..h {
        let src = &plane[y * w..(y + 1) * w];
        for x in 0..w {
            rows[y * w + x] = kernel
                .iter()
                .enumerate()
                .map(|(k, kv)| kv * src[border.index(x as isize + k as isize - r, w)])
                .sum();
        }
    }
    let mut out = vec![0.0; h * w];
    for y in 0..h {
        for x in 0..w {
            out[y * w + x] = kernel
                .iter()
                .enumerate()
                .map(|(k, kv)| kv * rows[border.index(y as isize + k as isize - r, h) * w + x])
                .sum();
        }
    }
    out
}

/// A Gaussian blur of σ as scikit-image's `gaussian` (SciPy `gaussian_filter`) with the given
/// `truncate` and border.
pub(crate) fn gaussian_blur(
    plane: &[f64],
    h: usize,
    w: usize,
    sigma: f64,
    truncate: f64,
    border: Border,
) -> Vec<f64> {
    separable(plane, h, w, &gaussian_kernel(sigma, truncate), border)
}

/// A dense 2-D kernel of odd size `kh × kw`, row-major.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Kernel2d {
    pub(crate) h: usize,
    pub(crate) w: usize,
    pub(crate) values: Vec<f64>,
}

impl Kernel2d {
    /// The smallest centred odd window that holds every non-zero weight (filtering with it gives
    /// the same result as with the full kernel, much faster).
    pub(crate) fn trimmed(&self) -> Kernel2d {
        let (cy, cx) = (self.h / 2, self.w / 2);
        let mut reach = 0;
        for y in 0..self.h {
            for x in 0..self.w {
                if self.values[y * self.w + x] != 0.0 {
                    reach = reach.max(y.abs_diff(cy)).max(x.abs_diff(cx));
                }
            }
        }
        let size = 2 * reach + 1;
        let mut values = Vec::with_capacity(size * size);
        for y in cy - reach..=cy + reach {
            for x in cx - reach..=cx + reach {
                values.push(self.values[y * self.w + x]);
            }
        }
        Kernel2d {
            h: size,
            w: size,
            values,
        }
    }

    /// Correlate with a plane (OpenCV `filter2D` semantics: the anchor is the kernel's centre).
    pub(crate) fn correlate(&self, plane: &[f64], h: usize, w: usize, border: Border) -> Vec<f64> {
        let (ry, rx) = ((self.h / 2) as isize, (self.w / 2) as isize);
        let mut out = vec![0.0; h * w];
        for y in 0..h {
            for x in 0..w {
                let mut acc = 0.0;
                for ky in 0..self.h {
                    let sy = border.index(y as isize + ky as isize - ry, h);
                    for kx in 0..self.w {
                        let kv = self.values[ky * self.w + kx];
                        if kv != 0.0 {
                            let sx = border.index(x as isize + kx as isize - rx, w);
                            acc += kv * plane[sy * w + sx];
                        }
                    }
                }
                out[y * w + x] = acc;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borders_map_like_the_libraries() {
        // abcd, n = 4
        let idx = |b: Border| -> Vec<usize> { (-3..7).map(|i| b.index(i, 4)).collect() };
        assert_eq!(idx(Border::Nearest), vec![0, 0, 0, 0, 1, 2, 3, 3, 3, 3]);
        // scipy reflect: c b a | a b c d | d c b
        assert_eq!(idx(Border::Reflect), vec![2, 1, 0, 0, 1, 2, 3, 3, 2, 1]);
        // opencv reflect101: d c b | a b c d | c b a
        assert_eq!(idx(Border::Reflect101), vec![3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
        // far outside still lands inside
        for b in [Border::Nearest, Border::Reflect, Border::Reflect101] {
            for i in -40..40 {
                assert!(b.index(i, 3) < 3);
            }
        }
    }

    #[test]
    fn gaussian_kernel_matches_scipy_radius_and_sums_to_one() {
        assert_eq!(gaussian_kernel(0.05, 4.0), vec![1.0]); // int(0.7) = 0
        assert_eq!(gaussian_kernel(0.25, 4.0).len(), 3); // int(1.5) = 1
        assert_eq!(gaussian_kernel(0.4, 4.0).len(), 5); // int(2.1) = 2
        assert_eq!(gaussian_kernel(6.4, 3.0).len(), 39); // int(19.7) = 19
        let k = gaussian_kernel(1.3, 4.0);
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(gaussian_kernel(0.0, 3.0), vec![1.0]);
    }

    #[test]
    fn filters_keep_a_constant_plane() {
        let plane = vec![0.37; 5 * 6];
        for b in [Border::Nearest, Border::Reflect, Border::Reflect101] {
            let out = gaussian_blur(&plane, 5, 6, 2.0, 4.0, b);
            assert!(out.iter().all(|v| (v - 0.37).abs() < 1e-12));
        }
    }
}
