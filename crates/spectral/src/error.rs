//! The crate's error type.
//!
//! Every public function that takes user data validates it and reports problems through
//! [`SpectralError`] instead of panicking: the CLI and the audit code feed this crate matrices read
//! from checkpoints and `.npy` files, where wrong shapes and NaNs are ordinary events.

use std::path::PathBuf;

/// Errors of the spectral toolkit.
#[derive(Debug, thiserror::Error)]
pub enum SpectralError {
    /// An argument has the wrong shape.
    #[error("argument `{arg}` has shape {got:?}, expected {expected}")]
    Shape {
        /// Name of the offending argument.
        arg: &'static str,
        /// Its actual shape.
        got: Vec<usize>,
        /// Human-readable description of the expected shape.
        expected: String,
    },
    /// An argument contains NaN or ±∞.
    #[error("argument `{arg}` contains a non-finite value at index {index:?}")]
    NonFinite {
        /// Name of the offending argument.
        arg: &'static str,
        /// Multi-index of the first non-finite entry.
        index: Vec<usize>,
    },
    /// The attention matrix is not row-stochastic (rows must be non-negative and sum to 1).
    #[error(
        "attention matrix `{arg}` is not row-stochastic: max |row sum - 1| = {max_row_sum_deviation:e}, \
         min entry = {min_entry:e} (tolerance {tol:e})"
    )]
    NotRowStochastic {
        /// Name of the offending argument.
        arg: &'static str,
        /// `max_i |Σ_j a_ij − 1|`.
        max_row_sum_deviation: f64,
        /// The smallest entry of the matrix.
        min_entry: f64,
        /// The tolerance that was applied.
        tol: f64,
    },
    /// A matrix that must be lower-triangular (a causal attention matrix) has a nonzero entry
    /// above the diagonal.
    #[error(
        "matrix `{arg}` is not lower-triangular: entry {index:?} above the diagonal is {value:e}"
    )]
    NotLowerTriangular {
        /// Name of the offending argument.
        arg: &'static str,
        /// `[i, j]` (`j > i`) of the first nonzero entry above the diagonal, in row-major order.
        index: Vec<usize>,
        /// Its value.
        value: f64,
    },
    /// A matrix that must be symmetric is not.
    #[error("matrix `{arg}` is not symmetric: max |a_ij - a_ji| = {max_asymmetry:e}")]
    NotSymmetric {
        /// Name of the offending argument.
        arg: &'static str,
        /// `max_ij |a_ij − a_ji|`.
        max_asymmetry: f64,
    },
    /// A scalar parameter is out of its admissible range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// Name of the parameter.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A matrix that must be invertible is (numerically) singular.
    #[error("matrix `{arg}` is numerically singular (reciprocal pivot ratio {rcond:e})")]
    Singular {
        /// Name of the offending argument.
        arg: &'static str,
        /// `min |pivot| / max |pivot|` of its LU factorisation.
        rcond: f64,
    },
    /// A faer decomposition did not converge.
    #[error("{what} did not converge")]
    NoConvergence {
        /// Which decomposition failed.
        what: &'static str,
    },
    /// Reading or writing a `.npy` file failed.
    #[error("npy file {}: {reason}", path.display())]
    Npy {
        /// The file.
        path: PathBuf,
        /// Why it failed.
        reason: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = SpectralError> = std::result::Result<T, E>;
