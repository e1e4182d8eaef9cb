//! The ablations of the spectral construction (issue: form, upper clip, ε, non-negative γ): one
//! setting varied at one depth, summarised per variant and value as test accuracy, the last
//! block's token cosine and the fraction of eigenvalues sitting at a clip.

use super::aggregate::{variants, SpectralBounds, ZERO_TOL};
use super::stats::Stat;
use crate::train::config::TrainConfig;
use crate::train::diagnostics::Diagnostics;
use serde::Serialize;

/// The spectral forms in the order the ablation axis numbers them.
pub const FORMS: [&str; 3] = ["symmetric", "general", "lowrank"];

/// Relative distance from a clip within which an eigenvalue counts as saturated (ψ² clipped,
/// so its gradient is zero: the eigenvalue no longer learns).
pub const SATURATION_TOL: f64 = 1e-3;

/// The value of the ablation `axis` in `spec` as a number (a form is its index in [`FORMS`],
/// `nonneg_gamma` is 0 or 1).
pub fn axis_value(spec: &TrainConfig, axis: &str) -> f64 {
    match axis {
        "form" => FORMS
            .iter()
            .position(|f| *f == spec.form)
            .map_or(f64::NAN, |i| i as f64),
        "spectral_upper" => spec.spectral_upper,
        "spectral_eps" => spec.spectral_eps,
        "nonneg_gamma" => f64::from(u8::from(spec.nonneg_gamma)),
        _ => f64::NAN,
    }
}

/// How a value of the ablation `axis` reads in the report.
pub fn axis_label(spec: &TrainConfig, axis: &str) -> String {
    match axis {
        "form" if spec.form == "lowrank" => "lowrank (ours)".into(),
        "form" => spec.form.clone(),
        "spectral_upper" => format!("upper {}", spec.spectral_upper),
        "spectral_eps" => format!("ε {:e}", spec.spectral_eps),
        "nonneg_gamma" => format!("|γ| {}", if spec.nonneg_gamma { "on" } else { "off" }),
        _ => "?".into(),
    }
}

/// The fraction of the nonzero eigenvalues of every head's H whose modulus sits at `eps` or
/// `upper` (NaN without spectral bounds or eigenvalues).
pub fn saturated_fraction(d: &Diagnostics, bounds: Option<&SpectralBounds>) -> f64 {
    let Some(b) = bounds else { return f64::NAN };
    let (mut at_clip, mut all) = (0usize, 0usize);
    for head in d.layers.iter().flat_map(|l| &l.heads) {
        for z in &head.eigenvalues_h {
            let m = z[0].hypot(z[1]);
            if m < ZERO_TOL {
                continue;
            }
            all += 1;
            if (m - b.eps).abs() <= SATURATION_TOL * b.eps
                || (m - b.upper).abs() <= SATURATION_TOL * b.upper
            {
                at_clip += 1;
            }
        }
    }
    if all == 0 {
        f64::NAN
    } else {
        at_clip as f64 / all as f64
    }
}

/// One finished run of an ablation.
#[derive(Debug, Clone)]
pub struct AblationRun<'a> {
    pub spec: &'a TrainConfig,
    pub accuracy: f64,
    pub diagnostics: Diagnostics,
    pub bounds: Option<SpectralBounds>,
}

/// One seed of a cell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AblationSeed {
    pub seed: u64,
    pub accuracy: f64,
    pub last_cosine: f64,
    pub saturated: f64,
}

/// A variant at one value of the axis, over seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AblationCell {
    pub attention: String,
    pub x: f64,
    pub label: String,
    pub accuracy: Stat,
    pub last_cosine: Stat,
    pub saturated: Stat,
    pub runs: Vec<AblationSeed>,
}

/// The cells of an ablation along `axis`, per variant in file order and by axis value.
pub fn summarise(runs: &[AblationRun<'_>], axis: &str) -> Vec<AblationCell> {
    let specs: Vec<&TrainConfig> = runs.iter().map(|r| r.spec).collect();
    let mut xs: Vec<f64> = specs.iter().map(|s| axis_value(s, axis)).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let mut out = Vec::new();
    for v in variants(&specs) {
        for &x in &xs {
            let mine: Vec<&AblationRun<'_>> = runs
                .iter()
                .filter(|r| r.spec.attention == v && axis_value(r.spec, axis) == x)
                .collect();
            let Some(first) = mine.first() else { continue };
            let mut seeds: Vec<AblationSeed> = mine
                .iter()
                .map(|r| AblationSeed {
                    seed: r.spec.seed,
                    accuracy: r.accuracy,
                    last_cosine: r
                        .diagnostics
                        .layers
                        .last()
                        .map_or(f64::NAN, |l| l.mean_cosine),
                    saturated: saturated_fraction(&r.diagnostics, r.bounds.as_ref()),
                })
                .collect();
            seeds.sort_by_key(|s| s.seed);
            let of =
                |f: fn(&AblationSeed) -> f64| Stat::of(&seeds.iter().map(f).collect::<Vec<_>>());
            out.push(AblationCell {
                attention: v.clone(),
                x,
                label: axis_label(first.spec, axis),
                accuracy: of(|s| s.accuracy),
                last_cosine: of(|s| s.last_cosine),
                saturated: of(|s| s.saturated),
                runs: seeds,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::diagnostics::{HeadDiagnostics, LayerDiagnostics};

    fn diag(eigs: Vec<[f64; 2]>, cos: f64) -> Diagnostics {
        Diagnostics {
            epoch: 1,
            probe_images: 1,
            layers: vec![LayerDiagnostics {
                index: 0,
                mean_cosine: cos,
                hc_dc: 1.0,
                mean_cosine_centred: None,
                sigma: None,
                heads: vec![HeadDiagnostics {
                    eigenvalues_h: eigs,
                    eigenvalues_h_eff: vec![],
                    regime: "smoothing".into(),
                    regime_eff: "smoothing".into(),
                    eigenvalues_h_sigma: None,
                    regime_sigma: None,
                    asymmetry: None,
                }],
            }],
        }
    }

    #[test]
    fn saturation_counts_eigenvalues_at_either_clip_and_skips_zeros() {
        let b = SpectralBounds {
            sign: -1.0,
            eps: 1e-4,
            upper: 0.2,
            rank: 4,
        };
        let d = diag(
            vec![
                [-1e-4, 0.0],
                [-0.2, 0.0],
                [-0.1, 0.0],
                [-0.05, 0.0],
                [0.0, 0.0],
            ],
            0.5,
        );
        assert!((saturated_fraction(&d, Some(&b)) - 0.5).abs() < 1e-12);
        assert!(saturated_fraction(&d, None).is_nan());
    }

    #[test]
    fn cells_group_by_variant_and_axis_value() {
        let base: TrainConfig =
            toml::from_str("dataset = \"fashion-mnist\"\nattention = \"spectral+\"\n").unwrap();
        let mut specs = Vec::new();
        for form in FORMS {
            for seed in [0, 1] {
                let mut s = base.clone();
                s.form = form.into();
                s.seed = seed;
                specs.push(s);
            }
        }
        let runs: Vec<AblationRun<'_>> = specs
            .iter()
            .map(|s| AblationRun {
                spec: s,
                accuracy: 0.8 + 0.01 * axis_value(s, "form"),
                diagnostics: diag(vec![[0.5, 0.0]], 0.9),
                bounds: None,
            })
            .collect();
        let cells = summarise(&runs, "form");
        assert_eq!(cells.len(), 3);
        assert_eq!(cells[2].label, "lowrank (ours)");
        assert!((cells[1].accuracy.mean - 0.81).abs() < 1e-12);
        assert_eq!(cells[0].runs.len(), 2);
        assert!((cells[0].last_cosine.mean - 0.9).abs() < 1e-12);
    }
}
