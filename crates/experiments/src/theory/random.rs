//! Seeded random instances for `eigenformer theory`: attention matrices, H with a prescribed kind
//! of spectrum, and comparison helpers. Spectra, constructions and metrics come from
//! `eigenformer-spectral`; this module only draws the inputs.

use anyhow::{Context, Result};
use eigenformer_spectral::{general_h, Complex64};
use ndarray::{s, Array2};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

pub use eigenformer_spectral::random::{
    condition_number, dense_update, normal_matrix, random_basis, real, rotation_block, similar,
    softmax_attention,
};

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
            Ok(similar(&v, &b)?)
        }
        HKind::Gaussian => {
            let scale = rng.gen_range(0.3..=3.0);
            Ok(normal_matrix(d, d, rng) * (scale / (d as f64).sqrt()))
        }
    }
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
