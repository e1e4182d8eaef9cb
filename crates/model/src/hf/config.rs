//! [`HfConfig`]: the fields of a Hugging Face `config.json` that fix the architecture.
//!
//! Read from `serde_json::Value` field by field (rather than a derived struct) so that a missing
//! or mistyped field is reported by name, and fields transformers adds over the versions are
//! ignored. Defaults are transformers' own where a field is optional there.

use crate::hf::error::HfError;
use serde_json::{Map, Value};
use std::path::Path;

/// The architecture families the loader implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// BERT-style post-LN text encoder (`model_type` `bert`; MiniLM checkpoints are BERTs):
    /// word + absolute position + token-type (0) embeddings, LayerNorm after each residual.
    Bert,
    /// MPNet (`model_type` `mpnet`): post-LN like BERT, no token types, positions counted from
    /// the padding id + 1, and a relative position bias shared by all layers.
    MpNet,
    /// HF ViT (`model_type` `vit`): pre-LN, CLS token then patches.
    Vit,
    /// HF DeiT (`model_type` `deit`): as ViT with a distillation token after CLS.
    Deit,
    /// DINOv2 (`model_type` `dinov2`, `dinov2_with_registers`): pre-LN like ViT with LayerScale
    /// (`x + λ ⊙ f(LN(x))`), a position grid interpolated bicubically to the input's patch grid,
    /// optional register tokens after CLS (no position embedding), and a final LayerNorm.
    Dinov2,
    /// GPT-2 (`model_type` `gpt2`): a pre-LN decoder with causal attention, learned absolute
    /// positions and `Conv1D` weights stored `[in, out]` (transposed on load), q/k/v fused in
    /// `c_attn`, and a final LayerNorm `ln_f`.
    Gpt2,
    /// The Llama family (`model_type` `llama`, `mistral`, `qwen2`): a pre-norm decoder with
    /// RMSNorm, rotary positions (RoPE), grouped-query attention and a SwiGLU MLP, causal.
    Llama,
}

impl Family {
    /// The `model_type` strings accepted, comma-separated (for error messages).
    pub const SUPPORTED: &'static str =
        "bert, mpnet, vit, deit, dinov2, dinov2_with_registers, gpt2, llama, mistral, qwen2";

    fn from_model_type(model_type: &str) -> Option<Family> {
        match model_type {
            "bert" => Some(Family::Bert),
            "mpnet" => Some(Family::MpNet),
            "vit" => Some(Family::Vit),
            "deit" => Some(Family::Deit),
            "dinov2" | "dinov2_with_registers" => Some(Family::Dinov2),
            "gpt2" => Some(Family::Gpt2),
            "llama" | "mistral" | "qwen2" => Some(Family::Llama),
            _ => None,
        }
    }

    /// Vision families take pixels, text families token ids.
    pub fn is_vision(self) -> bool {
        matches!(self, Family::Vit | Family::Deit | Family::Dinov2)
    }

    /// The prefix the task-head classes of transformers put before the encoder's tensor names
    /// (`BertForMaskedLM` saves `bert.embeddings…`); checkpoints of the bare model have none.
    pub fn prefix(self) -> &'static str {
        match self {
            Family::Bert => "bert.",
            Family::MpNet => "mpnet.",
            Family::Vit => "vit.",
            Family::Deit => "deit.",
            Family::Dinov2 => "dinov2.",
            Family::Gpt2 => "transformer.",
            Family::Llama => "model.",
        }
    }

    /// Decoders (GPT-2, Llama) mask their attention causally: each token attends to itself and
    /// the tokens before it, so every attention matrix is lower triangular.
    pub fn is_decoder(self) -> bool {
        matches!(self, Family::Gpt2 | Family::Llama)
    }
}

/// The MLP activation (`hidden_act`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `gelu`: the exact erf form.
    Gelu,
    /// `gelu_new`, `gelu_pytorch_tanh`: the tanh approximation.
    GeluTanh,
    /// `relu`.
    Relu,
    /// `silu` (= swish, `x·sigmoid(x)`): the gate of the Llama family's SwiGLU MLP.
    Silu,
}

/// The normalisation of a block's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormKind {
    /// `(x − mean) / √(var + ε) · γ + β` over each token's channels.
    LayerNorm,
    /// `x / √(mean(x²) + ε) · γ` (no centring, no bias): the Llama family.
    RmsNorm,
}

/// How RoPE's inverse frequencies are rescaled for long contexts (`rope_scaling`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RopeScaling {
    /// No rescaling (`rope_scaling` absent, or `rope_type` `default`).
    None,
    /// `linear`: every inverse frequency divided by `factor`.
    Linear {
        /// The divisor.
        factor: f64,
    },
    /// `llama3` (Llama 3.1+): low frequencies divided by `factor`, high ones kept, a smooth
    /// blend between `low_freq_factor` and `high_freq_factor` wavelengths.
    Llama3 {
        /// The divisor of the low frequencies.
        factor: f64,
        /// Wavelengths above `original_max / low_freq_factor` are divided by `factor`.
        low_freq_factor: f64,
        /// Wavelengths below `original_max / high_freq_factor` are kept.
        high_freq_factor: f64,
        /// `original_max_position_embeddings`.
        original_max: f64,
    },
}

/// Rotary position embedding (Llama family).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RopeConfig {
    /// `rope_theta` (default 10000).
    pub theta: f64,
    /// `rope_scaling`.
    pub scaling: RopeScaling,
}

/// Image geometry of the vision families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageConfig {
    /// Height = width of the input, pixels.
    pub image_size: usize,
    /// Patch side, pixels.
    pub patch_size: usize,
    /// Input channels.
    pub channels: usize,
}

impl ImageConfig {
    /// Number of patches `(image_size / patch_size)²`.
    pub fn patches(&self) -> usize {
        let side = self.image_size / self.patch_size;
        side * side
    }
}

/// The architecture of a checkpoint, from its `config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct HfConfig {
    /// The family, from `model_type`.
    pub family: Family,
    /// `model_type` as written.
    pub model_type: String,
    /// Number of encoder layers.
    pub layers: usize,
    /// Attention heads per layer.
    pub heads: usize,
    /// Token width d (`hidden_size`).
    pub width: usize,
    /// Per-head width `d_h = d / heads`.
    pub head_dim: usize,
    /// MLP hidden width (`intermediate_size`).
    pub intermediate: usize,
    /// MLP activation.
    pub activation: Activation,
    /// LayerNorm ε.
    pub layer_norm_eps: f64,
    /// Post-LN (BERT, MPNet: `LN(x + f(x))`) or pre-LN (ViT, DeiT: `x + f(LN(x))`).
    pub post_ln: bool,
    /// Vocabulary size (text families; 0 for vision).
    pub vocab: usize,
    /// Rows of the position table: the longest input is this (BERT) or this − 2 (MPNet, whose
    /// positions start at the padding id + 1). Vision: the number of tokens.
    pub max_positions: usize,
    /// BERT token-type rows (0 for other families); the forward uses type 0.
    pub type_vocab: usize,
    /// MPNet: rows of the relative-attention-bias table.
    pub relative_buckets: usize,
    /// Vision: image geometry.
    pub image: Option<ImageConfig>,
    /// Vision: whether q, k, v have biases (`qkv_bias`, default true).
    pub qkv_bias: bool,
    /// Special token ids known from `config.json` (`pad_token_id`, `bos_token_id`,
    /// `eos_token_id`) and, when the directory has a readable `tokenizer.json`, its special
    /// added tokens (`[CLS]`, `[SEP]`, `<s>`, …). Sorted, without duplicates.
    pub special_token_ids: Vec<u32>,
    /// `pad_token_id` (MPNet: 1, the id whose position is not counted).
    pub pad_token_id: Option<u32>,
    /// Causal attention (decoders): a lower-triangular mask before the softmax.
    pub causal: bool,
    /// Key/value heads (`num_key_value_heads`): fewer than `heads` for grouped-query attention,
    /// where query head h uses key/value head `h / (heads / kv_heads)`. Equal to `heads` for
    /// every other family.
    pub kv_heads: usize,
    /// The normalisation (RMSNorm for the Llama family, LayerNorm otherwise).
    pub norm: NormKind,
    /// Rotary positions (Llama family); `None` for learned or relative positions.
    pub rope: Option<RopeConfig>,
    /// Whether the attention output projection has a bias (Llama's `attention_bias`; true for
    /// the encoders and GPT-2, false for Qwen2).
    pub output_bias: bool,
    /// Whether the MLP linears have biases (Llama's `mlp_bias`; true for the other families).
    pub mlp_bias: bool,
    /// GPT-2's `scale_attn_by_inverse_layer_idx`: layer l's scores are further divided by l + 1.
    pub scale_attn_by_layer: bool,
    /// Whether the last layer's output passes through a final norm (GPT-2 `ln_f`, Llama
    /// `norm`), which transformers applies to its last `hidden_states` entry.
    pub final_norm: bool,
    /// DINOv2's LayerScale: each residual branch is multiplied by a learned `λ` (`[d]`), so the
    /// attention adds `Σ_h A_h X H_h diag(λ)` (`layerscale_value` is its initial value).
    pub layer_scale: Option<f64>,
    /// DINOv2 with registers: extra learned tokens after CLS (`num_register_tokens`).
    pub register_tokens: usize,
}

/// Upper bound on any single size in a configuration: far above real models, low enough that
/// products of a few sizes cannot overflow `usize` and a hostile config cannot request absurd
/// allocations before the tensors are checked.
const MAX_DIM: u64 = 1 << 24;

pub(crate) struct Fields<'a> {
    pub(crate) file: &'a Path,
    pub(crate) map: &'a Map<String, Value>,
}

impl Fields<'_> {
    pub(crate) fn err(&self, field: &str, reason: impl Into<String>) -> HfError {
        HfError::ConfigField {
            file: self.file.to_path_buf(),
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    pub(crate) fn size_opt(&self, field: &str) -> Result<Option<usize>, HfError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if n <= MAX_DIM => Ok(Some(n as usize)),
                Some(n) => Err(self.err(field, format!("{n} is larger than {MAX_DIM}"))),
                None => Err(self.err(field, format!("expected a non-negative integer, got {v}"))),
            },
        }
    }

    pub(crate) fn size(&self, field: &str) -> Result<usize, HfError> {
        self.size_opt(field)?
            .ok_or_else(|| self.err(field, "missing (required for this model_type)"))
    }

    pub(crate) fn positive(&self, field: &str) -> Result<usize, HfError> {
        let n = self.size(field)?;
        if n == 0 {
            return Err(self.err(field, "must be at least 1"));
        }
        Ok(n)
    }

    pub(crate) fn token_id(&self, field: &str) -> Result<Option<u32>, HfError> {
        // Some configs write -1 or null for "no such token": treat any non-id as absent.
        Ok(self
            .map
            .get(field)
            .and_then(Value::as_u64)
            .and_then(|n| u32::try_from(n).ok()))
    }

    pub(crate) fn string_or(&self, field: &str, default: &str) -> Result<String, HfError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(default.to_string()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(v) => Err(self.err(field, format!("expected a string, got {v}"))),
        }
    }

    pub(crate) fn bool_or(&self, field: &str, default: bool) -> Result<bool, HfError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.err(field, format!("expected true or false, got {v}"))),
        }
    }

    fn eps(&self, default: f64) -> Result<f64, HfError> {
        match self.map.get("layer_norm_eps") {
            None | Some(Value::Null) => Ok(default),
            Some(v) => match v.as_f64() {
                Some(e) if e.is_finite() && e >= 0.0 => Ok(e),
                _ => Err(self.err("layer_norm_eps", format!("expected a number ≥ 0, got {v}"))),
            },
        }
    }
}

impl HfConfig {
    /// Parse the text of `config.json`; `file` is only used in error messages.
    pub fn parse(text: &str, file: &Path) -> Result<HfConfig, HfError> {
        let value: Value = serde_json::from_str(text).map_err(|e| HfError::ConfigParse {
            file: file.to_path_buf(),
            reason: e.to_string(),
        })?;
        let Value::Object(map) = &value else {
            return Err(HfError::ConfigParse {
                file: file.to_path_buf(),
                reason: "the top level is not a JSON object".into(),
            });
        };
        let f = Fields { file, map };
        let model_type = match map.get("model_type") {
            Some(Value::String(s)) => s.clone(),
            Some(v) => return Err(f.err("model_type", format!("expected a string, got {v}"))),
            None => return Err(f.err("model_type", "missing")),
        };
        let family =
            Family::from_model_type(&model_type).ok_or_else(|| HfError::UnsupportedModel {
                file: file.to_path_buf(),
                model_type: model_type.clone(),
                supported: Family::SUPPORTED.into(),
            })?;
        if family.is_decoder() {
            // GPT-2 names its sizes differently (`n_embd`, `n_layer`, …): its own parser.
            return crate::hf::decoder_config::parse_decoder(&f, family, model_type);
        }
        let width = f.positive("hidden_size")?;
        let heads = f.positive("num_attention_heads")?;
        if width % heads != 0 {
            return Err(f.err(
                "num_attention_heads",
                format!("{heads} heads do not divide hidden_size {width}"),
            ));
        }
        let layers = f.positive("num_hidden_layers")?;
        if layers > 4096 {
            return Err(f.err("num_hidden_layers", format!("{layers} is more than 4096")));
        }
        let intermediate = if family == Family::Dinov2 {
            match f.map.get("mlp_ratio").and_then(Value::as_f64) {
                Some(r) if r > 0.0 && r <= 64.0 => (width as f64 * r) as usize,
                None => 4 * width,
                Some(r) => return Err(f.err("mlp_ratio", format!("{r} is not in (0, 64]"))),
            }
        } else {
            f.positive("intermediate_size")?
        };
        let act = f.string_or("hidden_act", "gelu")?;
        let activation = match act.as_str() {
            "gelu" => Activation::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            other => {
                return Err(f.err(
                    "hidden_act",
                    format!("{other:?} is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)"),
                ))
            }
        };
        let layer_norm_eps = f.eps(match family {
            Family::MpNet => 1e-5,
            Family::Dinov2 => 1e-6,
            _ => 1e-12,
        })?;
        let pad_token_id = f.token_id("pad_token_id")?;
        let mut special: Vec<u32> = ["pad_token_id", "bos_token_id", "eos_token_id"]
            .iter()
            .map(|k| f.token_id(k))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        special.sort_unstable();
        special.dedup();
        let mut config = HfConfig {
            family,
            model_type,
            layers,
            heads,
            width,
            head_dim: width / heads,
            intermediate,
            activation,
            layer_norm_eps,
            post_ln: !family.is_vision(),
            vocab: 0,
            max_positions: 0,
            type_vocab: 0,
            relative_buckets: 0,
            image: None,
            qkv_bias: true,
            special_token_ids: special,
            pad_token_id,
            causal: false,
            kv_heads: heads,
            norm: NormKind::LayerNorm,
            rope: None,
            output_bias: true,
            mlp_bias: true,
            scale_attn_by_layer: false,
            final_norm: false,
            layer_scale: None,
            register_tokens: 0,
        };
        match family {
            Family::Bert | Family::MpNet => {
                config.vocab = f.positive("vocab_size")?;
                config.max_positions = f.positive("max_position_embeddings")?;
                if family == Family::Bert {
                    config.type_vocab = f.size_opt("type_vocab_size")?.unwrap_or(2);
                    let kind = f.string_or("position_embedding_type", "absolute")?;
                    if kind != "absolute" {
                        return Err(f.err(
                            "position_embedding_type",
                            format!("{kind:?}: only \"absolute\" is supported"),
                        ));
                    }
                } else {
                    config.relative_buckets =
                        f.size_opt("relative_attention_num_buckets")?.unwrap_or(32);
                    if config.relative_buckets < crate::hf::position::MPNET_BUCKETS {
                        return Err(f.err(
                            "relative_attention_num_buckets",
                            format!(
                                "{}: transformers' MPNet always uses {} buckets",
                                config.relative_buckets,
                                crate::hf::position::MPNET_BUCKETS
                            ),
                        ));
                    }
                    if config.max_positions < 3 {
                        return Err(f.err(
                            "max_position_embeddings",
                            "MPNet needs at least 3 rows (positions start at 2)",
                        ));
                    }
                }
            }
            Family::Gpt2 | Family::Llama => {
                // Handled by `decoder_config::parse_decoder` above.
            }
            Family::Vit | Family::Deit | Family::Dinov2 => {
                let image_size = f.positive("image_size")?;
                let patch_size = f.positive("patch_size")?;
                if image_size % patch_size != 0 {
                    return Err(f.err(
                        "patch_size",
                        format!("{patch_size} does not divide image_size {image_size}"),
                    ));
                }
                let channels = f.size_opt("num_channels")?.unwrap_or(3);
                if channels == 0 {
                    return Err(f.err("num_channels", "must be at least 1"));
                }
                let image = ImageConfig {
                    image_size,
                    patch_size,
                    channels,
                };
                // One position row per patch and per CLS/distillation token; DINOv2's
                // registers (read below) have none.
                let positioned = if family == Family::Deit { 2 } else { 1 };
                config.max_positions = image.patches() + positioned;
                config.image = Some(image);
                config.qkv_bias = f.bool_or("qkv_bias", true)?;
                if family == Family::Dinov2 {
                    if f.bool_or("use_swiglu_ffn", false)? {
                        return Err(f.err("use_swiglu_ffn", "the SwiGLU MLP is not supported"));
                    }
                    let value = match f.map.get("layerscale_value") {
                        None | Some(Value::Null) => 1.0,
                        Some(v) => v.as_f64().filter(|x| x.is_finite()).ok_or_else(|| {
                            f.err("layerscale_value", format!("expected a number, got {v}"))
                        })?,
                    };
                    config.layer_scale = Some(value);
                    config.register_tokens = f.size_opt("num_register_tokens")?.unwrap_or(0);
                    config.final_norm = true;
                }
            }
        }
        Ok(config)
    }

    fn leading_tokens_for(&self, family: Family) -> usize {
        match family {
            Family::Vit => 1,
            Family::Deit => 2,
            Family::Dinov2 => 1 + self.register_tokens,
            Family::Bert | Family::MpNet | Family::Gpt2 | Family::Llama => 0,
        }
    }

    /// Vision: the tokens before the patches (ViT: CLS; DeiT: CLS, distillation). 0 for text.
    pub fn leading_tokens(&self) -> usize {
        self.leading_tokens_for(self.family)
    }

    /// The longest token sequence the position table allows (vision: the fixed token count,
    /// DINOv2's register tokens included although they have no position row).
    pub fn max_tokens(&self) -> usize {
        match self.family {
            // Positions run from 2 (padding id 1 + 1) to n + 1.
            Family::MpNet => self.max_positions.saturating_sub(2),
            Family::Dinov2 => self.max_positions + self.register_tokens,
            _ => self.max_positions,
        }
    }

    /// Add the special added tokens of a `tokenizer.json` text to
    /// [`HfConfig::special_token_ids`]. Tokenisation is not this module's job: a file that
    /// does not parse is ignored (the ids from `config.json` remain).
    pub fn add_tokenizer_specials(&mut self, tokenizer_json: &str) {
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(tokenizer_json) else {
            return;
        };
        let Some(Value::Array(added)) = map.get("added_tokens") else {
            return;
        };
        for token in added {
            let special = token.get("special").and_then(Value::as_bool) == Some(true);
            let id = token
                .get("id")
                .and_then(Value::as_u64)
                .and_then(|n| u32::try_from(n).ok());
            if let (true, Some(id)) = (special, id) {
                self.special_token_ids.push(id);
            }
        }
        self.special_token_ids.sort_unstable();
        self.special_token_ids.dedup();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dinov2(extra: &str) -> HfConfig {
        let text = format!(
            r#"{{"model_type": "dinov2_with_registers", "hidden_size": 8, "num_hidden_layers": 1,
                "num_attention_heads": 2, "intermediate_size": 16, "image_size": 28,
                "patch_size": 14{extra}}}"#
        );
        HfConfig::parse(&text, Path::new("config.json")).expect("a valid config")
    }

    #[test]
    fn registers_count_as_tokens_but_have_no_position_row() {
        let plain = dinov2("");
        assert_eq!((plain.max_positions, plain.max_tokens()), (5, 5));
        let with = dinov2(r#", "num_register_tokens": 4"#);
        assert_eq!(with.register_tokens, 4);
        assert_eq!(with.max_positions, 5, "CLS and the four patches");
        assert_eq!(with.max_tokens(), 9, "CLS, four registers, four patches");
        assert_eq!(with.leading_tokens(), 5);
    }
}
