//! Smoothing measurements on token matrices (theory.md §4).
//!
//! All functions take an `n × d` matrix whose **rows are tokens** (a layer's hidden states for one
//! input) and work in `f64`. They are used both on simulated states ([`crate::dynamics`]) and, by the
//! model/audit code, on real hidden states; so they validate their input and return
//! [`SpectralError`] on empty or non-finite matrices instead of panicking.

use ndarray::{Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SpectralError};
use crate::linalg;
use crate::validate::{check_matrix, check_square};

/// Mean pairwise cosine similarity `mean_{i≠j} cos(x_i, x_j)` over the tokens not listed in
/// `exclude` (e.g. CLS/SEP positions).
///
/// A token of zero norm has cosine 0 with every other token (it points nowhere). Computed in
/// `O(nd)` from the unit rows `y_i`: `Σ_{i≠j} y_i·y_j = ‖Σ_i y_i‖² − Σ_i ‖y_i‖²`. Fails when fewer than
/// two tokens remain or an index in `exclude` is out of range.
pub fn mean_pairwise_cosine(x: ArrayView2<'_, f64>, exclude: &[usize]) -> Result<f64> {
    let (n, d) = check_matrix("x", x)?;
    if let Some(&bad) = exclude.iter().find(|&&i| i >= n) {
        return Err(SpectralError::InvalidParameter {
            name: "exclude",
            reason: format!("token index {bad} out of range for {n} tokens"),
        });
    }
    let mut sum = vec![0.0; d];
    let mut kept = 0usize;
    let mut self_sq = 0.0;
    for (i, row) in x.rows().into_iter().enumerate() {
        if exclude.contains(&i) {
            continue;
        }
        kept += 1;
        let norm = row.dot(&row).sqrt();
        if norm > 0.0 {
            self_sq += 1.0;
            let inv = 1.0 / norm;
            for (s, v) in sum.iter_mut().zip(row.iter()) {
                *s += v * inv;
            }
        }
    }
    if kept < 2 {
        return Err(SpectralError::InvalidParameter {
            name: "exclude",
            reason: format!("{kept} token(s) left; need at least 2 for pairwise cosines"),
        });
    }
    let total: f64 = sum.iter().map(|s| s * s).sum::<f64>() - self_sq;
    Ok(total / (kept * (kept - 1)) as f64)
}

/// `DC[X] = (1/n) 1 1ᵀ X`: every row replaced by the mean token (the low-frequency part).
pub fn dc_component(x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
    let (n, _) = check_matrix("x", x)?;
    let mean = x.mean_axis(Axis(0)).ok_or(SpectralError::Shape {
        arg: "x",
        got: vec![n, x.ncols()],
        expected: "a non-empty matrix".into(),
    })?;
    Ok(mean
        .broadcast((n, x.ncols()))
        .map_or_else(|| Array2::zeros((n, x.ncols())), |m| m.to_owned()))
}

/// `HC[X] = X − DC[X]`: the token deviations from the mean token (the high-frequency part).
pub fn hc_component(x: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
    let dc = dc_component(x)?;
    Ok(&x - &dc)
}

/// Frobenius norms `(‖HC[X]‖_F, ‖DC[X]‖_F)`.
pub fn frequency_norms(x: ArrayView2<'_, f64>) -> Result<(f64, f64)> {
    let (n, _) = check_matrix("x", x)?;
    let mean = x.sum_axis(Axis(0)) / n as f64;
    let dc = (n as f64).sqrt() * mean.dot(&mean).sqrt();
    let hc = x
        .rows()
        .into_iter()
        .map(|r| {
            let diff = &r - &mean;
            diff.dot(&diff)
        })
        .sum::<f64>()
        .sqrt();
    Ok((hc, dc))
}

/// `‖HC[X]‖_F / ‖DC[X]‖_F` (Wang et al. 2022); `+∞` when the mean token is zero and HC is not,
/// `NaN` for X = 0.
pub fn hc_dc_ratio(x: ArrayView2<'_, f64>) -> Result<f64> {
    let (hc, dc) = frequency_norms(x)?;
    Ok(hc / dc)
}

/// Dong et al.'s relative residual `‖X − 1 x*ᵀ‖_F / ‖X‖_F` with `x* = argmin_x ‖X − 1 xᵀ‖_F`.
///
/// Definition used here: in the Frobenius norm the minimiser is the mean token, so the residual is
/// `HC[X]` and the value is `‖HC[X]‖_F / ‖X‖_F ∈ [0, 1]` (Dong et al. use a composite ℓ₁,ℓ∞ norm; we
/// use Frobenius for consistency with the other metrics). 0 means all tokens are equal (input
/// convergence after normalisation); `NaN` for X = 0.
pub fn relative_residual(x: ArrayView2<'_, f64>) -> Result<f64> {
    let (hc, dc) = frequency_norms(x)?;
    // ‖X‖² = ‖HC‖² + ‖DC‖² (orthogonal split).
    Ok(hc / (hc * hc + dc * dc).sqrt())
}

/// `σ₂/σ₁` of X (0 for a rank-1 matrix; 0 if X has a single row or column; `NaN` for X = 0).
pub fn sigma_ratio(x: ArrayView2<'_, f64>) -> Result<f64> {
    let s = linalg::singular_values(x)?;
    Ok(sigma_ratio_from(&s))
}

/// Effective rank `exp(H(p))` with `p_k = σ_k² / Σσ²` and `H` the Shannon entropy (natural log):
/// 1 for a rank-1 matrix, `min(n, d)` for equal singular values; `NaN` for X = 0.
pub fn effective_rank(x: ArrayView2<'_, f64>) -> Result<f64> {
    let s = linalg::singular_values(x)?;
    Ok(effective_rank_from(&s))
}

fn sigma_ratio_from(s: &[f64]) -> f64 {
    match s {
        [] => f64::NAN,
        [s1] => {
            if *s1 > 0.0 {
                0.0
            } else {
                f64::NAN
            }
        }
        [s1, s2, ..] => s2 / s1,
    }
}

fn effective_rank_from(s: &[f64]) -> f64 {
    let total: f64 = s.iter().map(|v| v * v).sum();
    if total <= 0.0 {
        return f64::NAN;
    }
    let entropy: f64 = s
        .iter()
        .map(|v| v * v / total)
        .filter(|p| *p > 0.0)
        .map(|p| -p * p.ln())
        .sum();
    entropy.exp()
}

/// Asymmetry of H: `‖H − Hᵀ‖_F / ‖H + Hᵀ‖_F` (0 for symmetric H, `+∞` for antisymmetric H ≠ 0).
pub fn asymmetry(h: ArrayView2<'_, f64>) -> Result<f64> {
    check_square("h", h)?;
    let anti = (&h - &h.t()).mapv(|v| v * v).sum().sqrt();
    let sym = (&h + &h.t()).mapv(|v| v * v).sum().sqrt();
    Ok(anti / sym)
}

/// All §4 token-matrix metrics of one state.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SmoothingMetrics {
    /// Mean pairwise cosine over all tokens.
    pub mean_cosine: f64,
    /// Mean pairwise cosine without the excluded tokens (`None` when nothing is excluded).
    pub mean_cosine_excluding: Option<f64>,
    /// `‖HC‖_F / ‖DC‖_F`.
    pub hc_dc_ratio: f64,
    /// `‖HC‖_F` (absolute; token differences vanish iff this does).
    pub hc_norm: f64,
    /// `‖X‖_F`.
    pub frobenius_norm: f64,
    /// `σ₂/σ₁`.
    pub sigma_ratio: f64,
    /// `exp(entropy(σ²/Σσ²))`.
    pub effective_rank: f64,
    /// `‖HC‖_F / ‖X‖_F` (see [`relative_residual`]).
    pub relative_residual: f64,
}

/// Below this `σ₂/σ₁` [`metric_singular_values`] takes them from the SVD instead of the Gram
/// matrix: there the Gram matrix's rounding (about `d·ε·σ₁²` in each eigenvalue) would move
/// `σ₂/σ₁` by more than about 1e-10 relative.
pub const GRAM_MIN_SIGMA_RATIO: f64 = 1e-2;

/// The singular values of X, descending, as σ₂/σ₁ and the effective rank need them: from the
/// eigenvalues of the smaller Gram matrix (`X Xᵀ` or `Xᵀ X`), which at an audit's shapes (a few
/// dozen tokens of a few hundred channels) costs about a third of faer's SVD, and from the SVD when
/// `σ₂/σ₁ <` [`GRAM_MIN_SIGMA_RATIO`] (nearly rank-one X, the oversmoothed regime, where the
/// squares would lose σ₂). The Gram route gives σ₁ and σ₂ to about 1e-10 relative and every
/// `σ_i²` to about `d·ε·σ₁²` absolute, far inside what the effective rank's entropy resolves.
pub fn metric_singular_values(x: ArrayView2<'_, f64>) -> Result<Vec<f64>> {
    let (n, d) = check_matrix("x", x)?;
    if n.min(d) < 2 {
        return linalg::singular_values(x);
    }
    let gram = if n <= d { x.dot(&x.t()) } else { x.t().dot(&x) };
    let squares = linalg::symmetric_eigenvalues(gram.view())?;
    let (first, second) = (squares[0], squares[1].max(0.0));
    if !first.is_finite()
        || first <= 0.0
        || second < GRAM_MIN_SIGMA_RATIO * GRAM_MIN_SIGMA_RATIO * first
    {
        return linalg::singular_values(x);
    }
    Ok(squares.into_iter().map(|v| v.max(0.0).sqrt()).collect())
}

/// Computes every [`SmoothingMetrics`] field for X (one Gram eigendecomposition or SVD, the rest
/// `O(nd)`).
pub fn smoothing_metrics(x: ArrayView2<'_, f64>, exclude: &[usize]) -> Result<SmoothingMetrics> {
    let (hc, dc) = frequency_norms(x)?;
    let s = metric_singular_values(x)?;
    let mean_cosine = mean_pairwise_cosine(x, &[])?;
    let mean_cosine_excluding = if exclude.is_empty() {
        None
    } else {
        Some(mean_pairwise_cosine(x, exclude)?)
    };
    let norm = (hc * hc + dc * dc).sqrt();
    Ok(SmoothingMetrics {
        mean_cosine,
        mean_cosine_excluding,
        hc_dc_ratio: hc / dc,
        hc_norm: hc,
        frobenius_norm: norm,
        sigma_ratio: sigma_ratio_from(&s),
        effective_rank: effective_rank_from(&s),
        relative_residual: hc / norm,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn cosine_of_equal_and_opposite_tokens() {
        let x = array![[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]];
        assert!((mean_pairwise_cosine(x.view(), &[]).unwrap() - 1.0).abs() < 1e-12);
        let y = array![[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]];
        // pairs: -1, 0, 0 (each twice) -> mean -1/3
        assert!((mean_pairwise_cosine(y.view(), &[]).unwrap() + 1.0 / 3.0).abs() < 1e-12);
        assert!((mean_pairwise_cosine(y.view(), &[2]).unwrap() + 1.0).abs() < 1e-12);
        assert!(mean_pairwise_cosine(y.view(), &[0, 1]).is_err());
        assert!(mean_pairwise_cosine(y.view(), &[7]).is_err());
    }

    #[test]
    fn cosine_matches_brute_force() {
        let x: Array2<f64> = array![
            [1.0, -2.0, 0.5],
            [0.3, 0.1, -1.0],
            [2.0, 2.0, 2.0],
            [0.0, 0.0, 0.0]
        ];
        let n = x.nrows();
        let mut acc = 0.0;
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    let (a, b): (ndarray::ArrayView1<f64>, ndarray::ArrayView1<f64>) =
                        (x.row(i), x.row(j));
                    let den: f64 = a.dot(&a).sqrt() * b.dot(&b).sqrt();
                    acc += if den > 0.0 { a.dot(&b) / den } else { 0.0 };
                }
            }
        }
        let want = acc / (n * (n - 1)) as f64;
        assert!((mean_pairwise_cosine(x.view(), &[]).unwrap() - want).abs() < 1e-12);
    }

    #[test]
    fn frequency_split_and_residual() {
        let x = array![[1.0, 0.0], [3.0, 2.0]];
        let dc = dc_component(x.view()).unwrap();
        assert_eq!(dc, array![[2.0, 1.0], [2.0, 1.0]]);
        let hc = hc_component(x.view()).unwrap();
        assert_eq!(hc, array![[-1.0, -1.0], [1.0, 1.0]]);
        let r = hc_dc_ratio(x.view()).unwrap();
        assert!((r - 2.0_f64 / 10.0_f64.sqrt()).abs() < 1e-12);
        let rr = relative_residual(x.view()).unwrap();
        assert!((rr - 2.0_f64 / 14.0_f64.sqrt()).abs() < 1e-12);
        let same = array![[1.0, 2.0], [1.0, 2.0]];
        assert_eq!(relative_residual(same.view()).unwrap(), 0.0);
    }

    #[test]
    fn rank_metrics() {
        let r1 = array![[1.0, 2.0], [2.0, 4.0]];
        assert!(sigma_ratio(r1.view()).unwrap() < 1e-12);
        assert!((effective_rank(r1.view()).unwrap() - 1.0).abs() < 1e-9);
        let eye = Array2::<f64>::eye(3);
        assert!((effective_rank(eye.view()).unwrap() - 3.0).abs() < 1e-12);
        assert!((sigma_ratio(eye.view()).unwrap() - 1.0).abs() < 1e-12);
        let m = smoothing_metrics(eye.view(), &[0]).unwrap();
        assert!(m.mean_cosine.abs() < 1e-12 && m.mean_cosine_excluding == Some(0.0));
    }

    #[test]
    fn asymmetry_values() {
        let s = array![[1.0, 2.0], [2.0, 1.0]];
        assert_eq!(asymmetry(s.view()).unwrap(), 0.0);
        let a = array![[0.0, 1.0], [-1.0, 0.0]];
        assert!(asymmetry(a.view()).unwrap().is_infinite());
        assert!(asymmetry(array![[1.0, 2.0]].view()).is_err());
    }

    /// Random `n × d` tokens around a shared mean (as hidden states are), scaled by `spread`.
    fn tokens(n: usize, d: usize, spread: f64, seed: u64) -> Array2<f64> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mean: Vec<f64> = (0..d).map(|_| rng.gen_range(-2.0..2.0)).collect();
        Array2::from_shape_fn((n, d), |(_, j)| mean[j] + spread * rng.gen_range(-1.0..1.0))
    }

    #[test]
    fn gram_singular_values_match_the_svd() {
        for (n, d, seed) in [(27, 384, 1), (5, 3, 2), (64, 32, 3), (2, 768, 4)] {
            let x = tokens(n, d, 1.0, seed);
            let ours = metric_singular_values(x.view()).unwrap();
            let svd = linalg::singular_values(x.view()).unwrap();
            assert_eq!(ours.len(), svd.len(), "{n}×{d}");
            assert!(
                svd[1] / svd[0] >= GRAM_MIN_SIGMA_RATIO,
                "the Gram route is taken"
            );
            for k in 0..2 {
                let rel = (ours[k] - svd[k]).abs() / svd[k];
                assert!(rel < 1e-10, "{n}×{d}: σ{} off by {rel:e}", k + 1);
            }
            let (a, b) = (effective_rank_from(&ours), effective_rank_from(&svd));
            assert!(
                (a - b).abs() < 1e-10 * b,
                "{n}×{d}: effective rank {a} vs {b}"
            );
        }
    }

    #[test]
    fn nearly_rank_one_tokens_take_the_svd() {
        // σ₂/σ₁ about 1e-9: the Gram matrix would give σ₂ as rounding noise.
        let x = tokens(20, 64, 1e-9, 5);
        let svd = linalg::singular_values(x.view()).unwrap();
        assert!(svd[1] / svd[0] < 1e-6);
        assert_eq!(metric_singular_values(x.view()).unwrap(), svd);
        let ratio = smoothing_metrics(x.view(), &[]).unwrap().sigma_ratio;
        assert!((ratio - svd[1] / svd[0]).abs() <= 1e-12 * ratio);
    }
}
