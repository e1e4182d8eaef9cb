//! The pre-LN Transformer block:
//! `x + DropPath(FS(Attn(LN1(x))))`, then `x + DropPath(MLP(LN2(x)))`, where FS is FeatScale's
//! `Y + s_dc ⊙ DC[Y] + s_hc ⊙ HC[Y]` (featscale only; identity otherwise).

use crate::attention::{Attention, HeadH};
use crate::config::{AttentionKind, ViTConfig};
use crate::error::Result;
use crate::layers::{LayerNorm, Mlp};
use eigenformer_tensor::Tensor;
use ndarray::{Array1, ArrayD, IxDyn};
use rand::{Rng, RngCore};

/// FeatScale's per-channel scales of the DC and high-frequency parts (theory.md §6), init 0.
#[derive(Debug, Clone)]
pub struct FeatScale {
    /// `[d]`.
    pub s_dc: Tensor,
    /// `[d]`.
    pub s_hc: Tensor,
}

impl FeatScale {
    /// `Y + s_dc ⊙ DC[Y] + s_hc ⊙ HC[Y]` for `Y` `[B, N, d]`, `DC[Y]` the token mean.
    pub fn forward(&self, y: &Tensor) -> Result<Tensor> {
        let dc = y.mean_axes(&[1], true)?; // [B, 1, d]
        let hc = y.sub(&dc)?;
        Ok(y.add(&dc.mul(&self.s_dc)?)?.add(&hc.mul(&self.s_hc)?)?)
    }
}

/// One pre-LN block.
#[derive(Debug, Clone)]
pub struct Block {
    /// LayerNorm feeding the attention.
    pub norm1: LayerNorm,
    /// The attention.
    pub attn: Attention,
    /// FeatScale (featscale kind only).
    pub featscale: Option<FeatScale>,
    /// LayerNorm feeding the MLP.
    pub norm2: LayerNorm,
    /// The MLP.
    pub mlp: Mlp,
    /// Drop-path rate of both residual branches (training only).
    pub drop_path: f32,
    /// Use |γ| of `norm1` in the forward.
    pub nonneg_ln_gamma: bool,
}

impl Block {
    /// Block `layer` of a model with `config` (its drop-path rate is
    /// [`ViTConfig::drop_path_rate`]`(layer)`). Draws its parameters from `rng`.
    pub fn new(config: &ViTConfig, layer: usize, rng: &mut impl Rng) -> Result<Block> {
        config.validate()?;
        let d = config.width;
        let norm1 = LayerNorm::new(d, config.ln_eps);
        let attn = Attention::new(config, rng)?;
        let featscale = (config.attention == AttentionKind::FeatScale).then(|| FeatScale {
            s_dc: Tensor::parameter(ArrayD::zeros(IxDyn(&[d]))),
            s_hc: Tensor::parameter(ArrayD::zeros(IxDyn(&[d]))),
        });
        let norm2 = LayerNorm::new(d, config.ln_eps);
        let mlp = Mlp::new(d, config.mlp_hidden, rng);
        Ok(Block {
            norm1,
            attn,
            featscale,
            norm2,
            mlp,
            drop_path: config.drop_path_rate(layer),
            nonneg_ln_gamma: config.nonneg_ln_gamma,
        })
    }

    fn run(
        &self,
        x: &Tensor,
        rng: Option<&mut dyn RngCore>,
        trace: bool,
    ) -> Result<(Tensor, Option<ArrayD<f32>>)> {
        let h = self.norm1.forward(x, self.nonneg_ln_gamma)?;
        let (mut y, attn) = self.attn.forward(&h, trace)?;
        if let Some(fs) = &self.featscale {
            y = fs.forward(&y)?;
        }
        let mut rng = rng;
        let p = self.drop_path;
        if let (Some(r), true) = (rng.as_mut(), p > 0.0) {
            y = y.drop_path(p, r)?;
        }
        let x = x.add(&y)?;
        let mut m = self.mlp.forward(&self.norm2.forward(&x, false)?)?;
        if let (Some(r), true) = (rng.as_mut(), p > 0.0) {
            m = m.drop_path(p, r)?;
        }
        Ok((x.add(&m)?, attn))
    }

    /// Apply the block to tokens `[B, N, d]`. With `rng` (training) drop-path is active.
    pub fn forward(&self, x: &Tensor, rng: Option<&mut dyn RngCore>) -> Result<Tensor> {
        Ok(self.run(x, rng, false)?.0)
    }

    /// [`Block::forward`] that also returns the attention matrices `[B, h, N, N]` (detached).
    pub fn forward_traced(
        &self,
        x: &Tensor,
        rng: Option<&mut dyn RngCore>,
    ) -> Result<(Tensor, ArrayD<f32>)> {
        let (y, a) = self.run(x, rng, true)?;
        Ok((y, a.unwrap_or_default()))
    }

    /// Named parameters under `prefix` (e.g. `blocks.3`): `norm1.*`, `attn.*`, `featscale.*`,
    /// `norm2.*`, `mlp.fc1.*`, `mlp.fc2.*`.
    pub fn named_parameters(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        self.named(prefix, &mut out);
        out
    }

    pub(crate) fn named(&self, prefix: &str, out: &mut Vec<(String, Tensor)>) {
        self.norm1.named(&format!("{prefix}.norm1"), out);
        self.attn.named(&format!("{prefix}.attn"), out);
        if let Some(fs) = &self.featscale {
            out.push((format!("{prefix}.featscale.s_dc"), fs.s_dc.clone()));
            out.push((format!("{prefix}.featscale.s_hc"), fs.s_hc.clone()));
        }
        self.norm2.named(&format!("{prefix}.norm2"), out);
        self.mlp.named(&format!("{prefix}.mlp"), out);
    }

    /// The γ of `norm1` as used in the forward (|γ| with `nonneg_ln_gamma`).
    pub fn attention_ln_gamma(&self) -> Array1<f64> {
        let g = self.norm1.weight.to_vec();
        Array1::from_iter(g.iter().map(|&v| {
            if self.nonneg_ln_gamma {
                v.abs() as f64
            } else {
                v as f64
            }
        }))
    }

    /// Per-head `H_h` of this block (see [`HeadH`]), reported as layer `layer`.
    pub fn head_h_matrices(&self, layer: usize) -> Result<Vec<HeadH>> {
        self.attn.head_h_matrices(layer, &self.attention_ln_gamma())
    }
}
