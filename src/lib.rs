//! # Eigenformer
//!
//! Measure, predict and control *oversmoothing* in Transformers. This facade crate re-exports the
//! member crates so that one dependency brings the whole toolkit; each crate can also be used alone.
//!
//! - [`io`]: atomic writes, JSON files and sha256 digests.
//! - [`linalg`]: the sign-fixed QR, checked solves and faer views shared by tensor and spectral.
//! - [`tensor`]: f32 tensors with reverse-mode autodiff, optimisers and gradient checking.
//! - [`spectral`]: spectra of the update `X + A X H`, regimes, dynamics and smoothing metrics.
//! - [`model`]: Vision Transformers and Hugging Face encoders with plain, FeatScale, AttnScale and
//!   spectral attention.
//! - [`assets`]: the resolver for pinned datasets and checkpoints.
//! - [`data`]: image datasets, loaders, augmentation and the CIFAR-10-C corruptions.
//! - [`experiments`]: training, evaluation, audits, the theory experiment and the reproduction.

pub use eigenformer_assets as assets;
pub use eigenformer_data as data;
pub use eigenformer_experiments as experiments;
pub use eigenformer_io as io;
pub use eigenformer_linalg as linalg;
pub use eigenformer_model as model;
pub use eigenformer_spectral as spectral;
pub use eigenformer_tensor as tensor;
