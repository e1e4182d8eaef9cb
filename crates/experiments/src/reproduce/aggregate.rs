//! From finished runs to the numbers of the report: mean ± sd over seeds per variant and x, per
//! corruption and severity, per layer. Pure functions of the runs' results, so they are tested
//! on hand-made inputs.

use super::stats::Stat;
use crate::eval::CorruptionReport;
use crate::train::config::TrainConfig;
use crate::train::diagnostics::{Diagnostics, HeadDiagnostics, LayerDiagnostics};
use serde::Serialize;
use std::collections::BTreeMap;

/// The variants of `specs` in order of first appearance (the order of the experiment file).
pub fn variants(specs: &[&TrainConfig]) -> Vec<String> {
    variants_in(specs.iter().map(|s| &s.attention))
}

/// The distinct variant names of `names` in order of first appearance, so tables and figures list
/// the variants in the experiment file's order.
pub fn variants_in<'a>(names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in names {
        if !out.contains(n) {
            out.push(n.clone());
        }
    }
    out
}

/// The x value of `spec` for an experiment with x axis `key`.
pub fn x_of(spec: &TrainConfig, key: &str) -> f64 {
    match key {
        "depth" => spec.depth.map_or(f64::NAN, |d| d as f64),
        "train_fraction" => spec.train_fraction,
        "lr" => spec.lr,
        _ => f64::NAN,
    }
}

/// `(seed, value)` of every run of one variant in one setting, ascending by seed: what the
/// paired comparisons of the claims pair up (a seed fixes the data subset, the initialisation and
/// the batch order for every variant).
pub type PerSeed = Vec<(u64, f64)>;

/// One point of a sweep: a variant at one x, over seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepPoint {
    pub attention: String,
    pub x: f64,
    pub accuracy: Stat,
    /// `(seed, accuracy)` of every run.
    pub runs: Vec<(u64, f64)>,
}

/// Test accuracy against the x axis `key`, per variant: `runs` are `(spec, final accuracy)`.
pub fn sweep(runs: &[(&TrainConfig, f64)], key: &str) -> Vec<SweepPoint> {
    let specs: Vec<&TrainConfig> = runs.iter().map(|r| r.0).collect();
    let mut xs: Vec<f64> = runs.iter().map(|r| x_of(r.0, key)).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let mut out = Vec::new();
    for v in variants(&specs) {
        for &x in &xs {
            let mut cell: Vec<(u64, f64)> = runs
                .iter()
                .filter(|(s, _)| s.attention == v && x_of(s, key) == x)
                .map(|(s, a)| (s.seed, *a))
                .collect();
            if cell.is_empty() {
                continue;
            }
            cell.sort_by_key(|c| c.0);
            let values: Vec<f64> = cell.iter().map(|c| c.1).collect();
            out.push(SweepPoint {
                attention: v.clone(),
                x,
                accuracy: Stat::of(&values),
                runs: cell,
            });
        }
    }
    out
}

/// One trained model's evaluations: clean accuracy and every corruption report.
#[derive(Debug, Clone)]
pub struct CorruptionRun<'a> {
    pub spec: &'a TrainConfig,
    pub clean: f64,
    pub reports: Vec<CorruptionReport>,
}

/// A (variant, corruption, severity) cell over seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CorruptionCell {
    pub attention: String,
    pub corruption: String,
    pub severity: u8,
    pub accuracy: Stat,
}

/// A variant at one severity (0 = clean): per seed the mean over corruptions, then over seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeverityPoint {
    pub attention: String,
    pub severity: u8,
    pub accuracy: Stat,
}

/// The corruption experiment's numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CorruptionSummary {
    pub cells: Vec<CorruptionCell>,
    /// Severity 0 is the clean test set.
    pub by_severity: Vec<SeverityPoint>,
    /// Per variant: per seed the mean over every corruption and severity, then over seeds.
    pub overall: Vec<(String, Stat)>,
    /// Per variant: per seed the mean over every corruption and severity (what `overall`
    /// summarises), so that the claims can pair the variants seed by seed.
    pub overall_runs: Vec<(String, PerSeed)>,
}

/// Aggregate the evaluations of the corruption experiment's models.
pub fn corruption(runs: &[CorruptionRun<'_>]) -> CorruptionSummary {
    let specs: Vec<&TrainConfig> = runs.iter().map(|r| r.spec).collect();
    // (variant, corruption, severity) -> per-run accuracy, in run order.
    let mut names: Vec<String> = Vec::new();
    let mut severities: Vec<u8> = Vec::new();
    for r in runs {
        for rep in &r.reports {
            for c in &rep.results {
                if !names.contains(&c.corruption) {
                    names.push(c.corruption.clone());
                }
                if !severities.contains(&c.severity) {
                    severities.push(c.severity);
                }
            }
        }
    }
    severities.sort_unstable();
    let accuracy_of = |r: &CorruptionRun<'_>, name: &str, s: u8| -> Option<f64> {
        r.reports
            .iter()
            .flat_map(|rep| &rep.results)
            .find(|c| c.corruption == name && c.severity == s)
            .map(|c| c.test_accuracy)
    };
    let mut cells = Vec::new();
    let mut by_severity = Vec::new();
    let mut overall = Vec::new();
    let mut overall_runs = Vec::new();
    for v in variants(&specs) {
        let mine: Vec<&CorruptionRun<'_>> = runs.iter().filter(|r| r.spec.attention == v).collect();
        for name in &names {
            for &s in &severities {
                let values: Vec<f64> = mine
                    .iter()
                    .filter_map(|r| accuracy_of(r, name, s))
                    .collect();
                cells.push(CorruptionCell {
                    attention: v.clone(),
                    corruption: name.clone(),
                    severity: s,
                    accuracy: Stat::of(&values),
                });
            }
        }
        let clean: Vec<f64> = mine.iter().map(|r| r.clean).collect();
        by_severity.push(SeverityPoint {
            attention: v.clone(),
            severity: 0,
            accuracy: Stat::of(&clean),
        });
        let per_run_mean = |r: &CorruptionRun<'_>, sev: &[u8]| -> f64 {
            let vals: Vec<f64> = names
                .iter()
                .flat_map(|n| sev.iter().filter_map(move |&s| accuracy_of(r, n, s)))
                .collect();
            Stat::of(&vals).mean
        };
        for &s in &severities {
            let values: Vec<f64> = mine.iter().map(|r| per_run_mean(r, &[s])).collect();
            by_severity.push(SeverityPoint {
                attention: v.clone(),
                severity: s,
                accuracy: Stat::of(&values),
            });
        }
        let mut per_seed: PerSeed = mine
            .iter()
            .map(|r| (r.spec.seed, per_run_mean(r, &severities)))
            .collect();
        per_seed.sort_by_key(|p| p.0);
        let values: Vec<f64> = per_seed.iter().map(|p| p.1).collect();
        overall.push((v.clone(), Stat::of(&values)));
        overall_runs.push((v.clone(), per_seed));
    }
    CorruptionSummary {
        cells,
        by_severity,
        overall,
        overall_runs,
    }
}

/// What the spectral sign of a variant promises for the nonzero eigenvalues of each H_h.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SpectralBounds {
    /// +1 for spectral+, −1 for spectral-.
    pub sign: f64,
    /// Lower clip ε.
    pub eps: f64,
    /// Upper clip.
    pub upper: f64,
    /// Nonzero eigenvalues per head (d_h for the low-rank form, d otherwise).
    pub rank: usize,
}

/// The regime of the operator a trained head's block really applies: that of H_eff =
/// P_d diag(γ) H / σ_l with the measured σ_l when the run's `diagnostics.json` has it (C8), else
/// that of diag(γ) H_h (files written before σ_l was measured, still in the run cache); and
/// whether it was the former.
pub fn effective_regime(head: &HeadDiagnostics) -> (&str, bool) {
    match &head.regime_sigma {
        Some(r) => (r.as_str(), true),
        None => (head.regime_eff.as_str(), false),
    }
}

/// Whether `regime` (a [`eigenformer_spectral::spectrum::Regime`] name) contradicts the sign of a
/// spectral variant: spectral+ promises a DC-dominated update (`smoothing` or
/// `alternating-smoothing`), spectral- a sharpening one. `None` for the other variants.
pub fn contradicts_sign(attention: &str, regime: &str) -> Option<bool> {
    match attention {
        "spectral+" => Some(!matches!(regime, "smoothing" | "alternating-smoothing")),
        "spectral-" => Some(regime != "sharpening"),
        _ => None,
    }
}

/// One trained model's diagnostics.
#[derive(Debug, Clone)]
pub struct SmoothingRun<'a> {
    pub spec: &'a TrainConfig,
    pub diagnostics: Diagnostics,
    /// The bounds of a spectral variant (None for the others).
    pub bounds: Option<SpectralBounds>,
}

/// Per-layer cosine of a variant at one depth.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CosineCurve {
    pub attention: String,
    pub depth: usize,
    /// Per block (0-based): the mean token cosine of its output, over seeds.
    pub layers: Vec<Stat>,
    /// Per block: the centred token cosine over the seeds whose diagnostics have it (`None` for a
    /// block no run measured it for).
    pub layers_centred: Vec<Option<Stat>>,
    /// The last block's mean token cosine per seed.
    pub last_cosine: PerSeed,
    /// The last block's ‖HC‖/‖DC‖ per seed.
    pub last_hc_dc: PerSeed,
}

/// The realised spectra of H of a variant at one depth, over every layer, head and seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SpectrumSummary {
    pub attention: String,
    pub depth: usize,
    /// Every eigenvalue `[re, im]` with |λ| ≥ [`ZERO_TOL`] (the structural zeros of low-rank
    /// heads are counted in `zeros` instead).
    pub eigenvalues: Vec<[f64; 2]>,
    /// Eigenvalues with |λ| < [`ZERO_TOL`].
    pub zeros: usize,
    /// Fraction of the nonzero eigenvalues with negative real part.
    pub negative_real_fraction: f64,
    /// Largest |λ|.
    pub max_modulus: f64,
    /// Regime of (mean attention, H_h) over heads × layers × seeds.
    pub regimes: BTreeMap<String, usize>,
    /// Heads checked against the variant's spectral bounds, and those that break them.
    pub heads_checked: usize,
    pub heads_violating: usize,
    /// Largest distance of a nonzero eigenvalue from the allowed set (0 when inside).
    pub max_violation: f64,
    /// Spectral heads whose effective regime was classified (see [`effective_regime`]),
    /// those whose regime contradicts the variant's sign ([`contradicts_sign`]), and how many of
    /// the classified ones used the regime with the measured σ_l.
    pub regime_heads: usize,
    pub regime_contradicting: usize,
    pub regime_from_sigma: usize,
}

/// Below this modulus an eigenvalue of a trained H counts as one of the structural zeros of a
/// low-rank head (the smallest allowed spectral eigenvalue is ε = 1e-4).
pub const ZERO_TOL: f64 = 1e-6;
/// Slack of the bound check for rounding (f32 weights, f64 eigen-solver).
pub const BOUND_TOL: f64 = 1e-5;

/// Distance of `z` from the allowed set `sign·[eps, upper]` on the real axis.
pub fn bound_violation(z: [f64; 2], b: &SpectralBounds) -> f64 {
    let r = b.sign * z[0];
    let along = if r < b.eps {
        b.eps - r
    } else if r > b.upper {
        r - b.upper
    } else {
        0.0
    };
    along.hypot(z[1])
}

/// Depths of `specs`, ascending.
pub fn depths(specs: &[&TrainConfig]) -> Vec<usize> {
    let mut d: Vec<usize> = specs.iter().filter_map(|s| s.depth).collect();
    d.sort_unstable();
    d.dedup();
    d
}

/// Per-layer cosine curves and spectra per variant and depth.
pub fn smoothing(runs: &[SmoothingRun<'_>]) -> (Vec<CosineCurve>, Vec<SpectrumSummary>) {
    let specs: Vec<&TrainConfig> = runs.iter().map(|r| r.spec).collect();
    let mut curves = Vec::new();
    let mut spectra = Vec::new();
    for v in variants(&specs) {
        for d in depths(&specs) {
            let mine: Vec<&SmoothingRun<'_>> = runs
                .iter()
                .filter(|r| r.spec.attention == v && r.spec.depth == Some(d))
                .collect();
            if mine.is_empty() {
                continue;
            }
            let layers = (0..d)
                .map(|l| {
                    let vals: Vec<f64> = mine
                        .iter()
                        .filter_map(|r| r.diagnostics.layers.get(l).map(|x| x.mean_cosine))
                        .collect();
                    Stat::of(&vals)
                })
                .collect();
            let layers_centred = (0..d)
                .map(|l| {
                    let vals: Vec<f64> = mine
                        .iter()
                        .filter_map(|r| r.diagnostics.layers.get(l)?.mean_cosine_centred)
                        .collect();
                    (!vals.is_empty()).then(|| Stat::of(&vals))
                })
                .collect();
            let last = |f: fn(&LayerDiagnostics) -> f64| -> PerSeed {
                let mut out: PerSeed = mine
                    .iter()
                    .filter_map(|r| {
                        let layer = r.diagnostics.layers.get(d.checked_sub(1)?)?;
                        Some((r.spec.seed, f(layer)))
                    })
                    .collect();
                out.sort_by_key(|p| p.0);
                out
            };
            curves.push(CosineCurve {
                attention: v.clone(),
                depth: d,
                layers,
                layers_centred,
                last_cosine: last(|l| l.mean_cosine),
                last_hc_dc: last(|l| l.hc_dc),
            });
            let mut s = SpectrumSummary {
                attention: v.clone(),
                depth: d,
                eigenvalues: Vec::new(),
                zeros: 0,
                negative_real_fraction: f64::NAN,
                max_modulus: 0.0,
                regimes: BTreeMap::new(),
                heads_checked: 0,
                heads_violating: 0,
                max_violation: 0.0,
                regime_heads: 0,
                regime_contradicting: 0,
                regime_from_sigma: 0,
            };
            for r in &mine {
                for layer in &r.diagnostics.layers {
                    for head in &layer.heads {
                        *s.regimes.entry(head.regime.clone()).or_default() += 1;
                        let (regime, from_sigma) = effective_regime(head);
                        if let Some(bad) = contradicts_sign(&v, regime) {
                            s.regime_heads += 1;
                            s.regime_contradicting += usize::from(bad);
                            s.regime_from_sigma += usize::from(from_sigma);
                        }
                        let nonzero: Vec<[f64; 2]> = head
                            .eigenvalues_h
                            .iter()
                            .copied()
                            .filter(|z| z[0].hypot(z[1]) >= ZERO_TOL)
                            .collect();
                        s.zeros += head.eigenvalues_h.len() - nonzero.len();
                        if let Some(b) = &r.bounds {
                            s.heads_checked += 1;
                            let worst = nonzero
                                .iter()
                                .map(|z| bound_violation(*z, b))
                                .fold(0.0, f64::max);
                            s.max_violation = s.max_violation.max(worst);
                            if worst > BOUND_TOL || nonzero.len() != b.rank {
                                s.heads_violating += 1;
                            }
                        }
                        s.eigenvalues.extend(nonzero);
                    }
                }
            }
            let neg = s.eigenvalues.iter().filter(|z| z[0] < 0.0).count();
            if !s.eigenvalues.is_empty() {
                s.negative_real_fraction = neg as f64 / s.eigenvalues.len() as f64;
            }
            s.max_modulus = s
                .eigenvalues
                .iter()
                .map(|z| z[0].hypot(z[1]))
                .fold(0.0, f64::max);
            spectra.push(s);
        }
    }
    (curves, spectra)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(attention: &str, depth: usize, seed: u64) -> TrainConfig {
        toml::from_str(&format!(
            "dataset = \"mnist\"\nattention = \"{attention}\"\ndepth = {depth}\nseed = {seed}\n"
        ))
        .unwrap()
    }

    /// A head of `diagnostics.json` in the layout before σ_l was measured, or with the newer fields:
    /// the run cache holds both.
    fn head(regime_eff: &str, regime_sigma: Option<&str>) -> serde_json::Value {
        let mut h = serde_json::json!({
            "eigenvalues_h": [[0.5, 0.0]],
            "eigenvalues_h_eff": [[0.5, 0.0]],
            "regime": "smoothing",
            "regime_eff": regime_eff,
        });
        if let Some(r) = regime_sigma {
            h["regime_sigma"] = r.into();
            h["eigenvalues_h_sigma"] = serde_json::json!([[0.4, 0.0]]);
            h["asymmetry"] = 0.1.into();
        }
        h
    }

    fn diagnostics(heads: Vec<serde_json::Value>, centred: Option<f64>) -> Diagnostics {
        let mut layer = serde_json::json!({
            "index": 0, "mean_cosine": 0.5, "hc_dc": 0.7, "heads": heads,
        });
        if let Some(c) = centred {
            layer["mean_cosine_centred"] = c.into();
            layer["sigma"] = 2.0.into();
        }
        serde_json::from_value(serde_json::json!({
            "epoch": 1, "probe_images": 32, "layers": [layer],
        }))
        .unwrap()
    }

    #[test]
    fn old_and_new_diagnostics_both_aggregate_and_sigma_decides_the_regime() {
        let (p0, p1, m0) = (
            spec("spectral+", 1, 0),
            spec("spectral+", 1, 1),
            spec("spectral-", 1, 0),
        );
        let runs = vec![
            // Old layout: the regime of diag(γ) H decides; one of two heads contradicts.
            SmoothingRun {
                spec: &p0,
                diagnostics: diagnostics(
                    vec![head("smoothing", None), head("sharpening", None)],
                    None,
                ),
                bounds: None,
            },
            // New layout: regime_sigma overrides regime_eff (here both heads are fine with σ_l).
            SmoothingRun {
                spec: &p1,
                diagnostics: diagnostics(
                    vec![
                        head("sharpening", Some("alternating-smoothing")),
                        head("balanced", Some("smoothing")),
                    ],
                    Some(0.2),
                ),
                bounds: None,
            },
            SmoothingRun {
                spec: &m0,
                diagnostics: diagnostics(vec![head("smoothing", Some("sharpening"))], None),
                bounds: None,
            },
        ];
        let (curves, spectra) = smoothing(&runs);
        let plus = spectra.iter().find(|s| s.attention == "spectral+").unwrap();
        assert_eq!(
            (
                plus.regime_heads,
                plus.regime_contradicting,
                plus.regime_from_sigma
            ),
            (4, 1, 2)
        );
        let minus = spectra.iter().find(|s| s.attention == "spectral-").unwrap();
        assert_eq!((minus.regime_heads, minus.regime_contradicting), (1, 0));
        let c = curves.iter().find(|c| c.attention == "spectral+").unwrap();
        assert_eq!(c.last_cosine, vec![(0, 0.5), (1, 0.5)]);
        assert_eq!(c.last_hc_dc, vec![(0, 0.7), (1, 0.7)]);
        // The centred cosine is averaged over the runs that have it.
        let centred = c.layers_centred[0].unwrap();
        assert_eq!((centred.mean, centred.n), (0.2, 1));
    }

    #[test]
    fn regime_contradiction_follows_the_sign() {
        assert_eq!(contradicts_sign("spectral+", "smoothing"), Some(false));
        assert_eq!(
            contradicts_sign("spectral+", "alternating-smoothing"),
            Some(false)
        );
        assert_eq!(contradicts_sign("spectral+", "sharpening"), Some(true));
        assert_eq!(contradicts_sign("spectral+", "balanced"), Some(true));
        assert_eq!(contradicts_sign("spectral-", "sharpening"), Some(false));
        assert_eq!(contradicts_sign("spectral-", "smoothing"), Some(true));
        assert_eq!(contradicts_sign("plain", "sharpening"), None);
    }
}
