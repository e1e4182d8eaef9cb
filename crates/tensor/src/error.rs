//! Typed errors of the tensor crate. Every message names the operation and the shapes involved, so a
//! user who passes a wrong shape learns which op refused it and why.

use thiserror::Error;

/// Everything that can go wrong in a tensor operation.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum TensorError {
    /// Operand shapes are incompatible for `op`.
    #[error("{op}: incompatible shapes {lhs:?} and {rhs:?}: {reason}")]
    ShapeMismatch {
        op: &'static str,
        lhs: Vec<usize>,
        rhs: Vec<usize>,
        reason: String,
    },
    /// A single operand has a shape the op cannot take.
    #[error("{op}: invalid shape {shape:?}: {reason}")]
    InvalidShape {
        op: &'static str,
        shape: Vec<usize>,
        reason: String,
    },
    /// An argument other than a shape is out of range or inconsistent.
    #[error("{op}: invalid argument: {reason}")]
    InvalidArgument { op: &'static str, reason: String },
    /// A numerical failure (singular matrix, non-finite values).
    #[error("{op}: numerical failure: {reason}")]
    Numerical { op: &'static str, reason: String },
    /// Backward was called on something that cannot be differentiated.
    #[error("autodiff: {0}")]
    Autodiff(String),
    /// A CUDA device was requested; this build has no CUDA backend.
    #[error("{op}: this build of eigenformer was built without CUDA support (no CUDA backend exists yet); use the CPU device")]
    CudaUnavailable { op: &'static str },
    /// A CUDA device was requested in a build with the `cuda` feature, and cannot be used.
    #[error("{op}: {message}")]
    Cuda { op: &'static str, message: String },
}

/// Result type of the tensor crate.
pub type Result<T, E = TensorError> = std::result::Result<T, E>;
