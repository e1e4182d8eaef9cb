//! Numerically stable softmax and log-softmax over the last axis, and their backward.
//!
//! Inputs are 2-D views `[rows, cols]`: the caller flattens all leading dimensions into `rows`
//! (free for a standard-layout tensor). A view that is not in standard layout is copied first.
//! Rows run in parallel over rayon in chunks of ≥ 16k elements; the inner loops (max, `exp`, sums,
//! scaling) are branch-free and auto-vectorise (`f32` uses [`super::exp_f32`]).
//!
//! A row that is entirely `-∞` (fully masked) gives NaNs, like PyTorch.

use ndarray::{Array2, ArrayView2};
use rayon::prelude::*;

use super::{dot, max, rows_per_task, sum, Real};

/// Apply `f(x_row, out_row)` to every row of `x` in parallel into a fresh `[rows, cols]` array.
fn map_rows<T: Real>(x: ArrayView2<'_, T>, f: impl Fn(&[T], &mut [T]) + Sync) -> Array2<T> {
    let (rows, cols) = x.dim();
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let mut out = vec![T::ZERO; rows * cols];
    if cols > 0 {
        let chunk = rows_per_task(cols) * cols;
        out.par_chunks_mut(chunk)
            .zip(xs.par_chunks(chunk))
            .for_each(|(o, xc)| {
                for (orow, xrow) in o.chunks_exact_mut(cols).zip(xc.chunks_exact(cols)) {
                    f(xrow, orow);
                }
            });
    }
    Array2::from_shape_vec((rows, cols), out).expect("shape")
}

/// Apply `f(a_row, b_row, out_row)` to every row pair in parallel into a fresh array.
fn map_rows2<T: Real>(
    a: ArrayView2<'_, T>,
    b: ArrayView2<'_, T>,
    f: impl Fn(&[T], &[T], &mut [T]) + Sync,
) -> Array2<T> {
    debug_assert_eq!(a.dim(), b.dim());
    let (rows, cols) = a.dim();
    let a = a.as_standard_layout();
    let b = b.as_standard_layout();
    let (as_, bs) = (
        a.as_slice().expect("standard"),
        b.as_slice().expect("standard"),
    );
    let mut out = vec![T::ZERO; rows * cols];
    if cols > 0 {
        let chunk = rows_per_task(cols) * cols;
        out.par_chunks_mut(chunk)
            .zip(as_.par_chunks(chunk).zip(bs.par_chunks(chunk)))
            .for_each(|(o, (ac, bc))| {
                for ((orow, arow), brow) in o
                    .chunks_exact_mut(cols)
                    .zip(ac.chunks_exact(cols))
                    .zip(bc.chunks_exact(cols))
                {
                    f(arow, brow, orow);
                }
            });
    }
    Array2::from_shape_vec((rows, cols), out).expect("shape")
}

#[inline]
fn softmax_row<T: Real>(x: &[T], y: &mut [T]) {
    y.copy_from_slice(x);
    softmax_row_in_place(y);
}

/// Softmax of one row, overwriting it: the fused attention op applies it to each row of a score
/// block while the block is still in cache.
#[inline]
pub(crate) fn softmax_row_in_place<T: Real>(x: &mut [T]) {
    let m = max(x);
    for v in x.iter_mut() {
        *v = (*v - m).exp();
    }
    let inv = T::ONE / sum(x);
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// Softmax backward of one row in place, scaled: `g ← scale · y ⊙ (g − Σ g⊙y)`, where `y` is the
/// softmax output and `g` the gradient with respect to it on entry (the gradient with respect to
/// the softmax input times `scale` on exit).
#[inline]
pub(crate) fn softmax_backward_row_in_place<T: Real>(y: &[T], g: &mut [T], scale: T) {
    let s = dot(g, y);
    for (gi, &yi) in g.iter_mut().zip(y) {
        *gi = scale * yi * (*gi - s);
    }
}

#[inline]
fn log_softmax_row<T: Real>(x: &[T], y: &mut [T]) {
    let m = max(x);
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi = (xi - m).exp();
    }
    let lse = sum(y).ln();
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi = (xi - m) - lse;
    }
}

/// `softmax(x)` over the last axis: `yᵢ = exp(xᵢ − max x) / Σⱼ exp(xⱼ − max x)`.
pub fn softmax<T: Real>(x: ArrayView2<'_, T>) -> Array2<T> {
    map_rows(x, softmax_row)
}

/// `log_softmax(x)` over the last axis: `yᵢ = xᵢ − max x − ln Σⱼ exp(xⱼ − max x)`.
pub fn log_softmax<T: Real>(x: ArrayView2<'_, T>) -> Array2<T> {
    map_rows(x, log_softmax_row)
}

/// Gradient of the softmax given its output `y` and the upstream gradient `dy`:
/// `dx = y ⊙ (dy − Σ dy⊙y)` (sum over the last axis).
pub fn softmax_backward<T: Real>(y: ArrayView2<'_, T>, dy: ArrayView2<'_, T>) -> Array2<T> {
    map_rows2(y, dy, |y, dy, dx| {
        dx.copy_from_slice(dy);
        softmax_backward_row_in_place(y, dx, T::ONE);
    })
}

/// Gradient of the log-softmax given its output `y` (log-probabilities) and the upstream gradient
/// `dy`: `dx = dy − exp(y) ⊙ Σ dy` (sum over the last axis).
pub fn log_softmax_backward<T: Real>(y: ArrayView2<'_, T>, dy: ArrayView2<'_, T>) -> Array2<T> {
    map_rows2(y, dy, |y, dy, dx| {
        let s = sum(dy);
        for ((dxi, &yi), &dyi) in dx.iter_mut().zip(y).zip(dy) {
            *dxi = dyi - yi.exp() * s;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array2};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn rand2(rng: &mut ChaCha8Rng, r: usize, c: usize, scale: f64) -> Array2<f64> {
        Array2::from_shape_fn((r, c), |_| rng.gen_range(-scale..scale))
    }

    fn ref_softmax(x: &Array2<f64>) -> Array2<f64> {
        let mut y = x.clone();
        for mut row in y.rows_mut() {
            let m = row.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
            row.mapv_inplace(|v| (v - m).exp());
            let s = row.sum();
            row.mapv_inplace(|v| v / s);
        }
        y
    }

    #[test]
    fn forward_matches_f64_reference() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for (r, c) in [
            (1, 1),
            (3, 5),
            (17, 65),
            (700, 65),
            (5, 300),
            (0, 4),
            (4, 0),
        ] {
            let x = rand2(&mut rng, r, c, 30.0);
            let want = ref_softmax(&x);
            let got = softmax(x.mapv(|v| v as f32).view());
            for (g, w) in got.iter().zip(want.iter()) {
                assert!((*g as f64 - w).abs() <= 1e-6 * (1.0 + w), "{g} vs {w}");
            }
            let got_log = log_softmax(x.mapv(|v| v as f32).view());
            for (g, w) in got_log.iter().zip(want.iter()) {
                assert!(
                    (*g as f64 - w.ln()).abs() <= 2e-5 * (1.0 + w.ln().abs()),
                    "{g} vs {}",
                    w.ln()
                );
            }
        }
    }

    #[test]
    fn large_logits_and_masking_are_stable() {
        let x = ndarray::array![[1000.0f32, 1000.0, f32::NEG_INFINITY], [-1e30, 0.0, 1e30]];
        let y = softmax(x.view());
        assert_eq!(y, ndarray::array![[0.5f32, 0.5, 0.0], [0.0, 0.0, 1.0]]);
        let l = log_softmax(x.view());
        assert!((l[(0, 0)] - (-std::f32::consts::LN_2)).abs() < 1e-6);
        assert_eq!(l[(0, 2)], f32::NEG_INFINITY);
    }

    #[test]
    fn non_standard_layout_input() {
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let x = rand2(&mut rng, 20, 30, 5.0);
        let v = x.slice(s![..;2, ..;-1]);
        let want = ref_softmax(&v.to_owned());
        let got = softmax(v);
        for (g, w) in got.iter().zip(want.iter()) {
            assert!((g - w).abs() < 1e-12);
        }
    }

    /// Backward formulas against central differences of the f64 forward of `L = Σ w ⊙ f(x)`.
    #[test]
    fn backward_matches_finite_differences() {
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        let x = rand2(&mut rng, 3, 7, 3.0);
        let w = rand2(&mut rng, 3, 7, 1.0);
        let h = 1e-6;
        for log in [false, true] {
            let f = |x: &Array2<f64>| {
                if log {
                    log_softmax(x.view())
                } else {
                    softmax(x.view())
                }
            };
            let y = f(&x);
            let dx = if log {
                log_softmax_backward(y.view(), w.view())
            } else {
                softmax_backward(y.view(), w.view())
            };
            for i in 0..3 {
                for j in 0..7 {
                    let (mut xp, mut xm) = (x.clone(), x.clone());
                    xp[(i, j)] += h;
                    xm[(i, j)] -= h;
                    let fd = ((&f(&xp) * &w).sum() - (&f(&xm) * &w).sum()) / (2.0 * h);
                    assert!(
                        (fd - dx[(i, j)]).abs() < 1e-7,
                        "log={log} ({i},{j}): fd {fd} vs {}",
                        dx[(i, j)]
                    );
                }
            }
            // The f32 kernel agrees with the f64 one.
            let dx32 = if log {
                log_softmax_backward(y.mapv(|v| v as f32).view(), w.mapv(|v| v as f32).view())
            } else {
                softmax_backward(y.mapv(|v| v as f32).view(), w.mapv(|v| v as f32).view())
            };
            for (a, b) in dx32.iter().zip(dx.iter()) {
                assert!((*a as f64 - b).abs() < 1e-5);
            }
        }
    }
}
