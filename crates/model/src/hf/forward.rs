//! The inference forward pass of one sequence (batch of 1, no padding, so no attention mask)
//! on `eigenformer_tensor` ops, recording every hidden state and attention matrix.
//!
//! - post-LN (BERT, MPNet): `x ← LN₁(x + Attn(x))`, `x ← LN₂(x + MLP(x))`;
//! - pre-LN (ViT, DeiT): `x ← x + Attn(LN₁(x))`, `x ← x + MLP(LN₂(x))`;
//! - attention per head: `A_h = softmax(Q_h K_hᵀ/√d_h (+ MPNet's bias_h))`, output
//!   `(Σ_h A_h V_h) Wᵀ_O + b_O` with the heads concatenated before `W_O`.

use crate::hf::config::{Activation, Family, HfConfig};
use crate::hf::error::HfError;
use crate::hf::position::{mpnet_position_bias, mpnet_position_ids};
use crate::hf::weights::{EmbeddingW, EncoderWeights, LayerNormW, LayerW};
use eigenformer_tensor::Tensor;
use ndarray::{Array2, ArrayD, Axis, Ix2, Ix3};

/// What a forward pass records (detached f32 copies).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EncoderTrace {
    /// `layers + 1` token matrices `[tokens, width]`: index 0 is the embedding output (after
    /// the embedding LayerNorm for BERT/MPNet; CLS/DIST + patches + positions for ViT/DeiT),
    /// index l the output of layer l (post-LN: after its output LayerNorm; pre-LN: the residual
    /// stream, before any final LayerNorm). Same as transformers' `hidden_states`.
    pub hidden_states: Vec<Array2<f32>>,
    /// `attentions[l][h]`: the row-stochastic `[tokens, tokens]` matrix head h of layer l
    /// applied (row = query token, column = key token).
    pub attentions: Vec<Vec<Array2<f32>>>,
}

/// The input of one forward pass, already validated against the config.
pub enum Input<'a> {
    /// Token ids.
    Tokens(&'a [u32]),
    /// Pixels `[C, H, W]`.
    Pixels(ArrayD<f32>),
}

fn layer_norm(x: &Tensor, n: &LayerNormW, eps: f64) -> Result<Tensor, HfError> {
    Ok(x.layer_norm(&n.gamma, &n.beta, eps as f32)?)
}

fn to_2d(t: &Tensor) -> Result<Array2<f32>, HfError> {
    t.to_array()
        .into_dimensionality::<Ix2>()
        .map_err(|e| HfError::Input(format!("internal: expected a matrix: {e}")))
}

fn embed(config: &HfConfig, w: &EncoderWeights, input: Input<'_>) -> Result<Tensor, HfError> {
    match (&w.embeddings, input) {
        (
            EmbeddingW::Text {
                word,
                position,
                token_type,
                norm,
            },
            Input::Tokens(ids),
        ) => {
            let rows: Vec<usize> = ids.iter().map(|&i| i as usize).collect();
            let positions: Vec<usize> = match config.family {
                Family::MpNet => mpnet_position_ids(ids),
                _ => (0..ids.len()).collect(),
            };
            let mut x = word
                .gather_rows(&rows)?
                .add(&position.gather_rows(&positions)?)?;
            if let Some(tt) = token_type {
                x = x.add(tt)?;
            }
            layer_norm(&x, norm, config.layer_norm_eps)
        }
        (
            EmbeddingW::Vision {
                patch,
                leading,
                position,
            },
            Input::Pixels(pixels),
        ) => {
            let image = config
                .image
                .ok_or_else(|| HfError::Input("not a vision model".into()))?;
            let mut shape = vec![1];
            shape.extend_from_slice(pixels.shape());
            let batch = Tensor::from_array(pixels).reshape(&shape)?;
            let rows = batch.patchify(image.patch_size)?;
            let per = rows.shape()[2];
            let rows = rows.reshape(&[image.patches(), per])?;
            let tokens = Tensor::concat(&[leading.clone(), patch.forward(&rows)?], 0)?;
            Ok(tokens.add(position)?)
        }
        _ => Err(HfError::Input(
            "text models take token ids, vision models take pixels".into(),
        )),
    }
}

fn activation(x: &Tensor, act: Activation) -> Tensor {
    match act {
        Activation::Gelu => x.gelu(),
        Activation::GeluTanh => x.gelu_tanh(),
        Activation::Relu => x.relu(),
    }
}

/// Multi-head attention on `x` `[n, d]`: the output `[n, d]` and the probabilities `[h, n, n]`.
fn attention(
    config: &HfConfig,
    layer: &LayerW,
    x: &Tensor,
    bias: Option<&Tensor>,
) -> Result<(Tensor, Tensor), HfError> {
    let n = x.shape()[0];
    let (h, dh) = (config.heads, config.head_dim);
    let split =
        |t: Tensor| -> Result<Tensor, HfError> { Ok(t.reshape(&[n, h, dh])?.permute(&[1, 0, 2])?) };
    let q = split(layer.query.forward(x)?)?;
    let k = split(layer.key.forward(x)?)?;
    let v = split(layer.value.forward(x)?)?;
    let mut scores = q
        .matmul_t(&k, false, true)?
        .mul_scalar(1.0 / (dh as f32).sqrt());
    if let Some(b) = bias {
        scores = scores.add(b)?;
    }
    let probs = scores.softmax()?;
    let context = probs
        .matmul(&v)?
        .permute(&[1, 0, 2])?
        .reshape(&[n, h * dh])?;
    Ok((layer.output.forward(&context)?, probs))
}

fn split_heads(probs: &Tensor) -> Result<Vec<Array2<f32>>, HfError> {
    let a = probs
        .to_array()
        .into_dimensionality::<Ix3>()
        .map_err(|e| HfError::Input(format!("internal: expected [h, n, n]: {e}")))?;
    Ok(a.axis_iter(Axis(0)).map(|m| m.to_owned()).collect())
}

/// Run the encoder on a validated input (call inside `no_grad`).
pub fn run(
    config: &HfConfig,
    w: &EncoderWeights,
    input: Input<'_>,
) -> Result<EncoderTrace, HfError> {
    let mut x = embed(config, w, input)?;
    let n = x.shape()[0];
    let bias = w
        .relative_bias
        .as_ref()
        .map(|table| Tensor::from_array(mpnet_position_bias(table, n).into_dyn()));
    let eps = config.layer_norm_eps;
    let mut trace = EncoderTrace {
        hidden_states: vec![to_2d(&x)?],
        attentions: Vec::with_capacity(w.layers.len()),
    };
    for layer in &w.layers {
        let mlp = |t: &Tensor| -> Result<Tensor, HfError> {
            layer
                .fc2
                .forward(&activation(&layer.fc1.forward(t)?, config.activation))
        };
        let probs = if config.post_ln {
            let (a, probs) = attention(config, layer, &x, bias.as_ref())?;
            x = layer_norm(&x.add(&a)?, &layer.attn_norm, eps)?;
            x = layer_norm(&x.add(&mlp(&x)?)?, &layer.mlp_norm, eps)?;
            probs
        } else {
            let normed = layer_norm(&x, &layer.attn_norm, eps)?;
            let (a, probs) = attention(config, layer, &normed, bias.as_ref())?;
            x = x.add(&a)?;
            x = x.add(&mlp(&layer_norm(&x, &layer.mlp_norm, eps)?)?)?;
            probs
        };
        trace.attentions.push(split_heads(&probs)?);
        trace.hidden_states.push(to_2d(&x)?);
    }
    Ok(trace)
}
