//! The Vision Transformer: patch embedding, CLS token, learned position embeddings, pre-LN blocks,
//! final LayerNorm and a linear head on the CLS token.

use crate::attention::HeadH;
use crate::block::Block;
use crate::config::{Pooling, ViTConfig};
use crate::error::{ModelError, Result};
use crate::init::{trunc_normal, WEIGHT_STD};
use crate::layers::{LayerNorm, Linear};
use eigenformer_tensor::Tensor;
use ndarray::ArrayD;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{HashMap, HashSet};

/// Training (drop-path active, masks drawn from a `ChaCha8Rng` seeded with `seed`) or evaluation
/// (deterministic). Neither switches gradient recording: wrap evaluation in
/// `eigenformer_tensor::no_grad` to avoid building the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Training with a seed for the stochastic parts (use a different seed per step).
    Train {
        /// Seed of the drop-path masks of this forward.
        seed: u64,
    },
    /// Evaluation: no drop-path.
    Eval,
}

/// What [`ViT::forward_with_trace`] records (all detached copies).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    /// `depth + 1` token matrices `[B, N+1, d]`: entry l is the input of block l (CLS first),
    /// the last is the output of the last block (before the final LayerNorm).
    pub hidden: Vec<ArrayD<f32>>,
    /// `depth` attention tensors `[B, h, N+1, N+1]`: the row-stochastic matrix each head applied
    /// (the softmax output; for AttnScale the rescaled `A'`).
    pub attention: Vec<ArrayD<f32>>,
}

/// A Vision Transformer (see the crate documentation).
#[derive(Debug, Clone)]
pub struct ViT {
    config: ViTConfig,
    /// Patch embedding `[C·p·p, d]` on `patchify` rows.
    pub patch_embed: Linear,
    /// `[1, 1, d]`.
    pub cls_token: Tensor,
    /// `[1, N+1, d]` (CLS first).
    pub pos_embed: Tensor,
    /// The blocks.
    pub blocks: Vec<Block>,
    /// Final LayerNorm.
    pub norm: LayerNorm,
    /// Classifier `[d, classes]` on the normalised CLS token.
    pub head: Linear,
}

impl ViT {
    /// Build and initialise a model from a validated `config` and a seed (see [`crate::init`]).
    pub fn new(config: ViTConfig, seed: u64) -> Result<ViT> {
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let d = config.width;
        let patch_embed = Linear::new(config.patch_dim(), d, &mut rng);
        let cls_token = Tensor::parameter(trunc_normal(&[1, 1, d], WEIGHT_STD, &mut rng));
        let pos_embed = Tensor::parameter(trunc_normal(
            &[1, config.num_tokens(), d],
            WEIGHT_STD,
            &mut rng,
        ));
        let blocks = (0..config.depth)
            .map(|l| Block::new(&config, l, &mut rng))
            .collect::<Result<Vec<_>>>()?;
        let norm = LayerNorm::new(d, config.ln_eps);
        let head = Linear::new(d, config.classes, &mut rng);
        Ok(ViT {
            config,
            patch_embed,
            cls_token,
            pos_embed,
            blocks,
            norm,
            head,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ViTConfig {
        &self.config
    }

    /// Tokens `[B, N+1, d]` (CLS first, position embeddings added) of images `[B, C, H, W]`.
    pub fn embed(&self, images: &Tensor) -> Result<Tensor> {
        let c = &self.config;
        let s = images.shape();
        if s.len() != 4
            || s[0] == 0
            || s[1] != c.channels
            || s[2] != c.image_size
            || s[3] != c.image_size
        {
            return Err(ModelError::InputShape {
                found: s,
                expected: format!(
                    "[B ≥ 1, {}, {}, {}] images",
                    c.channels, c.image_size, c.image_size
                ),
            });
        }
        let b = s[0];
        let patches = self.patch_embed.forward(&images.patchify(c.patch_size)?)?;
        let cls = self.cls_token.add(&Tensor::zeros(&[b, 1, c.width]))?;
        Ok(Tensor::concat(&[cls, patches], 1)?.add(&self.pos_embed)?)
    }

    fn run(&self, images: &Tensor, mode: Mode, trace: bool) -> Result<(Tensor, Trace)> {
        let mut rng = match mode {
            Mode::Train { seed } => Some(ChaCha8Rng::seed_from_u64(seed)),
            Mode::Eval => None,
        };
        let mut x = self.embed(images)?;
        let mut record = Trace::default();
        for block in &self.blocks {
            let r = rng.as_mut().map(|r| r as &mut dyn RngCore);
            if trace {
                record.hidden.push(x.to_array());
                let (y, a) = block.forward_traced(&x, r)?;
                record.attention.push(a);
                x = y;
            } else {
                x = block.forward(&x, r)?;
            }
        }
        if trace {
            record.hidden.push(x.to_array());
        }
        let (b, n) = (x.shape()[0], x.shape()[1]);
        let pooled = match self.config.pooling {
            Pooling::Cls => x.slice(1, 0, 1)?.reshape(&[b, self.config.width])?,
            Pooling::Mean => x.slice(1, 1, n)?.mean_axes(&[1], false)?,
        };
        let logits = self.head.forward(&self.norm.forward(&pooled, false)?)?;
        Ok((logits, record))
    }

    /// Logits `[B, classes]` of images `[B, C, H, W]`.
    pub fn forward(&self, images: &Tensor, mode: Mode) -> Result<Tensor> {
        Ok(self.run(images, mode, false)?.0)
    }

    /// Logits and the per-layer hidden states and attention matrices (see [`Trace`]).
    pub fn forward_with_trace(&self, images: &Tensor, mode: Mode) -> Result<(Tensor, Trace)> {
        self.run(images, mode, true)
    }

    /// Every parameter with a stable hierarchical name, in a fixed order:
    /// `patch_embed.proj.{weight,bias}`, `cls_token`, `pos_embed`, `blocks.{l}.…` (see
    /// [`Block::named_parameters`]), `norm.{weight,bias}`, `head.{weight,bias}`.
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        self.patch_embed.named("patch_embed.proj", &mut out);
        out.push(("cls_token".into(), self.cls_token.clone()));
        out.push(("pos_embed".into(), self.pos_embed.clone()));
        for (l, block) in self.blocks.iter().enumerate() {
            block.named(&format!("blocks.{l}"), &mut out);
        }
        self.norm.named("norm", &mut out);
        self.head.named("head", &mut out);
        out
    }

    /// Every parameter, in the order of [`ViT::named_parameters`].
    pub fn parameters(&self) -> Vec<Tensor> {
        self.named_parameters()
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    /// Total number of scalar parameters.
    pub fn num_parameters(&self) -> usize {
        self.parameters().iter().map(|t| t.len()).sum()
    }

    /// Copies of every parameter's data, named (a checkpoint writer's input).
    pub fn state_dict(&self) -> Vec<(String, ArrayD<f32>)> {
        self.named_parameters()
            .into_iter()
            .map(|(n, t)| (n, t.to_array()))
            .collect()
    }

    /// Forget the gradients of all parameters.
    pub fn zero_grad(&self) {
        for p in self.parameters() {
            p.zero_grad();
        }
    }

    /// Load parameter data by name. Every model parameter must be given exactly once with its
    /// shape, and nothing else; everything is checked before anything is written, so on error the
    /// model is unchanged. Errors name the tensor: [`ModelError::MissingParameter`],
    /// [`ModelError::UnexpectedParameter`], [`ModelError::DuplicateParameter`],
    /// [`ModelError::ParameterShape`].
    pub fn load_named(&self, tensors: &[(String, ArrayD<f32>)]) -> Result<()> {
        let params = self.named_parameters();
        let by_name: HashMap<&str, &Tensor> = params.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let mut seen = HashSet::new();
        for (name, data) in tensors {
            let Some(p) = by_name.get(name.as_str()) else {
                return Err(ModelError::UnexpectedParameter { name: name.clone() });
            };
            if !seen.insert(name.as_str()) {
                return Err(ModelError::DuplicateParameter { name: name.clone() });
            }
            let expected = p.shape();
            if data.shape() != expected.as_slice() {
                return Err(ModelError::ParameterShape {
                    name: name.clone(),
                    expected,
                    found: data.shape().to_vec(),
                });
            }
        }
        if let Some((name, p)) = params.iter().find(|(n, _)| !seen.contains(n.as_str())) {
            return Err(ModelError::MissingParameter {
                name: name.clone(),
                shape: p.shape(),
            });
        }
        for (name, data) in tensors {
            by_name[name.as_str()].set_data(data)?;
        }
        Ok(())
    }

    /// Per layer, per head: the realised `H_h` with its factors and the γ of the LayerNorm that
    /// feeds the attention (see [`HeadH`]). Fails only when a general-form V is singular.
    pub fn head_h_matrices(&self) -> Result<Vec<Vec<HeadH>>> {
        self.blocks
            .iter()
            .enumerate()
            .map(|(l, b)| b.head_h_matrices(l))
            .collect()
    }
}
