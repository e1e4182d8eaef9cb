//! # Eigenformer
//!
//! Measure, predict and control *oversmoothing* in Transformers. This facade crate re-exports the
//! member crates so that one dependency brings the whole toolkit; each crate can also be used alone.
//!
//! - [`tensor`]: f32 tensors with reverse-mode autodiff, optimisers and gradient checking.
//! - [`spectral`]: spectra of the update `X + A X H`, regimes, dynamics and smoothing metrics.
//! - [`model`]: Vision Transformers and Hugging Face encoders with plain, FeatScale, AttnScale and
//!   spectral attention.
//! - [`experiments`]: the data, training, audit and reproduction code behind the `eigenformer` binary.
//! - [`cuda`]: CUDA kernels (only functional with the `cuda` feature).

pub use eigenformer_cuda as cuda;
pub use eigenformer_experiments as experiments;
pub use eigenformer_model as model;
pub use eigenformer_spectral as spectral;
pub use eigenformer_tensor as tensor;
