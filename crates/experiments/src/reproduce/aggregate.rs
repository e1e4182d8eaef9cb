//! From finished runs to the numbers of the report: mean ± sd over seeds per variant and x, per
//! corruption and severity, per layer. Pure functions of the runs' results, so they are tested
//! on hand-made inputs.

use super::stats::Stat;
use crate::eval::CorruptionReport;
use crate::train::config::TrainConfig;
use crate::train::diagnostics::Diagnostics;
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
        let values: Vec<f64> = mine.iter().map(|r| per_run_mean(r, &severities)).collect();
        overall.push((v.clone(), Stat::of(&values)));
    }
    CorruptionSummary {
        cells,
        by_severity,
        overall,
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
            curves.push(CosineCurve {
                attention: v.clone(),
                depth: d,
                layers,
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
            };
            for r in &mine {
                for layer in &r.diagnostics.layers {
                    for head in &layer.heads {
                        *s.regimes.entry(head.regime.clone()).or_default() += 1;
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
