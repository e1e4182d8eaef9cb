//! The crate's error type.

/// Why a factorisation or solve refused its input.
///
/// Deliberately small and free of any caller's vocabulary: `eigenformer-tensor` and
/// `eigenformer-spectral` map each variant into their own error type, so their messages and error
/// kinds do not change with this crate. The enum is exhaustive on purpose: a new variant should make
/// every caller decide how to report it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LinalgError {
    /// An operand has a shape the operation cannot take.
    #[error("argument `{arg}` has shape {got:?}, expected {expected}")]
    Shape {
        /// Name of the offending argument (`a`, `b`).
        arg: &'static str,
        /// Its actual shape.
        got: Vec<usize>,
        /// Human-readable description of the expected shape.
        expected: String,
    },
    /// An operand contains NaN or ±∞.
    #[error("argument `{arg}` contains a non-finite value at index {index:?}")]
    NonFinite {
        /// Name of the offending argument.
        arg: &'static str,
        /// Multi-index of the first non-finite entry (row-major order).
        index: Vec<usize>,
    },
    /// [`solve`](crate::solve): the LU pivots say the matrix is numerically singular.
    #[error("matrix `a` is numerically singular (reciprocal pivot ratio {rcond:e})")]
    Singular {
        /// `min |U_ii| / max |U_ii|` of the LU factorisation (NaN if the pivots are not finite).
        rcond: f64,
    },
    /// [`solve_residual_checked`](crate::solve_residual_checked): the computed solution has a
    /// non-finite entry, i.e. the matrix is exactly singular (or an input was not finite).
    #[error("the matrix is singular (the solution is not finite)")]
    NonFiniteSolution,
    /// [`solve_residual_checked`](crate::solve_residual_checked): the solution is finite but does
    /// not satisfy the system, i.e. the matrix is singular to working precision.
    #[error("the matrix is singular to working precision (residual {residual:e})")]
    LargeResidual {
        /// `max |A X − B|`.
        residual: f64,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = LinalgError> = std::result::Result<T, E>;
