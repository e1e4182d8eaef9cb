//! The claims of the paper that the training experiments test (theory.md §5 and §7), each with
//! a fixed decision rule. The paper gives no numbers, so every verdict compares our own runs.
//!
//! Why paired: a seed fixes the training subset, the initialisation and the batch order for every
//! variant, so two variants are compared on the seeds both have, as the per-seed difference
//! `a[s] − b[s]` ([`PairedComparison`]). Each claim has one primary endpoint: the t-interval of
//! that paired mean difference ([`super::paired`]); *holds* when it lies above 0 (for every
//! comparison the claim names, e.g. both spectral variants), *fails* when one lies below 0,
//! *inconclusive* otherwise or with fewer than 2 paired seeds.
//!
//! Why Holm: T1–T4 are four chances to declare a difference; their intervals are read at Holm's
//! step-down levels ([`holm_levels`]) so that the chance of any false verdict among them stays
//! at most [`ALPHA`]. A claim naming two comparisons enters the family with the larger p-value
//! of the two (intersection–union: it holds only when both do, so the weaker one decides). T5 is
//! a mechanism check with its own four comparisons and T6 a count, neither in the family.

use super::aggregate::{
    CorruptionSummary, CosineCurve, PerSeed, SpectrumSummary, SweepPoint, BOUND_TOL,
};
use super::paired::{holm_levels, Interval, PairedDiff, Side, ALPHA};
use crate::report::{Claim, Verdict};
use serde::{Deserialize, Serialize};

/// T6 fails when more than this fraction of one variant's trained heads has an effective regime
/// contradicting the variant's sign. Why not 0: the regime is classified from the head's
/// attention averaged over 32 probe images and from σ_l measured on them, so a head whose DC and
/// HC gains are nearly equal can fall on the wrong side by measurement noise alone; a tenth of the
/// heads is far more than such borderline cases and means the sign does not control the operator.
pub const T6_CONTRADICTING_FRACTION: f64 = 0.10;

/// The per-seed values of every variant in one setting (a depth, a training fraction, the
/// corrupted test sets).
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub label: String,
    pub runs: Vec<(String, PerSeed)>,
}

impl Setting {
    fn of(&self, variant: &str) -> Option<&PerSeed> {
        self.runs.iter().find(|(v, _)| v == variant).map(|(_, r)| r)
    }
}

/// The setting of a sweep at x = `x` (label `what`).
pub fn sweep_setting(points: &[SweepPoint], x: f64, what: String) -> Setting {
    Setting {
        label: what,
        runs: points
            .iter()
            .filter(|p| p.x == x)
            .map(|p| (p.attention.clone(), p.runs.clone()))
            .collect(),
    }
}

/// The largest (`last = true`) or smallest x of a sweep.
pub fn extreme_x(points: &[SweepPoint], last: bool) -> Option<f64> {
    let it = points.iter().map(|p| p.x).filter(|x| x.is_finite());
    if last {
        it.max_by(f64::total_cmp)
    } else {
        it.min_by(f64::total_cmp)
    }
}

/// The corruption experiment's per-seed mean accuracy as a setting.
pub fn corruption_setting(summary: &CorruptionSummary) -> Setting {
    Setting {
        label: "corrupted test sets (per seed the mean over corruptions and severities)".into(),
        runs: summary.overall_runs.clone(),
    }
}

/// One seed of a paired comparison.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SeedPair {
    pub seed: u64,
    pub a: f64,
    pub b: f64,
    /// `a − b`.
    pub diff: f64,
}

/// `a − b` over the seeds both variants have.
#[derive(Debug, Clone, PartialEq)]
pub struct PairedComparison {
    /// Where (`depth 12 (largest)`, …).
    pub setting: String,
    /// What is compared (`test accuracy`, `last-block mean token cosine`, …).
    pub measure: String,
    pub a: String,
    pub b: String,
    pub pairs: Vec<SeedPair>,
    /// The paired statistic; `None` with fewer than 2 pairs or a non-finite value.
    pub diff: Option<PairedDiff>,
}

impl PairedComparison {
    /// Pair the runs of `a` and `b` by seed; a variant missing from `setting` gives no pairs.
    pub fn new(setting: &Setting, measure: &str, a: &str, b: &str) -> PairedComparison {
        let empty = PerSeed::new();
        let (ra, rb) = (
            setting.of(a).unwrap_or(&empty),
            setting.of(b).unwrap_or(&empty),
        );
        let pairs: Vec<SeedPair> = ra
            .iter()
            .filter_map(|&(seed, x)| {
                let y = rb.iter().find(|r| r.0 == seed)?.1;
                Some(SeedPair {
                    seed,
                    a: x,
                    b: y,
                    diff: x - y,
                })
            })
            .collect();
        let xs: Vec<f64> = pairs.iter().map(|p| p.a).collect();
        let ys: Vec<f64> = pairs.iter().map(|p| p.b).collect();
        PairedComparison {
            setting: setting.label.clone(),
            measure: measure.into(),
            a: a.into(),
            b: b.into(),
            diff: PairedDiff::of(&xs, &ys).ok(),
            pairs,
        }
    }

    /// The two-sided p-value (1 when the comparison cannot be made: no evidence).
    pub fn p_value(&self) -> f64 {
        self.diff.map_or(1.0, |d| d.p_value)
    }

    /// The interval at `level`, if the comparison can be made.
    pub fn interval(&self, level: f64) -> Option<Interval> {
        self.diff.map(|d| d.interval(level))
    }

    /// Where the interval at `level` lies (`Contains` when it cannot be made).
    pub fn side(&self, level: f64) -> Side {
        self.interval(level).map_or(Side::Contains, |i| i.sign())
    }

    fn percent(&self) -> bool {
        self.measure.contains("accuracy")
    }

    /// `depth 4: spectral+ − featscale = +1.2 pts, 95.0 % CI [+0.3, +2.1] (3 seeds)`.
    fn describe(&self, level: f64) -> String {
        let head = format!("{}: {} {} − {}", self.setting, self.measure, self.a, self.b);
        match (self.diff, self.interval(level)) {
            (Some(d), Some(i)) if self.percent() => format!(
                "{head} = {:+.2} pts, {:.2} % CI [{:+.2}, {:+.2}] ({} seeds)",
                100.0 * d.estimate,
                100.0 * level,
                100.0 * i.lo,
                100.0 * i.hi,
                d.n
            ),
            (Some(d), Some(i)) => format!(
                "{head} = {:+.4}, {:.2} % CI [{:+.4}, {:+.4}] ({} seeds)",
                d.estimate,
                100.0 * level,
                i.lo,
                i.hi,
                d.n
            ),
            _ => format!("{head}: {} paired seeds, no interval", self.pairs.len()),
        }
    }

    fn record(&self, level: f64, deciding: bool) -> ComparisonRecord {
        let i = self.interval(level);
        ComparisonRecord {
            setting: self.setting.clone(),
            measure: self.measure.clone(),
            a: self.a.clone(),
            b: self.b.clone(),
            estimate: self.diff.map(|d| d.estimate),
            lower: i.map(|i| i.lo),
            upper: i.map(|i| i.hi),
            level,
            n_seeds: self.pairs.len(),
            p_value: self.diff.map(|d| d.p_value),
            deciding,
            seeds: self.pairs.clone(),
        }
    }
}

/// One comparison as written to `claims.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonRecord {
    pub setting: String,
    pub measure: String,
    /// The difference is `a − b`.
    pub a: String,
    pub b: String,
    /// Paired mean difference (`None`: fewer than 2 paired seeds).
    pub estimate: Option<f64>,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    /// Coverage of `[lower, upper]`.
    pub level: f64,
    pub n_seeds: usize,
    /// Unadjusted two-sided p-value of the paired t-test.
    pub p_value: Option<f64>,
    /// Whether the comparison decides the verdict (`false`: a secondary line).
    pub deciding: bool,
    /// Every per-seed number.
    pub seeds: Vec<SeedPair>,
}

/// One (variant, depth) group of T6's head count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadGroup {
    pub variant: String,
    pub depth: usize,
    pub heads: usize,
    pub contradicting: usize,
    /// How many of `heads` were classified with the measured σ_l (`regime_sigma`).
    pub from_sigma: usize,
}

/// The structured primary endpoint of a training claim (`claims.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Endpoint {
    /// T1–T5: paired mean differences over seeds. The top-level numbers are those of the
    /// comparison that binds the verdict (the one below 0 when the claim fails, else the one with
    /// the lowest lower bound); `n_seeds` is the fewest paired seeds of the deciding comparisons.
    PairedMean {
        estimate: Option<f64>,
        lower: Option<f64>,
        upper: Option<f64>,
        level: f64,
        n_seeds: usize,
        /// The p-value the claim entered the Holm family with (the largest of its deciding
        /// comparisons); `None` outside the family (T5).
        holm_p_value: Option<f64>,
        comparisons: Vec<ComparisonRecord>,
    },
    /// T6: the heads whose effective regime contradicts the sign of their variant.
    HeadCount {
        heads: usize,
        contradicting: usize,
        /// Above this fraction of a variant's heads the claim fails.
        threshold: f64,
        groups: Vec<HeadGroup>,
    },
}

/// A training claim: the report's row and its structured endpoint.
///
/// Why a wrapper and not a field of [`Claim`]: the theory and pretrained sections build their
/// claims as struct literals, and their rows need no endpoint; flattened, the JSON of a training
/// claim is the row's fields plus `endpoint`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingClaim {
    #[serde(flatten)]
    pub claim: Claim,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Endpoint>,
}

/// Verdict of `deciding` read at `level`: fails when any interval lies below 0, holds when every
/// one lies above 0 (and there is at least one), inconclusive otherwise.
fn decide(deciding: &[PairedComparison], level: f64) -> Verdict {
    let sides: Vec<Side> = deciding.iter().map(|c| c.side(level)).collect();
    if sides.contains(&Side::Below) {
        Verdict::Fails
    } else if !sides.is_empty() && sides.iter().all(|s| *s == Side::Above) {
        Verdict::Holds
    } else {
        Verdict::Inconclusive
    }
}

/// A claim before its level is known: T1–T4 wait for the Holm levels of the whole family.
#[derive(Debug, Clone)]
pub struct Draft {
    pub id: String,
    pub statement: String,
    /// The comparisons that decide.
    pub deciding: Vec<PairedComparison>,
    /// Secondary lines, shown at 95 % and never deciding.
    pub secondary: Vec<PairedComparison>,
    /// The rule without the level.
    pub rule: String,
}

impl Draft {
    /// The p-value the claim enters the Holm family with: the largest of its deciding ones
    /// (intersection–union); `None` when no comparison can be made (not tested, not in the family).
    pub fn family_p_value(&self) -> Option<f64> {
        if self.deciding.iter().all(|c| c.diff.is_none()) {
            return None;
        }
        Some(
            self.deciding
                .iter()
                .map(PairedComparison::p_value)
                .fold(0.0, f64::max),
        )
    }

    /// The claim with its intervals read at `level`; `holm` is the family p-value when the level
    /// came from Holm's procedure.
    pub fn finish(self, level: f64, holm: Option<f64>) -> TrainingClaim {
        let verdict = decide(&self.deciding, level);
        let binding = self
            .deciding
            .iter()
            .find(|c| verdict == Verdict::Fails && c.side(level) == Side::Below)
            .or_else(|| {
                self.deciding
                    .iter()
                    .filter(|c| c.diff.is_some())
                    .min_by(|x, y| {
                        let lo =
                            |c: &PairedComparison| c.interval(level).map_or(f64::NAN, |i| i.lo);
                        lo(x).total_cmp(&lo(y))
                    })
            })
            .map(|c| c.record(level, true));
        let level_text = match holm {
            Some(p) => format!(
                "intervals read at the Holm level {:.2} % (family T1–T4, α = {ALPHA}; this claim's \
                 p = {p:.3}, the largest of its deciding comparisons)",
                100.0 * level
            ),
            None => format!("intervals at {:.0} %", 100.0 * level),
        };
        let mut measured: Vec<String> = self.deciding.iter().map(|c| c.describe(level)).collect();
        if self.deciding.iter().any(|c| c.diff.is_none()) {
            measured.push("a variant is missing or has fewer than 2 paired seeds".into());
        }
        measured.push(level_text.clone());
        for c in &self.secondary {
            measured.push(format!(
                "secondary (not deciding) {}",
                c.describe(1.0 - ALPHA)
            ));
        }
        let mut comparisons: Vec<ComparisonRecord> = self
            .deciding
            .iter()
            .map(|c| c.record(level, true))
            .collect();
        comparisons.extend(self.secondary.iter().map(|c| c.record(1.0 - ALPHA, false)));
        TrainingClaim {
            claim: Claim {
                id: self.id,
                statement: self.statement,
                measured: measured.join("; "),
                rule: format!("{}; {level_text}", self.rule),
                verdict,
            },
            endpoint: Some(Endpoint::PairedMean {
                estimate: binding.as_ref().and_then(|b| b.estimate),
                lower: binding.as_ref().and_then(|b| b.lower),
                upper: binding.as_ref().and_then(|b| b.upper),
                level,
                n_seeds: self
                    .deciding
                    .iter()
                    .map(|c| c.pairs.len())
                    .min()
                    .unwrap_or(0),
                holm_p_value: holm,
                comparisons,
            }),
        }
    }
}

const PAIRED_RULE: &str = "paired over the seeds both variants have (difference a[s] − b[s] per \
    seed), two-sided t-interval of the mean difference; fewer than 2 paired seeds: inconclusive";

/// T1–T3 (paper v1): both spectral models generalise better than FeatScale in `setting`.
pub fn spectral_beats_featscale(id: &str, experiment: &str, setting: Option<&Setting>) -> Draft {
    let deciding = match setting {
        Some(s) => vec![
            PairedComparison::new(s, "test accuracy", "spectral+", "featscale"),
            PairedComparison::new(s, "test accuracy", "spectral-", "featscale"),
        ],
        None => Vec::new(),
    };
    Draft {
        id: id.into(),
        statement: format!(
            "(paper v1) the spectral models (ViT⁺, ViT⁻) generalise better than FeatScale {experiment}"
        ),
        deciding,
        secondary: Vec::new(),
        rule: format!(
            "holds if the interval of test accuracy spectral+ − featscale and that of spectral- − \
             featscale both lie above 0; fails if either lies below 0; otherwise inconclusive; \
             {PAIRED_RULE}"
        ),
    }
}

/// T4 (paper v2): smoothing (spectral+) beats sharpening (spectral-). The primary endpoint is the
/// paired difference at `primary` (the largest depth); `secondary` settings are shown, not
/// deciding, so that the claim has one endpoint and the family one p-value for it.
pub fn smoothing_beats_sharpening(
    id: &str,
    primary: Option<&Setting>,
    secondary: &[Setting],
) -> Draft {
    let cmp = |s: &Setting| PairedComparison::new(s, "test accuracy", "spectral+", "spectral-");
    Draft {
        id: id.into(),
        statement: "(paper v2) smoothing beats sharpening for image classification: ViT⁺ \
                    (spectral+) is more accurate than ViT⁻ (spectral-)"
            .into(),
        deciding: primary.map(cmp).into_iter().collect(),
        secondary: secondary.iter().map(cmp).collect(),
        rule: format!(
            "primary endpoint: test accuracy spectral+ − spectral- at the largest depth of the \
             depth experiment; holds if its interval lies above 0, fails if below, otherwise \
             inconclusive (the other settings are secondary lines at 95 %, not deciding); \
             {PAIRED_RULE}"
        ),
    }
}

/// Decide T1–T4 together: each read at its Holm level. `drafts` in any order; the result keeps it.
pub fn holm_family(drafts: Vec<Draft>) -> Vec<TrainingClaim> {
    let ps: Vec<Option<f64>> = drafts.iter().map(Draft::family_p_value).collect();
    let tested: Vec<f64> = ps.iter().flatten().copied().collect();
    let mut levels = holm_levels(&tested).into_iter();
    drafts
        .into_iter()
        .zip(ps)
        .map(|(d, p)| match p {
            Some(p) => {
                let level = levels.next().unwrap_or(1.0 - ALPHA);
                d.finish(level, Some(p))
            }
            None => d.finish(1.0 - ALPHA, None),
        })
        .collect()
}

/// T5 (C5/C6 in trained models): the sign of the spectrum controls smoothing. At the largest
/// depth, spectral+ > plain > spectral- in smoothing, on both measures of the last block: more
/// smoothing is a *higher* mean token cosine and a *lower* ‖HC‖/‖DC‖, so the four differences
/// are oriented such that each is positive when the claim holds.
pub fn sign_controls_smoothing(id: &str, curves: &[CosineCurve]) -> TrainingClaim {
    let depth = curves.iter().map(|c| c.depth).max();
    let at = |f: fn(&CosineCurve) -> &PerSeed| Setting {
        label: format!(
            "depth {} (largest), last block",
            depth.map_or("–".to_string(), |d| d.to_string())
        ),
        runs: curves
            .iter()
            .filter(|c| Some(c.depth) == depth)
            .map(|c| (c.attention.clone(), f(c).clone()))
            .collect(),
    };
    let cos = at(|c| &c.last_cosine);
    let hc = at(|c| &c.last_hc_dc);
    const COS: &str = "mean token cosine";
    const HC: &str = "‖HC‖/‖DC‖";
    let draft = Draft {
        id: id.into(),
        statement: "(C5/C6, §5) eigenvalues of H in [−1, −ε] prevent oversmoothing and positive \
                    ones cause it: trained ViT⁺ smooths its tokens more than the plain ViT, and \
                    the plain ViT more than ViT⁻"
            .into(),
        deciding: vec![
            PairedComparison::new(&cos, COS, "spectral+", "plain"),
            PairedComparison::new(&cos, COS, "plain", "spectral-"),
            PairedComparison::new(&hc, HC, "plain", "spectral+"),
            PairedComparison::new(&hc, HC, "spectral-", "plain"),
        ],
        secondary: Vec::new(),
        rule: format!(
            "at the largest depth of the smoothing experiment, on the last block (32 probe test \
             images): holds if cos(spectral+) − cos(plain), cos(plain) − cos(spectral-), \
             ‖HC‖/‖DC‖(plain) − ‖HC‖/‖DC‖(spectral+) and ‖HC‖/‖DC‖(spectral-) − \
             ‖HC‖/‖DC‖(plain) all have intervals above 0 (more smoothing = higher cosine, lower \
             ‖HC‖/‖DC‖); fails if any lies below 0; otherwise inconclusive; not in the Holm \
             family; {PAIRED_RULE}"
        ),
    };
    draft.finish(1.0 - ALPHA, None)
}

/// T6 (C8 with C10 as a secondary check): the effective operator of every trained spectral head
/// has the regime its sign promises: spectral+ DC-dominated (`smoothing` or
/// `alternating-smoothing`), spectral- `sharpening`.
pub fn effective_regimes_follow_sign(id: &str, spectra: &[SpectrumSummary]) -> TrainingClaim {
    let groups: Vec<HeadGroup> = spectra
        .iter()
        .filter(|s| s.regime_heads > 0)
        .map(|s| HeadGroup {
            variant: s.attention.clone(),
            depth: s.depth,
            heads: s.regime_heads,
            contradicting: s.regime_contradicting,
            from_sigma: s.regime_from_sigma,
        })
        .collect();
    let mut lines = Vec::new();
    let mut too_many = false;
    for v in ["spectral+", "spectral-"] {
        let mine: Vec<&HeadGroup> = groups.iter().filter(|g| g.variant == v).collect();
        let heads: usize = mine.iter().map(|g| g.heads).sum();
        if heads == 0 {
            continue;
        }
        let bad: usize = mine.iter().map(|g| g.contradicting).sum();
        let sigma: usize = mine.iter().map(|g| g.from_sigma).sum();
        let fraction = bad as f64 / heads as f64;
        too_many |= fraction > T6_CONTRADICTING_FRACTION;
        let per_depth: Vec<String> = mine
            .iter()
            .map(|g| format!("depth {} {} of {}", g.depth, g.contradicting, g.heads))
            .collect();
        lines.push(format!(
            "{v}: {bad} of {heads} heads contradict ({:.1} %; {}; {sigma} classified with the \
             measured σ_l, the rest with diag(γ) H)",
            100.0 * fraction,
            per_depth.join(", ")
        ));
    }
    let heads: usize = groups.iter().map(|g| g.heads).sum();
    let contradicting: usize = groups.iter().map(|g| g.contradicting).sum();
    // C10, secondary: the realised spectrum of H within sign·[ε, upper].
    let checked: usize = spectra.iter().map(|s| s.heads_checked).sum();
    let outside: usize = spectra.iter().map(|s| s.heads_violating).sum();
    let worst = spectra.iter().map(|s| s.max_violation).fold(0.0, f64::max);
    if checked > 0 {
        lines.push(format!(
            "secondary (C10, not deciding): {outside} of {checked} heads have a spectrum of H \
             outside sign·[ε, upper] (largest distance {worst:.1e})"
        ));
    }
    let verdict = if heads == 0 {
        Verdict::Inconclusive
    } else if too_many {
        Verdict::Fails
    } else if contradicting == 0 {
        Verdict::Holds
    } else {
        Verdict::Inconclusive
    };
    TrainingClaim {
        claim: Claim {
            id: id.into(),
            statement: "(C8, C10, §5) the sign of the constructed spectrum fixes the regime of \
                        the operator a trained block really applies, H_eff = P_d diag(γ) H / σ_l"
                .into(),
            measured: if lines.is_empty() {
                "not measured (no trained spectral heads)".into()
            } else {
                lines.join("; ")
            },
            rule: format!(
                "over every trained spectral head (all depths, layers, seeds) the regime of \
                 H_eff with the measured σ_l (regime_sigma; diag(γ) H where a run lacks it) \
                 contradicts the sign when a spectral+ head is not smoothing or \
                 alternating-smoothing, or a spectral- head is not sharpening; holds if no head \
                 contradicts, fails if more than {:.0} % of one variant's heads do, otherwise \
                 inconclusive (also without spectral runs); the C10 bound check (|λ| ≥ 1e-6 \
                 eigenvalues within {BOUND_TOL:.0e} of sign·[ε, upper]) is a secondary line",
                100.0 * T6_CONTRADICTING_FRACTION
            ),
            verdict,
        },
        endpoint: Some(Endpoint::HeadCount {
            heads,
            contradicting,
            threshold: T6_CONTRADICTING_FRACTION,
            groups,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(values: &[(&str, &[f64])]) -> Setting {
        Setting {
            label: "s".into(),
            runs: values
                .iter()
                .map(|(v, xs)| {
                    (
                        v.to_string(),
                        xs.iter().enumerate().map(|(i, x)| (i as u64, *x)).collect(),
                    )
                })
                .collect(),
        }
    }

    fn t1(s: &Setting) -> TrainingClaim {
        spectral_beats_featscale("T1", "x", Some(s)).finish(0.95, None)
    }

    #[test]
    fn a_clear_positive_effect_holds_and_a_clear_negative_one_fails() {
        // The seed moves every variant by up to 10 points; the spectral models are 5 and 3 points
        // better than FeatScale under every seed (± 0.5): unpaired sds would hide it.
        let base = [0.70, 0.80, 0.60, 0.75];
        let shift = |d: &[f64]| -> Vec<f64> { base.iter().zip(d).map(|(b, e)| b + e).collect() };
        let plus = shift(&[0.05, 0.055, 0.045, 0.05]);
        let minus = shift(&[0.03, 0.025, 0.035, 0.03]);
        let good = setting(&[
            ("featscale", &base),
            ("spectral+", &plus),
            ("spectral-", &minus),
        ]);
        let c = t1(&good);
        assert_eq!(c.claim.verdict, Verdict::Holds, "{}", c.claim.measured);
        let Some(Endpoint::PairedMean {
            estimate,
            lower,
            n_seeds,
            comparisons,
            ..
        }) = c.endpoint
        else {
            panic!("no endpoint")
        };
        // The binding comparison is spectral- (the smaller effect).
        assert!((estimate.unwrap() - 0.03).abs() < 1e-12);
        assert!(lower.unwrap() > 0.0);
        assert_eq!(n_seeds, 4);
        assert_eq!(comparisons[0].seeds.len(), 4);
        assert!((comparisons[0].seeds[1].diff - 0.055).abs() < 1e-12);

        let worse = shift(&[-0.03, -0.025, -0.035, -0.03]);
        let bad = setting(&[
            ("featscale", &base),
            ("spectral+", &plus),
            ("spectral-", &worse),
        ]);
        let c = t1(&bad);
        assert_eq!(c.claim.verdict, Verdict::Fails);
        let Some(Endpoint::PairedMean { upper, .. }) = c.endpoint else {
            panic!()
        };
        assert!(
            upper.unwrap() < 0.0,
            "the binding comparison is the failing one"
        );
    }

    #[test]
    fn noise_missing_variants_and_single_seeds_are_inconclusive() {
        let noisy = setting(&[
            ("featscale", &[0.70, 0.80, 0.60]),
            ("spectral+", &[0.72, 0.79, 0.62]),
            ("spectral-", &[0.71, 0.80, 0.58]),
        ]);
        assert_eq!(t1(&noisy).claim.verdict, Verdict::Inconclusive);
        let missing = setting(&[("featscale", &[0.70, 0.71, 0.72]), ("spectral+", &[0.8; 3])]);
        let c = t1(&missing);
        assert_eq!(c.claim.verdict, Verdict::Inconclusive);
        assert!(c.claim.measured.contains("missing"), "{}", c.claim.measured);
        let one = setting(&[
            ("featscale", &[0.70]),
            ("spectral+", &[0.90]),
            ("spectral-", &[0.90]),
        ]);
        assert_eq!(t1(&one).claim.verdict, Verdict::Inconclusive);
        assert_eq!(
            spectral_beats_featscale("T1", "x", None)
                .finish(0.95, None)
                .claim
                .verdict,
            Verdict::Inconclusive
        );
    }

    #[test]
    fn seeds_are_paired_by_value_not_position() {
        // FeatScale lacks seed 0 and lists its seeds in another order: only seeds 1, 2, 3 pair.
        let s = Setting {
            label: "s".into(),
            runs: vec![
                ("featscale".into(), vec![(3, 0.60), (1, 0.70), (2, 0.80)]),
                (
                    "spectral+".into(),
                    vec![(0, 0.10), (1, 0.72), (2, 0.82), (3, 0.62)],
                ),
            ],
        };
        let c = PairedComparison::new(&s, "test accuracy", "spectral+", "featscale");
        assert_eq!(c.pairs.len(), 3);
        assert!(c.pairs.iter().all(|p| (p.diff - 0.02).abs() < 1e-9));
        assert_eq!(c.side(0.95), Side::Above);
    }

    #[test]
    fn holm_makes_a_marginal_claim_inconclusive() {
        // T1's effect is clear; T2's spectral comparisons have p ≈ 0.04: above 0 at 95 %, but in a
        // family of three tested claims Holm reads T2 at 1 − α/2 = 97.5 %, where it contains 0.
        let base = [0.70, 0.80, 0.60, 0.75, 0.65];
        let shift = |d: &[f64]| -> Vec<f64> { base.iter().zip(d).map(|(b, e)| b + e).collect() };
        let clear = setting(&[
            ("featscale", &base),
            ("spectral+", &shift(&[0.05, 0.051, 0.049, 0.05, 0.05])),
            ("spectral-", &shift(&[0.04, 0.041, 0.039, 0.04, 0.04])),
        ]);
        let marginal_d = [0.010, 0.002, 0.013, 0.001, 0.009];
        let marginal = setting(&[
            ("featscale", &base),
            ("spectral+", &shift(&marginal_d)),
            ("spectral-", &shift(&marginal_d)),
        ]);
        let p = PairedComparison::new(&marginal, "test accuracy", "spectral+", "featscale");
        assert!(
            p.p_value() > 0.0125 && p.p_value() < 0.05,
            "{}",
            p.p_value()
        );
        assert_eq!(p.side(0.95), Side::Above);
        let alone = spectral_beats_featscale("T2", "x", Some(&marginal)).finish(0.95, None);
        assert_eq!(alone.claim.verdict, Verdict::Holds);
        let null = setting(&[
            ("spectral+", &[0.7, 0.8, 0.6, 0.75, 0.65]),
            ("spectral-", &[0.71, 0.79, 0.6, 0.76, 0.64]),
        ]);
        let family = holm_family(vec![
            spectral_beats_featscale("T1", "x", Some(&clear)),
            spectral_beats_featscale("T2", "y", Some(&marginal)),
            spectral_beats_featscale("T3", "z", None),
            smoothing_beats_sharpening("T4", Some(&null), &[]),
        ]);
        assert_eq!(family[0].claim.verdict, Verdict::Holds);
        assert_eq!(family[1].claim.verdict, Verdict::Inconclusive);
        assert!(
            family[1].claim.rule.contains("Holm level"),
            "{}",
            family[1].claim.rule
        );
        assert_eq!(family[2].claim.verdict, Verdict::Inconclusive);
        assert_eq!(family[3].claim.verdict, Verdict::Inconclusive);
        // T3 is not tested: the family has 3 members, T1 is read at 1 − α/3.
        let Some(Endpoint::PairedMean { level, .. }) = &family[0].endpoint else {
            panic!()
        };
        assert!((level - (1.0 - ALPHA / 3.0)).abs() < 1e-12, "{level}");
    }

    #[test]
    fn t4_decides_on_the_primary_setting_only() {
        let up = setting(&[
            ("spectral+", &[0.80, 0.85, 0.75]),
            ("spectral-", &[0.70, 0.76, 0.66]),
        ]);
        let down = setting(&[
            ("spectral+", &[0.60, 0.65, 0.55]),
            ("spectral-", &[0.70, 0.76, 0.66]),
        ]);
        let c = smoothing_beats_sharpening("T4", Some(&up), std::slice::from_ref(&down))
            .finish(0.95, None);
        assert_eq!(c.claim.verdict, Verdict::Holds);
        assert!(c.claim.measured.contains("secondary"));
        let c = smoothing_beats_sharpening("T4", Some(&down), &[up]).finish(0.95, None);
        assert_eq!(c.claim.verdict, Verdict::Fails);
        let c = smoothing_beats_sharpening("T4", None, &[down]).finish(0.95, None);
        assert_eq!(c.claim.verdict, Verdict::Inconclusive);
    }

    fn curve(attention: &str, depth: usize, cos: &[f64], hc: &[f64]) -> CosineCurve {
        let per =
            |v: &[f64]| -> PerSeed { v.iter().enumerate().map(|(i, x)| (i as u64, *x)).collect() };
        CosineCurve {
            attention: attention.into(),
            depth,
            layers: Vec::new(),
            layers_centred: Vec::new(),
            last_cosine: per(cos),
            last_hc_dc: per(hc),
        }
    }

    #[test]
    fn t5_orders_cosine_up_and_hc_dc_down_with_smoothing() {
        // Smoothing: spectral+ most (high cosine, low HC/DC), spectral- least.
        let good = vec![
            curve("spectral+", 4, &[0.90, 0.92, 0.88], &[0.10, 0.12, 0.11]),
            curve("plain", 4, &[0.60, 0.63, 0.58], &[0.50, 0.52, 0.49]),
            curve("spectral-", 4, &[0.20, 0.24, 0.19], &[1.50, 1.55, 1.45]),
            // A shallower depth that contradicts everything is ignored.
            curve("spectral+", 1, &[0.1, 0.1, 0.1], &[9.0, 9.0, 9.0]),
        ];
        assert_eq!(
            sign_controls_smoothing("T5", &good).claim.verdict,
            Verdict::Holds
        );
        // Same cosines, but ‖HC‖/‖DC‖ ordered the wrong way round (higher for spectral+): a
        // rule that took "higher is more smoothing" for both measures would say holds.
        let flipped = vec![
            curve("spectral+", 4, &[0.90, 0.92, 0.88], &[1.50, 1.55, 1.45]),
            curve("plain", 4, &[0.60, 0.63, 0.58], &[0.50, 0.52, 0.49]),
            curve("spectral-", 4, &[0.20, 0.24, 0.19], &[0.10, 0.12, 0.11]),
        ];
        assert_eq!(
            sign_controls_smoothing("T5", &flipped).claim.verdict,
            Verdict::Fails
        );
        // Without the plain model two of the four comparisons cannot be made.
        let no_plain = vec![good[0].clone(), good[2].clone()];
        assert_eq!(
            sign_controls_smoothing("T5", &no_plain).claim.verdict,
            Verdict::Inconclusive
        );
        assert_eq!(
            sign_controls_smoothing("T5", &[]).claim.verdict,
            Verdict::Inconclusive
        );
    }

    fn spectrum(attention: &str, depth: usize, heads: usize, bad: usize) -> SpectrumSummary {
        SpectrumSummary {
            attention: attention.into(),
            depth,
            eigenvalues: Vec::new(),
            zeros: 0,
            negative_real_fraction: f64::NAN,
            max_modulus: 0.0,
            regimes: Default::default(),
            heads_checked: heads,
            heads_violating: 0,
            max_violation: 0.0,
            regime_heads: heads,
            regime_contradicting: bad,
            regime_from_sigma: heads,
        }
    }

    #[test]
    fn t6_counts_contradicting_heads_per_variant() {
        let v = |s: &[SpectrumSummary]| effective_regimes_follow_sign("T6", s).claim.verdict;
        assert_eq!(
            v(&[
                spectrum("spectral+", 2, 8, 0),
                spectrum("spectral-", 2, 8, 0)
            ]),
            Verdict::Holds
        );
        // 1 of 20 spectral- heads (5 %): not clean, under the threshold.
        assert_eq!(
            v(&[
                spectrum("spectral+", 2, 20, 0),
                spectrum("spectral-", 2, 20, 1)
            ]),
            Verdict::Inconclusive
        );
        // 3 of 20 spectral- heads over two depths (15 %): fails, although spectral+ is clean and
        // the pooled fraction over both variants (7.5 %) is under the threshold.
        let c = effective_regimes_follow_sign(
            "T6",
            &[
                spectrum("spectral+", 2, 20, 0),
                spectrum("spectral-", 1, 10, 1),
                spectrum("spectral-", 2, 10, 2),
            ],
        );
        assert_eq!(c.claim.verdict, Verdict::Fails);
        assert!(c.claim.measured.contains("3 of 20"), "{}", c.claim.measured);
        assert!(c.claim.measured.contains("depth 2 2 of 10"));
        let Some(Endpoint::HeadCount {
            heads,
            contradicting,
            ..
        }) = c.endpoint
        else {
            panic!()
        };
        assert_eq!((heads, contradicting), (40, 3));
        // No spectral runs (plain heads are not classified).
        let mut plain = spectrum("plain", 2, 8, 0);
        plain.regime_heads = 0;
        plain.heads_checked = 0;
        assert_eq!(v(&[plain]), Verdict::Inconclusive);
        assert_eq!(v(&[]), Verdict::Inconclusive);
    }

    #[test]
    fn the_endpoint_is_in_the_json_only_for_training_claims() {
        let c = t1(&setting(&[
            ("featscale", &[0.70, 0.71, 0.72]),
            ("spectral+", &[0.80, 0.81, 0.83]),
            ("spectral-", &[0.75, 0.77, 0.77]),
        ]));
        let json = serde_json::to_value(&c).unwrap();
        for key in ["id", "statement", "measured", "rule", "verdict"] {
            assert!(json.get(key).is_some(), "{key} missing: {json}");
        }
        let e = &json["endpoint"];
        assert_eq!(e["kind"], "paired-mean");
        for key in [
            "estimate",
            "lower",
            "upper",
            "level",
            "n_seeds",
            "comparisons",
        ] {
            assert!(e.get(key).is_some(), "{key} missing: {e}");
        }
        assert_eq!(e["comparisons"][0]["seeds"][2]["seed"], 2);
        let back: TrainingClaim = serde_json::from_value(json).unwrap();
        assert_eq!(back, c);
        let bare = TrainingClaim {
            endpoint: None,
            ..c
        };
        assert!(serde_json::to_value(&bare)
            .unwrap()
            .get("endpoint")
            .is_none());
    }
}
