//! Seeded random instances of the update `X + A X H`: softmax attention, bases and matrices with a
//! prescribed spectrum, and the dense reference update for checking C1. Shared by the property tests
//! and by `eigenformer theory`, so that both draw their instances the same way.

use ndarray::{Array1, Array2};
use num_complex::Complex64;
use rand::Rng;
use rand_distr::StandardNormal;

use crate::error::Result;
use crate::linalg;

/// Standard normal `r × c` matrix.
pub fn normal_matrix(r: usize, c: usize, rng: &mut impl Rng) -> Array2<f64> {
    Array2::from_shape_fn((r, c), |_| rng.sample::<f64, _>(StandardNormal))
}

/// Standard normal vector of length `n`.
pub fn normal_vector(n: usize, rng: &mut impl Rng) -> Array1<f64> {
    Array1::from_shape_fn(n, |_| rng.sample::<f64, _>(StandardNormal))
}

/// Row-wise softmax of `scale · N(0,1)` scores: a positive row-stochastic attention matrix, as a
/// Transformer's attention is.
pub fn softmax_attention(n: usize, scale: f64, rng: &mut impl Rng) -> Array2<f64> {
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
pub fn real_spectrum_attention(n: usize, scale: f64, rng: &mut impl Rng) -> Array2<f64> {
    let g = normal_matrix(n, n, rng) * scale;
    let mut s = Array2::from_shape_fn((n, n), |(i, j)| ((g[[i, j]] + g[[j, i]]) / 2.0).exp());
    for mut row in s.rows_mut() {
        let t = row.sum();
        row.mapv_inplace(|v| v / t);
    }
    s
}

/// `I + 0.4 G / √d`: a random, usually well-conditioned eigenvector matrix.
pub fn random_basis(d: usize, rng: &mut impl Rng) -> Array2<f64> {
    Array2::eye(d) + normal_matrix(d, d, rng) * (0.4 / (d as f64).sqrt())
}

/// 2-norm condition number `σ_max / σ_min`.
pub fn condition_number(m: &Array2<f64>) -> Result<f64> {
    let s = linalg::singular_values(m.view())?;
    Ok(s[0] / s[s.len() - 1])
}

/// `V B V⁻¹` through a solve (`Vᵀ Hᵀ = (V B)ᵀ`), never forming `V⁻¹`.
pub fn similar(v: &Array2<f64>, b: &Array2<f64>) -> Result<Array2<f64>> {
    let rhs = v.dot(b).t().to_owned();
    let vt = v.t().to_owned();
    Ok(linalg::solve(vt.view(), rhs.view())?.t().to_owned())
}

/// `ρ [[cos φ, −sin φ], [sin φ, cos φ]]`: eigenvalues `ρ e^{±iφ}`.
pub fn rotation_block(rho: f64, phi: f64) -> Array2<f64> {
    ndarray::array![
        [rho * phi.cos(), -rho * phi.sin()],
        [rho * phi.sin(), rho * phi.cos()]
    ]
}

/// `I + Hᵀ ⊗ A`, the dense nd×nd update matrix acting on column-stacked `vec(X)`: the reference
/// that C1 is checked against (the analysis itself never forms it).
pub fn dense_update(a: &Array2<f64>, h: &Array2<f64>) -> Array2<f64> {
    let (n, d) = (a.nrows(), h.nrows());
    Array2::from_shape_fn((n * d, n * d), |(r, c)| {
        let (j, i) = (r / n, r % n);
        let (l, k) = (c / n, c % n);
        let id = if r == c { 1.0 } else { 0.0 };
        id + h[[l, j]] * a[[i, k]]
    })
}

/// Real values as complex numbers.
pub fn real(values: &[f64]) -> Vec<Complex64> {
    values.iter().map(|&v| Complex64::new(v, 0.0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn softmax_attention_is_row_stochastic_and_positive() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let a = softmax_attention(5, 2.0, &mut rng);
        for row in a.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-12 && row.iter().all(|&v| v > 0.0));
        }
    }

    #[test]
    fn similar_has_the_spectrum_of_b() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let v = random_basis(3, &mut rng);
        let b = Array2::from_diag(&ndarray::array![0.5, -0.2, 0.1]);
        let mut eig: Vec<f64> = linalg::eigenvalues(similar(&v, &b).unwrap().view())
            .unwrap()
            .iter()
            .map(|z| z.re)
            .collect();
        eig.sort_by(f64::total_cmp);
        for (x, y) in eig.iter().zip([-0.2, 0.1, 0.5]) {
            assert!((x - y).abs() < 1e-10);
        }
    }
}
