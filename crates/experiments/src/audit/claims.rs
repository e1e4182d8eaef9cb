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
/// The spectra "predict a rise" when more than this fraction of (head, sentence) pairs, over all
/// layers, are in a DC-dominated regime (smoothing or alternating smoothing) with `diag(γ) H_h`.
pub const DC_FRACTION_THRESHOLD: f64 = 0.5;
/// LayerNorm "matters" for a head when its fraction of eigenvalues with negative real part
/// changes by more than this from `H_h` to `diag(γ) H_h`, or its majority regime changes.
pub const LN_CHANGE_THRESHOLD: f64 = 0.1;

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

/// Check the §7 claims about pre-trained models on these audits: the report's rows `P1`–`P3`.
pub fn check_claims(reports: &[&AuditReport]) -> Vec<Claim> {
    let rises: Vec<(String, f64, bool)> = reports
        .iter()
        .map(|r| {
            let d = similarity_rise(r);
            (r.model.name.clone(), d, d > RISE_THRESHOLD)
        })
        .collect();
    let list =
        |f: &dyn Fn(usize) -> String| (0..reports.len()).map(f).collect::<Vec<_>>().join("; ");
    let some_rise = rises.iter().any(|r| r.2);
    let some_not = rises.iter().any(|r| !r.2);
    let first = Claim {
        id: "P1".into(),
        statement: "feature similarity rises with depth for some models and not for others".into(),
        rule: format!(
            "a model's similarity rises when the mean token cosine without special tokens of the \
             last layer exceeds the embedding output's by > {RISE_THRESHOLD}; holds when at least \
             one model rises and one does not; needs ≥ 2 models"
        ),
        measured: list(&|i| {
            format!(
                "{}: Δcos = {:+.3} ({})",
                rises[i].0,
                rises[i].1,
                if rises[i].2 { "rises" } else { "does not rise" }
            )
        }),
        verdict: if reports.len() < 2 {
            Verdict::Inconclusive
        } else if some_rise && some_not {
            Verdict::Holds
        } else {
            Verdict::Fails
        },
    };

    let predicted: Vec<(f64, f64, bool)> = reports
        .iter()
        .map(|r| {
            let p = r.dc_regime_fraction(true);
            (p, r.dc_regime_fraction(false), p > DC_FRACTION_THRESHOLD)
        })
        .collect();
    let all_match = predicted.iter().zip(&rises).all(|(p, r)| p.2 == r.2);
    let second = Claim {
        id: "P2".into(),
        statement: "the spectra of H (and diag(γ)H) predict which models' similarity rises".into(),
        rule: format!(
            "the spectra predict a rise when > {DC_FRACTION_THRESHOLD} of the (head, sentence) \
             pairs are DC-dominated (smoothing or alternating smoothing) with diag(γ)H_h and the \
             measured attention; holds when the prediction matches the measured rise for every \
             model and the models differ (some rise, some do not); fails on any mismatch; \
             inconclusive when every model behaves alike (nothing to tell apart)"
        ),
        measured: list(&|i| {
            format!(
                "{}: DC-dominated {:.3} with diag(γ)H ({:.3} with H), predicts {}, measured {}",
                reports[i].model.name,
                predicted[i].0,
                predicted[i].1,
                if predicted[i].2 { "a rise" } else { "no rise" },
                if rises[i].2 { "a rise" } else { "no rise" }
            )
        }),
        verdict: if !all_match {
            Verdict::Fails
        } else if some_rise && some_not {
            Verdict::Holds
        } else {
            Verdict::Inconclusive
        },
    };

    let effects: Vec<(usize, usize, usize)> = reports.iter().map(|r| layernorm_effect(r)).collect();
    let any_negative = effects.iter().any(|e| e.2 > 0);
    let any_change = effects.iter().any(|e| e.0 > 0);
    let third = Claim {
        id: "P3".into(),
        statement: "LayerNorm sign matters (spec(diag(γ)H) differs from spec(H))".into(),
        rule: format!(
            "a head is affected when its fraction of eigenvalues with negative real part moves by \
             > {LN_CHANGE_THRESHOLD} from H_h to diag(γ)H_h or its majority regime changes; holds \
             when some γ is negative and some head is affected; inconclusive when every γ > 0"
        ),
        measured: list(&|i| {
            format!(
                "{}: {} negative γ entries, {}/{} heads affected",
                reports[i].model.name, effects[i].2, effects[i].0, effects[i].1
            )
        }),
        verdict: if !any_negative {
            Verdict::Inconclusive
        } else if any_change {
            Verdict::Holds
        } else {
            Verdict::Fails
        },
    };
    vec![first, second, third]
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

    /// A two-state report: cosine `c0` → `c1`, one head with `smooth` of 10 sentences
    /// DC-dominated (with diag(γ)H), negative-real fractions `neg`/`neg_eff`, `gneg` negative γ.
    fn report(
        name: &str,
        c0: f64,
        c1: f64,
        smooth: usize,
        neg: f64,
        neg_eff: f64,
        gneg: usize,
    ) -> AuditReport {
        let mut counts = empty_regime_counts();
        counts.insert("smoothing".into(), smooth);
        counts.insert("sharpening".into(), 10 - smooth);
        let head = HeadReport {
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
        };
        let layer = |index: usize, c: f64, heads: Vec<HeadReport>| LayerReport {
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
            heads,
        };
        AuditReport {
            schema_version: crate::audit::report::AUDIT_SCHEMA_VERSION,
            model: ModelInfo {
                name: name.into(),
                dir: String::new(),
                model_type: "bert".into(),
                layers: 1,
                heads: 1,
                width: 2,
                head_dim: 2,
                post_ln: true,
                max_tokens: 8,
                causal: false,
                kv_heads: 1,
                norm: "layernorm".into(),
                effective_spectrum: "h".into(),
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
            layers: vec![layer(0, c0, vec![]), layer(1, c1, vec![head])],
            seconds: 0.0,
        }
    }

    #[test]
    fn verdicts_follow_the_rules() {
        let rising = report("up", 0.1, 0.5, 9, 0.2, 0.6, 3);
        let flat = report("flat", 0.3, 0.31, 2, 0.5, 0.5, 0);
        let checks = check_claims(&[&rising, &flat]);
        assert_eq!(checks[0].verdict, Verdict::Holds, "{:?}", checks[0]);
        assert_eq!(checks[1].verdict, Verdict::Holds, "{:?}", checks[1]);
        assert_eq!(checks[2].verdict, Verdict::Holds, "{:?}", checks[2]);
        // Both rise: the first claim fails; a wrong prediction fails the second.
        let also = report("also", 0.0, 0.4, 1, 0.5, 0.5, 0);
        let checks = check_claims(&[&rising, &also]);
        assert_eq!(checks[0].verdict, Verdict::Fails);
        assert_eq!(checks[1].verdict, Verdict::Fails);
        // One model: the comparison is inconclusive; γ > 0 everywhere: LN sign inconclusive.
        let checks = check_claims(&[&flat]);
        assert_eq!(checks[0].verdict, Verdict::Inconclusive);
        assert_eq!(
            checks[1].verdict,
            Verdict::Inconclusive,
            "right, but nothing to tell apart"
        );
        assert_eq!(checks[2].verdict, Verdict::Inconclusive);
        let md = comparison_markdown(
            &[&rising, &flat],
            &["up/report.md".into(), "flat/report.md".into()],
        );
        assert!(md.contains("| layer | up | flat |"), "{md}");
        assert!(md.contains("**holds**"), "{md}");
    }
}
