//! # eigenformer-experiments
//!
//! Data readers, the asset resolver, training, audits and the reproduction of the paper's experiments;
//! the library behind the `eigenformer` binary.
//!
//! **Layering:** the top layer; it may depend on every other `eigenformer-*` crate.

pub mod assets;
pub mod audit;
pub mod cli;
pub mod corrupt;
pub mod data;
pub mod plot;
pub mod reproduce;
pub mod train;
