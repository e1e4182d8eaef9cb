//! Numerical checks of the claims of theory.md (C1, C2, C5, C6, C8, C10) for `eigenformer theory`.
//!
//! Each check measures one quantity on seeded random instances (or on the constructed examples) and
//! compares it with the claim under a stated tolerance. The verdict rule is the same for all: the
//! claim **holds** if the measured quantity meets it on every instance within the tolerance, and
//! **fails** otherwise.

use super::random::{
    condition_number, dense_update, h_with_real_spectrum, matched_max_deviation, normal_matrix,
    real, softmax_attention,
};
use super::{instance_rng, simulate_and_observe, Example, Observed, DEFAULT_RANDOM_LAYERS};

/// Layers of the simulations of the C5-bound and C8 checks (as for the random instances: the
/// negated examples need not have the examples' margin).
const CLAIM_LAYERS: usize = DEFAULT_RANDOM_LAYERS;
use crate::report::{Claim, Verdict};
use anyhow::{Context, Result};
use eigenformer_spectral::{
    attention_spectrum, clipped_eigenvalues, general_h, layernorm_effective_h, linalg,
    low_rank_head_h, pre_ln_spectrum, symmetric_h, ClipBounds, Regime, SpectrumOptions,
    SpectrumSign, UpdateSpectrum,
};
use ndarray::{Array1, Array2};
use rand::Rng;
use serde::Serialize;

/// The verdict rule of every theory check: the claim holds if it is met on every instance within
/// its tolerance, and fails otherwise (a check is never inconclusive).
fn from_failures(failures: usize) -> Verdict {
    if failures == 0 {
        Verdict::Holds
    } else {
        Verdict::Fails
    }
}

/// The theory table's verdict cell: a failure stands out in bold capitals.
pub fn verdict_label(v: Verdict) -> &'static str {
    match v {
        Verdict::Holds => "holds",
        Verdict::Fails => "**FAILS**",
        Verdict::Inconclusive => "inconclusive",
    }
}

/// One claim check as `theory.json` records it: the report's [`Claim`] fields plus the tolerance,
/// the instance counts and the raw numbers, which the report condenses ([`ClaimCheck::claim`]).
#[derive(Debug, Clone, Serialize)]
pub struct ClaimCheck {
    /// Claim id (`C1`, …; a suffix for a second check of one claim).
    pub claim: String,
    /// The statement checked (abridged from theory.md).
    pub statement: String,
    /// What was measured, in words and numbers.
    pub measured: String,
    /// The tolerance of the verdict.
    pub tolerance: String,
    /// Instances checked.
    pub instances: usize,
    /// Instances on which the claim was not met.
    pub failures: usize,
    /// The verdict.
    pub verdict: Verdict,
    /// The measured numbers, machine-readable.
    pub values: serde_json::Value,
}

impl ClaimCheck {
    /// The check as a row of the report's claims table: the failures join the measurement, and
    /// the tolerance the (shared) verdict rule.
    pub fn claim(&self) -> Claim {
        Claim {
            id: self.claim.clone(),
            statement: self.statement.clone(),
            measured: format!(
                "{} ({} of {} instances fail)",
                self.measured, self.failures, self.instances
            ),
            rule: format!(
                "holds if met on every random instance within the tolerance: {}",
                self.tolerance
            ),
            verdict: self.verdict,
        }
    }
}

// Random streams of the claim checks (disjoint from the agreement table's stream 0).
const STREAM_C1: u64 = 11;
const STREAM_C2: u64 = 12;
const STREAM_C5: u64 = 15;
const STREAM_C6: u64 = 16;
const STREAM_C10: u64 = 20;

fn opts() -> SpectrumOptions {
    SpectrumOptions::default()
}

/// C1: the Kronecker eigenvalues `1 + a_i h_j` against the dense `I + Hᵀ ⊗ A`.
pub fn c1(seed: u64, count: usize) -> Result<ClaimCheck> {
    const TOL: f64 = 1e-7;
    let mut worst = 0.0_f64;
    let mut failures = 0;
    for i in 0..count {
        let mut rng = instance_rng(seed, STREAM_C1, i);
        let n = rng.gen_range(1..=6);
        let d = rng.gen_range(1..=6);
        let scale = rng.gen_range(0.2..=3.0);
        let a = softmax_attention(n, scale, &mut rng);
        let h = normal_matrix(d, d, &mut rng);
        let s = UpdateSpectrum::from_matrices(a.view(), h.view(), &opts())?;
        let dense = linalg::eigenvalues(dense_update(&a, &h).view())?;
        let dev = matched_max_deviation(&s.eigenvalues(), &dense) / (1.0 + dense[0].norm());
        worst = worst.max(dev);
        if dev.is_nan() || dev > TOL {
            failures += 1;
        }
    }
    Ok(ClaimCheck {
        claim: "C1".into(),
        statement: "spec(I + Hᵀ⊗A) = {1 + a_i h_j}: the n·d eigenvalues without forming the nd×nd \
                    matrix"
            .into(),
        measured: format!(
            "max over {count} instances (n, d ∈ [1, 6], A = softmax, H Gaussian) of the \
             multiset-matched max |eig(dense) − μ_ij| / (1 + ρ): {worst:.1e}"
        ),
        tolerance: format!("{TOL:.0e} relative"),
        instances: count,
        failures,
        verdict: from_failures(failures),
        values: serde_json::json!({ "max_relative_deviation": worst }),
    })
}

/// C2: the Perron (DC) mode of a positive row-stochastic A.
pub fn c2(seed: u64, count: usize) -> Result<ClaimCheck> {
    let mut max_dc_error = 0.0_f64;
    let mut min_constancy = f64::INFINITY;
    let mut max_non_dc = 0.0_f64;
    let mut one_signed = 0usize;
    let mut failures = 0;
    for i in 0..count {
        let mut rng = instance_rng(seed, STREAM_C2, i);
        let n = rng.gen_range(2..=12);
        let scale = rng.gen_range(0.1..=4.0);
        let a = softmax_attention(n, scale, &mut rng);
        let att = attention_spectrum(a.view(), 1e-12)?;
        let dc_error = (att.eigenvalues[att.dc_index] - 1.0).norm();
        let near_one = att
            .eigenvalues
            .iter()
            .filter(|z| (*z - 1.0).norm() < 1e-6)
            .count();
        let e = linalg::eigen(a.view())?;
        let mut ok =
            dc_error < 1e-10 && att.dc_constancy > 1.0 - 1e-8 && att.dc_index == 0 && near_one == 1;
        max_dc_error = max_dc_error.max(dc_error);
        min_constancy = min_constancy.min(att.dc_constancy);
        for (k, value) in e.values.iter().enumerate().skip(1) {
            max_non_dc = max_non_dc.max(value.norm());
            ok &= value.norm() < 1.0 - 1e-9;
            let v = e.vectors.column(k);
            let norm = v.iter().map(|z| z.norm_sqr()).sum::<f64>().sqrt();
            for part in [v.mapv(|z| z.re), v.mapv(|z| z.im)] {
                let pn = part.dot(&part).sqrt();
                if pn > 1e-6 * norm {
                    let (lo, hi) = part
                        .iter()
                        .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), x| {
                            (l.min(*x), h.max(*x))
                        });
                    if !(lo < -1e-9 * pn && hi > 1e-9 * pn) {
                        one_signed += 1;
                        ok = false;
                    }
                }
            }
        }
        if !ok {
            failures += 1;
        }
    }
    Ok(ClaimCheck {
        claim: "C2".into(),
        statement:
            "positive row-stochastic A: eigenvalue 1 simple with eigenvector 1, every other \
                    |a| < 1 with a mixed-sign eigenvector"
                .into(),
        measured: format!(
            "{count} softmax A (n ∈ [2, 12], score scale ∈ [0.1, 4]): max |a_DC − 1| = \
             {max_dc_error:.1e}, min DC constancy = {:.12}, max non-DC |a| = {max_non_dc:.4}, \
             one-signed non-DC eigenvector parts: {one_signed}",
            min_constancy
        ),
        tolerance: "|a_DC − 1| < 1e-10, constancy > 1 − 1e-8, |a| < 1 − 1e-9".into(),
        instances: count,
        failures,
        verdict: from_failures(failures),
        values: serde_json::json!({
            "max_dc_error": max_dc_error,
            "min_dc_constancy": min_constancy,
            "max_non_dc_modulus": max_non_dc,
            "one_signed_eigenvector_parts": one_signed,
        }),
    })
}

/// Random (A, H) with every eigenvalue of H real and drawn uniformly from `[lo, hi]`.
fn real_spectrum_instance(
    seed: u64,
    stream: u64,
    i: usize,
    lo: f64,
    hi: f64,
) -> Result<(UpdateSpectrum, Vec<f64>)> {
    let mut rng = instance_rng(seed, stream, i);
    let n = rng.gen_range(2..=12);
    let d = rng.gen_range(1..=8);
    let scale = rng.gen_range(0.2..=4.0);
    let a = softmax_attention(n, scale, &mut rng);
    let lambda: Vec<f64> = (0..d).map(|_| rng.gen_range(lo..=hi)).collect();
    let h = h_with_real_spectrum(&lambda, &mut rng)?;
    Ok((
        UpdateSpectrum::from_matrices(a.view(), h.view(), &opts())?,
        lambda,
    ))
}

/// C5: spec(H) ⊂ [−1, 0) ⇒ a non-DC eigenvalue strictly beats every DC one; plus the h = −3
/// counterexample on one of the constructed examples' A.
pub fn c5(seed: u64, count: usize, examples: &[Example]) -> Result<Vec<ClaimCheck>> {
    let mut failures = 0;
    let mut min_margin = f64::INFINITY;
    for i in 0..count {
        let (s, _) = real_spectrum_instance(seed, STREAM_C5, i, -1.0, -0.01)?;
        let best_non_dc = s.best_non_dc.context("n ≥ 2 has a non-DC mode")?.modulus;
        let margin = best_non_dc - s.best_dc.modulus;
        min_margin = min_margin.min(margin);
        if margin <= 0.0 || s.regime != Regime::Sharpening {
            failures += 1;
        }
    }
    let main = ClaimCheck {
        claim: "C5".into(),
        statement: "spec(H) real in [−1, 0) ⇒ the DC mode never dominates".into(),
        measured: format!(
            "{count} instances (n ∈ [2, 12], d ∈ [1, 8], λ ~ U[−1, −0.01]): DC does not dominate \
             in {:.1}%; min (best non-DC |μ| − best DC |μ|) = {min_margin:.2e}",
            100.0 * (count - failures) as f64 / count.max(1) as f64
        ),
        tolerance: "strict: margin > 0 and predicted regime sharpening on 100%".into(),
        instances: count,
        failures,
        verdict: from_failures(failures),
        values: serde_json::json!({
            "fraction_dc_not_dominating": (count - failures) as f64 / count.max(1) as f64,
            "min_margin": min_margin,
        }),
    };

    // The bound −1 is needed: H = −3·I gives |1 + h| = 2 and the DC mode dominates again when every
    // non-DC eigenvalue of A lies in |a − 1/3| < 2/3. Take the first example A where it does.
    let mut counter = None;
    for ex in examples {
        let d = ex.h.nrows();
        let h = Array2::<f64>::eye(d) * -3.0;
        let s = UpdateSpectrum::from_matrices(ex.a.view(), h.view(), &opts())?;
        if s.regime == Regime::AlternatingSmoothing {
            let (obs, _) = simulate_and_observe(&ex.a, &h, &ex.x0, CLAIM_LAYERS)?;
            counter = Some((ex.regime, s, obs));
            break;
        }
    }
    let counter_check = match counter {
        Some((source, s, obs)) => {
            let ok = (s.dominant_modulus - 2.0).abs() < 1e-9
                && s.dominating.iter().all(|p| p.is_dc)
                && obs.regime == Observed::AlternatingSmoothing;
            let f = usize::from(!ok);
            ClaimCheck {
                claim: "C5 (bound)".into(),
                statement: "the bound −1 is needed: h = −3 gives |1 + h| = 2 and the DC mode \
                            dominates again"
                    .into(),
                measured: format!(
                    "H = −3·I with the A of the `{}` example: dominating |μ| = {:.12}, all \
                     dominating pairs DC: {}, predicted {}, simulated ({} layers) {}",
                    source.name(),
                    s.dominant_modulus,
                    s.dominating.iter().all(|p| p.is_dc),
                    regime_name(s.regime),
                    CLAIM_LAYERS,
                    obs.regime.name()
                ),
                tolerance: "|μ| = 2 within 1e-9; observed alternating-smoothing".into(),
                instances: 1,
                failures: f,
                verdict: from_failures(f),
                values: serde_json::json!({
                    "dominant_modulus": s.dominant_modulus,
                    "predicted": s.regime,
                    "observed": obs.regime,
                }),
            }
        }
        None => ClaimCheck {
            claim: "C5 (bound)".into(),
            statement: "the bound −1 is needed: h = −3 makes the DC mode dominate again".into(),
            measured: "no example A has its non-DC spectrum inside |a − 1/3| < 2/3".into(),
            tolerance: "n/a".into(),
            instances: 0,
            failures: 1,
            verdict: Verdict::Fails,
            values: serde_json::Value::Null,
        },
    };
    Ok(vec![main, counter_check])
}

/// C6: spec(H) real and positive ⇒ the DC mode with `h_max` dominates.
pub fn c6(seed: u64, count: usize) -> Result<ClaimCheck> {
    let mut failures = 0;
    let mut min_margin = f64::INFINITY;
    for i in 0..count {
        let (s, lambda) = real_spectrum_instance(seed, STREAM_C6, i, 0.01, 3.0)?;
        let h_max = lambda.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let ok = s.regime == Regime::Smoothing
            && s.dominating
                .iter()
                .all(|p| p.is_dc && (p.h.re - h_max).abs() < 1e-8 * (1.0 + h_max));
        let non_dc = s.best_non_dc.map_or(0.0, |p| p.modulus);
        min_margin = min_margin.min(s.best_dc.modulus - non_dc);
        if !ok {
            failures += 1;
        }
    }
    Ok(ClaimCheck {
        claim: "C6".into(),
        statement: "spec(H) real and positive ⇒ the DC mode with h_max dominates (angle \
                    convergence, rank collapse)"
            .into(),
        measured: format!(
            "{count} instances (n ∈ [2, 12], d ∈ [1, 8], λ ~ U[0.01, 3]): DC with h_max dominates \
             in {:.1}%; min (best DC |μ| − best non-DC |μ|) = {min_margin:.2e}",
            100.0 * (count - failures) as f64 / count.max(1) as f64
        ),
        tolerance: "strict: every dominating pair is DC with h = h_max (1e-8) on 100%".into(),
        instances: count,
        failures,
        verdict: from_failures(failures),
        values: serde_json::json!({
            "fraction_dc_hmax_dominating": (count - failures) as f64 / count.max(1) as f64,
            "min_margin": min_margin,
        }),
    })
}

/// C8: γ = −1 flips smoothing ↔ sharpening on the smoothing and sharpening examples (spectrum of
/// diag(γ)H, and the linear dynamics with it).
pub fn c8(examples: &[Example]) -> Result<ClaimCheck> {
    let mut rows = Vec::new();
    let mut failures = 0;
    for ex in examples
        .iter()
        .filter(|e| matches!(e.regime, Regime::Smoothing | Regime::Sharpening))
    {
        let d = ex.h.nrows();
        let gamma = Array1::from_elem(d, -1.0);
        let p = pre_ln_spectrum(ex.a.view(), ex.h.view(), gamma.view(), &opts())?;
        let h_eff = layernorm_effective_h(ex.h.view(), gamma.view())?;
        let (obs, _) = simulate_and_observe(&ex.a, &h_eff, &ex.x0, CLAIM_LAYERS)?;
        let swapped = match p.plain.regime {
            Regime::Smoothing => Regime::Sharpening,
            Regime::Sharpening => Regime::Smoothing,
            other => other,
        };
        let ok = p.effective.regime == swapped && obs.regime == Observed::from(swapped);
        if !ok {
            failures += 1;
        }
        rows.push(serde_json::json!({
            "example": ex.regime,
            "plain": p.plain.regime,
            "effective": p.effective.regime,
            "observed_effective": obs.regime,
        }));
    }
    let measured = rows
        .iter()
        .map(|r| {
            format!(
                "`{}` example: spec(H) → {}, spec(−H) → {}, simulated with −H ({CLAIM_LAYERS} layers): {}",
                r["example"].as_str().unwrap_or("?"),
                r["plain"].as_str().unwrap_or("?"),
                r["effective"].as_str().unwrap_or("?"),
                r["observed_effective"].as_str().unwrap_or("?"),
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Ok(ClaimCheck {
        claim: "C8".into(),
        statement: "pre-LN: the linear part acts through diag(γ)H; γ = −1 swaps smoothing and \
                    sharpening"
            .into(),
        measured,
        tolerance: "exact regime labels (predicted and simulated)".into(),
        instances: rows.len(),
        failures,
        verdict: from_failures(failures),
        values: serde_json::Value::Array(rows),
    })
}

/// C10: the constructed H has exactly the clipped spectrum (symmetric, general and low-rank forms).
pub fn c10(seed: u64, count: usize) -> Result<ClaimCheck> {
    const TOL_SYM: f64 = 1e-12;
    const TOL_GEN: f64 = 1e-10; // × cond(V)²
    let bounds = ClipBounds::default();
    let (mut worst_sym, mut worst_gen, mut worst_gen_rel, mut worst_low) = (0.0, 0.0, 0.0, 0.0);
    let mut sign_violations = 0usize;
    let mut failures = 0;
    for i in 0..count {
        let mut rng = instance_rng(seed, STREAM_C10, i);
        let d = rng.gen_range(1..=8);
        let psi: Vec<f64> = (0..d).map(|_| rng.gen_range(-2.0..=2.0)).collect();
        let sharpening = rng.gen_bool(0.5);
        let sign = if sharpening {
            SpectrumSign::Sharpening
        } else {
            SpectrumSign::Smoothing
        };
        let lambda = clipped_eigenvalues(&psi, sign, bounds)?;
        let mut ok = true;
        for l in &lambda {
            if !(l.abs() >= bounds.eps && l.abs() <= bounds.upper && (*l < 0.0) == sharpening) {
                sign_violations += 1;
                ok = false;
            }
        }
        let mut sorted = lambda.clone();
        sorted.sort_by(|x, y| y.total_cmp(x));

        let theta = redraw(d, 1e6, &mut rng)?;
        let hs = symmetric_h(theta.view(), &lambda)?;
        let ev = linalg::symmetric_eigenvalues(hs.view())?;
        let dev_sym = ev
            .iter()
            .zip(&sorted)
            .fold(0.0_f64, |m, (x, y)| m.max((x - y).abs()));

        let v = redraw(d, 1e3, &mut rng)?;
        let cond = condition_number(&v)?;
        let hg = general_h(v.view(), &lambda)?;
        let dev_gen = matched_max_deviation(&real(&lambda), &linalg::eigenvalues(hg.view())?);

        let dh = rng.gen_range(1..=d);
        let p = normal_matrix(d, dh, &mut rng);
        let hl = low_rank_head_h(p.view(), &lambda[..dh])?;
        let el = linalg::symmetric_eigenvalues(hl.view())?;
        let mut want = lambda[..dh].to_vec();
        want.resize(d, 0.0);
        want.sort_by(|x, y| y.total_cmp(x));
        let dev_low = el
            .iter()
            .zip(&want)
            .fold(0.0_f64, |m, (x, y)| m.max((x - y).abs()));

        worst_sym = f64::max(worst_sym, dev_sym);
        worst_gen = f64::max(worst_gen, dev_gen);
        worst_gen_rel = f64::max(worst_gen_rel, dev_gen / (cond * cond));
        worst_low = f64::max(worst_low, dev_low);
        ok &= dev_sym <= TOL_SYM && dev_gen <= TOL_GEN * cond * cond && dev_low <= TOL_SYM;
        if !ok {
            failures += 1;
        }
    }
    Ok(ClaimCheck {
        claim: "C10".into(),
        statement: "H = V diag(λ) V⁻¹ with λ = ∓clip(ψ², ε, 1) has spectrum exactly λ for any ψ, \
                    Θ (symmetric form), V (general form), U (low-rank head form)"
            .into(),
        measured: format!(
            "{count} random ψ ∈ U[−2, 2]^d, d ∈ [1, 8], both signs: max deviation symmetric \
             {worst_sym:.1e}, general {worst_gen:.1e} (÷cond(V)²: {worst_gen_rel:.1e}), low-rank \
             {worst_low:.1e}; λ outside [ε, 1] or of the wrong sign: {sign_violations}"
        ),
        tolerance: format!(
            "symmetric and low-rank {TOL_SYM:.0e} absolute; general {TOL_GEN:.0e}·cond(V)² \
             (cond(V) < 1e3)"
        ),
        instances: count,
        failures,
        verdict: from_failures(failures),
        values: serde_json::json!({
            "max_deviation_symmetric": worst_sym,
            "max_deviation_general": worst_gen,
            "max_deviation_general_over_cond2": worst_gen_rel,
            "max_deviation_low_rank": worst_low,
            "sign_violations": sign_violations,
        }),
    })
}

/// A standard normal `d × d` matrix with condition number below `max_cond` (redrawn until it is).
fn redraw(d: usize, max_cond: f64, rng: &mut rand_chacha::ChaCha8Rng) -> Result<Array2<f64>> {
    for _ in 0..1000 {
        let m = normal_matrix(d, d, rng);
        if condition_number(&m)? < max_cond {
            return Ok(m);
        }
    }
    anyhow::bail!("no {d}×{d} matrix with condition number < {max_cond} in 1000 draws")
}

/// The kebab-case name of a regime.
pub fn regime_name(r: Regime) -> &'static str {
    match r {
        Regime::Smoothing => "smoothing",
        Regime::AlternatingSmoothing => "alternating-smoothing",
        Regime::Sharpening => "sharpening",
        Regime::Balanced => "balanced",
    }
}
