//! The subcommands that live in the binary itself: those that are only file reading and printing
//! around one library call (`spectrum`, `simulate`, `fetch`). The others are a library module's
//! `Args` and `run` (see `main.rs`).

pub mod fetch;
pub mod simulate;
pub mod spectrum;

use anyhow::Result;
use eigenformer_spectral::SpectralError;
use ndarray::ArrayView2;
use std::path::Path;

/// Check that the attention matrix read from `path` is row-stochastic within `tol`. With
/// `allow_nonstochastic` a matrix that is not is accepted with a warning pushed to `warnings`, and
/// the returned tolerance (`f64::MAX`) lets the analysis take it; otherwise it is a clear error.
/// Returns the tolerance the analysis should use.
pub fn accept_attention(
    a: ArrayView2<'_, f64>,
    path: &Path,
    tol: f64,
    allow_nonstochastic: bool,
    warnings: &mut Vec<String>,
) -> Result<f64> {
    match eigenformer_spectral::check_row_stochastic(a, tol) {
        Ok(()) => Ok(tol),
        Err(e @ SpectralError::NotRowStochastic { .. }) if allow_nonstochastic => {
            warnings.push(format!(
                "{}: {e}; used anyway (--allow-nonstochastic)",
                path.display()
            ));
            Ok(f64::MAX)
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!(
            "{} is not a valid attention matrix (pass --allow-nonstochastic to use it anyway)",
            path.display()
        ))),
    }
}
