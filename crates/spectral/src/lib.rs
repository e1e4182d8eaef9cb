//! # eigenformer-spectral
//!
//! Spectral analysis of the Transformer update `X ← X + A X H` (see `docs/theory.md`):
//! eigenvalues of A, H and the Kronecker update without forming it, regime prediction, simulation of
//! the dynamics and smoothing metrics.
//!
//! **Layering:** built on `faer`; of the other `eigenformer-*` crates it depends only on
//! `eigenformer-linalg` (the faer ⇄ ndarray copies, sign-fixed QR and checked solve it shares with
//! `eigenformer-tensor`), not on `eigenformer-tensor`.
//!
//! ## Modules
//!
//! - [`analysis`]: the analyses behind `eigenformer spectrum` and `eigenformer simulate` on
//!   arrays ([`analyse_spectrum`], [`simulate_stack`]), shared by the binary and the Python
//!   package.
//! - [`hessenberg_qr`]: eigenvalues of small dense matrices (Hessenberg reduction and Francis
//!   double-shift QR), the audit's per-input attention spectra.
//! - [`linalg`]: eigenvalues/eigenvectors (deterministic order), symmetric EVD, SVD, sign-fixed QR
//!   and solves on faer, ndarray in and out.
//! - [`npy`]: `.npy` reading (`f32`/`f64` → `f64`) and writing.
//! - [`spectrum`]: [`UpdateSpectrum`] — the `n·d` eigenvalues `μ_ij = 1 + a_i h_j` (C1), DC mode,
//!   dominating pairs, [`Regime`] and [`LimitNotions`]; LayerNorm (C8), per-head (C9) and multi-head
//!   variants; the exact spectrum of a causal (lower-triangular) A from its diagonal.
//! - [`metrics`]: smoothing measurements on token matrices (cosine, HC/DC, σ₂/σ₁, effective rank,
//!   relative residual) and the asymmetry of H.
//! - [`dynamics`]: simulation of deep stacks (single/multi-head, optional renormalisation, pre-LN).
//! - [`construction`]: the spectral reparameterisation `H = V diag(λ) V⁻¹` (C10).
//! - [`random`]: seeded random instances (softmax attention, bases, matrices with a prescribed
//!   spectrum) and the dense reference update, shared by the property tests and the theory report.
//! - [`validate`]: input checks, including [`check_row_stochastic`] and
//!   [`check_lower_triangular`].
//! - [`error`]: the error type, [`SpectralError`].
//!
//! ## Example
//!
//! ```
//! use eigenformer_spectral::{Regime, SpectrumOptions, UpdateSpectrum};
//! use ndarray::array;
//!
//! let a = array![[0.7, 0.3], [0.4, 0.6]]; // row-stochastic attention
//! let h = array![[0.5, 0.0], [0.0, 0.1]]; // positive spectrum: smoothing (C6)
//! let s = UpdateSpectrum::from_matrices(a.view(), h.view(), &SpectrumOptions::default()).unwrap();
//! assert_eq!(s.regime, Regime::Smoothing);
//! assert!(s.limits.angle_convergence && s.limits.rank_collapse);
//! ```

pub mod analysis;
pub mod construction;
pub mod dynamics;
pub mod error;
pub mod hessenberg_qr;
pub mod linalg;
pub mod metrics;
pub mod npy;
pub mod random;
pub mod small_lu;
pub mod spectrum;
pub mod validate;

pub use analysis::{
    analyse_spectrum, random_initial_state, simulate_stack, AnalysisError, DominantPair,
    SpectrumReport, StackSimulation,
};
pub use construction::{
    clipped_eigenvalues, general_h, low_rank_head_h, symmetric_h, ClipBounds, SpectrumSign,
};
pub use dynamics::{
    layer_norm, simulate, DynamicsConfig, DynamicsHead, LayerNormParams, LayerRecord, Trajectory,
};
pub use error::{Result, SpectralError};
pub use metrics::{
    asymmetry, effective_rank, hc_dc_ratio, mean_pairwise_cosine, relative_residual, sigma_ratio,
    smoothing_metrics, SmoothingMetrics,
};
pub use num_complex::Complex64;
pub use spectrum::{
    attention_spectrum, causal_attention_spectrum, head_eigenvalues, layernorm_effective_h,
    multi_head_spectrum, pre_ln_spectrum, AttentionSpectrum, HeadEigenvalues, HeadInput,
    HeadWeights, LimitNotions, ModePair, MultiHeadMethod, MultiHeadSpectrum, PreLnSpectrum, Regime,
    SpectrumOptions, UpdateSpectrum,
};
pub use validate::{check_lower_triangular, check_row_stochastic};
