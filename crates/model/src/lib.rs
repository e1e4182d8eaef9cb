//! # eigenformer-model
//!
//! Vision Transformers built on `eigenformer-tensor`, with plain, FeatScale, AttnScale and
//! spectral (±) attention (theory.md §5, §6).
//!
//! **Layering:** may depend on `eigenformer-tensor` only.
//!
//! ## Modules
//!
//! - [`config`] — [`ViTConfig`] (serde JSON, presets `deit-ti`, `vit-cifar`, `vit-small`,
//!   `key=value` overrides, validation), [`AttentionKind`], [`SpectralForm`], [`SpectralOptions`].
//! - [`vit`] — [`ViT`] (`forward`, `forward_with_trace` → [`Trace`], `named_parameters`,
//!   `load_named`, `head_h_matrices` → [`HeadH`]), [`Mode`].
//! - [`block`] — the pre-LN [`Block`] `x + DropPath(FS(Attn(LN1 x)))`, `x + DropPath(MLP(LN2 x))`
//!   and [`FeatScale`].
//! - [`attention`] — multi-head self-attention and its variants ([`Attention`], [`SpectralParams`]).
//! - [`layers`] — [`Linear`] (`y = x W + b`, W stored `[in, out]`), [`LayerNorm`], [`Mlp`] (GELU).
//! - [`init`] — the seeded initialisation (truncated normal std 0.02, zero biases, LN 1/0, …).
//! - [`error`] — [`ModelError`].
//! - [`hf`] — Hugging Face encoders (BERT/MiniLM, MPNet, ViT/DeiT) from `config.json` +
//!   `model.safetensors`: [`HfEncoder`] (`load_dir`, `forward` → [`EncoderTrace`],
//!   `head_value_output`, `attention_input_ln_gamma`), [`HfError`].
//!
//! ## Conventions
//!
//! Tokens are rows: a token matrix is `[B, N+1, d]` with the CLS token first, and a linear layer is
//! `y = x W + b`. One attention layer computes `Σ_h A_h X H_h` on `X = LN1(x)` (plus a bias), with
//! `A_h` row-stochastic `[N+1, N+1]` and `H_h` d×d. Per head `H_h = W_V^h W_O^h` with `W_V^h` d×d_h
//! and `W_O^h` d_h×d (theory.md §3).
//!
//! ## How the variants differ
//!
//! | kind | attention matrix | value·output path `H_h` | extra parameters |
//! |---|---|---|---|
//! | `plain` | `A_h = softmax(Q_h K_hᵀ/√d_h)` | `W_V^h W_O^h` (fused qkv, proj) | — |
//! | `featscale` | `A_h` | `W_V^h W_O^h`, then `Y + s_dc⊙DC[Y] + s_hc⊙HC[Y]` per block | `s_dc, s_hc ∈ R^d` (0) |
//! | `attnscale` | `A_h + ω_h (A_h − 11ᵀ/n)` | `W_V^h W_O^h` | `ω ∈ R^h` (0) |
//! | `spectral+` / `spectral-` | `A_h` | constructed with eigenvalues `±clip(ψ², ε, upper)` | Θ or V, ψ, out_bias |
//!
//! Spectral forms (each head has its own H_h, outputs summed over heads):
//! `lowrank` (default) `H_h = U_h diag(λ_h) U_hᵀ`, `U_h = Q(Θ_h)` d×d_h, plain-attention cost;
//! `symmetric` `H_h = Q(Θ_h) diag(λ_h) Q(Θ_h)ᵀ`, Θ_h d×d; `general` `H_h = V_h diag(λ_h) V_h⁻¹`,
//! V_h d×d free. The full forms cost h× plain attention's value path (see [`attention`]).
//! With `nonneg_ln_gamma` the LayerNorm feeding each attention uses |γ| so it cannot flip the
//! sign of the spectrum (C8).

pub mod attention;
pub mod block;
pub mod config;
pub mod error;
pub mod hf;
pub mod init;
pub mod layers;
pub mod onnx;
pub mod vit;

pub use attention::{Attention, HeadH, SpectralParams};
pub use block::{Block, FeatScale};
pub use config::{
    AttentionKind, Pooling, SpectralForm, SpectralOptions, ViTConfig,
    MAX_ACTIVATION_FLOATS_PER_IMAGE, MAX_PARAMETERS, PRESETS,
};
pub use error::{ModelError, Result};
pub use hf::{load_dir as load_hf_dir, EncoderTrace, HfConfig, HfEncoder, HfError};
pub use layers::{LayerNorm, Linear, Mlp};
pub use vit::{Mode, Trace, ViT};
