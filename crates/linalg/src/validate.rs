//! Input checks shared by the factorisations.

use ndarray::ArrayView2;

use crate::error::{LinalgError, Result};

/// Fails with the index of the first (row-major) NaN or ±∞ entry: faer would otherwise factorise
/// it without complaint and return NaN everywhere.
pub(crate) fn check_finite(arg: &'static str, a: ArrayView2<'_, f64>) -> Result<()> {
    match a.indexed_iter().find(|(_, v)| !v.is_finite()) {
        Some(((i, j), _)) => Err(LinalgError::NonFinite {
            arg,
            index: vec![i, j],
        }),
        None => Ok(()),
    }
}
