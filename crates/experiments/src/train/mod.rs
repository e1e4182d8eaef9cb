//! Training Vision Transformers: the optimisation step shared by `eigenformer train` and
//! `eigenformer bench-step`.

pub mod bench_step;
pub mod checkpoint;
pub mod command;
pub mod config;
pub mod diagnostics;
pub mod eval;
pub mod run;
pub mod rundir;
pub mod spectral_init;
pub mod step;

pub use step::{parameter_groups, StepStats, TrainHyper, Trainer, TrainingError};
