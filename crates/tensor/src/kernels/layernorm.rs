//! Layer norm over the last axis, `y = (x − μ)·rstd·γ + β` with `rstd = 1/√(σ² + ε)` (biased
//! variance, as PyTorch), and its backward.
//!
//! Inputs are 2-D views `[rows, cols]` (leading dimensions flattened by the caller); views not in
//! standard layout are copied first. Rows run in parallel over rayon in chunks of ≥ 16k elements.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use rayon::prelude::*;

use super::{centered_sum_sq, dot, rows_per_task, sum, Real};

/// Output of [`layernorm`]: the normalised rows and the per-row statistics the backward needs.
#[derive(Clone, Debug)]
pub struct LayerNormOutput<T> {
    /// `[rows, cols]`.
    pub y: Array2<T>,
    /// Per-row mean, `[rows]`.
    pub mean: Array1<T>,
    /// Per-row `1/√(σ² + ε)`, `[rows]`.
    pub rstd: Array1<T>,
}

/// Layer norm of every row of `x` (`[rows, cols]`) with `gamma`, `beta` of length `cols`.
pub fn layernorm<T: Real>(
    x: ArrayView2<'_, T>,
    gamma: ArrayView1<'_, T>,
    beta: ArrayView1<'_, T>,
    eps: T,
) -> LayerNormOutput<T> {
    let (rows, cols) = x.dim();
    debug_assert_eq!(gamma.len(), cols);
    debug_assert_eq!(beta.len(), cols);
    let x = x.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let gamma = gamma.to_vec();
    let beta = beta.to_vec();
    // `y` is written once, without zero-filling it first (an activation-sized pass saved).
    let mut y = Array2::<T>::uninit((rows, cols));
    let mut mean = vec![T::ZERO; rows];
    let mut rstd = vec![T::ZERO; rows];
    if cols > 0 {
        let rpt = rows_per_task(cols);
        let inv_n = T::ONE / T::from_f64(cols as f64);
        y.as_slice_mut()
            .expect("fresh array is contiguous")
            .par_chunks_mut(rpt * cols)
            .zip(xs.par_chunks(rpt * cols))
            .zip(mean.par_chunks_mut(rpt).zip(rstd.par_chunks_mut(rpt)))
            .for_each(|((yc, xc), (mc, rc))| {
                for (((yrow, xrow), m), r) in yc
                    .chunks_exact_mut(cols)
                    .zip(xc.chunks_exact(cols))
                    .zip(mc.iter_mut())
                    .zip(rc.iter_mut())
                {
                    let mu = sum(xrow) * inv_n;
                    // Two-pass variance: Σ (x − μ)² after the mean.
                    let var = centered_sum_sq(xrow, mu) * inv_n;
                    let rs = T::ONE / (var + eps).sqrt();
                    for (((yi, &xi), &g), &b) in yrow.iter_mut().zip(xrow).zip(&gamma).zip(&beta) {
                        yi.write((xi - mu) * rs * g + b);
                    }
                    *m = mu;
                    *r = rs;
                }
            });
    } else {
        // Empty rows: mean 0, rstd 1/√ε (σ² of nothing taken as 0).
        rstd.iter_mut().for_each(|r| *r = T::ONE / eps.sqrt());
    }
    LayerNormOutput {
        // SAFETY: every row of `y` was written above (there are none when `cols` is 0).
        y: unsafe { y.assume_init() },
        mean: Array1::from_vec(mean),
        rstd: Array1::from_vec(rstd),
    }
}

/// Backward of [`layernorm`]: given `x`, `gamma`, the saved `mean`/`rstd` and the upstream gradient
/// `dy`, returns `(dx, dgamma, dbeta)`:
///
/// `x̂ = (x − μ)·rstd`, `g = dy ⊙ γ`,
/// `dx = rstd·(g − mean(g) − x̂·mean(g ⊙ x̂))`, `dγ = Σ_rows dy ⊙ x̂`, `dβ = Σ_rows dy`.
pub fn layernorm_backward<T: Real>(
    x: ArrayView2<'_, T>,
    gamma: ArrayView1<'_, T>,
    mean: ArrayView1<'_, T>,
    rstd: ArrayView1<'_, T>,
    dy: ArrayView2<'_, T>,
) -> (Array2<T>, Array1<T>, Array1<T>) {
    let (rows, cols) = x.dim();
    debug_assert_eq!(dy.dim(), (rows, cols));
    debug_assert_eq!(gamma.len(), cols);
    debug_assert_eq!(mean.len(), rows);
    debug_assert_eq!(rstd.len(), rows);
    let x = x.as_standard_layout();
    let dy = dy.as_standard_layout();
    let xs = x.as_slice().expect("standard layout");
    let dys = dy.as_slice().expect("standard layout");
    let gamma = gamma.to_vec();
    let mean = mean.to_vec();
    let rstd = rstd.to_vec();
    if cols == 0 {
        return (
            Array2::from_elem((rows, cols), T::ZERO),
            Array1::from_vec(vec![]),
            Array1::from_vec(vec![]),
        );
    }
    let rpt = rows_per_task(cols);
    let inv_n = T::ONE / T::from_f64(cols as f64);
    let zeros = || (vec![T::ZERO; cols], vec![T::ZERO; cols]);
    // `dx` is written once per element, without zero-filling it first.
    let mut dx = Array2::<T>::uninit((rows, cols));
    let (dgamma, dbeta) = dx
        .as_slice_mut()
        .expect("fresh array is contiguous")
        .par_chunks_mut(rpt * cols)
        .zip(xs.par_chunks(rpt * cols).zip(dys.par_chunks(rpt * cols)))
        .zip(mean.par_chunks(rpt).zip(rstd.par_chunks(rpt)))
        .map(|((dxc, (xc, dyc)), (mc, rc))| {
            let (mut dg, mut db) = zeros();
            let mut g = vec![T::ZERO; cols];
            let mut xhat = vec![T::ZERO; cols];
            for ((((dxrow, xrow), dyrow), &mu), &rs) in dxc
                .chunks_exact_mut(cols)
                .zip(xc.chunks_exact(cols))
                .zip(dyc.chunks_exact(cols))
                .zip(mc)
                .zip(rc)
            {
                // x̂ of this row, kept for the three uses below.
                for (h, &xi) in xhat.iter_mut().zip(xrow) {
                    *h = (xi - mu) * rs;
                }
                for ((((gi, &dyi), &gam), h), (dgi, dbi)) in g
                    .iter_mut()
                    .zip(dyrow)
                    .zip(&gamma)
                    .zip(xhat.iter())
                    .zip(dg.iter_mut().zip(db.iter_mut()))
                {
                    *gi = dyi * gam;
                    *dgi += dyi * *h;
                    *dbi += dyi;
                }
                let mg = sum(&g) * inv_n;
                let mgx = dot(&g, &xhat) * inv_n;
                for ((d, &h), &gi) in dxrow.iter_mut().zip(&xhat).zip(&g) {
                    d.write(rs * (gi - mg - h * mgx));
                }
            }
            (dg, db)
        })
        .reduce(zeros, |(mut ga, mut ba), (gb, bb)| {
            ga.iter_mut().zip(&gb).for_each(|(a, &b)| *a += b);
            ba.iter_mut().zip(&bb).for_each(|(a, &b)| *a += b);
            (ga, ba)
        });
    (
        // SAFETY: every element of every row of `dx` was written above.
        unsafe { dx.assume_init() },
        Array1::from_vec(dgamma),
        Array1::from_vec(dbeta),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array1, Array2};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn rand2(rng: &mut ChaCha8Rng, r: usize, c: usize) -> Array2<f64> {
        Array2::from_shape_fn((r, c), |_| rng.gen_range(-2.0..2.0))
    }
    fn rand1(rng: &mut ChaCha8Rng, n: usize) -> Array1<f64> {
        Array1::from_shape_fn(n, |_| rng.gen_range(-2.0..2.0))
    }

    /// Plain f64 reference of the forward.
    fn reference(x: &Array2<f64>, g: &Array1<f64>, b: &Array1<f64>, eps: f64) -> Array2<f64> {
        let mut y = x.clone();
        for mut row in y.rows_mut() {
            let n = row.len() as f64;
            let mu = row.sum() / n;
            let var = row.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / n;
            let rs = 1.0 / (var + eps).sqrt();
            for (j, v) in row.iter_mut().enumerate() {
                *v = (*v - mu) * rs * g[j] + b[j];
            }
        }
        y
    }

    #[test]
    fn forward_matches_f64_reference() {
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        for (r, c) in [(1, 1), (4, 7), (300, 192), (9, 1000), (0, 8)] {
            let x = rand2(&mut rng, r, c).mapv(|v| v * 3.0 + 10.0);
            let g = rand1(&mut rng, c);
            let b = rand1(&mut rng, c);
            let want = reference(&x, &g, &b, 1e-5);
            let f = |a: &Array2<f64>| a.mapv(|v| v as f32);
            let out = layernorm(
                f(&x).view(),
                g.mapv(|v| v as f32).view(),
                b.mapv(|v| v as f32).view(),
                1e-5,
            );
            for (gv, w) in out.y.iter().zip(want.iter()) {
                assert!(
                    (*gv as f64 - w).abs() < 2e-5 * (1.0 + w.abs()),
                    "{gv} vs {w}"
                );
            }
            for (i, row) in x.rows().into_iter().enumerate() {
                let mu = row.sum() / c as f64;
                assert!((out.mean[i] as f64 - mu).abs() < 1e-5 * (1.0 + mu.abs()));
            }
        }
    }

    #[test]
    fn non_standard_layout_input() {
        let mut rng = ChaCha8Rng::seed_from_u64(22);
        let x = rand2(&mut rng, 10, 12);
        let g = rand1(&mut rng, 12);
        let b = rand1(&mut rng, 6);
        let v = x.slice(s![..;-1, ..;2]);
        let gv = g.slice(s![..;2]);
        let out = layernorm(v, gv, b.view(), 1e-5);
        let want = reference(&v.to_owned(), &gv.to_owned(), &b, 1e-5);
        assert!(out
            .y
            .iter()
            .zip(want.iter())
            .all(|(a, b)| (a - b).abs() < 1e-12));
    }

    /// Backward formulas against central differences of the f64 forward of `L = Σ w ⊙ y`.
    #[test]
    fn backward_matches_finite_differences() {
        let mut rng = ChaCha8Rng::seed_from_u64(23);
        let (r, c) = (4, 7);
        let x = rand2(&mut rng, r, c);
        let g = rand1(&mut rng, c);
        let b = rand1(&mut rng, c);
        let w = rand2(&mut rng, r, c);
        let eps = 1e-5;
        let loss = |x: &Array2<f64>, g: &Array1<f64>, b: &Array1<f64>| {
            (&layernorm(x.view(), g.view(), b.view(), eps).y * &w).sum()
        };
        let out = layernorm(x.view(), g.view(), b.view(), eps);
        let (dx, dg, db) = layernorm_backward(
            x.view(),
            g.view(),
            out.mean.view(),
            out.rstd.view(),
            w.view(),
        );
        let h = 1e-6;
        let tol = 1e-6;
        for i in 0..r {
            for j in 0..c {
                let (mut xp, mut xm) = (x.clone(), x.clone());
                xp[(i, j)] += h;
                xm[(i, j)] -= h;
                let fd = (loss(&xp, &g, &b) - loss(&xm, &g, &b)) / (2.0 * h);
                assert!(
                    (fd - dx[(i, j)]).abs() < tol,
                    "dx ({i},{j}): {fd} vs {}",
                    dx[(i, j)]
                );
            }
        }
        for j in 0..c {
            let (mut gp, mut gm) = (g.clone(), g.clone());
            gp[j] += h;
            gm[j] -= h;
            let fd = (loss(&x, &gp, &b) - loss(&x, &gm, &b)) / (2.0 * h);
            assert!((fd - dg[j]).abs() < tol, "dgamma {j}: {fd} vs {}", dg[j]);
            let (mut bp, mut bm) = (b.clone(), b.clone());
            bp[j] += h;
            bm[j] -= h;
            let fd = (loss(&x, &g, &bp) - loss(&x, &g, &bm)) / (2.0 * h);
            assert!((fd - db[j]).abs() < tol, "dbeta {j}: {fd} vs {}", db[j]);
        }
        // The f32 kernel agrees with the f64 one, on a size that spans several rayon tasks.
        let (r, c) = (400, 96);
        let x = rand2(&mut rng, r, c);
        let dy = rand2(&mut rng, r, c);
        let g = rand1(&mut rng, c);
        let b = rand1(&mut rng, c);
        let o64 = layernorm(x.view(), g.view(), b.view(), eps);
        let (dx64, dg64, db64) = layernorm_backward(
            x.view(),
            g.view(),
            o64.mean.view(),
            o64.rstd.view(),
            dy.view(),
        );
        let f = |a: &Array2<f64>| a.mapv(|v| v as f32);
        let (x32, dy32, g32, b32) = (f(&x), f(&dy), g.mapv(|v| v as f32), b.mapv(|v| v as f32));
        let o32 = layernorm(x32.view(), g32.view(), b32.view(), 1e-5);
        let (dx32, dg32, db32) = layernorm_backward(
            x32.view(),
            g32.view(),
            o32.mean.view(),
            o32.rstd.view(),
            dy32.view(),
        );
        assert!(dx32
            .iter()
            .zip(dx64.iter())
            .all(|(a, b)| (*a as f64 - b).abs() < 1e-4 * (1.0 + b.abs())));
        assert!(dg32
            .iter()
            .zip(dg64.iter())
            .all(|(a, b)| (*a as f64 - b).abs() < 1e-3 * (1.0 + b.abs())));
        assert!(db32
            .iter()
            .zip(db64.iter())
            .all(|(a, b)| (*a as f64 - b).abs() < 1e-3 * (1.0 + b.abs())));
    }
}
