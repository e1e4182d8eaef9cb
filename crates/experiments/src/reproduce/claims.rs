//! The claims of the paper that the training experiments test (theory.md §5 and §7), each with
//! a fixed decision rule. The paper gives no numbers, so every verdict compares our own runs:
//! two variants are ordered only when their means differ by more than the pooled standard
//! deviation over seeds ([`compare`]); otherwise the claim is inconclusive.

use super::aggregate::{CorruptionSummary, CosineCurve, SpectrumSummary, SweepPoint, BOUND_TOL};
use super::stats::{compare, Order, Stat};
use crate::report::{Claim, Verdict};

/// The statistic of `variant` among `(variant, stat)` pairs.
fn find<'a>(stats: &'a [(String, Stat)], variant: &str) -> Option<&'a Stat> {
    stats.iter().find(|(v, _)| v == variant).map(|(_, s)| s)
}

/// A setting in which variants are compared: a label and the accuracy per variant.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub label: String,
    pub stats: Vec<(String, Stat)>,
}

/// The setting of a sweep at x = `x` (label `what`).
pub fn sweep_setting(points: &[SweepPoint], x: f64, what: String) -> Setting {
    Setting {
        label: what,
        stats: points
            .iter()
            .filter(|p| p.x == x)
            .map(|p| (p.attention.clone(), p.accuracy))
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

/// `a` against `b` in each setting: `(text, order)`; a setting lacking either is skipped.
fn pairwise(settings: &[Setting], a: &str, b: &str) -> Vec<(String, Order)> {
    settings
        .iter()
        .filter_map(|s| {
            let (x, y) = (find(&s.stats, a)?, find(&s.stats, b)?);
            let c = compare(x, y);
            Some((
                format!(
                    "{}: {a} {} vs {b} {} (Δ = {:+.1} pts, pooled sd {:.1})",
                    s.label,
                    x.show_percent(),
                    y.show_percent(),
                    100.0 * c.diff,
                    100.0 * c.pooled_sd
                ),
                c.order,
            ))
        })
        .collect()
}

/// Holds if every comparison is `Greater`, fails if any is `Less`, inconclusive otherwise (ties,
/// too few seeds, or nothing to compare).
fn all_greater(orders: &[Order]) -> Verdict {
    if orders.is_empty() {
        Verdict::Inconclusive
    } else if orders.contains(&Order::Less) {
        Verdict::Fails
    } else if orders.iter().all(|o| *o == Order::Greater) {
        Verdict::Holds
    } else {
        Verdict::Inconclusive
    }
}

const PAIRWISE_RULE: &str = "a mean exceeds another when the difference is larger than the pooled \
    sd √((sd₁² + sd₂²)/2) over seeds (≥ 2 seeds each)";

/// v1: the spectral models generalise better than FeatScale in `setting` (claim `id`).
pub fn spectral_beats_featscale(id: &str, experiment: &str, setting: Option<&Setting>) -> Claim {
    let settings: Vec<Setting> = setting.cloned().into_iter().collect();
    let mut lines = pairwise(&settings, "spectral+", "featscale");
    lines.extend(pairwise(&settings, "spectral-", "featscale"));
    let orders: Vec<Order> = lines.iter().map(|l| l.1).collect();
    let verdict = if orders.len() < 2 {
        Verdict::Inconclusive
    } else {
        all_greater(&orders)
    };
    Claim {
        id: id.into(),
        statement: format!(
            "(paper v1) the spectral models (ViT⁺, ViT⁻) generalise better than FeatScale {experiment}"
        ),
        measured: if lines.is_empty() {
            "not measured (a variant is missing from the grid)".into()
        } else {
            lines.into_iter().map(|l| l.0).collect::<Vec<_>>().join("; ")
        },
        rule: format!(
            "holds if the test accuracy of both spectral+ and spectral- exceeds FeatScale's; \
             fails if either is below FeatScale's; otherwise inconclusive; {PAIRWISE_RULE}"
        ),
        verdict,
    }
}

/// v2: smoothing (spectral+) beats sharpening (spectral-) for image classification, in every
/// setting measured.
pub fn smoothing_beats_sharpening(id: &str, settings: &[Setting]) -> Claim {
    let lines = pairwise(settings, "spectral+", "spectral-");
    let orders: Vec<Order> = lines.iter().map(|l| l.1).collect();
    Claim {
        id: id.into(),
        statement: "(paper v2) smoothing beats sharpening for image classification: ViT⁺ \
                    (spectral+) is more accurate than ViT⁻ (spectral-)"
            .into(),
        measured: if lines.is_empty() {
            "not measured (spectral+ or spectral- missing)".into()
        } else {
            lines
                .into_iter()
                .map(|l| l.0)
                .collect::<Vec<_>>()
                .join("; ")
        },
        rule: format!(
            "holds if spectral+ exceeds spectral- in every setting listed; fails if it is below \
             in any; otherwise inconclusive; {PAIRWISE_RULE}"
        ),
        verdict: all_greater(&orders),
    }
}

/// C5/C6 in trained models: the sign of the spectrum controls smoothing, so at the largest depth
/// the last block's token cosine of spectral+ exceeds that of spectral-.
pub fn sign_controls_smoothing(id: &str, curves: &[CosineCurve]) -> Claim {
    let depth = curves.iter().map(|c| c.depth).max();
    let last = |v: &str| -> Option<Stat> {
        curves
            .iter()
            .find(|c| Some(c.depth) == depth && c.attention == v)
            .and_then(|c| c.layers.last().copied())
    };
    let mut measured = Vec::new();
    for c in curves.iter().filter(|c| Some(c.depth) == depth) {
        if let Some(s) = c.layers.last() {
            measured.push(format!("{} {}", c.attention, s.show(3)));
        }
    }
    let (verdict, line) = match (last("spectral+"), last("spectral-")) {
        (Some(p), Some(m)) => {
            let c = compare(&p, &m);
            (
                match c.order {
                    Order::Greater => Verdict::Holds,
                    Order::Less => Verdict::Fails,
                    Order::Tie | Order::Undecided => Verdict::Inconclusive,
                },
                format!(
                    "Δ(spectral+ − spectral-) = {:+.3}, pooled sd {:.3}",
                    c.diff, c.pooled_sd
                ),
            )
        }
        _ => (
            Verdict::Inconclusive,
            "spectral+ or spectral- missing".to_string(),
        ),
    };
    Claim {
        id: id.into(),
        statement: "(C5/C6, §5) eigenvalues of H in [−1, −ε] prevent oversmoothing and positive \
                    ones cause it: trained ViT⁺ smooths its tokens more than ViT⁻"
            .into(),
        measured: format!(
            "last-block mean token cosine at depth {}: {}; {line}",
            depth.map_or("–".to_string(), |d| d.to_string()),
            measured.join(", ")
        ),
        rule: format!(
            "holds if the last block's mean token cosine (32 probe test images) of spectral+ \
             exceeds spectral-'s at the largest depth; fails if it is below; otherwise \
             inconclusive; {PAIRWISE_RULE}"
        ),
        verdict,
    }
}

/// C10 after training: every head of every trained spectral model has exactly its rank of
/// nonzero eigenvalues, all real and inside sign·[ε, upper].
pub fn spectra_stay_in_bounds(id: &str, spectra: &[SpectrumSummary]) -> Claim {
    let checked: Vec<&SpectrumSummary> = spectra.iter().filter(|s| s.heads_checked > 0).collect();
    let heads: usize = checked.iter().map(|s| s.heads_checked).sum();
    let bad: usize = checked.iter().map(|s| s.heads_violating).sum();
    let worst = checked.iter().map(|s| s.max_violation).fold(0.0, f64::max);
    Claim {
        id: id.into(),
        statement: "(C10, §5) for any parameter values the realised spectrum of H equals the \
                    clipped λ, so the sign guarantees hold throughout training"
            .into(),
        measured: format!(
            "{bad} of {heads} trained spectral heads (all depths, seeds) break the bounds; \
             largest distance of an eigenvalue from sign·[ε, upper]: {worst:.1e}"
        ),
        rule: format!(
            "holds if every head of every trained spectral+/spectral- model has exactly d_h \
             (low-rank form) nonzero eigenvalues (|λ| ≥ 1e-6), each within {BOUND_TOL:.0e} of \
             the real interval sign·[ε, upper]; fails otherwise; inconclusive without spectral \
             runs"
        ),
        verdict: if heads == 0 {
            Verdict::Inconclusive
        } else if bad == 0 {
            Verdict::Holds
        } else {
            Verdict::Fails
        },
    }
}

/// The corruption experiment's overall accuracy as a setting.
pub fn corruption_setting(summary: &CorruptionSummary) -> Setting {
    Setting {
        label: "corrupted test sets (mean over corruptions and severities)".into(),
        stats: summary.overall.clone(),
    }
}
