//! The claims of theory.md §7 about pre-trained models, checked against audits with explicit
//! rules, and the side-by-side comparison page (`comparison.md`).
//!
//! The paper gives no numbers, so each claim is stated beside what we measured, with the rule
//! that turned the measurement into a verdict (holds / fails / inconclusive). The thresholds are
//! fixed here, not tuned per run.

use crate::audit::report::{AuditReport, LayerReport};
use crate::report::{Claim, Verdict};
use std::fmt::Write as _;

/// A model's similarity "rises with depth" when the mean token cosine (without special tokens)
/// of the last layer exceeds that of the embedding output by more than this.
pub const RISE_THRESHOLD: f64 = 0.05;
/// LayerNorm "matters" for a head when its fraction of eigenvalues with negative real part
/// changes by more than this from `H_h` to `diag(γ) H_h`, or its majority regime changes.
pub const LN_CHANGE_THRESHOLD: f64 = 0.1;
/// P2 needs at least this many (layer, model) points pooled: with fewer, a rank correlation
/// over layers and its bootstrap interval say almost nothing (5 points give only 120
/// orderings, and most resamples repeat a point).
pub const P2_MIN_LAYERS: usize = 5;
/// Bootstrap resamples for P2's interval: 2000 puts the 2.5 % and 97.5 % quantiles about 50
/// resamples from each end, so the interval's ends are stable to a few hundredths of ρ.
pub const P2_BOOTSTRAP_RESAMPLES: usize = 2000;
/// P2's interval level: a 95 % percentile interval, the usual level, fixed before any audit.
pub const P2_LEVEL: f64 = 0.95;
/// The seed of P2's bootstrap, fixed so that the same audits always give the same verdict.
pub const P2_BOOTSTRAP_SEED: u64 = 0x5032;

fn cosine(l: &LayerReport) -> f64 {
    l.mean_cosine_no_special.unwrap_or(l.mean_cosine)
}

/// Last-layer minus embedding-output mean cosine (without special tokens).
pub fn similarity_rise(r: &AuditReport) -> f64 {
    match (r.layers.first(), r.layers.last()) {
        (Some(first), Some(last)) => cosine(last) - cosine(first),
        _ => f64::NAN,
    }
}

fn majority(counts: &std::collections::BTreeMap<String, usize>) -> Option<&str> {
    counts
        .iter()
        .max_by_key(|(_, &v)| v)
        .filter(|(_, &v)| v > 0)
        .map(|(k, _)| k.as_str())
}

/// `(heads whose spectrum/regime changes with γ, all heads, negative γ entries)`.
pub fn layernorm_effect(r: &AuditReport) -> (usize, usize, usize) {
    let mut changed = 0;
    let mut all = 0;
    for l in &r.layers {
        for h in &l.heads {
            all += 1;
            let frac = (h.negative_real_fraction_eff - h.negative_real_fraction).abs();
            if frac > LN_CHANGE_THRESHOLD
                || majority(&h.regime_counts) != majority(&h.regime_counts_eff)
            {
                changed += 1;
            }
        }
    }
    let negative = r.layers.iter().filter_map(|l| l.gamma_negative).sum();
    (changed, all, negative)
}

/// Average ranks (1-based; ties share the mean of their ranks).
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            r[k] = rank;
        }
        i = j + 1;
    }
    r
}

/// Spearman's rank correlation of the pairs `(x_i, y_i)` (Pearson's on average ranks); `NaN`
/// with fewer than two pairs or when either side is constant.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    if n < 2 {
        return f64::NAN;
    }
    let (rx, ry) = (ranks(&x[..n]), ranks(&y[..n]));
    let mean = (n as f64 + 1.0) / 2.0;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        sxy += (a - mean) * (b - mean);
        sxx += (a - mean) * (a - mean);
        syy += (b - mean) * (b - mean);
    }
    if sxx == 0.0 || syy == 0.0 {
        f64::NAN
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

/// A seeded percentile bootstrap interval at `level` for Spearman's ρ, resampling the pairs
/// with replacement `resamples` times; resamples where ρ is undefined (a constant side) are
/// left out. `None` when fewer than half of them give a ρ.
pub fn spearman_bootstrap(
    x: &[f64],
    y: &[f64],
    resamples: usize,
    level: f64,
    seed: u64,
) -> Option<(f64, f64)> {
    use rand::{Rng, SeedableRng};
    let n = x.len().min(y.len());
    if n < 2 || resamples == 0 {
        return None;
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (mut bx, mut by) = (vec![0.0; n], vec![0.0; n]);
    let mut rhos = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for k in 0..n {
            let i = rng.gen_range(0..n);
            bx[k] = x[i];
            by[k] = y[i];
        }
        let rho = spearman(&bx, &by);
        if rho.is_finite() {
            rhos.push(rho);
        }
    }
    if rhos.len() * 2 < resamples {
        return None;
    }
    rhos.sort_by(f64::total_cmp);
    let q = |p: f64| rhos[((p * (rhos.len() - 1) as f64).round() as usize).min(rhos.len() - 1)];
    let tail = (1.0 - level) / 2.0;
    Some((q(tail), q(1.0 - tail)))
}

/// P2's points, pooled over `reports`: per encoder layer, the graded DC predictor
/// ([`AuditReport::layer_dc_log_gap`]) and the measured change of the mean token cosine without
/// special tokens across that layer (hidden state l minus hidden state l − 1). Layers without a
/// finite predictor or change are left out.
pub fn predictor_points(reports: &[&AuditReport]) -> (Vec<f64>, Vec<f64>) {
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for r in reports {
        for i in 1..r.layers.len() {
            let change = cosine(&r.layers[i]) - cosine(&r.layers[i - 1]);
            if let Some(gap) = r.layer_dc_log_gap(i) {
                if change.is_finite() {
                    x.push(gap);
                    y.push(change);
                }
            }
        }
    }
    (x, y)
}

/// Check the §7 claims about pre-trained models on these audits: the report's rows `P1`–`P3`.
pub fn check_claims(reports: &[&AuditReport]) -> Vec<Claim> {
    check_claims_with_controls(reports, &[])
}

/// [`check_claims`] with random-init `controls` (the same architectures with fresh weights):
/// P2 then reports their ρ beside the trained models' and holds only when the trained models'
/// interval lies above it.
pub fn check_claims_with_controls(
    reports: &[&AuditReport],
    controls: &[&AuditReport],
) -> Vec<Claim> {
    vec![
        claim_p1(reports),
        claim_p2(reports, controls),
        claim_p3(reports),
    ]
}

fn claim_p1(reports: &[&AuditReport]) -> Claim {
    let rises: Vec<(String, f64)> = reports
        .iter()
        .map(|r| (r.model.name.clone(), similarity_rise(r)))
        .filter(|(_, d)| d.is_finite())
        .collect();
    let flat: Vec<&str> = rises
        .iter()
        .filter(|(_, d)| *d <= RISE_THRESHOLD)
        .map(|(n, _)| n.as_str())
        .collect();
    let mut measured = rises
        .iter()
        .map(|(n, d)| {
            format!(
                "{n}: Δcos = {d:+.3} ({})",
                if *d > RISE_THRESHOLD {
                    "rises"
                } else {
                    "does not rise"
                }
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let verdict = if rises.is_empty() {
        measured = "no model with a measured similarity".into();
        Verdict::Inconclusive
    } else if flat.is_empty() {
        measured.push_str("; not reproduced: every audited model rises");
        Verdict::Fails
    } else {
        Verdict::Holds
    };
    Claim {
        id: "P1".into(),
        statement: "feature similarity rises with depth for some models and not for others".into(),
        rule: format!(
            "existential: a model's similarity rises when the mean token cosine without special \
             tokens of the last layer exceeds the embedding output's by > {RISE_THRESHOLD}; holds \
             when some audited model does not rise; not reproduced (fails) when every one rises; \
             inconclusive without a model"
        ),
        measured,
        verdict,
    }
}

fn show_interval(i: Option<(f64, f64)>) -> String {
    match i {
        Some((lo, hi)) => format!("[{lo:+.3}, {hi:+.3}]"),
        None => "undefined".into(),
    }
}

fn claim_p2(reports: &[&AuditReport], controls: &[&AuditReport]) -> Claim {
    let (x, y) = predictor_points(reports);
    let rho = spearman(&x, &y);
    let interval = spearman_bootstrap(&x, &y, P2_BOOTSTRAP_RESAMPLES, P2_LEVEL, P2_BOOTSTRAP_SEED);
    let mut measured = format!(
        "ρ = {rho:+.3}, {:.0} % interval {} over {} layers of {} models",
        P2_LEVEL * 100.0,
        show_interval(interval),
        x.len(),
        reports.len()
    );
    let control_rho = (!controls.is_empty()).then(|| {
        let (cx, cy) = predictor_points(controls);
        let c = spearman(&cx, &cy);
        let _ = write!(
            measured,
            "; random-init controls: ρ = {c:+.3} over {} layers",
            cx.len()
        );
        c
    });
    let verdict = match interval {
        _ if x.len() < P2_MIN_LAYERS || !rho.is_finite() => Verdict::Inconclusive,
        None => Verdict::Inconclusive,
        Some((_, hi)) if hi < 0.0 => Verdict::Fails,
        Some((lo, _)) if rho > 0.0 && lo > 0.0 => match control_rho {
            None => Verdict::Holds,
            Some(c) if c.is_finite() && lo > c => Verdict::Holds,
            Some(_) => Verdict::Inconclusive,
        },
        Some(_) => Verdict::Inconclusive,
    };
    Claim {
        id: "P2".into(),
        statement: "the spectra of H (and diag(γ)H) predict which models' similarity rises".into(),
        rule: format!(
            "graded per layer: the mean over heads and inputs of log|μ_DC| − log max|μ_non-DC| \
             (μ_DC the DC pair of largest modulus, μ_non-DC over the non-DC modes of the measured \
             attention; with H_eff = P_d diag(γ)H/σ_l for pre-LN models, H for post-LN ones), \
             Spearman-correlated with the layer's change in token cosine without special tokens, \
             pooled over the layers of all models; holds when ρ > 0 and the {:.0} % bootstrap \
             interval ({P2_BOOTSTRAP_RESAMPLES} resamples of the layers, seed \
             {P2_BOOTSTRAP_SEED}) lies above 0 (and above the random-init controls' ρ when there \
             are controls); fails when it lies below 0; inconclusive otherwise or with fewer \
             than {P2_MIN_LAYERS} layers",
            P2_LEVEL * 100.0
        ),
        measured,
        verdict,
    }
}

fn claim_p3(reports: &[&AuditReport]) -> Claim {
    let (pre, post): (Vec<&AuditReport>, Vec<&AuditReport>) =
        reports.iter().copied().partition(|r| !r.model.post_ln);
    let effects: Vec<(usize, usize, usize)> = pre.iter().map(|r| layernorm_effect(r)).collect();
    let any_negative = effects.iter().any(|e| e.2 > 0);
    let any_change = effects.iter().any(|e| e.0 > 0);
    let mut measured = pre
        .iter()
        .zip(&effects)
        .map(|(r, e)| {
            format!(
                "{}: {} negative γ entries, {}/{} heads affected",
                r.model.name, e.2, e.0, e.1
            )
        })
        .collect::<Vec<_>>();
    if pre.is_empty() {
        measured.push("no pre-LN model audited".into());
    }
    if !post.is_empty() {
        measured.push(format!(
            "excluded as post-LN (C8′: the sign of γ cannot matter there): {}",
            post.iter()
                .map(|r| r.model.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Claim {
        id: "P3".into(),
        statement: "LayerNorm sign matters (spec(diag(γ)H) differs from spec(H))".into(),
        rule: format!(
            "pre-LN models only (C8; post-LN models are excluded by C8′); a head is affected when \
             its fraction of eigenvalues with negative real part moves by > \
             {LN_CHANGE_THRESHOLD} from H_h to diag(γ)H_h or its majority regime changes; holds \
             when some γ is negative and some head is affected; fails when some γ is negative \
             and no head is; inconclusive when every γ > 0 or no pre-LN model was audited"
        ),
        measured: measured.join("; "),
        verdict: if pre.is_empty() || !any_negative {
            Verdict::Inconclusive
        } else if any_change {
            Verdict::Holds
        } else {
            Verdict::Fails
        },
    }
}

/// The claims as a markdown table.
pub fn claims_markdown(checks: &[Claim]) -> String {
    let mut s =
        String::from("| claim (theory.md §7) | rule | measured | verdict |\n|---|---|---|---|\n");
    for c in checks {
        let _ = writeln!(
            s,
            "| {} | {} | {} | **{}** |",
            c.statement,
            c.rule,
            c.measured,
            c.verdict.name()
        );
    }
    s
}

/// The side-by-side page for several audits: per-layer similarity of each model, head-spectrum
/// summaries, the figure `similarity.svg` and the claim table. `links` are the per-model report
/// paths relative to the page.
pub fn comparison_markdown(reports: &[&AuditReport], links: &[String]) -> String {
    let mut s = String::from("# Pre-trained models side by side\n\n");
    for (r, link) in reports.iter().zip(links) {
        let _ = writeln!(
            s,
            "- `{}`: {} layers × {} heads, d = {}, {} sentences in {:.1} s ([full report]({link}))",
            r.model.name, r.model.layers, r.model.heads, r.model.width, r.text.sentences, r.seconds
        );
    }
    if let Some(r) = reports.first() {
        let _ = writeln!(s, "\nText: {} ({}).", r.text.source, r.text.selection);
    }
    s.push_str(
        "\n![token similarity against depth](similarity.svg)\n\n## Token similarity against depth\n\n\
         Mean pairwise token cosine without special tokens (with them in brackets); layer 0 is the \
         embedding output.\n\n| layer |",
    );
    for r in reports {
        let _ = write!(s, " {} |", r.model.name);
    }
    s.push_str("\n|---:|");
    for _ in reports {
        s.push_str("---:|");
    }
    s.push('\n');
    let depth = reports.iter().map(|r| r.layers.len()).max().unwrap_or(0);
    for i in 0..depth {
        let _ = write!(s, "| {i} |");
        for r in reports {
            match r.layers.get(i) {
                Some(l) => {
                    let _ = write!(s, " {:.3} ({:.3}) |", cosine(l), l.mean_cosine);
                }
                None => s.push_str(" |"),
            }
        }
        s.push('\n');
    }
    s.push_str(
        "\n## Head spectra\n\n| model | Re h < 0 (H) | Re h < 0 (diag(γ)H) | DC-dominated (H) | \
         DC-dominated (diag(γ)H) | negative γ entries |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for r in reports {
        let (_, _, negative) = layernorm_effect(r);
        let _ = writeln!(
            s,
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {} |",
            r.model.name,
            r.mean_negative_fraction(false),
            r.mean_negative_fraction(true),
            r.dc_regime_fraction(false),
            r.dc_regime_fraction(true),
            negative
        );
    }
    s.push_str("\n## Claims\n\n");
    s.push_str(&claims_markdown(&check_claims(reports)));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::report::{empty_regime_counts, HeadReport, ModelInfo, TextInfo};
    use eigenformer_spectral::Complex64;

    fn head(smooth: usize, neg: f64, neg_eff: f64, gap: f64) -> HeadReport {
        let mut counts = empty_regime_counts();
        counts.insert("smoothing".into(), smooth);
        counts.insert("sharpening".into(), 10 - smooth);
        HeadReport {
            head: 0,
            kv_head: 0,
            eigenvalues_h: vec![],
            eigenvalues_h_eff: vec![],
            zero_eigenvalues: 0,
            negative_real_fraction: neg,
            negative_real_fraction_eff: neg_eff,
            spectral_radius: 1.0,
            spectral_radius_eff: 1.0,
            regime_counts: counts.clone(),
            regime_counts_eff: counts,
            mean_dominant_modulus: 1.0,
            mean_dominant_modulus_eff: 1.0,
            dominating_h: Complex64::new(0.0, 0.0),
            dominating_h_sentences: 0,
            dc_dominates_fraction: 0.0,
            eigenvalues_h_sigma: None,
            negative_real_fraction_sigma: None,
            spectral_radius_sigma: None,
            regime_counts_sigma: None,
            mean_dominant_modulus_sigma: None,
            // Post-LN reads the H gap, pre-LN the H_eff one: give the H one the opposite sign
            // so that reading the wrong one shows.
            mean_dc_log_gap: Some(gap),
            mean_dc_log_gap_sigma: Some(-gap),
        }
    }

    /// A report with hidden-state cosines `cos` (layer 0 the embedding output) and, for encoder
    /// layer l, one head whose graded predictor is `gaps[l]` (read with the model's spectrum),
    /// regime/negative-real data as in `head(..)` and `gneg` negative γ entries.
    fn stack(name: &str, post_ln: bool, cos: &[f64], gaps: &[f64], gneg: usize) -> AuditReport {
        let layers = cos
            .iter()
            .enumerate()
            .map(|(index, &c)| LayerReport {
                index,
                mean_cosine: c,
                mean_cosine_no_special: Some(c),
                hc_dc: 1.0,
                sigma2_over_sigma1: 0.5,
                effective_rank: 2.0,
                mean_cosine_centred: c,
                mean_cosine_centred_no_special: Some(c),
                sigma: None,
                gamma_negative: (index > 0).then_some(gneg),
                heads: if index == 0 {
                    vec![]
                } else {
                    let g = gaps[index - 1];
                    let mut h = head(5, 0.2, if gneg > 0 { 0.6 } else { 0.2 }, g);
                    if !post_ln {
                        h.mean_dc_log_gap = Some(-g);
                        h.mean_dc_log_gap_sigma = Some(g);
                    }
                    vec![h]
                },
            })
            .collect();
        AuditReport {
            schema_version: crate::audit::report::AUDIT_SCHEMA_VERSION,
            model: ModelInfo {
                name: name.into(),
                dir: String::new(),
                model_type: if post_ln { "bert" } else { "gpt2" }.into(),
                layers: cos.len() - 1,
                heads: 1,
                width: 2,
                head_dim: 2,
                post_ln,
                max_tokens: 8,
                causal: !post_ln,
                kv_heads: 1,
                norm: "layernorm".into(),
                effective_spectrum: if post_ln { "h" } else { "h_sigma" }.into(),
            },
            text: TextInfo {
                source: "t".into(),
                selection: "s".into(),
                sentences: 10,
                truncated: 0,
                mean_tokens: 5.0,
                max_tokens: 5,
                skipped: 0,
            },
            layers,
            seconds: 0.0,
        }
    }

    /// Cosines whose per-layer changes are `steps`, from 0.2.
    fn cumulative(steps: &[f64]) -> Vec<f64> {
        let mut c = vec![0.2];
        for s in steps {
            c.push(c.last().unwrap() + s);
        }
        c
    }

    #[test]
    fn spearman_and_bootstrap() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!((spearman(&x, &[2.0, 4.0, 6.0, 8.0, 100.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&x, &[5.0, 4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert!(spearman(&x, &[1.0; 5]).is_nan());
        // Ties take the mean rank: ranks of [1, 1, 2] are [1.5, 1.5, 3].
        assert_eq!(ranks(&[1.0, 1.0, 2.0]), vec![1.5, 1.5, 3.0]);
        let (lo, hi) = spearman_bootstrap(&x, &x, 500, 0.95, 1).unwrap();
        assert!(lo > 0.9 && hi <= 1.0 + 1e-12, "{lo} {hi}");
        assert_eq!(
            spearman_bootstrap(&x, &x, 500, 0.95, 1),
            spearman_bootstrap(&x, &x, 500, 0.95, 1),
            "seeded"
        );
    }

    #[test]
    fn p1_is_existential() {
        let up = stack("up", true, &[0.1, 0.5], &[1.0], 0);
        let flat = stack("flat", true, &[0.3, 0.31], &[0.0], 0);
        let c = check_claims(&[&up, &flat]);
        assert_eq!(c[0].verdict, Verdict::Holds, "{:?}", c[0]);
        // One model that does not rise is enough.
        assert_eq!(check_claims(&[&flat])[0].verdict, Verdict::Holds);
        // Every model rising: not reproduced.
        let also = stack("also", true, &[0.0, 0.4], &[1.0], 0);
        let c = check_claims(&[&up, &also]);
        assert_eq!(c[0].verdict, Verdict::Fails, "{:?}", c[0]);
        assert!(
            c[0].measured.contains("not reproduced"),
            "{}",
            c[0].measured
        );
        assert_eq!(check_claims(&[])[0].verdict, Verdict::Inconclusive);
    }

    #[test]
    fn p2_follows_the_graded_predictor() {
        // Larger DC gap, larger rise of cosine: ρ > 0 over 8 pooled layers (one post-LN model
        // read with H, one pre-LN model read with H_eff).
        let gaps_a = [-0.4, -0.1, 0.2, 0.5];
        let gaps_b = [-0.3, 0.0, 0.3, 0.6];
        let steps = |g: &[f64]| g.iter().map(|v| 0.1 * v + 0.01).collect::<Vec<_>>();
        let a = stack("a", true, &cumulative(&steps(&gaps_a)), &gaps_a, 0);
        let b = stack("b", false, &cumulative(&steps(&gaps_b)), &gaps_b, 0);
        let c = check_claims(&[&a, &b]);
        assert_eq!(c[1].verdict, Verdict::Holds, "{:?}", c[1]);
        // Anti-correlated: fails.
        let neg = |g: &[f64]| g.iter().map(|v| -0.1 * v).collect::<Vec<_>>();
        let a2 = stack("a", true, &cumulative(&neg(&gaps_a)), &gaps_a, 0);
        let b2 = stack("b", false, &cumulative(&neg(&gaps_b)), &gaps_b, 0);
        let c = check_claims(&[&a2, &b2]);
        assert_eq!(c[1].verdict, Verdict::Fails, "{:?}", c[1]);
        // Too few layers: inconclusive.
        assert_eq!(check_claims(&[&a])[1].verdict, Verdict::Inconclusive);
        // Controls that correlate just as well: the trained interval is not above their ρ.
        let c = check_claims_with_controls(&[&a, &b], &[&a, &b]);
        assert_eq!(c[1].verdict, Verdict::Inconclusive, "{:?}", c[1]);
        assert!(
            c[1].measured.contains("random-init controls"),
            "{}",
            c[1].measured
        );
        // Controls with no relation: holds.
        let ctrl = stack("ctrl", true, &cumulative(&neg(&gaps_a)), &gaps_a, 0);
        let c = check_claims_with_controls(&[&a, &b], &[&ctrl]);
        assert_eq!(c[1].verdict, Verdict::Holds, "{:?}", c[1]);
        // An old audit without the predictor: no points, inconclusive.
        let mut old = a.clone();
        for l in &mut old.layers {
            for h in &mut l.heads {
                h.mean_dc_log_gap = None;
            }
        }
        assert_eq!(predictor_points(&[&old]).0.len(), 0);
    }

    #[test]
    fn p3_tests_pre_ln_models_only() {
        let post = stack("bert", true, &[0.1, 0.5], &[1.0], 3);
        let pre = stack("gpt2", false, &[0.1, 0.5], &[1.0], 3);
        let pre_pos = stack("vit", false, &[0.1, 0.5], &[1.0], 0);
        // A post-LN model with negative γ and affected heads does not count.
        let c = check_claims(&[&post]);
        assert_eq!(c[2].verdict, Verdict::Inconclusive, "{:?}", c[2]);
        assert!(
            c[2].measured.contains("excluded as post-LN"),
            "{}",
            c[2].measured
        );
        assert!(
            c[2].measured.contains("no pre-LN model"),
            "{}",
            c[2].measured
        );
        let c = check_claims(&[&post, &pre]);
        assert_eq!(c[2].verdict, Verdict::Holds, "{:?}", c[2]);
        assert_eq!(check_claims(&[&pre_pos])[2].verdict, Verdict::Inconclusive);
        // Negative γ but no head affected: fails.
        let mut unaffected = pre.clone();
        for l in &mut unaffected.layers {
            for h in &mut l.heads {
                h.negative_real_fraction_eff = h.negative_real_fraction;
            }
        }
        assert_eq!(check_claims(&[&unaffected])[2].verdict, Verdict::Fails);
    }

    #[test]
    fn comparison_page() {
        let up = stack("up", true, &[0.1, 0.5], &[1.0], 0);
        let flat = stack("flat", true, &[0.3, 0.31], &[0.0], 0);
        let md = comparison_markdown(
            &[&up, &flat],
            &["up/report.md".into(), "flat/report.md".into()],
        );
        assert!(md.contains("| layer | up | flat |"), "{md}");
        assert!(md.contains("**holds**"), "{md}");
    }
}
