//! What the training section produced: the plan's runs, the counts of what the runner did, each
//! experiment's results and the whole section. Its own module so that the runner ([`super::run`])
//! that builds them and the renderer ([`super::render`]) that writes them depend on it, not on each
//! other.

use super::ablation::AblationCell;
use super::aggregate::{CorruptionSummary, CosineCurve, SpectrumSummary, SweepPoint};
use super::cache::RunResult;
use super::claims::TrainingClaim;
use super::spec::{Experiment, Profile};
use crate::train::config::TrainConfig;
use serde::Serialize;
use std::path::PathBuf;

/// One distinct run of the plan, with the experiments that use it.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedRun {
    pub spec: TrainConfig,
    pub hash: String,
    pub experiments: Vec<String>,
}

/// Counts of what the runner did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub runs: usize,
    pub trained: usize,
    pub resumed: usize,
    pub cached: usize,
    pub evaluations: usize,
    pub evaluations_cached: usize,
}

/// The results of one experiment.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ExperimentResult {
    Sweep {
        x_key: String,
        points: Vec<SweepPoint>,
    },
    Corruption {
        summary: CorruptionSummary,
    },
    Smoothing {
        curves: Vec<CosineCurve>,
        spectra: Vec<SpectrumSummary>,
    },
    /// The learning-rate selection: validation accuracy per learning rate, and the chosen one.
    #[serde(rename = "lr")]
    LearningRate {
        points: Vec<SweepPoint>,
        chosen: f64,
    },
    /// An ablation along `axis`.
    Ablation {
        axis: String,
        cells: Vec<AblationCell>,
    },
}

/// Everything the section reports (also `results.json`).
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    pub profile: Profile,
    pub runs_dir: PathBuf,
    pub counts: Counts,
    pub seconds: f64,
    pub seeds: Vec<u64>,
    pub experiments: Vec<(Experiment, ExperimentResult)>,
    pub runs: Vec<(PlannedRun, RunResult)>,
    /// The claims with their structured endpoints (`claims.json`).
    pub claims: Vec<TrainingClaim>,
    /// Every run's budget and ending, for the report's budget table.
    pub budgets: Vec<super::budget::RunBudget>,
    /// The files the section wrote, relative to its output directory (not in `results.json`).
    #[serde(skip)]
    pub files: Vec<String>,
}
