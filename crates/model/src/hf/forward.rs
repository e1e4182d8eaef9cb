//! The inference forward pass of one sequence (batch of 1, no padding, so no attention mask)
//! on `eigenformer_tensor` ops, recording every hidden state and attention matrix.
//!
//! Several sequences can run in one pass, packed: their tokens are stacked into one
//! `[Σ n_i, d]` matrix for every per-token step (norms, projections, MLP), so each weight matrix
//! is read and packed for the GEMM once per layer instead of once per sequence, and only the
//! attention itself runs per sequence. Per token the arithmetic is the same as alone.
//!
//! - post-LN (BERT, MPNet): `x ← LN₁(x + Attn(x))`, `x ← LN₂(x + MLP(x))`;
//! - pre-LN (ViT, DeiT, GPT-2, Llama): `x ← x + Attn(N₁(x))`, `x ← x + MLP(N₂(x))`, N a
//!   LayerNorm or (Llama) an RMSNorm; decoders end with a final norm;
//! - attention per head: `A_h = softmax(Q_h K_hᵀ/√d_h (+ MPNet's bias_h) (+ causal mask))`,
//!   output `(Σ_h A_h V_{g(h)}) Wᵀ_O + b_O` with the heads concatenated before `W_O`; g(h) = h
//!   except with grouped-query attention (Llama family), where query head h reads key/value
//!   head `h / (heads / kv_heads)`; Llama rotates Q and K by RoPE first;
//! - MLP: `fc2(act(fc1(x)))`, or SwiGLU `fc2(silu(gate(x)) ⊙ fc1(x))` (Llama).

use crate::hf::config::{Activation, Family, HfConfig, NormKind};
use crate::hf::error::HfError;
use crate::hf::position::{causal_mask, mpnet_position_bias, mpnet_position_ids, RopeTables};
use crate::hf::weights::{EmbeddingW, EncoderWeights, LayerNormW, LayerW};
use eigenformer_tensor::Tensor;
use ndarray::{Array2, ArrayD, Axis, Ix2, Ix3};

/// What a forward pass records (detached f32 copies).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EncoderTrace {
    /// `layers + 1` token matrices `[tokens, width]`: index 0 is the embedding output (after
    /// the embedding LayerNorm for BERT/MPNet; CLS/DIST + patches + positions for ViT/DeiT),
    /// index l the output of layer l (post-LN: after its output LayerNorm; pre-LN: the residual
    /// stream, before any final LayerNorm). Same as transformers' `hidden_states`, except that
    /// for decoders transformers' last entry is [`EncoderTrace::final_hidden`].
    pub hidden_states: Vec<Array2<f32>>,
    /// Decoders (GPT-2, Llama): the last layer's output after the final norm (`ln_f`, `norm`),
    /// which transformers reports as its last `hidden_states` entry; `None` for encoders.
    /// Kept apart so that `hidden_states` is the residual stream at every depth.
    pub final_hidden: Option<Array2<f32>>,
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

/// The block-input norm of `config` (LayerNorm, or RMSNorm `x / √(mean(x²) + ε) · γ`).
fn norm(config: &HfConfig, x: &Tensor, n: &LayerNormW) -> Result<Tensor, HfError> {
    match config.norm {
        NormKind::LayerNorm => layer_norm(x, n, config.layer_norm_eps),
        NormKind::RmsNorm => {
            let last = x.shape().len().saturating_sub(1);
            let rms = x
                .square()
                .mean_axes(&[last], true)?
                .add_scalar(config.layer_norm_eps as f32)
                .sqrt();
            Ok(x.div(&rms)?.mul(&n.gamma)?)
        }
    }
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
        (EmbeddingW::Decoder { word, position }, Input::Tokens(ids)) => {
            let rows: Vec<usize> = ids.iter().map(|&i| i as usize).collect();
            let x = word.gather_rows(&rows)?;
            match position {
                Some(p) => {
                    let positions: Vec<usize> = (0..ids.len()).collect();
                    Ok(x.add(&p.gather_rows(&positions)?)?)
                }
                None => Ok(x),
            }
        }
        (
            EmbeddingW::Vision {
                patch,
                leading,
                position,
                registers,
            },
            Input::Pixels(pixels),
        ) => {
            let image = config
                .image
                .ok_or_else(|| HfError::Input("not a vision model".into()))?;
            let side = pixels.shape()[1] / image.patch_size;
            let mut shape = vec![1];
            shape.extend_from_slice(pixels.shape());
            let batch = Tensor::from_array(pixels).reshape(&shape)?;
            let rows = batch.patchify(image.patch_size)?;
            let per = rows.shape()[2];
            let rows = rows.reshape(&[side * side, per])?;
            let tokens = Tensor::concat(&[leading.clone(), patch.forward(&rows)?], 0)?;
            let native = image.image_size / image.patch_size;
            let position = if side == native {
                position.clone()
            } else {
                // DINOv2: the native grid interpolated bicubically to this input's grid.
                let table = position.to_array();
                let d = config.width;
                let lead = table.shape()[0] - native * native;
                let grid = table
                    .slice(ndarray::s![lead.., ..])
                    .to_owned()
                    .into_shape_with_order((native, native, d))
                    .map_err(|e| HfError::Input(format!("internal: position grid: {e}")))?;
                let resized = bicubic_resize(&grid, side).into_shape_with_order((side * side, d));
                let resized =
                    resized.map_err(|e| HfError::Input(format!("internal: position grid: {e}")))?;
                let head = table.slice(ndarray::s![..lead, ..]).to_owned();
                let full = ndarray::concatenate(
                    Axis(0),
                    &[
                        head.view()
                            .into_dimensionality::<Ix2>()
                            .map_err(|e| HfError::Input(format!("internal: position grid: {e}")))?,
                        resized.view(),
                    ],
                )
                .map_err(|e| HfError::Input(format!("internal: position grid: {e}")))?;
                Tensor::from_array(full.into_dyn())
            };
            let x = tokens.add(&position)?;
            match registers {
                // [CLS, registers, patches]: the registers carry no position.
                Some(r) => {
                    let n = x.shape()[0];
                    Ok(Tensor::concat(
                        &[x.slice(0, 0, 1)?, r.clone(), x.slice(0, 1, n)?],
                        0,
                    )?)
                }
                None => Ok(x),
            }
        }
        _ => Err(HfError::Input(
            "text models take token ids, vision models take pixels".into(),
        )),
    }
}

/// The cubic convolution kernel with `a = −0.75` (PyTorch's `bicubic`, ONNX `Resize` cubic).
fn cubic_weight(x: f64) -> f64 {
    const A: f64 = -0.75;
    let x = x.abs();
    if x <= 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A
    } else {
        0.0
    }
}

/// Resize a `[side, side, d]` grid to `[out, out, d]` as `torch.nn.functional.interpolate(…,
/// mode="bicubic", align_corners=False, antialias=False)` does (half-pixel centres, taps outside
/// the grid clamped to its edge), separably in f64.
pub fn bicubic_resize(grid: &ndarray::Array3<f32>, out: usize) -> ndarray::Array3<f32> {
    let (side, _, d) = grid.dim();
    let scale = side as f64 / out as f64;
    let taps: Vec<[(usize, f64); 4]> = (0..out)
        .map(|i| {
            let src = (i as f64 + 0.5) * scale - 0.5;
            let base = src.floor();
            let t = src - base;
            let w = [
                cubic_weight(1.0 + t),
                cubic_weight(t),
                cubic_weight(1.0 - t),
                cubic_weight(2.0 - t),
            ];
            let mut row = [(0usize, 0.0f64); 4];
            for (k, slot) in row.iter_mut().enumerate() {
                let idx = (base as i64 - 1 + k as i64).clamp(0, side as i64 - 1) as usize;
                *slot = (idx, w[k]);
            }
            row
        })
        .collect();
    // Rows first (y), then columns (x).
    let mut tmp = ndarray::Array3::<f64>::zeros((out, side, d));
    for (i, row) in taps.iter().enumerate() {
        for &(src, w) in row {
            let mut dst = tmp.slice_mut(ndarray::s![i, .., ..]);
            dst.scaled_add(w, &grid.slice(ndarray::s![src, .., ..]).mapv(f64::from));
        }
    }
    let mut res = ndarray::Array3::<f64>::zeros((out, out, d));
    for (j, col) in taps.iter().enumerate() {
        for &(src, w) in col {
            let mut dst = res.slice_mut(ndarray::s![.., j, ..]);
            dst.scaled_add(w, &tmp.slice(ndarray::s![.., src, ..]));
        }
    }
    res.mapv(|v| v as f32)
}

fn activation(x: &Tensor, act: Activation) -> Result<Tensor, HfError> {
    Ok(match act {
        Activation::Gelu => x.gelu(),
        Activation::GeluTanh => x.gelu_tanh(),
        Activation::Relu => x.relu(),
        Activation::Silu => x.mul(&x.sigmoid())?,
    })
}

/// What every layer's attention shares for one input.
struct AttentionContext {
    /// MPNet's relative position bias `[h, n, n]`.
    bias: Option<Tensor>,
    /// Decoders: 0 on and below the diagonal, −∞ above (`[n, n]`), so the softmax gives
    /// exact zeros there and A is lower triangular.
    mask: Option<Tensor>,
    /// RoPE's cos/sin tables for positions `0..n`.
    rope: Option<RopeTables>,
}

/// Multi-head attention on `x` `[n, d]` in layer `index`: the output `[n, d]` and the
/// probabilities `[h, n, n]`.
/// Rows `start..start + n` of a packed `[Σ n_i, ·]` tensor (the tensor itself when it is one
/// sequence).
fn rows(t: &Tensor, start: usize, n: usize) -> Result<Tensor, HfError> {
    if start == 0 && n == t.shape()[0] {
        Ok(t.clone())
    } else {
        Ok(t.slice(0, start, start + n)?)
    }
}

/// Stack per-sequence `[n_i, ·]` tensors into one (no copy for one sequence).
fn stack(parts: &[Tensor]) -> Result<Tensor, HfError> {
    match parts {
        [one] => Ok(one.clone()),
        _ => Ok(Tensor::concat(parts, 0)?),
    }
}

/// Attention of a packed input `x` (`lens[i]` tokens of sequence i, one context each): the
/// projections on all tokens at once, the attention per sequence. Returns the output
/// `[Σ n_i, d]` and each sequence's probabilities `[h, n_i, n_i]`.
fn attention(
    config: &HfConfig,
    index: usize,
    layer: &LayerW,
    x: &Tensor,
    segments: &[(usize, AttentionContext)],
) -> Result<(Tensor, Vec<Tensor>), HfError> {
    let q = layer.query.forward(x)?;
    let k = layer.key.forward(x)?;
    let v = layer.value.forward(x)?;
    let mut contexts = Vec::with_capacity(segments.len());
    let mut probs = Vec::with_capacity(segments.len());
    let mut start = 0;
    for (n, ctx) in segments {
        let (c, p) = attend(
            config,
            index,
            rows(&q, start, *n)?,
            rows(&k, start, *n)?,
            rows(&v, start, *n)?,
            ctx,
        )?;
        contexts.push(c);
        probs.push(p);
        start += n;
    }
    Ok((layer.output.forward(&stack(&contexts)?)?, probs))
}

/// One sequence's attention from its projections `q`, `k`, `v` (`[n, heads·d_h]`): the
/// concatenated head outputs `[n, h·d_h]` (before `W_O`) and the probabilities `[h, n, n]`.
fn attend(
    config: &HfConfig,
    index: usize,
    mut q: Tensor,
    mut k: Tensor,
    v: Tensor,
    ctx: &AttentionContext,
) -> Result<(Tensor, Tensor), HfError> {
    let n = q.shape()[0];
    let (h, kv, dh) = (config.heads, config.kv_heads, config.head_dim);
    if let Some(rope) = &ctx.rope {
        q = rope.apply(&q, h)?;
        k = rope.apply(&k, kv)?;
    }
    let split = |t: Tensor, heads: usize| -> Result<Tensor, HfError> {
        Ok(t.reshape(&[n, heads, dh])?.permute(&[1, 0, 2])?)
    };
    let q = split(q, h)?;
    let k = split(k, kv)?;
    let v = split(v, kv)?;
    // Grouped-query attention: the `rep = h / kv` query heads of a group are consecutive, so
    // `[h, n, dh]` regroups as `[kv, rep·n, dh]` against the group's keys and values (no copies
    // of K or V per query head).
    let rep = h / kv;
    let mut scale = 1.0 / (dh as f32).sqrt();
    if config.scale_attn_by_layer {
        scale /= (index + 1) as f32;
    }
    // Without grouping (rep = 1) the reshapes are skipped: they would copy the permuted views.
    let regroup = |t: Tensor, shape: &[usize]| -> Result<Tensor, HfError> {
        if rep == 1 {
            Ok(t)
        } else {
            Ok(t.reshape(shape)?)
        }
    };
    let mut scores = regroup(
        regroup(q, &[kv, rep * n, dh])?.matmul_t(&k, false, true)?,
        &[h, n, n],
    )?
    .mul_scalar(scale);
    if let Some(b) = &ctx.bias {
        scores = scores.add(b)?;
    }
    if let Some(m) = &ctx.mask {
        scores = scores.add(m)?;
    }
    let probs = scores.softmax()?;
    let context = regroup(
        regroup(probs.clone(), &[kv, rep * n, n])?.matmul(&v)?,
        &[h, n, dh],
    )?
    .permute(&[1, 0, 2])?
    .reshape(&[n, h * dh])?;
    Ok((context, probs))
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
    run_packed(config, w, vec![input])?
        .pop()
        .ok_or_else(|| HfError::Input("internal: no trace for the input".into()))
}

/// The context of one sequence of `n` tokens: MPNet's bias, the causal mask, RoPE's tables.
fn context(config: &HfConfig, w: &EncoderWeights, n: usize) -> AttentionContext {
    AttentionContext {
        bias: w
            .relative_bias
            .as_ref()
            .map(|table| Tensor::from_array(mpnet_position_bias(table, n).into_dyn())),
        mask: config
            .causal
            .then(|| Tensor::from_array(causal_mask(n).into_dyn())),
        rope: config.rope.map(|r| RopeTables::new(&r, config.head_dim, n)),
    }
}

/// Each sequence's `[n_i, d]` rows of a packed tensor, as f32 arrays.
fn split_rows(x: &Tensor, lens: &[usize]) -> Result<Vec<Array2<f32>>, HfError> {
    let all = to_2d(x)?;
    let mut start = 0;
    Ok(lens
        .iter()
        .map(|&n| {
            let part = all.slice(ndarray::s![start..start + n, ..]).to_owned();
            start += n;
            part
        })
        .collect())
}

/// Run the encoder on several validated inputs in one packed pass (call inside `no_grad`): one
/// trace per input, in order, each equal to what [`run`] gives for that input alone up to the
/// summation order of the GEMMs.
pub fn run_packed(
    config: &HfConfig,
    w: &EncoderWeights,
    inputs: Vec<Input<'_>>,
) -> Result<Vec<EncoderTrace>, HfError> {
    let parts = inputs
        .into_iter()
        .map(|input| embed(config, w, input))
        .collect::<Result<Vec<_>, _>>()?;
    let lens: Vec<usize> = parts.iter().map(|p| p.shape()[0]).collect();
    let segments: Vec<(usize, AttentionContext)> =
        lens.iter().map(|&n| (n, context(config, w, n))).collect();
    let mut x = stack(&parts)?;
    let eps = config.layer_norm_eps;
    let mut traces: Vec<EncoderTrace> = split_rows(&x, &lens)?
        .into_iter()
        .map(|h0| EncoderTrace {
            hidden_states: vec![h0],
            attentions: Vec::with_capacity(w.layers.len()),
            final_hidden: None,
        })
        .collect();
    for (index, layer) in w.layers.iter().enumerate() {
        let mlp = |t: &Tensor| -> Result<Tensor, HfError> {
            let up = layer.fc1.forward(t)?;
            let hidden = match &layer.gate {
                Some(gate) => activation(&gate.forward(t)?, config.activation)?.mul(&up)?,
                None => activation(&up, config.activation)?,
            };
            layer.fc2.forward(&hidden)
        };
        let probs = if config.post_ln {
            let (a, probs) = attention(config, index, layer, &x, &segments)?;
            x = layer_norm(&x.add(&a)?, &layer.attn_norm, eps)?;
            x = layer_norm(&x.add(&mlp(&x)?)?, &layer.mlp_norm, eps)?;
            probs
        } else {
            let normed = norm(config, &x, &layer.attn_norm)?;
            let (mut a, probs) = attention(config, index, layer, &normed, &segments)?;
            if let Some(l1) = &layer.attn_scale {
                a = a.mul(l1)?;
            }
            x = x.add(&a)?;
            let mut m = mlp(&norm(config, &x, &layer.mlp_norm)?)?;
            if let Some(l2) = &layer.mlp_scale {
                m = m.mul(l2)?;
            }
            x = x.add(&m)?;
            probs
        };
        for ((trace, p), h) in traces.iter_mut().zip(&probs).zip(split_rows(&x, &lens)?) {
            trace.attentions.push(split_heads(p)?);
            trace.hidden_states.push(h);
        }
    }
    if let Some(f) = &w.final_norm {
        let finals = split_rows(&norm(config, &x, f)?, &lens)?;
        for (trace, fh) in traces.iter_mut().zip(finals) {
            trace.final_hidden = Some(fh);
        }
    }
    Ok(traces)
}
