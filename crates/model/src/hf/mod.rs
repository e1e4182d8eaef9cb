//! Hugging Face encoder and decoder checkpoints (`config.json` + `model.safetensors`) loaded onto
//! `eigenformer_tensor` and run for inference, exposing every hidden state and attention matrix
//! (issue 5, theory.md §3, §4, §7).
//!
//! ```no_run
//! use eigenformer_model::hf;
//! let model = hf::load_dir(std::path::Path::new("all-MiniLM-L6-v2"))?;
//! let trace = model.forward(&[101, 7592, 2088, 102])?;
//! assert_eq!(trace.hidden_states.len(), model.config().layers + 1);
//! let (w_v, w_o) = model.head_value_output(0, 3)?; // H = w_v · w_o, d×d
//! let gamma = model.attention_input_ln_gamma(0)?;   // H_eff = diag(γ) H
//! # Ok::<(), hf::HfError>(())
//! ```
//!
//! ## Families and tensor names
//!
//! | `model_type` | layout | layer `l` tensors (after an optional `bert.`/`mpnet.`/`vit.`/`deit.` prefix) |
//! |---|---|---|
//! | `bert` (BERT, MiniLM) | post-LN | `encoder.layer.l.attention.self.{query,key,value}`, `attention.output.{dense,LayerNorm}`, `intermediate.dense`, `output.{dense,LayerNorm}` |
//! | `mpnet` | post-LN + relative bias | `encoder.layer.l.attention.attn.{q,k,v,o}`, `attention.LayerNorm`, `intermediate.dense`, `output.{dense,LayerNorm}`; `encoder.relative_attention_bias.weight` |
//! | `vit`, `deit` | pre-LN | `encoder.layer.l.attention.attention.{query,key,value}`, `attention.output.dense`, `layernorm_before`, `layernorm_after`, `intermediate.dense`, `output.dense` |
//! | `gpt2` (prefix `transformer.`) | pre-LN decoder, learned positions `wpe` | `h.l.ln_1`, `h.l.attn.c_attn` (fused q,k,v; `Conv1D` `[in, out]`), `h.l.attn.c_proj`, `h.l.ln_2`, `h.l.mlp.{c_fc,c_proj}`; `wte`, `wpe`, `ln_f` |
//! | `llama`, `mistral`, `qwen2` (prefix `model.`) | pre-norm decoder, RMSNorm, RoPE, grouped-query attention, SwiGLU | `layers.l.input_layernorm`, `layers.l.self_attn.{q,k,v,o}_proj`, `layers.l.post_attention_layernorm`, `layers.l.mlp.{gate,up,down}_proj`; `embed_tokens`, `norm` |
//!
//! Decoders attend causally (a −∞ mask above the diagonal, so every attention matrix is exactly
//! lower triangular) and end with a final norm, reported apart
//! ([`EncoderTrace::final_hidden`]). Mistral's sliding window and Qwen2's optional one cap the
//! input length at the window, where they have no effect; the RoPE scalings `linear` and
//! `llama3` are implemented, others are refused by name.
//!
//! LayerNorms named `gamma`/`beta` (old BERT exports) are accepted for `weight`/`bias`.
//!
//! ## Conventions
//!
//! Tokens are rows. A hidden state is `[tokens, width]`; index 0 of
//! [`EncoderTrace::hidden_states`] is the embedding output, index l the output of layer l,
//! exactly transformers' `output_hidden_states`. Attention matrices are `[tokens, tokens]`
//! (row = query). Per-head matrices follow theory.md §3: `H_h = W_V^h W_O^h`
//! ([`HfEncoder::head_value_output`]), acting on the right of the token matrix.
//!
//! ## Trust
//!
//! Checkpoints come from the network: every header offset is checked ([`header`]) before the
//! `safetensors` crate parses the file, every tensor's shape is checked against `config.json`,
//! and every failure is an [`HfError`] naming the file and tensor (the `fuzz/` target feeds
//! arbitrary bytes through [`HfEncoder::from_bytes`]). Non-finite weights load as they are.

pub mod checkpoint;
pub mod config;
mod decoder_config;
pub mod encoder;
pub mod error;
pub mod forward;
pub mod header;
pub mod position;
pub mod weights;

pub use config::{Activation, Family, HfConfig, ImageConfig, NormKind, RopeConfig, RopeScaling};
pub use encoder::HfEncoder;
pub use error::HfError;
pub use forward::EncoderTrace;

use std::path::Path;

/// Load a Hugging Face model directory; see [`HfEncoder::load_dir`].
pub fn load_dir(dir: &Path) -> Result<HfEncoder, HfError> {
    HfEncoder::load_dir(dir)
}
