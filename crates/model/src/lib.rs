//! # eigenformer-model
//!
//! Vision Transformers and Hugging Face encoders built on `eigenformer-tensor`, with plain, FeatScale,
//! AttnScale and spectral (±) attention.
//!
//! **Layering:** may depend on `eigenformer-tensor`, and on `eigenformer-cuda` behind the `cuda` feature.
