//! # eigenformer-experiments
//!
//! The library behind the `eigenformer` binary (crate `eigenformer-cli`): training ([`train`]),
//! evaluation on clean and corrupted data ([`eval`]), audits of pre-trained models ([`audit`]),
//! the theory experiment ([`theory`]), the experiment grids and their run cache ([`reproduce`]),
//! the figures ([`plot`]), the compute profiles ([`profile`]) and the reproduction report that
//! runs all sections and assembles `REPORT.md` / `REPORT.html` ([`report`]).
//!
//! **Layering:** may depend on every lower `eigenformer-*` crate (io, assets, data, tensor,
//! spectral, model); the CLI is the only crate above it.

pub mod audit;
pub mod eval;
pub mod plot;
pub mod profile;
pub mod progress;
pub mod report;
pub mod reproduce;
pub mod theory;
pub mod train;
pub mod trajectory;
