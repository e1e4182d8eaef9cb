//! # eigenformer-tensor
//!
//! f32 n-dimensional tensors on `ndarray` storage, a [`Device`] enum, reverse-mode automatic
//! differentiation, optimisers and a finite-difference gradient checker.
//!
//! **Layering:** the bottom layer of the autodiff stack. Of the other `eigenformer-*` crates it
//! depends only on `eigenformer-linalg` (the f64 QR and solve behind [`Tensor::qr`] and
//! [`Tensor::solve`]).

pub mod device;
pub mod error;
pub mod gradcheck;
pub mod kernels;
pub mod memory;

pub use device::Device;
pub use error::{Result, TensorError};
pub mod autograd;
pub mod ops;
pub mod optim;
mod tensor;

pub use autograd::{is_grad_enabled, no_grad, NoGradGuard};
pub use gradcheck::{check_gradients, GradCheckConfig, GradCheckReport};
pub use tensor::{SharedArray, Tensor, TensorId};
