//! The spectrum of the residual update `X ← X + A X H` and what it predicts (theory.md §1–§3).
//!
//! By C1 the `nd × nd` update matrix `I + Hᵀ ⊗ A` has the eigenvalues `μ_ij = 1 + a_i h_j`, so the
//! whole analysis needs only the spectra of A (`n × n`) and H (`d × d`): `O(n³ + d³)` instead of
//! `O(n³d³)`. [`UpdateSpectrum`] stores both spectra, identifies the DC mode of A, finds the
//! dominating pair(s) of maximal `|μ_ij|` and classifies the [`Regime`] and the [`LimitNotions`].
//!
//! All result types are serde-serialisable; complex numbers (`num_complex::Complex64`) serialise as
//! `[re, im]`, enums with kebab-case names (`"smoothing"`, `"alternating-smoothing"`,
//! `"sharpening"`, `"balanced"`; `"shared-attention"`, `"per-head-heuristic"`).

use ndarray::{Array2, ArrayView1, ArrayView2};
use num_complex::Complex64;
use serde::{Deserialize, Serialize};

use crate::error::{Result, SpectralError};
use crate::linalg::{eigen, eigenvalues, spectral_order};
use crate::validate::{
    check_finite1, check_lower_triangular, check_matrix, check_row_stochastic_named, check_square,
    DEFAULT_STOCHASTIC_TOL,
};

/// What the dominating eigenvalue(s) of the update imply for deep stacks (theory.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Regime {
    /// The DC mode strictly dominates and its `μ = 1 + h` is not real-negative: all tokens become
    /// parallel (`"smoothing"`).
    Smoothing,
    /// The DC mode strictly dominates with every dominating `μ` real and negative (e.g. `h < −2`):
    /// oversmoothing with a sign flip per layer (`"alternating-smoothing"`).
    AlternatingSmoothing,
    /// A non-DC (high-frequency) mode strictly dominates: tokens split into anti-aligned groups
    /// (`"sharpening"`).
    Sharpening,
    /// The DC mode ties with a non-DC mode (non-generic; `"balanced"`).
    Balanced,
}

impl Regime {
    /// The serde name (`"smoothing"`, `"alternating-smoothing"`, `"sharpening"`, `"balanced"`).
    pub fn name(&self) -> &'static str {
        match self {
            Regime::Smoothing => "smoothing",
            Regime::AlternatingSmoothing => "alternating-smoothing",
            Regime::Sharpening => "sharpening",
            Regime::Balanced => "balanced",
        }
    }
}

impl std::fmt::Display for Regime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which limit notions hold for the generic initial state (theory.md §2 end and C7).
///
/// The three flags are evaluated independently from their definitions: rank collapse and angle
/// convergence describe the *normalised* state, input convergence the *un-normalised* token
/// differences, so e.g. input convergence can hold while the DC mode decays even faster (no angle
/// convergence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitNotions {
    /// Normalised X tends to rank 1 (σ₂/σ₁ → 0): every dominating pair shares one real A-mode, or
    /// every dominating pair shares one real H-mode. The limit is `Σ c_ij μ_ij^L v_i u_jᵀ` over the
    /// dominating pairs; with a common real `v` it is `v wᵀ`, with a common real `u` it is `w uᵀ`
    /// (for example a complex-conjugate pair of A with one real h: `2 Re(c μ^L v) uᵀ`), so rank 1
    /// either way. Rank 2 needs complex modes on both sides or several modes on both.
    pub rank_collapse: bool,
    /// All pairwise token cosines tend to 1: the DC mode strictly dominates.
    pub angle_convergence: bool,
    /// Un-normalised token differences tend to 0 (C7): every non-DC `|μ_ij| < 1`.
    pub input_convergence: bool,
}

/// One eigenvalue `μ = 1 + a h` of the update with the A- and H-modes it comes from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModePair {
    /// Index into [`UpdateSpectrum::a_eigenvalues`].
    pub a_index: usize,
    /// Index into [`UpdateSpectrum::h_eigenvalues`].
    pub h_index: usize,
    /// The eigenvalue of A.
    pub a: Complex64,
    /// The eigenvalue of H.
    pub h: Complex64,
    /// `μ = 1 + a h`.
    pub mu: Complex64,
    /// `|μ|`.
    pub modulus: f64,
    /// Whether `a` is the DC mode of A.
    pub is_dc: bool,
}

/// Tolerances of the analysis.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpectrumOptions {
    /// Relative tolerance for ties of `|μ|`: pairs with `|μ| ≥ (1 − tie_rtol)·max|μ|` all dominate.
    /// Also the margin of the strict `|μ| < 1` test of input convergence. Default `1e-9`.
    pub tie_rtol: f64,
    /// Tolerance of [`crate::validate::check_row_stochastic`]. Default `1e-5`.
    pub stochastic_tol: f64,
    /// Largest elementwise difference under which two heads' attention matrices count as shared
    /// (exact multi-head analysis). Default `1e-12`.
    pub shared_attention_tol: f64,
    /// Accept attention matrices whose rows sum to 1 but have negative entries, such as
    /// AttnScale's `A + ω (A − 11ᵀ/n)` with ω > 0. C1 and the DC mode (eigenvalue 1 with the
    /// constant eigenvector) need only the row sums; C2's guarantees (|a| < 1 off the DC mode)
    /// need positivity and then do not apply. Default `false`.
    pub signed_rows: bool,
}

impl Default for SpectrumOptions {
    fn default() -> Self {
        Self {
            tie_rtol: 1e-9,
            stochastic_tol: DEFAULT_STOCHASTIC_TOL,
            shared_attention_tol: 1e-12,
            signed_rows: false,
        }
    }
}

impl SpectrumOptions {
    fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("tie_rtol", self.tie_rtol),
            ("stochastic_tol", self.stochastic_tol),
            ("shared_attention_tol", self.shared_attention_tol),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(SpectralError::InvalidParameter {
                    name,
                    reason: format!("must be finite and non-negative, got {v}"),
                });
            }
        }
        if self.tie_rtol >= 1.0 {
            return Err(SpectralError::InvalidParameter {
                name: "tie_rtol",
                reason: format!("must be < 1, got {}", self.tie_rtol),
            });
        }
        Ok(())
    }
}

/// The spectrum of an attention matrix with its DC mode identified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttentionSpectrum {
    /// Eigenvalues sorted by [`spectral_order`].
    pub eigenvalues: Vec<Complex64>,
    /// Index of the DC mode in `eigenvalues`.
    pub dc_index: usize,
    /// `|1ᵀv| / (√n ‖v‖)` of the DC eigenvector `v` (1 for an exactly constant eigenvector).
    pub dc_constancy: f64,
}

/// Eigenvalues within this distance of 1 are DC candidates; among them the most constant eigenvector
/// wins. For a row-stochastic A the eigenvalue 1 is exact up to rounding.
const DC_CANDIDATE_TOL: f64 = 1e-6;

/// Spectrum of a row-stochastic attention matrix and its DC mode.
///
/// The DC mode is the eigenvalue closest to 1 whose eigenvector is closest to constant: among the
/// eigenvalues within `1e-6` of 1 (for a row-stochastic A, `A 1 = 1` guarantees at least one) the
/// one with the most constant eigenvector; if rounding left none that close, the eigenvalue nearest
/// to 1. The constancy is reported so that callers can flag a reducible A (repeated eigenvalue 1).
pub fn attention_spectrum(
    a: ArrayView2<'_, f64>,
    stochastic_tol: f64,
) -> Result<AttentionSpectrum> {
    check_row_stochastic_named("a", a, stochastic_tol)?;
    attention_spectrum_checked(a)
}

/// [`attention_spectrum`] as `opts` asks: with [`SpectrumOptions::signed_rows`], only the row
/// sums are checked (AttnScale's signed attention).
pub fn attention_spectrum_with(
    a: ArrayView2<'_, f64>,
    opts: &SpectrumOptions,
) -> Result<AttentionSpectrum> {
    if !opts.signed_rows {
        return attention_spectrum(a, opts.stochastic_tol);
    }
    check_square("a", a)?;
    check_matrix("a", a)?;
    let max_dev = a
        .rows()
        .into_iter()
        .map(|r| (r.sum() - 1.0).abs())
        .fold(0.0_f64, f64::max);
    if max_dev > opts.stochastic_tol {
        return Err(SpectralError::NotRowStochastic {
            arg: "a",
            max_row_sum_deviation: max_dev,
            min_entry: a.iter().copied().fold(f64::INFINITY, f64::min),
            tol: opts.stochastic_tol,
        });
    }
    attention_spectrum_checked(a)
}

fn attention_spectrum_checked(a: ArrayView2<'_, f64>) -> Result<AttentionSpectrum> {
    match simple_dc_spectrum(a)? {
        Some(simple) => Ok(simple),
        None => full_dc_spectrum(a),
    }
}

/// `|Σ v_i| / (√n ‖v‖)`: 1 for a constant vector, 0 for one orthogonal to `1` (or zero).
fn dc_constancy_of(v: impl Iterator<Item = Complex64> + Clone) -> f64 {
    let n = v.clone().count() as f64;
    let norm = v.clone().map(|z| z.norm_sqr()).sum::<f64>().sqrt();
    if norm == 0.0 {
        return 0.0;
    }
    let s: Complex64 = v.sum();
    s.norm() / (n.sqrt() * norm)
}

/// The DC mode from the full eigendecomposition: among the candidates near 1 the most constant
/// eigenvector (see [`attention_spectrum`]).
fn full_dc_spectrum(a: ArrayView2<'_, f64>) -> Result<AttentionSpectrum> {
    let n = a.nrows();
    let e = eigen(a)?;
    let constancy = |k: usize| dc_constancy_of(e.vectors.column(k).iter().copied());
    let candidates: Vec<usize> = (0..n)
        .filter(|&k| (e.values[k] - 1.0).norm() <= DC_CANDIDATE_TOL)
        .collect();
    let dc_index = if candidates.is_empty() {
        (0..n)
            .min_by(|&i, &j| {
                (e.values[i] - 1.0)
                    .norm()
                    .total_cmp(&(e.values[j] - 1.0).norm())
            })
            .unwrap_or(0)
    } else {
        candidates
            .iter()
            .copied()
            .max_by(|&i, &j| constancy(i).total_cmp(&constancy(j)).then(j.cmp(&i)))
            .unwrap_or(0)
    };
    Ok(AttentionSpectrum {
        eigenvalues: e.values,
        dc_index,
        dc_constancy: constancy(dc_index),
    })
}

/// The common case of [`attention_spectrum`] at a fraction of its cost: exactly one eigenvalue
/// within `1e-6` of 1, and real. That eigenvalue is then the DC mode whatever its eigenvector, so
/// only the eigenvalues are computed (about a quarter of the work of a full eigendecomposition,
/// the bulk of an audit's analysis), and the one eigenvector the constancy needs, unique up to
/// scale for a simple eigenvalue, comes from inverse iteration started at the constant vector.
/// `None` sends the caller to the full decomposition: several candidates (a reducible A), a
/// complex one, or an iteration that did not reach a residual of rounding size.
fn simple_dc_spectrum(a: ArrayView2<'_, f64>) -> Result<Option<AttentionSpectrum>> {
    let values = eigenvalues(a)?;
    let near: Vec<usize> = (0..values.len())
        .filter(|&k| (values[k] - 1.0).norm() <= DC_CANDIDATE_TOL)
        .collect();
    let [k] = near[..] else {
        return Ok(None);
    };
    if values[k].im != 0.0 {
        return Ok(None);
    }
    let Some(v) = real_eigenvector(a, values[k].re) else {
        return Ok(None);
    };
    let dc_constancy = dc_constancy_of(v.iter().map(|&x| Complex64::new(x, 0.0)));
    Ok(Some(AttentionSpectrum {
        eigenvalues: values,
        dc_index: k,
        dc_constancy,
    }))
}

/// Steps of inverse iteration in [`real_eigenvector`]: the start (the constant vector) is already
/// close to the DC eigenvector of a row-stochastic A, and each step multiplies the other
/// components by at most `|λ − μ| / gap`.
const INVERSE_ITERATION_STEPS: usize = 3;

/// A unit eigenvector of the real eigenvalue `lambda` of `a`, by inverse iteration with the shift
/// `lambda + 1e-10·max|a|` from the constant vector; `None` unless `‖A v − λ v‖∞ ≤ 1e-11·max|a|`.
fn real_eigenvector(a: ArrayView2<'_, f64>, lambda: f64) -> Option<ndarray::Array1<f64>> {
    let n = a.nrows();
    let scale = a
        .iter()
        .fold(0.0_f64, |m, x| m.max(x.abs()))
        .max(f64::MIN_POSITIVE);
    let mut shifted = a.to_owned();
    for i in 0..n {
        shifted[[i, i]] -= lambda + 1e-10 * scale;
    }
    let lu = crate::small_lu::SmallLu::factor(shifted.view())?;
    let mut v = vec![1.0 / (n as f64).sqrt(); n];
    for _ in 0..INVERSE_ITERATION_STEPS {
        let x = lu.solve(&v);
        let norm = x.iter().map(|t| t * t).sum::<f64>().sqrt();
        if !norm.is_finite() || norm == 0.0 {
            return None;
        }
        v = x.into_iter().map(|t| t / norm).collect();
    }
    let v = ndarray::Array1::from(v);
    let residual = (a.dot(&v) - lambda * &v)
        .iter()
        .fold(0.0_f64, |m, r| m.max(r.abs()));
    (residual <= 1e-11 * scale).then_some(v)
}

/// Spectrum of a causal (decoder) attention matrix, read off its diagonal (theory.md, causal
/// attention).
///
/// A lower-triangular row-stochastic A has the real spectrum `{A_ii}` (the eigenvalues of a
/// triangular matrix are its diagonal entries), with `A_11 = 1` (the first token attends only to
/// itself) and the eigenvector `1` for it (`A 1 = 1`): the DC mode. With positive entries on and
/// below the diagonal every other `A_ii` lies in `(0, 1)`.
///
/// Why not [`attention_spectrum`]: a causal A is far from normal, and two nearly equal diagonal
/// entries make its eigenvalues ill-conditioned, so a general eigensolver can return them with
/// large errors or as spurious complex pairs; the diagonal is exact.
///
/// The eigenvalues are sorted by [`spectral_order`]; `dc_index` is the position of `A_11` and
/// `dc_constancy` is 1 (the DC eigenvector is exactly `1`). A repeated eigenvalue 1 (a later token
/// attending only to itself, so A is reducible) shows as a second diagonal entry at 1. Fails unless
/// A is row-stochastic within `stochastic_tol` and exactly 0 above the diagonal
/// ([`crate::validate::check_lower_triangular`]).
pub fn causal_attention_spectrum(
    a: ArrayView2<'_, f64>,
    stochastic_tol: f64,
) -> Result<AttentionSpectrum> {
    check_row_stochastic_named("a", a, stochastic_tol)?;
    let n = check_lower_triangular("a", a)?;
    let diagonal: Vec<Complex64> = (0..n).map(|i| Complex64::new(a[[i, i]], 0.0)).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| spectral_order(&diagonal[i], &diagonal[j]).then(i.cmp(&j)));
    let dc_index = order.iter().position(|&k| k == 0).unwrap_or(0);
    Ok(AttentionSpectrum {
        eigenvalues: order.iter().map(|&k| diagonal[k]).collect(),
        dc_index,
        dc_constancy: 1.0,
    })
}

/// The spectrum of the update `X ← X + A X H` and its interpretation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpdateSpectrum {
    /// Eigenvalues of A sorted by [`spectral_order`].
    pub a_eigenvalues: Vec<Complex64>,
    /// Index of the DC mode in `a_eigenvalues`.
    pub dc_index: usize,
    /// Eigenvalues of H sorted by [`spectral_order`] (for a low-rank head: padded with zeros to d).
    pub h_eigenvalues: Vec<Complex64>,
    /// The relative tie tolerance used.
    pub tie_rtol: f64,
    /// `max_ij |μ_ij|`.
    pub dominant_modulus: f64,
    /// All pairs with `|μ| ≥ (1 − tie_rtol)·max|μ|`, sorted by descending `|μ|` (then by indices).
    pub dominating: Vec<ModePair>,
    /// The DC pair of largest modulus (`h` maximising `|1 + h|`).
    pub best_dc: ModePair,
    /// The non-DC pair of largest modulus (`None` when n = 1).
    pub best_non_dc: Option<ModePair>,
    /// Largest `|μ|` outside the dominating set (`None` if every pair dominates); the ratio
    /// `runner_up_modulus / dominant_modulus` is the per-layer convergence factor towards the limit.
    pub runner_up_modulus: Option<f64>,
    /// The regime predicted for deep stacks.
    pub regime: Regime,
    /// The limit notions predicted to hold.
    pub limits: LimitNotions,
}

impl UpdateSpectrum {
    /// Analyses `X ← X + A X H` from the matrices: A (`n × n`, row-stochastic within
    /// `opts.stochastic_tol`) and H (`d × d`).
    pub fn from_matrices(
        a: ArrayView2<'_, f64>,
        h: ArrayView2<'_, f64>,
        opts: &SpectrumOptions,
    ) -> Result<Self> {
        opts.validate()?;
        check_square("h", h)?;
        let att = attention_spectrum_with(a, opts)?;
        let h_eigs = eigenvalues(h)?;
        Self::from_eigenvalues(att.eigenvalues, att.dc_index, h_eigs, opts)
    }

    /// Analyses the update from precomputed spectra (any order; they are re-sorted by
    /// [`spectral_order`] and `dc_index` is remapped accordingly).
    pub fn from_eigenvalues(
        a_eigenvalues: Vec<Complex64>,
        dc_index: usize,
        h_eigenvalues: Vec<Complex64>,
        opts: &SpectrumOptions,
    ) -> Result<Self> {
        opts.validate()?;
        if a_eigenvalues.is_empty() || dc_index >= a_eigenvalues.len() {
            return Err(SpectralError::InvalidParameter {
                name: "dc_index",
                reason: format!(
                    "{dc_index} out of range for {} A-eigenvalues",
                    a_eigenvalues.len()
                ),
            });
        }
        if h_eigenvalues.is_empty() {
            return Err(SpectralError::Shape {
                arg: "h_eigenvalues",
                got: vec![0],
                expected: "at least one eigenvalue".into(),
            });
        }
        for (arg, v) in [
            ("a_eigenvalues", &a_eigenvalues),
            ("h_eigenvalues", &h_eigenvalues),
        ] {
            if let Some(i) = v
                .iter()
                .position(|z| !(z.re.is_finite() && z.im.is_finite()))
            {
                return Err(SpectralError::NonFinite {
                    arg,
                    index: vec![i],
                });
            }
        }
        let dc_value = a_eigenvalues[dc_index];
        let mut a_order: Vec<usize> = (0..a_eigenvalues.len()).collect();
        a_order
            .sort_by(|&i, &j| spectral_order(&a_eigenvalues[i], &a_eigenvalues[j]).then(i.cmp(&j)));
        let dc_index = a_order.iter().position(|&k| k == dc_index).unwrap_or(0);
        let a_sorted: Vec<Complex64> = a_order.iter().map(|&k| a_eigenvalues[k]).collect();
        debug_assert_eq!(a_sorted[dc_index], dc_value);
        let mut h_sorted = h_eigenvalues;
        h_sorted.sort_by(spectral_order);
        Ok(Self::classify(a_sorted, dc_index, h_sorted, opts.tie_rtol))
    }

    fn pair_of(a: &[Complex64], h: &[Complex64], dc: usize, i: usize, j: usize) -> ModePair {
        let mu = Complex64::new(1.0, 0.0) + a[i] * h[j];
        ModePair {
            a_index: i,
            h_index: j,
            a: a[i],
            h: h[j],
            mu,
            modulus: (mu.re * mu.re + mu.im * mu.im).sqrt(),
            is_dc: i == dc,
        }
    }

    fn classify(a: Vec<Complex64>, dc: usize, h: Vec<Complex64>, tie_rtol: f64) -> Self {
        let (n, d) = (a.len(), h.len());
        let pair = |i: usize, j: usize| Self::pair_of(&a, &h, dc, i, j);
        // Every |μ_ij| once, row-major by (i, j). `sqrt(re² + im²)` rather than `hypot`: the
        // moduli are far from overflow, and `hypot`'s care made it the larger part of an audit's
        // per-input analysis.
        let (h_re, h_im): (Vec<f64>, Vec<f64>) = h.iter().map(|z| (z.re, z.im)).unzip();
        let mut moduli = vec![0.0; n * d];
        for (ai, row) in a.iter().zip(moduli.chunks_exact_mut(d)) {
            for ((m, hr), hi) in row.iter_mut().zip(&h_re).zip(&h_im) {
                // The same operations, in the same order, as `pair_of`, so the moduli agree bit for bit.
                let re = 1.0 + (ai.re * hr - ai.im * hi);
                let im = ai.re * hi + ai.im * hr;
                *m = (re * re + im * im).sqrt();
            }
        }
        let max_mod = moduli.iter().copied().fold(0.0_f64, f64::max);
        let threshold = max_mod * (1.0 - tie_rtol);
        let mut dominating = Vec::new();
        let mut runner_up: Option<f64> = None;
        let mut best_dc = (0, moduli[dc * d]);
        let mut best_non_dc: Option<(usize, usize, f64)> = None;
        let mut max_non_dc = 0.0_f64;
        for i in 0..n {
            for (j, &modulus) in moduli[i * d..(i + 1) * d].iter().enumerate() {
                if modulus >= threshold {
                    dominating.push(pair(i, j));
                } else {
                    runner_up = Some(runner_up.map_or(modulus, |r: f64| r.max(modulus)));
                }
                if i == dc {
                    if modulus > best_dc.1 {
                        best_dc = (j, modulus);
                    }
                } else {
                    max_non_dc = max_non_dc.max(modulus);
                    if best_non_dc.is_none_or(|b| modulus > b.2) {
                        best_non_dc = Some((i, j, modulus));
                    }
                }
            }
        }
        let best_dc = pair(dc, best_dc.0);
        let best_non_dc = best_non_dc.map(|(i, j, _)| pair(i, j));
        dominating.sort_by(|p, q| {
            q.modulus
                .total_cmp(&p.modulus)
                .then(p.a_index.cmp(&q.a_index))
                .then(p.h_index.cmp(&q.h_index))
        });
        let has_dc = dominating.iter().any(|p| p.is_dc);
        let has_non_dc = dominating.iter().any(|p| !p.is_dc);
        let real_negative =
            |p: &ModePair| p.mu.re < 0.0 && p.mu.im.abs() <= tie_rtol.max(1e-12) * p.modulus;
        let regime = match (has_dc, has_non_dc) {
            (true, true) => Regime::Balanced,
            (false, _) => Regime::Sharpening,
            (true, false) if dominating.iter().all(real_negative) => Regime::AlternatingSmoothing,
            (true, false) => Regime::Smoothing,
        };
        let is_real = |z: Complex64| z.im.abs() <= 1e-12 * z.norm().max(1.0);
        let (first_a, first_h) = (dominating[0].a_index, dominating[0].h_index);
        let one_real_a_mode =
            is_real(a[first_a]) && dominating.iter().all(|p| p.a_index == first_a);
        let one_real_h_mode =
            is_real(h[first_h]) && dominating.iter().all(|p| p.h_index == first_h);
        let limits = LimitNotions {
            rank_collapse: one_real_a_mode || one_real_h_mode,
            angle_convergence: has_dc && !has_non_dc,
            input_convergence: n == 1 || max_non_dc < 1.0 - tie_rtol,
        };
        UpdateSpectrum {
            a_eigenvalues: a,
            dc_index: dc,
            h_eigenvalues: h,
            tie_rtol,
            dominant_modulus: max_mod,
            dominating,
            best_dc,
            best_non_dc,
            runner_up_modulus: runner_up,
            regime,
            limits,
        }
    }

    /// Analyses one head given by its factors `W_V^h` (`d × d_h`) and `W_O^h` (`d_h × d`): the
    /// spectrum of `H_h = W_V^h W_O^h` is computed on the small product (C9) and padded with zeros.
    pub fn from_head_factors(
        a: ArrayView2<'_, f64>,
        w_v: ArrayView2<'_, f64>,
        w_o: ArrayView2<'_, f64>,
        opts: &SpectrumOptions,
    ) -> Result<Self> {
        opts.validate()?;
        let h_eigs = head_eigenvalues(w_v, w_o)?.full;
        let att = attention_spectrum_with(a, opts)?;
        Self::from_eigenvalues(att.eigenvalues, att.dc_index, h_eigs, opts)
    }

    /// Number of tokens n (eigenvalues of A).
    pub fn n(&self) -> usize {
        self.a_eigenvalues.len()
    }

    /// Width d (eigenvalues of H).
    pub fn d(&self) -> usize {
        self.h_eigenvalues.len()
    }

    /// The pair `(i, j)`: `μ_ij = 1 + a_i h_j` (`None` if an index is out of range).
    pub fn pair(&self, i: usize, j: usize) -> Option<ModePair> {
        (i < self.n() && j < self.d()).then(|| {
            Self::pair_of(
                &self.a_eigenvalues,
                &self.h_eigenvalues,
                self.dc_index,
                i,
                j,
            )
        })
    }

    /// All `n·d` pairs, A-index major.
    pub fn pairs(&self) -> impl Iterator<Item = ModePair> + '_ {
        (0..self.n()).flat_map(move |i| {
            (0..self.d()).map(move |j| {
                Self::pair_of(
                    &self.a_eigenvalues,
                    &self.h_eigenvalues,
                    self.dc_index,
                    i,
                    j,
                )
            })
        })
    }

    /// All `n·d` eigenvalues of the update matrix `I + Hᵀ ⊗ A`, sorted by [`spectral_order`].
    pub fn eigenvalues(&self) -> Vec<Complex64> {
        let mut v: Vec<Complex64> = self.pairs().map(|p| p.mu).collect();
        v.sort_by(spectral_order);
        v
    }

    /// `runner_up_modulus / dominant_modulus` (0 when every pair dominates or the max is 0): how
    /// fast the normalised state approaches its limit; near 1 means slow and fragile.
    pub fn convergence_factor(&self) -> f64 {
        match self.runner_up_modulus {
            Some(r) if self.dominant_modulus > 0.0 => r / self.dominant_modulus,
            _ => 0.0,
        }
    }
}

/// `diag(γ) H`: the matrix through which a pre-LN block `X + A·LN(X)·H` acts linearly (C8).
///
/// Why: LN(X) = Z diag(γ) + 1βᵀ with Z the per-token standardised X, so `A·LN(X)·H =
/// A Z (diag(γ) H) + 1 (Hᵀβ)ᵀ` (using A1 = 1): the weights scale the rows of H and the bias only adds
/// a DC term.
pub fn layernorm_effective_h(
    h: ArrayView2<'_, f64>,
    gamma: ArrayView1<'_, f64>,
) -> Result<Array2<f64>> {
    let d = check_square("h", h)?;
    check_finite1("gamma", gamma)?;
    if gamma.len() != d {
        return Err(SpectralError::Shape {
            arg: "gamma",
            got: vec![gamma.len()],
            expected: format!("length {d} to match h"),
        });
    }
    let mut out = h.to_owned();
    for (mut row, g) in out.rows_mut().into_iter().zip(gamma.iter()) {
        row.mapv_inplace(|v| v * g);
    }
    Ok(out)
}

/// Both spectra a pre-LN block needs reported (theory.md C8): of H and of `diag(γ) H`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreLnSpectrum {
    /// Analysis with H alone (what the weights would do without LayerNorm).
    pub plain: UpdateSpectrum,
    /// Analysis with `diag(γ) H` (what the block does).
    pub effective: UpdateSpectrum,
    /// Number of negative LayerNorm weights (each flips the sign of a row of H).
    pub negative_gamma: usize,
}

/// Analyses a pre-LN block `X + A·LN(X)·H` with LayerNorm weight γ: reports spec(H) and
/// spec(diag(γ)H).
pub fn pre_ln_spectrum(
    a: ArrayView2<'_, f64>,
    h: ArrayView2<'_, f64>,
    gamma: ArrayView1<'_, f64>,
    opts: &SpectrumOptions,
) -> Result<PreLnSpectrum> {
    let h_eff = layernorm_effective_h(h, gamma)?;
    opts.validate()?;
    let att = attention_spectrum_with(a, opts)?;
    let plain = UpdateSpectrum::from_eigenvalues(
        att.eigenvalues.clone(),
        att.dc_index,
        eigenvalues(h)?,
        opts,
    )?;
    let effective = UpdateSpectrum::from_eigenvalues(
        att.eigenvalues,
        att.dc_index,
        eigenvalues(h_eff.view())?,
        opts,
    )?;
    Ok(PreLnSpectrum {
        plain,
        effective,
        negative_gamma: gamma.iter().filter(|g| **g < 0.0).count(),
    })
}

/// Eigenvalues of one head's `H_h = W_V^h W_O^h` computed on the small factor (C9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadEigenvalues {
    /// Eigenvalues of `W_O^h W_V^h` (`d_h × d_h`), sorted.
    pub small: Vec<Complex64>,
    /// The full spectrum of the `d × d` matrix `W_V^h W_O^h`: `small` plus `d − d_h` zeros, sorted.
    pub full: Vec<Complex64>,
}

fn check_head_factors(
    w_v: ArrayView2<'_, f64>,
    w_o: ArrayView2<'_, f64>,
) -> Result<(usize, usize)> {
    let (d, dh) = check_matrix("w_v", w_v)?;
    check_matrix("w_o", w_o)?;
    if w_o.dim() != (dh, d) {
        return Err(SpectralError::Shape {
            arg: "w_o",
            got: vec![w_o.nrows(), w_o.ncols()],
            expected: format!("[{dh}, {d}] (transpose shape of w_v)"),
        });
    }
    Ok((d, dh))
}

/// Spectrum of `H_h = W_V^h W_O^h` (W_V^h: `d × d_h`, W_O^h: `d_h × d`) from the `d_h × d_h` product
/// `W_O^h W_V^h`.
///
/// Why: the nonzero eigenvalues of `XY` and `YX` coincide (C9), so auditing a head costs `O(d_h³)`
/// instead of `O(d³)`. When `d_h > d` the roles swap and the `d × d` product is used.
pub fn head_eigenvalues(
    w_v: ArrayView2<'_, f64>,
    w_o: ArrayView2<'_, f64>,
) -> Result<HeadEigenvalues> {
    let (d, dh) = check_head_factors(w_v, w_o)?;
    if dh <= d {
        let small = eigenvalues(w_o.dot(&w_v).view())?;
        let mut full = small.clone();
        full.resize(d, Complex64::new(0.0, 0.0));
        full.sort_by(spectral_order);
        Ok(HeadEigenvalues { small, full })
    } else {
        let full = eigenvalues(w_v.dot(&w_o).view())?;
        let mut small = full.clone();
        small.resize(dh, Complex64::new(0.0, 0.0));
        small.sort_by(spectral_order);
        Ok(HeadEigenvalues { small, full })
    }
}

/// How a head's value-output product is given.
#[derive(Debug, Clone, Copy)]
pub enum HeadWeights<'a> {
    /// The full `d × d` matrix H.
    Full(ArrayView2<'a, f64>),
    /// The factors `W_V^h` (`d × d_h`) and `W_O^h` (`d_h × d`); spectra use the small product (C9).
    Factored {
        /// `W_V^h`, `d × d_h`.
        w_v: ArrayView2<'a, f64>,
        /// `W_O^h`, `d_h × d`.
        w_o: ArrayView2<'a, f64>,
    },
}

impl HeadWeights<'_> {
    fn dense(&self) -> Result<Array2<f64>> {
        match self {
            HeadWeights::Full(h) => {
                check_square("h", *h)?;
                Ok(h.to_owned())
            }
            HeadWeights::Factored { w_v, w_o } => {
                check_head_factors(*w_v, *w_o)?;
                Ok(w_v.dot(w_o))
            }
        }
    }

    fn spectrum(&self, gamma: Option<ArrayView1<'_, f64>>) -> Result<Vec<Complex64>> {
        match (self, gamma) {
            (HeadWeights::Full(h), None) => eigenvalues(*h),
            (HeadWeights::Factored { w_v, w_o }, None) => Ok(head_eigenvalues(*w_v, *w_o)?.full),
            // diag(γ) W_V W_O = (diag(γ) W_V) W_O: still factored.
            (HeadWeights::Factored { w_v, w_o }, Some(g)) => {
                check_head_factors(*w_v, *w_o)?;
                let h_rows = layernorm_scaled_rows(*w_v, g)?;
                Ok(head_eigenvalues(h_rows.view(), *w_o)?.full)
            }
            (HeadWeights::Full(h), Some(g)) => eigenvalues(layernorm_effective_h(*h, g)?.view()),
        }
    }
}

fn layernorm_scaled_rows(
    m: ArrayView2<'_, f64>,
    gamma: ArrayView1<'_, f64>,
) -> Result<Array2<f64>> {
    check_finite1("gamma", gamma)?;
    if gamma.len() != m.nrows() {
        return Err(SpectralError::Shape {
            arg: "gamma",
            got: vec![gamma.len()],
            expected: format!("length {} (the width d)", m.nrows()),
        });
    }
    let mut out = m.to_owned();
    for (mut row, g) in out.rows_mut().into_iter().zip(gamma.iter()) {
        row.mapv_inplace(|v| v * g);
    }
    Ok(out)
}

/// One head of a multi-head layer `X + Σ_h A_h X H_h`.
#[derive(Debug, Clone, Copy)]
pub struct HeadInput<'a> {
    /// The head's attention matrix (`n × n`, row-stochastic).
    pub a: ArrayView2<'a, f64>,
    /// The head's value-output product.
    pub weights: HeadWeights<'a>,
}

/// How a multi-head spectrum was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MultiHeadMethod {
    /// All heads share A, so `Σ_h A X H_h = A X (Σ_h H_h)` and the combined analysis is exact
    /// (`"shared-attention"`).
    SharedAttention,
    /// The heads have different A: each head is analysed as if it acted alone. This is a
    /// **heuristic**; the true update `I + Σ_h H_hᵀ ⊗ A_h` has no Kronecker spectrum
    /// (`"per-head-heuristic"`).
    PerHeadHeuristic,
}

impl MultiHeadMethod {
    /// The serde name (`"shared-attention"`, `"per-head-heuristic"`).
    pub fn name(&self) -> &'static str {
        match self {
            MultiHeadMethod::SharedAttention => "shared-attention",
            MultiHeadMethod::PerHeadHeuristic => "per-head-heuristic",
        }
    }
}

impl std::fmt::Display for MultiHeadMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The spectral analysis of a multi-head layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MultiHeadSpectrum {
    /// How the result was obtained.
    pub method: MultiHeadMethod,
    /// `true` iff `combined` is the exact spectrum of the layer's update.
    pub exact: bool,
    /// The exact analysis with `Σ_h H_h` (only for [`MultiHeadMethod::SharedAttention`]).
    pub combined: Option<UpdateSpectrum>,
    /// Each head analysed alone (always present, in input order).
    pub heads: Vec<UpdateSpectrum>,
}

/// Analyses `X + Σ_h A_h X H_h` (optionally with the pre-LN weight γ, i.e. every `H_h` replaced by
/// `diag(γ) H_h`).
///
/// When all `A_h` agree within `opts.shared_attention_tol` the combined spectrum is exact; otherwise
/// only per-head analyses are returned and the result is labelled
/// [`MultiHeadMethod::PerHeadHeuristic`] with `exact = false`.
pub fn multi_head_spectrum(
    heads: &[HeadInput<'_>],
    gamma: Option<ArrayView1<'_, f64>>,
    opts: &SpectrumOptions,
) -> Result<MultiHeadSpectrum> {
    opts.validate()?;
    let Some(first) = heads.first() else {
        return Err(SpectralError::InvalidParameter {
            name: "heads",
            reason: "no heads given".into(),
        });
    };
    let n = first.a.nrows();
    let mut per_head = Vec::with_capacity(heads.len());
    let mut atts = Vec::with_capacity(heads.len());
    let mut width = None;
    for head in heads {
        if head.a.dim() != (n, n) {
            return Err(SpectralError::Shape {
                arg: "a",
                got: vec![head.a.nrows(), head.a.ncols()],
                expected: format!("[{n}, {n}] like the first head"),
            });
        }
        let att = attention_spectrum_with(head.a, opts)?;
        let h_eigs = head.weights.spectrum(gamma)?;
        if *width.get_or_insert(h_eigs.len()) != h_eigs.len() {
            return Err(SpectralError::Shape {
                arg: "weights",
                got: vec![h_eigs.len()],
                expected: format!("width {} like the first head", width.unwrap_or(0)),
            });
        }
        per_head.push(UpdateSpectrum::from_eigenvalues(
            att.eigenvalues.clone(),
            att.dc_index,
            h_eigs,
            opts,
        )?);
        atts.push(att);
    }
    let shared = heads.iter().all(|hd| {
        hd.a.iter()
            .zip(first.a.iter())
            .all(|(x, y)| (x - y).abs() <= opts.shared_attention_tol)
    });
    if !shared {
        return Ok(MultiHeadSpectrum {
            method: MultiHeadMethod::PerHeadHeuristic,
            exact: false,
            combined: None,
            heads: per_head,
        });
    }
    let mut sum = first.weights.dense()?;
    for hd in &heads[1..] {
        sum += &hd.weights.dense()?;
    }
    let sum = match gamma {
        Some(g) => layernorm_effective_h(sum.view(), g)?,
        None => sum,
    };
    let att = &atts[0];
    let combined = UpdateSpectrum::from_eigenvalues(
        att.eigenvalues.clone(),
        att.dc_index,
        eigenvalues(sum.view())?,
        opts,
    )?;
    Ok(MultiHeadSpectrum {
        method: MultiHeadMethod::SharedAttention,
        exact: true,
        combined: Some(combined),
        heads: per_head,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn c(re: f64) -> Complex64 {
        Complex64::new(re, 0.0)
    }

    /// The eigenvalues-only path and the full decomposition agree on softmax-like attention
    /// matrices of every size an audit meets (the eigenvalues to rounding, the DC index, the
    /// constancy to 1e-10), and a reducible A (eigenvalue 1 twice) takes the full path.
    #[test]
    fn the_simple_dc_path_agrees_with_the_full_decomposition() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut fast = 0;
        for trial in 0..200 {
            let n = 2 + trial % 60;
            let sharp = 0.5 + 8.0 * (trial % 7) as f64;
            let mut a = Array2::from_shape_fn((n, n), |_| (sharp * rng.gen::<f64>()).exp());
            for mut row in a.rows_mut() {
                let sum = row.sum();
                row /= sum;
            }
            let full = full_dc_spectrum(a.view()).unwrap();
            let Some(simple) = simple_dc_spectrum(a.view()).unwrap() else {
                continue;
            };
            fast += 1;
            assert_eq!(simple.dc_index, full.dc_index, "n = {n}");
            assert!(
                (simple.dc_constancy - full.dc_constancy).abs() < 1e-10,
                "n = {n}: {} vs {}",
                simple.dc_constancy,
                full.dc_constancy
            );
            for (x, y) in simple.eigenvalues.iter().zip(&full.eigenvalues) {
                assert!((x - y).norm() < 1e-9, "n = {n}: {x} vs {y}");
            }
        }
        assert!(fast >= 190, "the fast path served only {fast} of 200");
        // Two closed classes: eigenvalue 1 twice, the DC mode needs the eigenvectors.
        let reducible = array![
            [0.5, 0.5, 0.0, 0.0],
            [0.5, 0.5, 0.0, 0.0],
            [0.0, 0.0, 0.3, 0.7],
            [0.0, 0.0, 0.6, 0.4]
        ];
        assert!(simple_dc_spectrum(reducible.view()).unwrap().is_none());
        let s = attention_spectrum(reducible.view(), 1e-12).unwrap();
        assert_eq!(s, full_dc_spectrum(reducible.view()).unwrap());
    }

    #[test]
    fn regimes_from_real_spectra() {
        let opts = SpectrumOptions::default();
        let a = vec![c(1.0), c(0.3), c(-0.5)];
        let s =
            UpdateSpectrum::from_eigenvalues(a.clone(), 0, vec![c(0.5), c(0.2)], &opts).unwrap();
        assert_eq!(s.regime, Regime::Smoothing);
        assert_eq!(s.dominating.len(), 1);
        assert!((s.dominant_modulus - 1.5).abs() < 1e-15);
        assert!(
            s.limits.rank_collapse && s.limits.angle_convergence && !s.limits.input_convergence
        );
        let s = UpdateSpectrum::from_eigenvalues(a.clone(), 0, vec![c(-0.5)], &opts).unwrap();
        assert_eq!(s.regime, Regime::Sharpening);
        // |1 + (-0.5)(-0.5)| = 1.25 > 1: token differences grow.
        assert!(
            s.limits.rank_collapse && !s.limits.angle_convergence && !s.limits.input_convergence
        );
        let s = UpdateSpectrum::from_eigenvalues(vec![c(1.0), c(0.3)], 0, vec![c(-0.5)], &opts)
            .unwrap();
        assert_eq!(s.regime, Regime::Sharpening);
        assert!(s.limits.input_convergence);
        // a = -0.5 gives |1 + 1.5| = 2.5 > |1 - 3| = 2: still sharpening.
        let s = UpdateSpectrum::from_eigenvalues(a.clone(), 0, vec![c(-3.0)], &opts).unwrap();
        assert_eq!(s.regime, Regime::Sharpening);
        let a2 = vec![c(1.0), c(0.3), c(-0.2)];
        let s = UpdateSpectrum::from_eigenvalues(a2, 0, vec![c(-3.0)], &opts).unwrap();
        assert_eq!(s.regime, Regime::AlternatingSmoothing);
        assert!(s.limits.angle_convergence && s.limits.rank_collapse);
        let s = UpdateSpectrum::from_eigenvalues(a, 0, vec![c(0.0)], &opts).unwrap();
        assert_eq!(s.regime, Regime::Balanced);
        // d = 1: every pair shares the single real H-mode, so X stays rank 1 trivially.
        assert!(s.limits.rank_collapse && !s.limits.input_convergence);
    }

    #[test]
    fn complex_pair_of_a_with_one_real_h_still_collapses_rank() {
        let opts = SpectrumOptions::default();
        let z = |re: f64, im: f64| Complex64::new(re, im);
        let a = vec![z(1.0, 0.0), z(-0.4, 0.5), z(-0.4, -0.5)];
        // h = -1.5: |1 + a h| = 0.5 for the DC mode, |1.6 ∓ 0.75i| ≈ 1.77 for the pair.
        let s = UpdateSpectrum::from_eigenvalues(a.clone(), 0, vec![z(-1.5, 0.0)], &opts).unwrap();
        assert_eq!(s.regime, Regime::Sharpening);
        assert_eq!(s.dominating.len(), 2);
        assert!(s.limits.rank_collapse, "2 Re(c μ^L v) uᵀ has rank 1");
        // With a complex pair on both sides, four pairs tie and the limit has rank 2.
        let h = vec![z(-1.5, 0.2), z(-1.5, -0.2)];
        let s = UpdateSpectrum::from_eigenvalues(a, 0, h, &opts).unwrap();
        assert!(!s.limits.rank_collapse);
    }

    #[test]
    fn dc_index_is_remapped_after_sorting() {
        let opts = SpectrumOptions::default();
        let a = vec![c(0.2), c(-0.9), c(1.0)];
        let s = UpdateSpectrum::from_eigenvalues(a, 2, vec![c(0.1)], &opts).unwrap();
        assert_eq!(s.dc_index, 0);
        assert_eq!(s.a_eigenvalues[0], c(1.0));
        assert!(UpdateSpectrum::from_eigenvalues(vec![c(1.0)], 3, vec![c(0.1)], &opts).is_err());
    }

    #[test]
    fn causal_spectrum_is_the_diagonal() {
        let a = array![[1.0, 0.0, 0.0], [0.6, 0.4, 0.0], [0.1, 0.2, 0.7]];
        let att = causal_attention_spectrum(a.view(), 1e-12).unwrap();
        assert_eq!(att.eigenvalues, vec![c(1.0), c(0.7), c(0.4)]);
        assert_eq!(att.dc_index, 0);
        assert_eq!(att.dc_constancy, 1.0);
        // The general route agrees on this well-separated diagonal.
        let general = attention_spectrum(a.view(), 1e-12).unwrap();
        for (x, y) in general.eigenvalues.iter().zip(&att.eigenvalues) {
            assert!((x - y).norm() < 1e-12);
        }
        // A_11 is the DC mode even when a later diagonal entry rounds above it.
        let b = array![[1.0 - 1e-13, 0.0], [0.0, 1.0]];
        let att = causal_attention_spectrum(b.view(), 1e-9).unwrap();
        assert_eq!((att.dc_index, att.eigenvalues[0]), (1, c(1.0)));
        let upper = array![[0.9, 0.1], [0.3, 0.7]];
        assert!(matches!(
            causal_attention_spectrum(upper.view(), 1e-12),
            Err(SpectralError::NotLowerTriangular { .. })
        ));
        let not_stochastic = array![[1.0, 0.0], [0.3, 0.6]];
        assert!(matches!(
            causal_attention_spectrum(not_stochastic.view(), 1e-12),
            Err(SpectralError::NotRowStochastic { .. })
        ));
    }

    #[test]
    fn from_matrices_finds_dc_and_validates() {
        let a = array![[0.5, 0.3, 0.2], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]];
        let h = array![[0.2, 0.1], [0.0, 0.4]];
        let s =
            UpdateSpectrum::from_matrices(a.view(), h.view(), &SpectrumOptions::default()).unwrap();
        assert!((s.a_eigenvalues[s.dc_index] - 1.0).norm() < 1e-12);
        assert_eq!(s.eigenvalues().len(), 6);
        assert!(s.pair(2, 1).is_some() && s.pair(3, 0).is_none() && s.pair(0, 2).is_none());
        assert_eq!(s.regime, Regime::Smoothing);
        let att = attention_spectrum(a.view(), 1e-9).unwrap();
        assert!((att.dc_constancy - 1.0).abs() < 1e-12);
        let bad = array![[0.5, 0.6], [0.5, 0.5]];
        let r = UpdateSpectrum::from_matrices(bad.view(), h.view(), &SpectrumOptions::default());
        assert!(matches!(r, Err(SpectralError::NotRowStochastic { .. })));
        let r = UpdateSpectrum::from_matrices(
            a.view(),
            a.slice(ndarray::s![.., 0..2]),
            &SpectrumOptions::default(),
        );
        assert!(matches!(r, Err(SpectralError::Shape { arg: "h", .. })));
    }

    #[test]
    fn layernorm_and_heads() {
        let a = array![[0.6, 0.4], [0.3, 0.7]];
        let h = array![[0.5, 0.1], [0.0, 0.2]];
        let g = array![-1.0, -1.0];
        let p = pre_ln_spectrum(a.view(), h.view(), g.view(), &SpectrumOptions::default()).unwrap();
        assert_eq!(p.plain.regime, Regime::Smoothing);
        assert_eq!(p.effective.regime, Regime::Sharpening);
        assert_eq!(p.negative_gamma, 2);

        let wv = array![[1.0], [2.0], [0.5]];
        let wo = array![[0.3, -0.1, 0.2]];
        let he = head_eigenvalues(wv.view(), wo.view()).unwrap();
        assert_eq!(he.small.len(), 1);
        assert_eq!(he.full.len(), 3);
        assert!((he.small[0] - c(0.3 - 0.2 + 0.1)).norm() < 1e-12);
        assert!(head_eigenvalues(wv.view(), wv.view()).is_err());

        let a2 = array![[0.5, 0.5], [0.5, 0.5]];
        let heads = [
            HeadInput {
                a: a.view(),
                weights: HeadWeights::Full(h.view()),
            },
            HeadInput {
                a: a.view(),
                weights: HeadWeights::Full(h.view()),
            },
        ];
        let m = multi_head_spectrum(&heads, None, &SpectrumOptions::default()).unwrap();
        assert!(m.exact && m.method == MultiHeadMethod::SharedAttention);
        let comb = m.combined.unwrap();
        assert!((comb.h_eigenvalues[0] - c(1.0)).norm() < 1e-12);
        let heads2 = [
            heads[0],
            HeadInput {
                a: a2.view(),
                weights: HeadWeights::Full(h.view()),
            },
        ];
        let m2 = multi_head_spectrum(&heads2, None, &SpectrumOptions::default()).unwrap();
        assert!(
            !m2.exact && m2.method == MultiHeadMethod::PerHeadHeuristic && m2.combined.is_none()
        );
        assert_eq!(m2.heads.len(), 2);
    }

    #[test]
    fn serde_names() {
        let names: Vec<String> = [
            Regime::Smoothing,
            Regime::AlternatingSmoothing,
            Regime::Sharpening,
            Regime::Balanced,
        ]
        .iter()
        .map(|r| {
            let json = serde_json::to_string(r).unwrap();
            assert_eq!(json, format!("\"{r}\""));
            json
        })
        .collect();
        assert_eq!(
            names,
            [
                "\"smoothing\"",
                "\"alternating-smoothing\"",
                "\"sharpening\"",
                "\"balanced\""
            ]
        );
        assert_eq!(
            serde_json::to_string(&MultiHeadMethod::PerHeadHeuristic).unwrap(),
            "\"per-head-heuristic\""
        );
        assert_eq!(
            MultiHeadMethod::SharedAttention.to_string(),
            "shared-attention"
        );
    }

    /// AttnScale's signed attention (rows sum to 1, one entry negative) is refused by default
    /// and analysed with `signed_rows`: its DC mode is still the eigenvalue 1 with eigenvector 1.
    #[test]
    fn signed_rows_accept_attnscale_attention() {
        let a = array![[1.1, -0.05, -0.05], [0.2, 0.5, 0.3], [0.3, 0.3, 0.4]];
        assert!(attention_spectrum(a.view(), 1e-9).is_err());
        let opts = SpectrumOptions {
            signed_rows: true,
            ..SpectrumOptions::default()
        };
        let att = attention_spectrum_with(a.view(), &opts).unwrap();
        assert!((att.eigenvalues[att.dc_index] - 1.0).norm() < 1e-9);
        let bad = array![[1.1, -0.05, 0.0], [0.2, 0.5, 0.3], [0.3, 0.3, 0.4]];
        assert!(attention_spectrum_with(bad.view(), &opts).is_err());
    }
}
