//! `diagnostics.json`: the spectral picture of a model during training (theory.md §4–§6), all
//! computed by `eigenformer_spectral`.
//!
//! On a fixed probe batch (the first 32 test images, evaluation mode, no gradients):
//!
//! * per layer l: `mean_cosine` (mean pairwise cosine of the tokens, CLS included), its centred
//!   twin `mean_cosine_centred` (the probe batch's mean token vector subtracted first, so a common
//!   offset shared by every image does not count as smoothing) and `hc_dc` (‖HC‖/‖DC‖) of the
//!   block's *output* hidden state, each averaged over the images; `sigma`, the mean per-token
//!   standard deviation of the block's *input* (what its first LayerNorm divides by);
//! * per head: `eigenvalues_h` of H_h = W_V^h W_O^h, `eigenvalues_h_eff` of diag(γ) H_h (γ of the
//!   LayerNorm feeding the attention), `eigenvalues_h_sigma` of `H_eff = P_d diag(γ) H_h / σ_l`
//!   (the operator a pre-LN block acts through, corrected C8: with small activations a |λ| ≤ 1
//!   can act like |h| > 2), `asymmetry` ‖H − Hᵀ‖/‖H + Hᵀ‖, and the regime predicted by
//!   [`UpdateSpectrum::from_matrices`] from the head's attention matrix **averaged over the probe
//!   batch** (an average of row-stochastic matrices is row-stochastic) together with H_h
//!   (`regime`), diag(γ) H_h (`regime_eff`) and H_eff (`regime_sigma`, the one that acts).

use crate::audit::measure::norm_scale_sum;
use anyhow::{Context, Result};
use eigenformer_model::hf::NormKind;
use eigenformer_model::{Mode, ViT};
use eigenformer_spectral::linalg::eigenvalues;
use eigenformer_spectral::metrics::{asymmetry, hc_dc_ratio, mean_pairwise_cosine};
use eigenformer_spectral::spectrum::{layernorm_effective_h, SpectrumOptions, UpdateSpectrum};
use eigenformer_tensor::{no_grad, Tensor};
use ndarray::{Array1, Array2, Array4, ArrayView3, Axis, Ix3, Ix4};
use serde::{Deserialize, Serialize};

/// Number of test images in the probe batch.
pub const PROBE_IMAGES: usize = 32;

/// One head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadDiagnostics {
    /// Eigenvalues of H_h as `[re, im]`.
    pub eigenvalues_h: Vec<[f64; 2]>,
    /// Eigenvalues of diag(γ) H_h as `[re, im]`.
    pub eigenvalues_h_eff: Vec<[f64; 2]>,
    /// Regime of (mean attention, H_h).
    pub regime: String,
    /// Regime of (mean attention, diag(γ) H_h).
    pub regime_eff: String,
    /// Eigenvalues of `H_eff = P_d diag(γ) H_h / σ_l` as `[re, im]` (absent in files written
    /// before it was measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eigenvalues_h_sigma: Option<Vec<[f64; 2]>>,
    /// Regime of (mean attention, H_eff): what the pre-LN block acts through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regime_sigma: Option<String>,
    /// `‖H − Hᵀ‖_F / ‖H + Hᵀ‖_F` of H_h (0 for the symmetric spectral form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asymmetry: Option<f64>,
}

/// One layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerDiagnostics {
    /// Block index.
    pub index: usize,
    /// Mean pairwise token cosine of the block's output, averaged over the probe images.
    pub mean_cosine: f64,
    /// ‖HC‖/‖DC‖ of the block's output, averaged over the probe images.
    pub hc_dc: f64,
    /// Mean pairwise cosine after subtracting the probe batch's mean token vector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_cosine_centred: Option<f64>,
    /// σ_l: mean over the probe tokens of the standard deviation (over channels, with the
    /// LayerNorm's ε) of the block's input, the scale its first LayerNorm divides by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma: Option<f64>,
    /// The heads.
    pub heads: Vec<HeadDiagnostics>,
}

/// `diagnostics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diagnostics {
    /// Epoch (1-based) after which these were measured.
    pub epoch: usize,
    /// Images in the probe batch.
    pub probe_images: usize,
    /// The layers.
    pub layers: Vec<LayerDiagnostics>,
}

fn pairs(v: &[num_complex::Complex64]) -> Vec<[f64; 2]> {
    v.iter().map(|z| [z.re, z.im]).collect()
}

/// σ_l of a block input `[B, N, d]`: the mean over every token of `√(var + ε)` over its
/// channels, the per-token scale the audit measures for pre-LN models too.
fn input_scale(x: ArrayView3<'_, f32>, eps: f64) -> f64 {
    let tokens = x.len_of(Axis(0)) * x.len_of(Axis(1));
    let sum: f64 = x
        .outer_iter()
        .map(|image| norm_scale_sum(&image.to_owned(), NormKind::LayerNorm, eps))
        .sum();
    sum / tokens.max(1) as f64
}

/// `P_d diag(γ) H / σ` (theory.md C8): the rows of H scaled by γ, each column centred (P_d =
/// I − 11ᵀ/d removes the channel mean LayerNorm subtracts), divided by the measured scale.
pub fn effective_operator(h: &Array2<f64>, gamma: &Array1<f64>, sigma: f64) -> Array2<f64> {
    let mut m = h.clone();
    for (mut row, g) in m.rows_mut().into_iter().zip(gamma.iter()) {
        row.mapv_inplace(|v| v * g);
    }
    if let Some(mean) = m.mean_axis(Axis(0)) {
        m -= &mean;
    }
    m / sigma
}

/// Mean pairwise cosine of each image's tokens after subtracting `offset` from every token.
fn centred_cosine(hidden: ArrayView3<'_, f32>, offset: &Array1<f64>) -> Result<f64> {
    let b = hidden.len_of(Axis(0)).max(1) as f64;
    let mut cos = 0.0;
    for tokens in hidden.outer_iter() {
        let t = tokens.mapv(f64::from) - offset;
        cos += mean_pairwise_cosine(t.view(), &[])?;
    }
    Ok(cos / b)
}

/// Diagnostics of `model` on the probe batch `images` (`[B, C, H, W]`, already normalised).
pub fn compute(model: &ViT, images: &Array4<f32>, epoch: usize) -> Result<Diagnostics> {
    let x = Tensor::from_array(images.clone().into_dyn());
    let (_, trace) = no_grad(|| model.forward_with_trace(&x, Mode::Eval))
        .context("forward pass of the diagnostics probe batch")?;
    let heads = model
        .head_h_matrices()
        .context("the H matrices of the heads")?;
    // AttnScale's A + ω (A − 11ᵀ/N) keeps row sums 1 but may have negative entries.
    let opts = SpectrumOptions {
        signed_rows: model.config().attention == eigenformer_model::AttentionKind::AttnScale,
        ..SpectrumOptions::default()
    };
    let mut layers = Vec::with_capacity(heads.len());
    for (l, layer_heads) in heads.iter().enumerate() {
        let hidden = trace
            .hidden
            .get(l + 1)
            .context("trace has too few hidden states")?
            .view()
            .into_dimensionality::<Ix3>()
            .context("hidden state is not [B, N, d]")?;
        let b = hidden.len_of(Axis(0)).max(1) as f64;
        let mean_token = hidden
            .mapv(f64::from)
            .into_shape_with_order((
                hidden.len() / hidden.len_of(Axis(2)).max(1),
                hidden.len_of(Axis(2)),
            ))
            .context("hidden state reshape")?
            .mean_axis(Axis(0))
            .context("empty probe batch")?;
        let centred = centred_cosine(hidden, &mean_token)?;
        let block_input = trace
            .hidden
            .get(l)
            .context("trace has too few hidden states")?
            .view()
            .into_dimensionality::<Ix3>()
            .context("hidden state is not [B, N, d]")?;
        let sigma = input_scale(block_input, f64::from(model.config().ln_eps));
        let (mut cos, mut ratio) = (0.0, 0.0);
        for tokens in hidden.outer_iter() {
            let t = tokens.mapv(f64::from);
            cos += mean_pairwise_cosine(t.view(), &[])?;
            ratio += hc_dc_ratio(t.view())?;
        }
        let attention = trace
            .attention
            .get(l)
            .context("trace has too few attention maps")?
            .view()
            .into_dimensionality::<Ix4>()
            .context("attention is not [B, h, N, N]")?;
        let mut head_out = Vec::with_capacity(layer_heads.len());
        for (h, head) in layer_heads.iter().enumerate() {
            let a: Array2<f64> = attention
                .index_axis(Axis(1), h)
                .mapv(f64::from)
                .mean_axis(Axis(0))
                .context("empty probe batch")?;
            let h_eff = layernorm_effective_h(head.h.view(), head.ln_gamma.view())?;
            let regime = UpdateSpectrum::from_matrices(a.view(), head.h.view(), &opts)
                .with_context(|| format!("spectrum of layer {l} head {h}"))?
                .regime;
            let regime_eff = UpdateSpectrum::from_matrices(a.view(), h_eff.view(), &opts)
                .with_context(|| format!("effective spectrum of layer {l} head {h}"))?
                .regime;
            let h_sigma = effective_operator(&head.h, &head.ln_gamma, sigma);
            let regime_sigma = UpdateSpectrum::from_matrices(a.view(), h_sigma.view(), &opts)
                .with_context(|| format!("H_eff spectrum of layer {l} head {h}"))?
                .regime;
            head_out.push(HeadDiagnostics {
                eigenvalues_h: pairs(&eigenvalues(head.h.view())?),
                eigenvalues_h_eff: pairs(&eigenvalues(h_eff.view())?),
                regime: regime.name().to_string(),
                regime_eff: regime_eff.name().to_string(),
                eigenvalues_h_sigma: Some(pairs(&eigenvalues(h_sigma.view())?)),
                regime_sigma: Some(regime_sigma.name().to_string()),
                asymmetry: Some(asymmetry(head.h.view())?),
            });
        }
        layers.push(LayerDiagnostics {
            index: l,
            mean_cosine: cos / b,
            hc_dc: ratio / b,
            mean_cosine_centred: Some(centred),
            sigma: Some(sigma),
            heads: head_out,
        });
    }
    Ok(Diagnostics {
        epoch,
        probe_images: images.shape()[0],
        layers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array3};

    /// H_eff = P_d diag(γ) H / σ: with H = I, γ = −2·1 and σ = 4 it is −P_d/2, whose eigenvalues
    /// are 0 (the channel mean LayerNorm removes) and −1/2 (d − 1 times).
    #[test]
    fn effective_operator_applies_gamma_centring_and_scale() {
        let d = 4;
        let h = Array2::<f64>::eye(d);
        let gamma = Array1::from_elem(d, -2.0);
        let m = effective_operator(&h, &gamma, 4.0);
        let mut eig: Vec<f64> = eigenvalues(m.view())
            .unwrap()
            .iter()
            .map(|z| z.re)
            .collect();
        eig.sort_by(f64::total_cmp);
        let want = [-0.5, -0.5, -0.5, 0.0];
        for (a, b) in eig.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{eig:?}");
        }
        // Rows are scaled by γ before centring: a non-uniform γ changes the result.
        let g2 = array![1.0, 2.0, 3.0, 4.0];
        let m2 = effective_operator(&h, &g2, 1.0);
        assert!((m2[[3, 3]] - (4.0 - 1.0)).abs() < 1e-12, "{m2:?}");
        assert!((m2[[0, 3]] - (0.0 - 1.0)).abs() < 1e-12, "{m2:?}");
    }

    #[test]
    fn input_scale_is_the_mean_token_standard_deviation() {
        // Two tokens: [1, −1] (sd 1) and [3, 3] (sd 0); ε = 0.
        let x = Array3::from_shape_vec((1, 2, 2), vec![1.0f32, -1.0, 3.0, 3.0]).unwrap();
        assert!((input_scale(x.view(), 0.0) - 0.5).abs() < 1e-12);
    }

    /// AttnScale with a large ω has attention entries below 0 (rows still sum to 1); the
    /// diagnostics must analyse it rather than fail (a quick-profile run stopped on this).
    #[test]
    fn attnscale_with_negative_attention_entries_is_diagnosed() {
        let mut cfg = eigenformer_model::ViTConfig::preset("vit-small").unwrap();
        cfg.depth = 1;
        cfg.width = 16;
        cfg.heads = 2;
        cfg.mlp_hidden = 32;
        cfg.patch_size = 7;
        cfg.attention = eigenformer_model::AttentionKind::AttnScale;
        let model = ViT::new(cfg, 0).unwrap();
        let omega = model.blocks[0].attn.omega.as_ref().unwrap();
        omega
            .set_data(&ndarray::ArrayD::from_elem(ndarray::IxDyn(&[2]), 3.0))
            .unwrap();
        let images = ndarray::Array4::from_shape_fn((2, 1, 28, 28), |(b, _, y, x)| {
            ((b * 7 + y * 3 + x * 5) % 11) as f32 / 11.0 - 0.5
        });
        let d = compute(&model, &images, 1).unwrap();
        assert_eq!(d.layers.len(), 1);
        assert!(d.layers[0].heads.iter().all(|h| h.regime_sigma.is_some()));
    }
}
