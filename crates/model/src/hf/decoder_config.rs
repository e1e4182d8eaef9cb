//! The `config.json` of the decoder families (GPT-2, the Llama family) read into [`HfConfig`].
//!
//! Why a parser of its own: GPT-2 names its sizes `n_embd`, `n_layer`, `n_head`, `n_inner`,
//! `n_positions` and `layer_norm_epsilon`, and the Llama family adds fields the encoders do not
//! have (key/value heads, RoPE, RMSNorm's ε, bias switches). The field-by-field reader
//! ([`Fields`]) is the encoders' one, so a missing or mistyped field is named the same way and
//! the same size bounds apply.

use crate::hf::config::{Activation, Family, Fields, HfConfig, NormKind, RopeConfig, RopeScaling};
use crate::hf::error::HfError;
use serde_json::Value;

impl Fields<'_> {
    /// The first of `names` that is present (a field and its alias, e.g. `n_embd` and
    /// `hidden_size`), as a size ≥ 1; the error names the first.
    fn positive_alias(&self, names: &[&str]) -> Result<usize, HfError> {
        for name in names {
            if self.size_opt(name)?.is_some() {
                return self.positive(name);
            }
        }
        Err(self.err(names[0], "missing (required for this model_type)"))
    }

    /// A finite number ≥ 0 (`default` when absent or null).
    fn number_or(&self, field: &str, default: f64) -> Result<f64, HfError> {
        number_in(self, self.map.get(field), field, default)
    }
}

fn number_in(f: &Fields<'_>, v: Option<&Value>, field: &str, default: f64) -> Result<f64, HfError> {
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(v) => match v.as_f64() {
            Some(x) if x.is_finite() && x >= 0.0 => Ok(x),
            _ => Err(f.err(field, format!("expected a finite number ≥ 0, got {v}"))),
        },
    }
}

fn activation(f: &Fields<'_>, field: &str, default: &str) -> Result<Activation, HfError> {
    let act = f.string_or(field, default)?;
    match act.as_str() {
        "gelu" => Ok(Activation::Gelu),
        "gelu_new" | "gelu_pytorch_tanh" => Ok(Activation::GeluTanh),
        "relu" => Ok(Activation::Relu),
        "silu" | "swish" => Ok(Activation::Silu),
        other => Err(f.err(
            field,
            format!("{other:?} is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu, silu)"),
        )),
    }
}

fn special_ids(f: &Fields<'_>) -> Result<(Vec<u32>, Option<u32>), HfError> {
    let mut special = Vec::new();
    for k in ["pad_token_id", "bos_token_id", "eos_token_id"] {
        match f.map.get(k) {
            // Llama configs may list several end-of-sequence ids.
            Some(Value::Array(ids)) => special.extend(
                ids.iter()
                    .filter_map(Value::as_u64)
                    .filter_map(|n| u32::try_from(n).ok()),
            ),
            _ => special.extend(f.token_id(k)?),
        }
    }
    special.sort_unstable();
    special.dedup();
    Ok((special, f.token_id("pad_token_id")?))
}

/// The RoPE settings: `rope_theta` and `rope_scaling` at the top level (transformers 4), or
/// inside `rope_parameters` (transformers 5).
fn rope(f: &Fields<'_>) -> Result<RopeConfig, HfError> {
    let params = match f.map.get("rope_parameters") {
        Some(Value::Object(m)) => Some(m),
        None | Some(Value::Null) => None,
        Some(v) => return Err(f.err("rope_parameters", format!("expected an object, got {v}"))),
    };
    let theta_value = f
        .map
        .get("rope_theta")
        .filter(|v| !v.is_null())
        .or_else(|| params.and_then(|p| p.get("rope_theta")));
    let theta = number_in(f, theta_value, "rope_theta", 10_000.0)?;
    if theta <= 1.0 {
        return Err(f.err("rope_theta", format!("{theta} must be greater than 1")));
    }
    let scaling = match f.map.get("rope_scaling") {
        Some(Value::Object(m)) => Some(m),
        None | Some(Value::Null) => params,
        Some(v) => return Err(f.err("rope_scaling", format!("expected an object, got {v}"))),
    };
    let Some(scaling) = scaling else {
        return Ok(RopeConfig {
            theta,
            scaling: RopeScaling::None,
        });
    };
    let kind = scaling
        .get("rope_type")
        .or_else(|| scaling.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("default");
    let num = |key: &str, default: Option<f64>| -> Result<f64, HfError> {
        let field = format!("rope_scaling.{key}");
        match (scaling.get(key), default) {
            (None | Some(Value::Null), Some(d)) => Ok(d),
            (None | Some(Value::Null), None) => Err(f.err(&field, "missing")),
            (Some(v), _) => match v.as_f64() {
                Some(x) if x.is_finite() && x > 0.0 => Ok(x),
                _ => Err(f.err(&field, format!("expected a finite number > 0, got {v}"))),
            },
        }
    };
    let scaling = match kind {
        "default" => RopeScaling::None,
        "linear" => RopeScaling::Linear {
            factor: num("factor", None)?,
        },
        "llama3" => {
            let (low, high) = (
                num("low_freq_factor", None)?,
                num("high_freq_factor", None)?,
            );
            if high <= low {
                return Err(f.err(
                    "rope_scaling.high_freq_factor",
                    format!("{high} must exceed low_freq_factor {low}"),
                ));
            }
            RopeScaling::Llama3 {
                factor: num("factor", None)?,
                low_freq_factor: low,
                high_freq_factor: high,
                original_max: num("original_max_position_embeddings", None)?,
            }
        }
        other => {
            return Err(f.err(
                "rope_scaling",
                format!("rope type {other:?} is not supported (default, linear, llama3)"),
            ))
        }
    };
    Ok(RopeConfig { theta, scaling })
}

/// Parse a decoder's fields (`family` is [`Family::Gpt2`] or [`Family::Llama`]).
pub(crate) fn parse_decoder(
    f: &Fields<'_>,
    family: Family,
    model_type: String,
) -> Result<HfConfig, HfError> {
    let (special_token_ids, pad_token_id) = special_ids(f)?;
    let check_layers = |field: &str, layers: usize| {
        if layers > 4096 {
            Err(f.err(field, format!("{layers} is more than 4096")))
        } else {
            Ok(layers)
        }
    };
    let config = match family {
        Family::Gpt2 => {
            let width = f.positive_alias(&["n_embd", "hidden_size"])?;
            let heads = f.positive_alias(&["n_head", "num_attention_heads"])?;
            if width % heads != 0 {
                return Err(f.err(
                    "n_head",
                    format!("{heads} heads do not divide n_embd {width}"),
                ));
            }
            let layers = check_layers(
                "n_layer",
                f.positive_alias(&["n_layer", "num_hidden_layers"])?,
            )?;
            // `n_inner: null` means 4·n_embd.
            let intermediate = match f.size_opt("n_inner")? {
                Some(0) => return Err(f.err("n_inner", "must be at least 1")),
                Some(n) => n,
                None => 4 * width,
            };
            if !f.bool_or("scale_attn_weights", true)? {
                return Err(f.err(
                    "scale_attn_weights",
                    "false (unscaled attention scores) is not supported",
                ));
            }
            HfConfig {
                family,
                model_type,
                layers,
                heads,
                width,
                head_dim: width / heads,
                intermediate,
                activation: activation(f, "activation_function", "gelu_new")?,
                layer_norm_eps: f.number_or("layer_norm_epsilon", 1e-5)?,
                post_ln: false,
                vocab: f.positive("vocab_size")?,
                max_positions: f.positive_alias(&["n_positions", "max_position_embeddings"])?,
                type_vocab: 0,
                relative_buckets: 0,
                image: None,
                qkv_bias: true,
                special_token_ids,
                pad_token_id,
                causal: true,
                kv_heads: heads,
                norm: NormKind::LayerNorm,
                rope: None,
                output_bias: true,
                mlp_bias: true,
                scale_attn_by_layer: f.bool_or("scale_attn_by_inverse_layer_idx", false)?,
                final_norm: true,
                layer_scale: None,
                register_tokens: 0,
            }
        }
        _ => {
            let width = f.positive("hidden_size")?;
            let heads = f.positive("num_attention_heads")?;
            let kv_heads = match f.size_opt("num_key_value_heads")? {
                None => heads,
                Some(0) => return Err(f.err("num_key_value_heads", "must be at least 1")),
                Some(k) => k,
            };
            if heads % kv_heads != 0 {
                return Err(f.err(
                    "num_key_value_heads",
                    format!("{kv_heads} key/value heads do not divide {heads} attention heads"),
                ));
            }
            let head_dim = match f.size_opt("head_dim")? {
                Some(0) => return Err(f.err("head_dim", "must be at least 1")),
                Some(h) => h,
                None if width % heads == 0 => width / heads,
                None => {
                    return Err(f.err(
                        "num_attention_heads",
                        format!("{heads} heads do not divide hidden_size {width}"),
                    ))
                }
            };
            let rope = rope(f)?;
            if head_dim % 2 != 0 {
                return Err(f.err("head_dim", format!("{head_dim} is odd; RoPE rotates pairs")));
            }
            let layers = check_layers("num_hidden_layers", f.positive("num_hidden_layers")?)?;
            let qwen = model_type == "qwen2";
            let attention_bias = f.bool_or("attention_bias", false)?;
            let mut max_positions = f.positive("max_position_embeddings")?;
            // A sliding window changes nothing for inputs no longer than it: cap the length
            // there rather than implement the band mask (Mistral; Qwen2 only when enabled).
            let window_on = !qwen || f.bool_or("use_sliding_window", false)?;
            if window_on {
                if let Some(w) = f.size_opt("sliding_window")? {
                    if w == 0 {
                        return Err(f.err("sliding_window", "must be at least 1"));
                    }
                    max_positions = max_positions.min(w);
                }
            }
            HfConfig {
                family,
                model_type,
                layers,
                heads,
                width,
                head_dim,
                intermediate: f.positive("intermediate_size")?,
                activation: activation(f, "hidden_act", "silu")?,
                layer_norm_eps: f.number_or("rms_norm_eps", 1e-6)?,
                post_ln: false,
                vocab: f.positive("vocab_size")?,
                max_positions,
                type_vocab: 0,
                relative_buckets: 0,
                image: None,
                // Qwen2 always has q/k/v biases and none on the output projection.
                qkv_bias: qwen || attention_bias,
                special_token_ids,
                pad_token_id,
                causal: true,
                kv_heads,
                norm: NormKind::RmsNorm,
                rope: Some(rope),
                output_bias: !qwen && attention_bias,
                mlp_bias: f.bool_or("mlp_bias", false)?,
                scale_attn_by_layer: false,
                final_norm: true,
                layer_scale: None,
                register_tokens: 0,
            }
        }
    };
    Ok(config)
}
