//! The weights of an encoder, read from a checkpoint under each family's tensor names.
//!
//! Linear weights keep PyTorch's `[out, in]` layout (applied as `x Wᵀ + b` with a transposed
//! product, no copy); everything is checked against the shapes `config.json` implies, so the
//! forward pass cannot meet a shape it does not expect.

use crate::hf::checkpoint::TensorSource;
use crate::hf::config::{Family, HfConfig};
use crate::hf::error::HfError;
use eigenformer_tensor::Tensor;
use ndarray::{Array2, ArrayD, Ix2};

/// `y = x Wᵀ + b` with `W` `[out, in]` (PyTorch's layout).
#[derive(Debug, Clone)]
pub struct LinearW {
    /// `[out, in]`.
    pub weight: Tensor,
    /// `[out]`.
    pub bias: Tensor,
}

impl LinearW {
    /// Apply to `[.., in]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, HfError> {
        Ok(x.matmul_t(&self.weight, false, true)?.add(&self.bias)?)
    }
}

/// LayerNorm γ, β.
#[derive(Debug, Clone)]
pub struct LayerNormW {
    /// γ `[d]`.
    pub gamma: Tensor,
    /// β `[d]`.
    pub beta: Tensor,
}

/// One encoder layer.
#[derive(Debug, Clone)]
pub struct LayerW {
    /// Query projection.
    pub query: LinearW,
    /// Key projection.
    pub key: LinearW,
    /// Value projection.
    pub value: LinearW,
    /// Attention output projection.
    pub output: LinearW,
    /// The LayerNorm around the attention: post-LN after the attention residual
    /// (`attention.output.LayerNorm`), pre-LN before the attention (`layernorm_before`).
    pub attn_norm: LayerNormW,
    /// MLP first linear (`intermediate.dense`).
    pub fc1: LinearW,
    /// MLP second linear (`output.dense`).
    pub fc2: LinearW,
    /// The LayerNorm around the MLP: post-LN after the MLP residual (`output.LayerNorm`),
    /// pre-LN before the MLP (`layernorm_after`).
    pub mlp_norm: LayerNormW,
}

/// The embedding stage.
#[derive(Debug, Clone)]
pub enum EmbeddingW {
    /// BERT / MPNet: `LN(word[id] + position[pos] (+ token_type[0]))`.
    Text {
        /// `[vocab, d]`.
        word: Tensor,
        /// `[max_positions, d]`.
        position: Tensor,
        /// BERT: row 0 of the token-type table `[d]` (all tokens are type 0).
        token_type: Option<Tensor>,
        /// The embedding LayerNorm.
        norm: LayerNormW,
    },
    /// ViT / DeiT: `[CLS, (DIST,) patches·Wᵀ + b] + position`.
    Vision {
        /// Patch projection, weight `[d, C·p·p]` (the conv kernel flattened channel-major).
        patch: LinearW,
        /// Leading tokens `[lead, d]` (CLS, then DeiT's distillation token).
        leading: Tensor,
        /// `[lead + patches, d]`.
        position: Tensor,
    },
}

/// All weights the forward pass uses.
#[derive(Debug, Clone)]
pub struct EncoderWeights {
    /// The embedding stage.
    pub embeddings: EmbeddingW,
    /// The layers.
    pub layers: Vec<LayerW>,
    /// MPNet: the relative attention bias table `[buckets, heads]`.
    pub relative_bias: Option<Array2<f32>>,
}

struct Reader<'s, 'a> {
    src: &'s TensorSource<'a>,
    config: &'s HfConfig,
}

impl Reader<'_, '_> {
    fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor, HfError> {
        Ok(Tensor::from_array(self.src.get(name, shape)?))
    }

    fn linear(&self, base: &str, out: usize, inp: usize) -> Result<LinearW, HfError> {
        Ok(LinearW {
            weight: self.tensor(&format!("{base}.weight"), &[out, inp])?,
            bias: self.tensor(&format!("{base}.bias"), &[out])?,
        })
    }

    /// A linear whose bias may be switched off by the config (ViT's `qkv_bias = false`).
    fn linear_bias_opt(
        &self,
        base: &str,
        out: usize,
        inp: usize,
        bias: bool,
    ) -> Result<LinearW, HfError> {
        if bias {
            return self.linear(base, out, inp);
        }
        Ok(LinearW {
            weight: self.tensor(&format!("{base}.weight"), &[out, inp])?,
            bias: Tensor::zeros(&[out]),
        })
    }

    fn norm(&self, base: &str) -> Result<LayerNormW, HfError> {
        let d = [self.config.width];
        let (w, g) = (format!("{base}.weight"), format!("{base}.gamma"));
        let (b, be) = (format!("{base}.bias"), format!("{base}.beta"));
        Ok(LayerNormW {
            gamma: Tensor::from_array(self.src.get_any(&[&w, &g], &d)?),
            beta: Tensor::from_array(self.src.get_any(&[&b, &be], &d)?),
        })
    }

    fn layer(&self, l: usize) -> Result<LayerW, HfError> {
        let c = self.config;
        let (d, m) = (c.width, c.intermediate);
        let p = format!("encoder.layer.{l}");
        let (query, key, value, output, attn_norm, mlp_norm) = match c.family {
            Family::Bert => (
                self.linear(&format!("{p}.attention.self.query"), d, d)?,
                self.linear(&format!("{p}.attention.self.key"), d, d)?,
                self.linear(&format!("{p}.attention.self.value"), d, d)?,
                self.linear(&format!("{p}.attention.output.dense"), d, d)?,
                self.norm(&format!("{p}.attention.output.LayerNorm"))?,
                self.norm(&format!("{p}.output.LayerNorm"))?,
            ),
            Family::MpNet => (
                self.linear(&format!("{p}.attention.attn.q"), d, d)?,
                self.linear(&format!("{p}.attention.attn.k"), d, d)?,
                self.linear(&format!("{p}.attention.attn.v"), d, d)?,
                self.linear(&format!("{p}.attention.attn.o"), d, d)?,
                self.norm(&format!("{p}.attention.LayerNorm"))?,
                self.norm(&format!("{p}.output.LayerNorm"))?,
            ),
            Family::Vit | Family::Deit => {
                let qkv = |n: &str| {
                    self.linear_bias_opt(&format!("{p}.attention.attention.{n}"), d, d, c.qkv_bias)
                };
                (
                    qkv("query")?,
                    qkv("key")?,
                    qkv("value")?,
                    self.linear(&format!("{p}.attention.output.dense"), d, d)?,
                    self.norm(&format!("{p}.layernorm_before"))?,
                    self.norm(&format!("{p}.layernorm_after"))?,
                )
            }
        };
        Ok(LayerW {
            query,
            key,
            value,
            output,
            attn_norm,
            fc1: self.linear(&format!("{p}.intermediate.dense"), m, d)?,
            fc2: self.linear(&format!("{p}.output.dense"), d, m)?,
            mlp_norm,
        })
    }

    fn embeddings(&self) -> Result<EmbeddingW, HfError> {
        let c = self.config;
        let d = c.width;
        match c.family {
            Family::Bert | Family::MpNet => {
                let token_type = if c.family == Family::Bert && c.type_vocab > 0 {
                    let table = self.tensor(
                        "embeddings.token_type_embeddings.weight",
                        &[c.type_vocab, d],
                    )?;
                    Some(table.slice(0, 0, 1)?.reshape(&[d])?)
                } else {
                    None
                };
                Ok(EmbeddingW::Text {
                    word: self.tensor("embeddings.word_embeddings.weight", &[c.vocab, d])?,
                    position: self.tensor(
                        "embeddings.position_embeddings.weight",
                        &[c.max_positions, d],
                    )?,
                    token_type,
                    norm: self.norm("embeddings.LayerNorm")?,
                })
            }
            Family::Vit | Family::Deit => {
                let Some(image) = c.image else {
                    return Err(HfError::ConfigField {
                        file: self.src.file().to_path_buf(),
                        field: "image_size".into(),
                        reason: "missing for a vision model".into(),
                    });
                };
                let (ch, p) = (image.channels, image.patch_size);
                let kernel = self.src.get(
                    "embeddings.patch_embeddings.projection.weight",
                    &[d, ch, p, p],
                )?;
                let kernel = kernel
                    .into_shape_with_order(ndarray::IxDyn(&[d, ch * p * p]))
                    .map_err(|e| HfError::TensorEntry {
                        file: self.src.file().to_path_buf(),
                        tensor: "embeddings.patch_embeddings.projection.weight".into(),
                        reason: e.to_string(),
                    })?;
                let patch = LinearW {
                    weight: Tensor::from_array(kernel),
                    bias: self.tensor("embeddings.patch_embeddings.projection.bias", &[d])?,
                };
                let mut leading = vec![self
                    .tensor("embeddings.cls_token", &[1, 1, d])?
                    .reshape(&[1, d])?];
                if c.family == Family::Deit {
                    leading.push(
                        self.tensor("embeddings.distillation_token", &[1, 1, d])?
                            .reshape(&[1, d])?,
                    );
                }
                let n = c.max_positions;
                Ok(EmbeddingW::Vision {
                    patch,
                    leading: Tensor::concat(&leading, 0)?,
                    position: self
                        .tensor("embeddings.position_embeddings", &[1, n, d])?
                        .reshape(&[n, d])?,
                })
            }
        }
    }

    fn relative_bias(&self) -> Result<Option<Array2<f32>>, HfError> {
        if self.config.family != Family::MpNet {
            return Ok(None);
        }
        let name = "encoder.relative_attention_bias.weight";
        let table: ArrayD<f32> = self
            .src
            .get(name, &[self.config.relative_buckets, self.config.heads])?;
        let table = table
            .into_dimensionality::<Ix2>()
            .map_err(|e| HfError::TensorEntry {
                file: self.src.file().to_path_buf(),
                tensor: name.into(),
                reason: e.to_string(),
            })?;
        Ok(Some(table))
    }
}

/// Read every weight `config` calls for from `src`.
pub fn read_weights(src: &TensorSource<'_>, config: &HfConfig) -> Result<EncoderWeights, HfError> {
    let r = Reader { src, config };
    Ok(EncoderWeights {
        embeddings: r.embeddings()?,
        layers: (0..config.layers)
            .map(|l| r.layer(l))
            .collect::<Result<Vec<_>, _>>()?,
        relative_bias: r.relative_bias()?,
    })
}
