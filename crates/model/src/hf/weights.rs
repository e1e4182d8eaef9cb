//! The weights of an encoder, read from a checkpoint under each family's tensor names.
//!
//! Linear weights keep PyTorch's `[out, in]` layout (applied as `x Wᵀ + b` with a transposed
//! product, no copy); everything is checked against the shapes `config.json` implies, so the
//! forward pass cannot meet a shape it does not expect.

use crate::hf::checkpoint::TensorSource;
use crate::hf::config::{Family, HfConfig, NormKind};
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
    /// Apply to `[.., in]`: one op whose product adds the bias to each row block right after
    /// computing it ([`Tensor::linear_t`]).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, HfError> {
        Ok(x.linear_t(&self.weight, Some(&self.bias))?)
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
    /// MLP first linear (`intermediate.dense`; GPT-2 `mlp.c_fc`; Llama `mlp.up_proj`).
    pub fc1: LinearW,
    /// The Llama family's SwiGLU gate (`mlp.gate_proj`): the MLP is
    /// `fc2(act(gate(x)) ⊙ fc1(x))`; `None` for the plain `fc2(act(fc1(x)))`.
    pub gate: Option<LinearW>,
    /// MLP second linear (`output.dense`; GPT-2 `mlp.c_proj`; Llama `mlp.down_proj`).
    pub fc2: LinearW,
    /// The LayerNorm around the MLP: post-LN after the MLP residual (`output.LayerNorm`),
    /// pre-LN before the MLP (`layernorm_after`).
    pub mlp_norm: LayerNormW,
    /// DINOv2's LayerScale of the attention branch (`layer_scale1.lambda1`, `[d]`): the branch
    /// is `λ₁ ⊙ Attn(LN(x))`. `None` elsewhere.
    pub attn_scale: Option<Tensor>,
    /// DINOv2's LayerScale of the MLP branch (`layer_scale2.lambda1`).
    pub mlp_scale: Option<Tensor>,
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
        /// `[lead + patches, d]` (DINOv2: `[1 + patches, d]` on its native grid, interpolated
        /// to the input's grid; registers have no position).
        position: Tensor,
        /// DINOv2 register tokens `[registers, d]`, inserted after CLS once the positions are
        /// added.
        registers: Option<Tensor>,
    },
    /// GPT-2 / Llama: `word[id] (+ position[pos])`, no embedding norm (the blocks are pre-norm).
    Decoder {
        /// `[vocab, d]` (`wte` / `embed_tokens`).
        word: Tensor,
        /// GPT-2's learned positions `[max_positions, d]` (`wpe`); `None` with RoPE.
        position: Option<Tensor>,
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
    /// Decoders: the norm after the last layer (GPT-2 `ln_f`, Llama `norm`).
    pub final_norm: Option<LayerNormW>,
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
        if self.config.norm == NormKind::RmsNorm {
            // RMSNorm has a weight only; β = 0 keeps one type for both norms.
            return Ok(LayerNormW {
                gamma: self.tensor(&format!("{base}.weight"), &d)?,
                beta: Tensor::zeros(&d),
            });
        }
        let (w, g) = (format!("{base}.weight"), format!("{base}.gamma"));
        let (b, be) = (format!("{base}.bias"), format!("{base}.beta"));
        Ok(LayerNormW {
            gamma: Tensor::from_array(self.src.get_any(&[&w, &g], &d)?),
            beta: Tensor::from_array(self.src.get_any(&[&b, &be], &d)?),
        })
    }

    /// A GPT-2 `Conv1D` (`y = x W + b`, W stored `[in, out]`), transposed to our `[out, in]`
    /// [`LinearW`] so every family shares one linear layout (and one `head_value_output`).
    fn conv1d(&self, base: &str, inp: usize, out: usize) -> Result<LinearW, HfError> {
        let name = format!("{base}.weight");
        let w = self.src.get(&name, &[inp, out])?;
        let w = w
            .into_dimensionality::<Ix2>()
            .map_err(|e| HfError::TensorEntry {
                file: self.src.file().to_path_buf(),
                tensor: name,
                reason: e.to_string(),
            })?;
        Ok(LinearW {
            weight: Tensor::from_array(w.t().as_standard_layout().into_owned().into_dyn()),
            bias: self.tensor(&format!("{base}.bias"), &[out])?,
        })
    }

    /// Rows `start..end` of a linear (the q, k or v part of GPT-2's fused `c_attn`).
    fn rows(lin: &LinearW, start: usize, end: usize) -> Result<LinearW, HfError> {
        Ok(LinearW {
            weight: lin.weight.slice(0, start, end)?,
            bias: lin.bias.slice(0, start, end)?,
        })
    }

    fn gpt2_layer(&self, l: usize) -> Result<LayerW, HfError> {
        let c = self.config;
        let (d, m) = (c.width, c.intermediate);
        let p = format!("h.{l}");
        let qkv = self.conv1d(&format!("{p}.attn.c_attn"), d, 3 * d)?;
        Ok(LayerW {
            query: Self::rows(&qkv, 0, d)?,
            key: Self::rows(&qkv, d, 2 * d)?,
            value: Self::rows(&qkv, 2 * d, 3 * d)?,
            output: self.conv1d(&format!("{p}.attn.c_proj"), d, d)?,
            attn_norm: self.norm(&format!("{p}.ln_1"))?,
            fc1: self.conv1d(&format!("{p}.mlp.c_fc"), d, m)?,
            gate: None,
            fc2: self.conv1d(&format!("{p}.mlp.c_proj"), m, d)?,
            mlp_norm: self.norm(&format!("{p}.ln_2"))?,
            attn_scale: None,
            mlp_scale: None,
        })
    }

    fn llama_layer(&self, l: usize) -> Result<LayerW, HfError> {
        let c = self.config;
        let (d, m) = (c.width, c.intermediate);
        let (q, kv) = (c.heads * c.head_dim, c.kv_heads * c.head_dim);
        let p = format!("layers.{l}");
        let a = |n: &str, out: usize, inp: usize, bias: bool| {
            self.linear_bias_opt(&format!("{p}.{n}"), out, inp, bias)
        };
        Ok(LayerW {
            query: a("self_attn.q_proj", q, d, c.qkv_bias)?,
            key: a("self_attn.k_proj", kv, d, c.qkv_bias)?,
            value: a("self_attn.v_proj", kv, d, c.qkv_bias)?,
            output: a("self_attn.o_proj", d, q, c.output_bias)?,
            attn_norm: self.norm(&format!("{p}.input_layernorm"))?,
            fc1: a("mlp.up_proj", m, d, c.mlp_bias)?,
            gate: Some(a("mlp.gate_proj", m, d, c.mlp_bias)?),
            fc2: a("mlp.down_proj", d, m, c.mlp_bias)?,
            mlp_norm: self.norm(&format!("{p}.post_attention_layernorm"))?,
            attn_scale: None,
            mlp_scale: None,
        })
    }

    fn layer(&self, l: usize) -> Result<LayerW, HfError> {
        match self.config.family {
            Family::Gpt2 => self.gpt2_layer(l),
            Family::Llama => self.llama_layer(l),
            Family::Dinov2 => self.dinov2_layer(l),
            Family::Bert | Family::MpNet | Family::Vit | Family::Deit => self.encoder_layer(l),
        }
    }

    fn dinov2_layer(&self, l: usize) -> Result<LayerW, HfError> {
        let c = self.config;
        let (d, m) = (c.width, c.intermediate);
        let p = format!("encoder.layer.{l}");
        let qkv = |n: &str| {
            self.linear_bias_opt(&format!("{p}.attention.attention.{n}"), d, d, c.qkv_bias)
        };
        Ok(LayerW {
            query: qkv("query")?,
            key: qkv("key")?,
            value: qkv("value")?,
            output: self.linear(&format!("{p}.attention.output.dense"), d, d)?,
            attn_norm: self.norm(&format!("{p}.norm1"))?,
            fc1: self.linear(&format!("{p}.mlp.fc1"), m, d)?,
            gate: None,
            fc2: self.linear(&format!("{p}.mlp.fc2"), d, m)?,
            mlp_norm: self.norm(&format!("{p}.norm2"))?,
            attn_scale: Some(self.tensor(&format!("{p}.layer_scale1.lambda1"), &[d])?),
            mlp_scale: Some(self.tensor(&format!("{p}.layer_scale2.lambda1"), &[d])?),
        })
    }

    fn encoder_layer(&self, l: usize) -> Result<LayerW, HfError> {
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
            Family::Vit | Family::Deit | Family::Dinov2 | Family::Gpt2 | Family::Llama => {
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
            gate: None,
            fc2: self.linear(&format!("{p}.output.dense"), d, m)?,
            mlp_norm,
            attn_scale: None,
            mlp_scale: None,
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
            Family::Gpt2 => Ok(EmbeddingW::Decoder {
                word: self.tensor("wte.weight", &[c.vocab, d])?,
                position: Some(self.tensor("wpe.weight", &[c.max_positions, d])?),
            }),
            Family::Llama => Ok(EmbeddingW::Decoder {
                word: self.tensor("embed_tokens.weight", &[c.vocab, d])?,
                position: None,
            }),
            Family::Vit | Family::Deit | Family::Dinov2 => {
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
                let registers = if c.register_tokens > 0 {
                    let r = c.register_tokens;
                    Some(
                        self.tensor("embeddings.register_tokens", &[1, r, d])?
                            .reshape(&[r, d])?,
                    )
                } else {
                    None
                };
                Ok(EmbeddingW::Vision {
                    patch,
                    leading: Tensor::concat(&leading, 0)?,
                    position: self
                        .tensor("embeddings.position_embeddings", &[1, n, d])?
                        .reshape(&[n, d])?,
                    registers,
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
        final_norm: match config.family {
            Family::Gpt2 => Some(r.norm("ln_f")?),
            Family::Llama => Some(r.norm("norm")?),
            Family::Dinov2 => Some(r.norm("layernorm")?),
            _ => None,
        },
    })
}

/// The std of the random twin's weights ([`EncoderWeights::random_like`]): BERT's and GPT-2's
/// `initializer_range`, the usual initialisation of these checkpoints before training.
pub const RANDOM_INIT_STD: f32 = 0.02;

struct Fresh<R: rand::Rng> {
    rng: R,
}

impl<R: rand::Rng> Fresh<R> {
    fn normal(&mut self, like: &Tensor) -> Tensor {
        let shape = like.shape();
        let n = shape.iter().product();
        let values: Vec<f32> = (0..n)
            .map(|_| RANDOM_INIT_STD * crate::init::standard_normal(&mut self.rng))
            .collect();
        Tensor::from_array(ArrayD::from_shape_vec(shape, values).expect("shape of its own size"))
    }

    fn linear(&mut self, l: &LinearW) -> LinearW {
        LinearW {
            weight: self.normal(&l.weight),
            bias: filled(&l.bias, 0.0),
        }
    }
}

fn filled(like: &Tensor, value: f32) -> Tensor {
    Tensor::from_array(ArrayD::from_elem(like.shape(), value))
}

fn fresh_norm(n: &LayerNormW) -> LayerNormW {
    LayerNormW {
        gamma: filled(&n.gamma, 1.0),
        beta: filled(&n.beta, 0.0),
    }
}

impl EncoderWeights {
    /// A twin with the same shapes and freshly initialised weights, seeded: every linear weight
    /// and embedding table (word, position, token type, patch projection, CLS/distillation and
    /// register tokens, MPNet's relative-bias table) drawn from normal(0, 0.02²), every bias
    /// zero, every norm γ = 1 and β = 0, DINOv2's LayerScale 1. The random-init control of the
    /// audit: what the spectra and the similarity look like before training.
    pub fn random_like(&self, seed: u64) -> EncoderWeights {
        use rand::SeedableRng;
        let mut f = Fresh {
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(seed),
        };
        let embeddings = match &self.embeddings {
            EmbeddingW::Text {
                word,
                position,
                token_type,
                norm,
            } => EmbeddingW::Text {
                word: f.normal(word),
                position: f.normal(position),
                token_type: token_type.as_ref().map(|t| f.normal(t)),
                norm: fresh_norm(norm),
            },
            EmbeddingW::Vision {
                patch,
                leading,
                position,
                registers,
            } => EmbeddingW::Vision {
                patch: f.linear(patch),
                leading: f.normal(leading),
                position: f.normal(position),
                registers: registers.as_ref().map(|t| f.normal(t)),
            },
            EmbeddingW::Decoder { word, position } => EmbeddingW::Decoder {
                word: f.normal(word),
                position: position.as_ref().map(|t| f.normal(t)),
            },
        };
        let layers = self
            .layers
            .iter()
            .map(|l| LayerW {
                query: f.linear(&l.query),
                key: f.linear(&l.key),
                value: f.linear(&l.value),
                output: f.linear(&l.output),
                attn_norm: fresh_norm(&l.attn_norm),
                fc1: f.linear(&l.fc1),
                gate: l.gate.as_ref().map(|g| f.linear(g)),
                fc2: f.linear(&l.fc2),
                mlp_norm: fresh_norm(&l.mlp_norm),
                attn_scale: l.attn_scale.as_ref().map(|t| filled(t, 1.0)),
                mlp_scale: l.mlp_scale.as_ref().map(|t| filled(t, 1.0)),
            })
            .collect();
        let relative_bias = self.relative_bias.as_ref().map(|b| {
            let t = f.normal(&Tensor::from_array(b.clone().into_dyn()));
            t.to_array()
                .into_dimensionality::<Ix2>()
                .expect("two-dimensional like the table")
        });
        EncoderWeights {
            embeddings,
            layers,
            relative_bias,
            final_norm: self.final_norm.as_ref().map(fresh_norm),
        }
    }
}
