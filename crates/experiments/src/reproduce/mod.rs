//! The paper's training experiments (issue 6): declarative grids in `experiments/*.toml`, a
//! runner that trains each distinct configuration once and caches it by the hash of its full
//! configuration, and the aggregation into tables, figures and claim verdicts for the report.
//!
//! Flow ([`run::run`]): [`spec`] loads the experiment files of a profile and expands each grid
//! into [`crate::train::config::TrainConfig`]s; [`run::plan`] merges identical configurations across
//! experiments; the [`cache::RunCache`] trains what is not finished yet through an
//! [`cache::Executor`] (the real one, [`exec::ChildExecutor`], runs `eigenformer train` and
//! `eigenformer eval` as child processes); [`aggregate`] turns results into mean ± sd over seeds;
//! [`claims`] decides the verdicts; [`figures`] and [`render`] write the section.

pub mod ablation;
pub mod aggregate;
pub mod budget;
pub mod cache;
pub mod cells;
pub mod claims;
pub mod command;
pub mod error;
pub mod exec;
pub mod figures;
pub mod gate;
pub mod lr_select;
pub mod paired;
pub mod parallel;
pub mod render;
pub mod results;
pub mod run;
pub mod slurm;
pub mod spec;
pub mod stats;

pub use error::{ReproError, Result};
