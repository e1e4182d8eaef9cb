//! The sanity gate of the training section (issue: a reproduction that can decide): before any
//! training claim is decided, the plain ViT at the smallest depth of the depth experiment must
//! reach [`GATE_ACCURACY`] mean test accuracy. A recipe that cannot train the baseline says
//! nothing about the variants: when the gate fails, every T claim becomes "inconclusive
//! (under-trained)" whatever its interval says, and the report says why.

use super::aggregate::SweepPoint;
use super::claims::TrainingClaim;
use crate::report::{Claim, Verdict};

/// The mean test accuracy (over seeds, full test set) the plain model at the smallest depth
/// must reach: 85 % on Fashion-MNIST from a 6 000-image subset, well above what a linear model
/// gets (≈ 81 %) and within reach of a small ViT trained to its plateau.
pub const GATE_ACCURACY: f64 = 0.85;

/// The gate's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    /// The claim row (id `G`).
    pub claim: Claim,
    /// Whether the training claims may be decided.
    pub passed: bool,
}

/// The gate on the depth sweep's points (`None` without a depth experiment or plain runs:
/// nothing to gate, the claims stand as decided).
pub fn check(depth_points: Option<&[SweepPoint]>) -> Option<Gate> {
    let points = depth_points?;
    let shallow = points
        .iter()
        .filter(|p| p.attention == "plain" && p.x.is_finite())
        .min_by(|a, b| a.x.total_cmp(&b.x))?;
    let mean = shallow.accuracy.mean;
    let passed = mean.is_finite() && mean >= GATE_ACCURACY;
    let seeds: Vec<String> = shallow
        .runs
        .iter()
        .map(|(s, a)| format!("{s}: {:.1}", 100.0 * a))
        .collect();
    Some(Gate {
        claim: Claim {
            id: "G".into(),
            statement: "sanity gate: the recipe trains the baseline (plain ViT at the smallest \
                        depth) to a useful accuracy"
                .into(),
            measured: format!(
                "plain at depth {}: mean test accuracy {:.1} % over {} seeds (seed: %: {})",
                shallow.x,
                100.0 * mean,
                shallow.runs.len(),
                seeds.join(", ")
            ),
            rule: format!(
                "passes when the mean test accuracy is at least {:.0} %; when it does not, \
                 every T claim is reported inconclusive (under-trained)",
                100.0 * GATE_ACCURACY
            ),
            verdict: if passed {
                Verdict::Holds
            } else {
                Verdict::Fails
            },
        },
        passed,
    })
}

/// Apply a failed gate to the training claims: each becomes inconclusive, its measured text
/// keeping what the interval said.
pub fn apply(gate: &Gate, claims: &mut [TrainingClaim]) {
    if gate.passed {
        return;
    }
    for c in claims.iter_mut() {
        let was = c.claim.verdict.name();
        c.claim.verdict = Verdict::Inconclusive;
        c.claim.measured = format!(
            "inconclusive (under-trained: the sanity gate G failed; by its own rule this claim \
             would read {was}). {}",
            c.claim.measured
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reproduce::stats::Stat;

    fn point(attention: &str, x: f64, accs: &[f64]) -> SweepPoint {
        SweepPoint {
            attention: attention.into(),
            x,
            accuracy: Stat::of(accs),
            runs: accs
                .iter()
                .enumerate()
                .map(|(i, a)| (i as u64, *a))
                .collect(),
        }
    }

    fn claim(verdict: Verdict) -> TrainingClaim {
        TrainingClaim {
            claim: Claim {
                id: "T1".into(),
                statement: String::new(),
                measured: "Δ = +1".into(),
                rule: String::new(),
                verdict,
            },
            endpoint: None,
        }
    }

    #[test]
    fn the_smallest_depth_of_plain_decides() {
        let pts = [
            point("plain", 4.0, &[0.70, 0.71]),
            point("plain", 2.0, &[0.86, 0.87]),
            point("spectral+", 1.0, &[0.10]),
        ];
        let g = check(Some(&pts)).unwrap();
        assert!(g.passed, "{:?}", g.claim);
        assert!(g.claim.measured.contains("depth 2"), "{}", g.claim.measured);
        let low = [point("plain", 2.0, &[0.84, 0.85])];
        let g = check(Some(&low)).unwrap();
        assert!(!g.passed);
        let mut rows = vec![claim(Verdict::Holds), claim(Verdict::Fails)];
        apply(&g, &mut rows);
        assert!(rows
            .iter()
            .all(|r| r.claim.verdict == Verdict::Inconclusive));
        assert!(rows[0].claim.measured.contains("would read holds"));
        assert!(check(None).is_none());
        assert!(check(Some(&[point("featscale", 2.0, &[0.9])])).is_none());
    }
}
