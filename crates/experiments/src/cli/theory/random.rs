//! Seeded random instances for `eigenformer theory`: attention matrices, H with a prescribed kind
//! of spectrum, and comparison helpers. Spectra, constructions and metrics come from
//! `eigenformer-spectral`; this module only draws the inputs.

use anyhow::{Context, Result};
use eigenformer_spectral::{general_h, linalg, Complex64};
use ndarray::{s, Array2};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::Serialize;

/// Standard normal `r × c` matrix.
pub fn normal_matrix(r: usize, c: usize, rng: &mut ChaCha8Rng) -> Array2<f64> {
    Array2::from_shape_fn((r, c), |_| rng.sample::<f64, _>(StandardNormal))
}

/// Row-wise softmax of `scale · N(0,1)` scores: a positive row-stochastic attention matrix.
pub fn softmax_attention(n: usize, scale: f64, rng: &mut ChaCha8Rng) -> Array2<f64> {
    let mut a = normal_matrix(n, n, rng) * scale;
    for mut row in a.rows_mut() {
        let m = row.fold(f64::NEG_INFINITY, |m, v| m.max(*v));
        row.mapv_inplace(|v| (v - m).exp());
        let t = row.sum();
        row.mapv_inplace(|v| v / t);
    }
    a
}

/// `I + 0.4 G / √d`: a random, usually well-conditioned eigenvector matrix.
pub fn random_basis(d: usize, rng: &mut ChaCha8Rng) -> Array2<f64> {
    Array2::eye(d) + normal_matrix(d, d, rng) * (0.4 / (d as f64).sqrt())
}

/// 2-norm condition number.
pub fn condition_number(m: &Array2<f64>) -> Result<f64> {
    let s = linalg::singular_values(m.view())?;
    Ok(s[0] / s[s.len() - 1])
}

/// A random basis with condition number below `max_cond` (redrawn until it is).
pub fn conditioned_basis(d: usize, max_cond: f64, rng: &mut ChaCha8Rng) -> Result<Array2<f64>> {
    for _ in 0..1000 {
        let v = random_basis(d, rng);
        if condition_number(&v)? < max_cond {
            return Ok(v);
        }
    }
    anyhow::bail!("no basis with condition number < {max_cond} in 1000 draws")
}

/// `V B V⁻¹` through a solve (`Vᵀ Hᵀ = (V B)ᵀ`).
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

/// The kinds of random H of the agreement table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HKind {
    /// Real eigenvalues in `[0.01, 3]` (C6: smoothing).
    RealPositive,
    /// Real eigenvalues in `[−1, −0.01]` (C5: no smoothing).
    RealNegativeUnit,
    /// Real eigenvalues in `[−3, 3]`.
    RealMixed,
    /// Complex-conjugate pairs `ρe^{±iφ}`, `ρ ∈ [0.1, 3]`, `φ ∈ [0.05, π − 0.05]` (one real
    /// eigenvalue in `[−2, 2]` when d is odd).
    ComplexPairs,
    /// Real eigenvalues in `[−5, −2]` (C5's bound violated: DC may dominate with a sign flip).
    LargeNegative,
    /// Dense Gaussian `s·G/√d`, `s ∈ [0.3, 3]` (no structure imposed).
    Gaussian,
}

impl HKind {
    /// All kinds, in table order.
    pub const ALL: [HKind; 6] = [
        HKind::RealPositive,
        HKind::RealNegativeUnit,
        HKind::RealMixed,
        HKind::ComplexPairs,
        HKind::LargeNegative,
        HKind::Gaussian,
    ];

    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            HKind::RealPositive => "real-positive",
            HKind::RealNegativeUnit => "real-negative-unit",
            HKind::RealMixed => "real-mixed",
            HKind::ComplexPairs => "complex-pairs",
            HKind::LargeNegative => "large-negative",
            HKind::Gaussian => "gaussian",
        }
    }

    /// Human-readable description of the eigenvalue distribution.
    pub fn describe(self) -> &'static str {
        match self {
            HKind::RealPositive => "real, uniform in [0.01, 3]",
            HKind::RealNegativeUnit => "real, uniform in [−1, −0.01]",
            HKind::RealMixed => "real, uniform in [−3, 3]",
            HKind::ComplexPairs => "pairs ρe^{±iφ}, ρ ∈ [0.1, 3], φ ∈ [0.05, π−0.05]",
            HKind::LargeNegative => "real, uniform in [−5, −2]",
            HKind::Gaussian => "dense s·G/√d, s ∈ [0.3, 3]",
        }
    }
}

/// Uniform real eigenvalues in `[lo, hi]`.
fn uniform(d: usize, lo: f64, hi: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    (0..d).map(|_| rng.gen_range(lo..=hi)).collect()
}

/// `H = V diag(λ) V⁻¹` with a random well-conditioned V (condition number < 50).
pub fn h_with_real_spectrum(lambda: &[f64], rng: &mut ChaCha8Rng) -> Result<Array2<f64>> {
    let v = conditioned_basis(lambda.len(), 50.0, rng)?;
    general_h(v.view(), lambda).context("constructing H = V diag(λ) V⁻¹")
}

/// A random `d × d` H of the given kind.
pub fn random_h(kind: HKind, d: usize, rng: &mut ChaCha8Rng) -> Result<Array2<f64>> {
    match kind {
        HKind::RealPositive => h_with_real_spectrum(&uniform(d, 0.01, 3.0, rng), rng),
        HKind::RealNegativeUnit => h_with_real_spectrum(&uniform(d, -1.0, -0.01, rng), rng),
        HKind::RealMixed => h_with_real_spectrum(&uniform(d, -3.0, 3.0, rng), rng),
        HKind::LargeNegative => h_with_real_spectrum(&uniform(d, -5.0, -2.0, rng), rng),
        HKind::ComplexPairs => {
            let mut b = Array2::<f64>::zeros((d, d));
            let mut k = 0;
            while k + 1 < d {
                let rho = rng.gen_range(0.1..=3.0);
                let phi = rng.gen_range(0.05..=std::f64::consts::PI - 0.05);
                b.slice_mut(s![k..k + 2, k..k + 2])
                    .assign(&rotation_block(rho, phi));
                k += 2;
            }
            if k < d {
                b[[k, k]] = rng.gen_range(-2.0..=2.0);
            }
            let v = conditioned_basis(d, 50.0, rng)?;
            similar(&v, &b)
        }
        HKind::Gaussian => {
            let scale = rng.gen_range(0.3..=3.0);
            Ok(normal_matrix(d, d, rng) * (scale / (d as f64).sqrt()))
        }
    }
}

/// `I + Hᵀ ⊗ A`, the dense update matrix acting on column-stacked `vec(X)` (for C1 only: the
/// analysis itself never forms it).
pub fn dense_update(a: &Array2<f64>, h: &Array2<f64>) -> Array2<f64> {
    let (n, d) = (a.nrows(), h.nrows());
    Array2::from_shape_fn((n * d, n * d), |(r, c)| {
        let (j, i) = (r / n, r % n);
        let (l, k) = (c / n, c % n);
        let id = if r == c { 1.0 } else { 0.0 };
        id + h[[l, j]] * a[[i, k]]
    })
}

/// Largest distance between two equally long multisets of complex numbers after greedy matching
/// (each `expected` value, in order, takes the nearest unused `actual` value); `∞` on a length
/// mismatch.
pub fn matched_max_deviation(expected: &[Complex64], actual: &[Complex64]) -> f64 {
    if expected.len() != actual.len() {
        return f64::INFINITY;
    }
    let mut used = vec![false; actual.len()];
    let mut worst = 0.0_f64;
    for e in expected {
        let best = actual
            .iter()
            .enumerate()
            .filter(|(k, _)| !used[*k])
            .min_by(|(_, x), (_, y)| (*x - e).norm().total_cmp(&(*y - e).norm()));
        match best {
            Some((k, x)) => {
                used[k] = true;
                worst = worst.max((x - e).norm());
            }
            None => return f64::INFINITY,
        }
    }
    worst
}

/// Real values as complex numbers.
pub fn real(values: &[f64]) -> Vec<Complex64> {
    values.iter().map(|&v| Complex64::new(v, 0.0)).collect()
}
