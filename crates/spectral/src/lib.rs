//! # eigenformer-spectral
//!
//! Spectral analysis of the Transformer update `X ← X + A X H` (see `shared/docs/theory.md`):
//! eigenvalues of A, H and the Kronecker update without forming it, regime prediction, simulation of
//! the dynamics and smoothing metrics.
//!
//! **Layering:** stands alone on `faer`; it depends on none of the other `eigenformer-*` crates.
