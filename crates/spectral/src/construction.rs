//! The spectral reparameterisation `H = V diag(λ) V⁻¹` (theory.md §5), forward only, in `f64`.
//!
//! Why: by choosing the eigenvalues λ of each head's value-output product explicitly, the regime
//! of the update is fixed by construction — `λ ∈ [−1, −ε]` guarantees no oversmoothing (C5),
//! `λ > 0` guarantees smoothing (C6) — and it stays fixed whatever values the free parameters
//! (ψ, Θ, V, U) take during training (C10). The training code re-implements these maps with
//! autodiff; this module is the reference used for audits and tests.

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SpectralError};
use crate::linalg::{qr_sign_fixed, solve};
use crate::validate::{check_finite_slice, check_square};

/// Sign of the constructed eigenvalues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SpectrumSign {
    /// `λ_i = −clip(ψ_i², ε, upper)` ∈ `[−upper, −ε]`: no oversmoothing (C5, paper's ViT⁻;
    /// `"sharpening"`).
    Sharpening,
    /// `λ_i = +clip(ψ_i², ε, upper)` ∈ `[ε, upper]`: guaranteed smoothing (C6, paper's ViT⁺;
    /// `"smoothing"`).
    Smoothing,
}

/// Clipping bounds `[eps, upper]` of `ψ²`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClipBounds {
    /// Lower bound ε (default `1e-4`): keeps eigenvalues away from 0, which C5 must exclude.
    pub eps: f64,
    /// Upper bound (default 1): C5 needs `|λ| ≤ 1`.
    pub upper: f64,
}

impl Default for ClipBounds {
    fn default() -> Self {
        Self {
            eps: 1e-4,
            upper: 1.0,
        }
    }
}

impl ClipBounds {
    fn validate(&self) -> Result<()> {
        if !(self.eps.is_finite()
            && self.upper.is_finite()
            && 0.0 <= self.eps
            && self.eps <= self.upper)
        {
            return Err(SpectralError::InvalidParameter {
                name: "bounds",
                reason: format!(
                    "need finite 0 <= eps <= upper, got eps={}, upper={}",
                    self.eps, self.upper
                ),
            });
        }
        Ok(())
    }
}

/// `λ_i = ∓clip(ψ_i², eps, upper)` (sign by [`SpectrumSign`]).
pub fn clipped_eigenvalues(
    psi: &[f64],
    sign: SpectrumSign,
    bounds: ClipBounds,
) -> Result<Vec<f64>> {
    bounds.validate()?;
    check_finite_slice("psi", psi)?;
    let s = match sign {
        SpectrumSign::Sharpening => -1.0,
        SpectrumSign::Smoothing => 1.0,
    };
    Ok(psi
        .iter()
        .map(|p| s * (p * p).clamp(bounds.eps, bounds.upper))
        .collect())
}

fn check_lambda(lambda: &[f64], len: usize, what: &str) -> Result<()> {
    check_finite_slice("lambda", lambda)?;
    if lambda.len() != len {
        return Err(SpectralError::Shape {
            arg: "lambda",
            got: vec![lambda.len()],
            expected: format!("length {len} ({what})"),
        });
    }
    Ok(())
}

/// `Q diag(λ) Qᵀ` for `Q` (`d × k`) with orthonormal columns.
fn q_diag_qt(q: &Array2<f64>, lambda: &[f64]) -> Array2<f64> {
    let mut ql = q.clone();
    for (mut col, l) in ql.columns_mut().into_iter().zip(lambda.iter()) {
        col.mapv_inplace(|v| v * l);
    }
    ql.dot(&q.t())
}

/// Symmetric form: `H = Q diag(λ) Qᵀ` with `Q` the sign-fixed (`diag(R) > 0`) QR factor of the free
/// parameter Θ (`d × d`). H is symmetric with spectrum exactly λ (for invertible Θ).
pub fn symmetric_h(theta: ArrayView2<'_, f64>, lambda: &[f64]) -> Result<Array2<f64>> {
    let d = check_square("theta", theta)?;
    check_lambda(lambda, d, "one eigenvalue per row of theta")?;
    let (q, _) = qr_sign_fixed(theta)?;
    Ok(q_diag_qt(&q, lambda))
}

/// General form: `H = V diag(λ) V⁻¹` for a free invertible V (`d × d`); `V⁻¹` enters through a
/// linear solve (`Hᵀ = V⁻ᵀ (V diag(λ))ᵀ`), not an explicit inverse. Fails with
/// [`SpectralError::Singular`] for a numerically singular V.
pub fn general_h(v: ArrayView2<'_, f64>, lambda: &[f64]) -> Result<Array2<f64>> {
    let d = check_square("v", v)?;
    check_lambda(lambda, d, "one eigenvalue per column of v")?;
    // (V diag λ)ᵀ = diag(λ) Vᵀ; solve Vᵀ Hᵀ = diag(λ) Vᵀ.
    let mut rhs = v.t().to_owned();
    for (mut row, l) in rhs.rows_mut().into_iter().zip(lambda.iter()) {
        row.mapv_inplace(|x| x * l);
    }
    let vt = v.t().to_owned();
    let ht = solve(vt.view(), rhs.view()).map_err(|e| match e {
        SpectralError::Singular { rcond, .. } => SpectralError::Singular { arg: "v", rcond },
        other => other,
    })?;
    Ok(ht.t().to_owned())
}

/// Per-head low-rank form: `H_h = U diag(λ) Uᵀ` with `U` (`d × d_h`) the sign-fixed orthonormal QR
/// factor of the `d × d_h` parameter. Spectrum: λ (`d_h` values) plus `d − d_h` zeros.
pub fn low_rank_head_h(param: ArrayView2<'_, f64>, lambda: &[f64]) -> Result<Array2<f64>> {
    let (d, dh) = param.dim();
    if dh == 0 || d < dh {
        return Err(SpectralError::Shape {
            arg: "param",
            got: vec![d, dh],
            expected: "d × d_h with d ≥ d_h ≥ 1".into(),
        });
    }
    check_lambda(lambda, dh, "one eigenvalue per column of param")?;
    let (u, _) = qr_sign_fixed(param)?;
    Ok(q_diag_qt(&u, lambda))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn clipping_signs_and_bounds() {
        let psi = [0.0, 0.5, 3.0, -0.2];
        let neg =
            clipped_eigenvalues(&psi, SpectrumSign::Sharpening, ClipBounds::default()).unwrap();
        assert_eq!(neg, vec![-1e-4, -0.25, -1.0, -0.04000000000000001]);
        let pos = clipped_eigenvalues(
            &psi,
            SpectrumSign::Smoothing,
            ClipBounds {
                eps: 0.1,
                upper: 2.0,
            },
        )
        .unwrap();
        assert_eq!(pos, vec![0.1, 0.25, 2.0, 0.1]);
        assert!(clipped_eigenvalues(
            &psi,
            SpectrumSign::Smoothing,
            ClipBounds {
                eps: 2.0,
                upper: 1.0
            }
        )
        .is_err());
        assert!(
            clipped_eigenvalues(&[f64::NAN], SpectrumSign::Smoothing, ClipBounds::default())
                .is_err()
        );
    }

    #[test]
    fn constructions_have_prescribed_spectrum() {
        let theta = array![[1.0, 0.3, -0.2], [0.1, -2.0, 0.5], [0.4, 0.2, 1.5]];
        let lambda = [-0.5, -0.25, -1.0];
        let hs = symmetric_h(theta.view(), &lambda).unwrap();
        assert!((&hs - &hs.t()).iter().all(|v| v.abs() < 1e-14));
        let mut ev = crate::linalg::symmetric_eigenvalues(hs.view()).unwrap();
        ev.sort_by(f64::total_cmp);
        let mut want = lambda.to_vec();
        want.sort_by(f64::total_cmp);
        assert!(ev.iter().zip(&want).all(|(a, b)| (a - b).abs() < 1e-12));

        let hg = general_h(theta.view(), &lambda).unwrap();
        // H V = V diag(λ)
        let hv = hg.dot(&theta);
        for j in 0..3 {
            for i in 0..3 {
                assert!((hv[[i, j]] - theta[[i, j]] * lambda[j]).abs() < 1e-12);
            }
        }
        let sing = array![[1.0, 2.0], [2.0, 4.0]];
        assert!(matches!(
            general_h(sing.view(), &[1.0, 2.0]),
            Err(SpectralError::Singular { arg: "v", .. })
        ));

        let p = array![[1.0, 0.0], [0.5, 1.0], [0.0, 2.0]];
        let hl = low_rank_head_h(p.view(), &[0.3, -0.7]).unwrap();
        let ev = crate::linalg::symmetric_eigenvalues(hl.view()).unwrap();
        assert!((ev[0] - 0.3).abs() < 1e-12 && ev[1].abs() < 1e-12 && (ev[2] + 0.7).abs() < 1e-12);
        assert!(low_rank_head_h(p.view(), &[0.3]).is_err());
    }
}
