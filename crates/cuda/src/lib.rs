//! # eigenformer-cuda
//!
//! CUDA kernels for eigenformer tensors through `cudarc`. Everything here is only functional with the
//! `cuda` feature; a default build compiles this crate as an empty shell and never needs CUDA.
//!
//! **Layering:** may depend on `eigenformer-tensor` only.
