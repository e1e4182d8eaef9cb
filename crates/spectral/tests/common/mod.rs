//! Random instance generators and comparison helpers shared by the claim tests.
//!
//! Instances are drawn from a seeded ChaCha generator whose seed proptest chooses, so failures are
//! reproducible from the printed seed.

#![allow(dead_code)]

use eigenformer_spectral::linalg;
use eigenformer_spectral::Complex64;
use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

pub fn normal_matrix(r: usize, c: usize, rng: &mut ChaCha8Rng) -> Array2<f64> {
    Array2::from_shape_fn((r, c), |_| rng.sample::<f64, _>(StandardNormal))
}

pub fn normal_vector(n: usize, rng: &mut ChaCha8Rng) -> Array1<f64> {
    Array1::from_shape_fn(n, |_| rng.sample::<f64, _>(StandardNormal))
}

/// Row-wise softmax of `scale · N(0,1)` scores: a positive row-stochastic attention matrix.
pub fn softmax_attention(n: usize, scale: f64, rng: &mut ChaCha8Rng) -> Array2<f64> {
    let mut a = normal_matrix(n, n, rng) * scale;
    for mut row in a.rows_mut() {
        let m = row.fold(f64::NEG_INFINITY, |m, v| m.max(*v));
        row.mapv_inplace(|v| (v - m).exp());
        let s = row.sum();
        row.mapv_inplace(|v| v / s);
    }
    a
}

/// `D⁻¹ S` with S symmetric and positive: row-stochastic with a **real** spectrum (it is similar to
/// the symmetric `D^{-1/2} S D^{-1/2}`).
pub fn real_spectrum_attention(n: usize, scale: f64, rng: &mut ChaCha8Rng) -> Array2<f64> {
    let g = normal_matrix(n, n, rng) * scale;
    let mut s = Array2::from_shape_fn((n, n), |(i, j)| ((g[[i, j]] + g[[j, i]]) / 2.0).exp());
    for mut row in s.rows_mut() {
        let t = row.sum();
        row.mapv_inplace(|v| v / t);
    }
    s
}

/// `I + 0.4 G / √d`: a random, usually well-conditioned eigenvector matrix.
pub fn random_basis(d: usize, rng: &mut ChaCha8Rng) -> Array2<f64> {
    Array2::eye(d) + normal_matrix(d, d, rng) * (0.4 / (d as f64).sqrt())
}

pub fn condition_number(m: &Array2<f64>) -> f64 {
    let s = linalg::singular_values(m.view()).unwrap();
    s[0] / s[s.len() - 1]
}

/// `V B V⁻¹` computed with a solve (`Vᵀ Hᵀ = (V B)ᵀ`).
pub fn similar(v: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
    let vb = v.dot(b);
    let vt = v.t().to_owned();
    let rhs = vb.t().to_owned();
    linalg::solve(vt.view(), rhs.view()).unwrap().t().to_owned()
}

/// `ρ [[cos φ, −sin φ], [sin φ, cos φ]]`: eigenvalues `ρ e^{±iφ}`.
pub fn rotation_block(rho: f64, phi: f64) -> Array2<f64> {
    ndarray::array![
        [rho * phi.cos(), -rho * phi.sin()],
        [rho * phi.sin(), rho * phi.cos()]
    ]
}

/// `I + Hᵀ ⊗ A`, the dense update matrix acting on column-stacked `vec(X)`.
pub fn dense_update(a: &Array2<f64>, h: &Array2<f64>) -> Array2<f64> {
    let (n, d) = (a.nrows(), h.nrows());
    Array2::from_shape_fn((n * d, n * d), |(r, c)| {
        let (j, i) = (r / n, r % n);
        let (l, k) = (c / n, c % n);
        let id = if r == c { 1.0 } else { 0.0 };
        id + h[[l, j]] * a[[i, k]]
    })
}

/// Whether two multisets of complex numbers agree within `tol` (greedy nearest matching).
pub fn multiset_close(expected: &[Complex64], actual: &[Complex64], tol: f64) -> bool {
    if expected.len() != actual.len() {
        return false;
    }
    let mut used = vec![false; actual.len()];
    for e in expected {
        let best = actual
            .iter()
            .enumerate()
            .filter(|(k, _)| !used[*k])
            .min_by(|(_, x), (_, y)| (*x - e).norm().total_cmp(&(*y - e).norm()));
        match best {
            Some((k, x)) if (x - e).norm() <= tol => used[k] = true,
            _ => return false,
        }
    }
    true
}

pub fn real(values: &[f64]) -> Vec<Complex64> {
    values.iter().map(|&v| Complex64::new(v, 0.0)).collect()
}
