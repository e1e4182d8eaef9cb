//! The subcommands that live in the binary itself: those that are only file reading and printing
//! around one library call (`spectrum`, `simulate`, `fetch`). The others are a library module's
//! `Args` and `run` (see `main.rs`).

pub mod fetch;
pub mod simulate;
pub mod spectrum;

use anyhow::Result;
use eigenformer_spectral::SpectralError;
use ndarray::{ArrayBase, ArrayView2, Data, Dimension};
use std::path::Path;

/// Refuse an input array with a NaN or infinite entry, naming the file and the entry. Why here:
/// the spectral code refuses it too, but only as "argument `a` contains a non-finite value",
/// which does not say which of several input files is at fault.
pub fn require_finite<S, D>(a: &ArrayBase<S, D>, path: &Path) -> Result<()>
where
    S: Data<Elem = f64>,
    D: Dimension,
    D::Pattern: std::fmt::Debug,
{
    match a.indexed_iter().find(|(_, v)| !v.is_finite()) {
        Some((index, v)) => anyhow::bail!(
            "{}: entry {index:?} is {v}, a non-finite value; the file must hold finite numbers",
            path.display()
        ),
        None => Ok(()),
    }
}

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
