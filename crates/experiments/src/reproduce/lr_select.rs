//! The learning-rate selection (issue: choose it once, on a validation split, with the plain
//! model, and freeze it for every variant): the `lr` experiment's runs are trained first, and
//! the learning rate with the best mean validation accuracy replaces the `lr = "selected"`
//! placeholder of every other experiment before their runs are planned, so their hashes (and
//! the run cache) include the chosen value.

use super::aggregate::{self, SweepPoint};
use super::cache::{RunCache, RunState};
use super::error::{ReproError, Result};
use super::spec::{Experiment, Kind};

/// The chosen learning rate: the x of the point with the highest mean validation accuracy,
/// the smaller learning rate on a tie (the safer one); `None` without a finite point.
pub fn choose(points: &[SweepPoint]) -> Option<f64> {
    points
        .iter()
        .filter(|p| p.accuracy.mean.is_finite() && p.x.is_finite())
        .min_by(|a, b| {
            b.accuracy
                .mean
                .total_cmp(&a.accuracy.mean)
                .then(a.x.total_cmp(&b.x))
        })
        .map(|p| p.x)
}

/// The learning rate the `lr` experiment of `experiments` chose, when every one of its runs is
/// finished in `cache` (`None` otherwise, or without an lr experiment): what `--plan` uses, so
/// that after a reproduction the runs that depend on the choice are found in the cache.
pub fn cached_choice(experiments: &[Experiment], cache: &RunCache) -> Result<Option<f64>> {
    let Some(e) = experiments.iter().find(|e| e.kind == Kind::Lr) else {
        return Ok(None);
    };
    let mut runs = Vec::with_capacity(e.runs.len());
    for spec in &e.runs {
        match cache.state(spec)? {
            RunState::Finished(r) => runs.push((spec, r.test_accuracy)),
            _ => return Ok(None),
        }
    }
    Ok(choose(&aggregate::sweep(&runs, "lr")))
}

/// Give every experiment that asked for the selected learning rate the value `lr`.
pub fn apply(experiments: &mut [Experiment], lr: f64) {
    for e in experiments.iter_mut().filter(|e| e.selected_lr) {
        for run in &mut e.runs {
            run.lr = lr;
        }
    }
}

/// Checks that the profile can select a learning rate if one of its experiments needs it: an
/// `lr` experiment is present, trains plain attention only and evaluates on a validation split.
pub fn check(experiments: &[Experiment]) -> Result<()> {
    let needed = experiments.iter().any(|e| e.selected_lr);
    let lr: Vec<&Experiment> = experiments.iter().filter(|e| e.kind == Kind::Lr).collect();
    if needed && lr.is_empty() {
        return Err(ReproError::spec(
            "experiments",
            "an experiment asks for lr = \"selected\" but the profile has no lr experiment",
        ));
    }
    if lr.len() > 1 {
        return Err(ReproError::spec(
            "experiments",
            "more than one lr experiment",
        ));
    }
    for e in lr {
        if let Some(r) = e
            .runs
            .iter()
            .find(|r| r.attention != "plain" || r.val_images.is_none())
        {
            return Err(ReproError::spec(
                format!("experiments/{}.toml", e.name),
                format!(
                    "the learning rate is chosen with plain attention on a validation split \
                     (val_images), never on the test set; this run is `{}`",
                    r.label()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reproduce::stats::Stat;

    fn point(x: f64, acc: f64) -> SweepPoint {
        SweepPoint {
            attention: "plain".into(),
            x,
            accuracy: Stat::of(&[acc]),
            runs: vec![(0, acc)],
        }
    }

    #[test]
    fn the_best_mean_wins_and_a_tie_takes_the_smaller_rate() {
        assert_eq!(
            choose(&[point(1e-3, 0.8), point(2e-3, 0.85), point(4e-3, 0.7)]),
            Some(2e-3)
        );
        assert_eq!(choose(&[point(2e-3, 0.8), point(1e-3, 0.8)]), Some(1e-3));
        assert_eq!(choose(&[point(1e-3, f64::NAN)]), None);
        assert_eq!(choose(&[]), None);
    }
}
