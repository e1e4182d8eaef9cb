//! The subcommands of the `eigenformer` binary, one module each. Each exposes its clap `Args`
//! struct and a `run` function, so the binary stays a thin dispatcher and tests can call commands
//! in-process.

pub mod audit;
pub mod bench_step;
pub mod eval;
pub mod experiments;
pub mod fetch;
pub mod simulate;
pub mod spectrum;
pub mod theory;
pub mod train;

use anyhow::{Context, Result};
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

/// Write `contents` to `path` atomically: a temporary file in the same directory, then a rename,
/// so a reader never sees a half-written result and an interrupted run leaves the old file intact.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating directory {}", dir.display()))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let tmp = dir.join(format!(".{file_name}.tmp{}", std::process::id()));
    std::fs::write(&tmp, contents).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}
