//! What every run of the training section was given and where it ended (issue: the report
//! says which form, initialisation and budget every row used; models trained until accuracy
//! levels off): per variant and setting, the optimiser steps, the spectral form and
//! initialisation, the initial spectral radius of H_h beside the plain twin's, the final test
//! accuracy and how much it still moved over the last epochs.

use super::cache::read_json;
use super::error::Result;
use super::stats::Stat;
use crate::train::config::TrainConfig;
use crate::train::run::Metrics;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

/// Epochs over which the plateau is measured (the change of test accuracy from the epoch this
/// many before the last to the last).
pub const PLATEAU_EPOCHS: usize = 3;

/// One run's budget and ending.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunBudget {
    pub attention: String,
    pub depth: Option<usize>,
    pub train_fraction: f64,
    pub form: String,
    pub spectral_init: String,
    pub seed: u64,
    /// Optimiser steps taken.
    pub steps: usize,
    pub train_images: usize,
    pub final_accuracy: f64,
    /// Test accuracy of the last epoch minus that [`PLATEAU_EPOCHS`] epochs earlier.
    pub last_change: f64,
    /// Mean spectral radius of H_h at initialisation (this model).
    pub initial_radius: f64,
    /// The plain twin's, which `matched` initialises to (None for non-spectral runs).
    pub plain_radius: Option<f64>,
}

/// The budget of the finished run `spec` in `dir` (its `metrics.json`).
pub fn read(dir: &Path, spec: &TrainConfig) -> Result<RunBudget> {
    let m: Metrics = read_json(&dir.join("metrics.json"))?;
    let acc: Vec<f64> = m.epochs.iter().map(|e| e.test_accuracy).collect();
    let last = acc.last().copied().unwrap_or(f64::NAN);
    let before = acc
        .len()
        .checked_sub(PLATEAU_EPOCHS + 1)
        .and_then(|i| acc.get(i))
        .copied()
        .unwrap_or(f64::NAN);
    let num = |k: &str| m.config.get(k).and_then(|v| v.as_f64());
    let steps_per_epoch = m
        .config
        .get("steps_per_epoch")
        .and_then(|v| v.as_u64())
        .unwrap_or(0) as usize;
    Ok(RunBudget {
        attention: spec.attention.clone(),
        depth: spec.depth,
        train_fraction: spec.train_fraction,
        form: spec.form.clone(),
        spectral_init: spec.spectral_init.clone(),
        seed: spec.seed,
        steps: steps_per_epoch * m.epochs.len(),
        train_images: m
            .config
            .get("train_images")
            .and_then(|v| v.as_u64())
            .unwrap_or(0) as usize,
        final_accuracy: last,
        last_change: last - before,
        initial_radius: num("initial_spectral_radius").unwrap_or(f64::NAN),
        plain_radius: num("plain_initial_spectral_radius"),
    })
}

/// The Markdown table: one row per (variant, depth, fraction, form, initialisation), means over
/// seeds.
pub fn table(runs: &[RunBudget]) -> String {
    let mut keys: Vec<(String, Option<usize>, String, String, String)> = Vec::new();
    for r in runs {
        let k = (
            r.attention.clone(),
            r.depth,
            format!("{}", r.train_fraction),
            r.form.clone(),
            r.spectral_init.clone(),
        );
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let mut s = format!(
        "Budget and ending of every group of runs (means over seeds): optimiser steps, training \
         images, the spectral form and initialisation (non-spectral rows ignore both), the mean \
         initial spectral radius of H_h beside the plain twin's (what `matched` starts the \
         spectral |λ| at), the final test accuracy and its change over the last \
         {PLATEAU_EPOCHS} epochs (near 0: levelled off).\n\n\
         | variant | depth | fraction | form | init | seeds | steps | train images | initial ρ(H) | plain twin ρ(H) | final accuracy | Δ last {PLATEAU_EPOCHS} epochs (pts) |\n\
         |---|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    for k in keys {
        let mine: Vec<&RunBudget> = runs
            .iter()
            .filter(|r| {
                r.attention == k.0
                    && r.depth == k.1
                    && format!("{}", r.train_fraction) == k.2
                    && r.form == k.3
                    && r.spectral_init == k.4
            })
            .collect();
        let mean = |f: &dyn Fn(&RunBudget) -> f64| {
            Stat::of(&mine.iter().map(|r| f(r)).collect::<Vec<_>>()).mean
        };
        let spectral = k.0.starts_with("spectral");
        let plain = if spectral {
            format!("{:.4}", mean(&|r| r.plain_radius.unwrap_or(f64::NAN)))
        } else {
            "–".into()
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.4} | {} | {:.1} % | {:+.2} |",
            k.0,
            k.1.map_or("–".into(), |d| d.to_string()),
            k.2,
            if spectral { k.3.as_str() } else { "–" },
            if spectral { k.4.as_str() } else { "–" },
            mine.len(),
            mean(&|r| r.steps as f64),
            mean(&|r| r.train_images as f64),
            mean(&|r| r.initial_radius),
            plain,
            100.0 * mean(&|r| r.final_accuracy),
            100.0 * mean(&|r| r.last_change),
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(attention: &str, seed: u64, acc: f64, change: f64) -> RunBudget {
        RunBudget {
            attention: attention.into(),
            depth: Some(2),
            train_fraction: 0.1,
            form: "symmetric".into(),
            spectral_init: "matched".into(),
            seed,
            steps: 2820,
            train_images: 6000,
            final_accuracy: acc,
            last_change: change,
            initial_radius: 0.01,
            plain_radius: attention.starts_with("spectral").then_some(0.012),
        }
    }

    #[test]
    fn rows_average_over_seeds_and_show_the_twin_radius_for_spectral_runs() {
        let t = table(&[
            run("plain", 0, 0.80, 0.002),
            run("plain", 1, 0.82, 0.0),
            run("spectral+", 0, 0.7, 0.01),
        ]);
        assert!(
            t.contains(
                "| plain | 2 | 0.1 | – | – | 2 | 2820 | 6000 | 0.0100 | – | 81.0 % | +0.10 |"
            ),
            "{t}"
        );
        assert!(
            t.contains("| spectral+ | 2 | 0.1 | symmetric | matched | 1 |"),
            "{t}"
        );
        assert!(t.contains("0.0120"), "{t}");
    }
}
