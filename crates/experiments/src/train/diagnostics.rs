//! `diagnostics.json`: the spectral picture of a model during training (theory.md §4–§6), all
//! computed by `eigenformer_spectral`.
//!
//! On a fixed probe batch (the first 32 test images, evaluation mode, no gradients):
//!
//! * per layer l: `mean_cosine` (mean pairwise cosine of the tokens, CLS included) and `hc_dc`
//!   (‖HC‖/‖DC‖) of the block's *output* hidden state, each averaged over the images;
//! * per head: `eigenvalues_h` of H_h = W_V^h W_O^h, `eigenvalues_h_eff` of diag(γ) H_h (γ of the
//!   LayerNorm feeding the attention, C8), and the regime predicted by
//!   [`UpdateSpectrum::from_matrices`] from the head's attention matrix **averaged over the probe
//!   batch** (an average of row-stochastic matrices is row-stochastic) together with H_h
//!   (`regime`) and with diag(γ) H_h (`regime_eff`, what the pre-LN block acts through).

use anyhow::{Context, Result};
use eigenformer_model::{Mode, ViT};
use eigenformer_spectral::linalg::eigenvalues;
use eigenformer_spectral::metrics::{hc_dc_ratio, mean_pairwise_cosine};
use eigenformer_spectral::spectrum::{layernorm_effective_h, SpectrumOptions, UpdateSpectrum};
use eigenformer_tensor::{no_grad, Tensor};
use ndarray::{Array2, Array4, Axis, Ix3, Ix4};
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

/// Diagnostics of `model` on the probe batch `images` (`[B, C, H, W]`, already normalised).
pub fn compute(model: &ViT, images: &Array4<f32>, epoch: usize) -> Result<Diagnostics> {
    let x = Tensor::from_array(images.clone().into_dyn());
    let (_, trace) = no_grad(|| model.forward_with_trace(&x, Mode::Eval))
        .context("forward pass of the diagnostics probe batch")?;
    let heads = model
        .head_h_matrices()
        .context("the H matrices of the heads")?;
    let opts = SpectrumOptions::default();
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
            head_out.push(HeadDiagnostics {
                eigenvalues_h: pairs(&eigenvalues(head.h.view())?),
                eigenvalues_h_eff: pairs(&eigenvalues(h_eff.view())?),
                regime: regime.name().to_string(),
                regime_eff: regime_eff.name().to_string(),
            });
        }
        layers.push(LayerDiagnostics {
            index: l,
            mean_cosine: cos / b,
            hc_dc: ratio / b,
            heads: head_out,
        });
    }
    Ok(Diagnostics {
        epoch,
        probe_images: images.shape()[0],
        layers,
    })
}
