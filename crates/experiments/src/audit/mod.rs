//! `eigenformer audit`: per-layer spectra and smoothing of a pre-trained Transformer on real text
//! (theory.md §3, §4, §7).
//!
//! Data flow: [`hub`] finds a hub name in the Hugging Face cache (or downloads it) → [`text`]
//! reads the sentences → [`tokenize`] turns them into ids with the checkpoint's own (or a given)
//! `tokenizer.json`, or checks given token ids → [`spectra`] computes each head's spectrum of
//! `H_h`, `diag(γ) H_h` and (pre-LN) `P_d diag(γ) H_h` once from the weights → [`measure`] runs
//! the model on each input (in parallel) and measures every hidden state and every head's
//! attention (a causal one through its diagonal), then, with the corpus-mean token and σ_l,
//! the centred cosines and the regimes with `H_eff` → [`report`] folds the inputs into
//! per-layer averages and per-head regime counts → [`render`] writes `audit.json`, the markdown
//! report, CSV and plots; [`claims`] puts several audits side by side and checks theory.md §7's
//! claims about pre-trained models. All spectral work goes through `eigenformer_spectral`.
//! [`arrays`] builds the same report from a model that ran elsewhere (the Python package's
//! in-memory audit of a PyTorch model).

pub mod arrays;
pub mod claims;
pub mod command;
pub mod hub;
pub mod images;
pub mod measure;
pub mod render;
pub mod report;
pub mod run;
pub mod spectra;
pub mod text;
pub mod tokenize;

pub use report::{AuditReport, HeadReport, LayerReport};
pub use run::{run_audit, AuditInput};

use eigenformer_model::hf::HfError;
use eigenformer_spectral::SpectralError;
use thiserror::Error;

/// Why an audit failed.
#[derive(Debug, Error)]
pub enum AuditError {
    #[error(transparent)]
    Model(#[from] HfError),
    #[error(transparent)]
    Spectral(#[from] SpectralError),
    #[error("layer {layer}, head {head}: measured attention: {source}")]
    Attention {
        layer: usize,
        head: usize,
        #[source]
        source: SpectralError,
    },
    #[error(transparent)]
    Tokenize(#[from] tokenize::TokenizeError),
    #[error(transparent)]
    Image(#[from] images::ImageError),
    #[error("no sentences to audit (an input needs at least 2 tokens)")]
    NoSentences,
    /// Arrays given to [`arrays::ArrayAudit`] that do not fit the model or hold NaN/∞.
    #[error("{0}")]
    Input(String),
}
