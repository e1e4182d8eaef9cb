//! [`HfEncoder`]: a loaded checkpoint, its forward pass and the per-head matrices the audit needs.

use crate::hf::checkpoint::TensorSource;
use crate::hf::config::HfConfig;
use crate::hf::error::HfError;
use crate::hf::forward::{run, run_packed, EncoderTrace, Input};
use crate::hf::weights::{read_weights, EmbeddingW, EncoderWeights};
use eigenformer_tensor::{no_grad, Tensor};
use memmap2::Mmap;
use ndarray::{s, Array1, Array2, ArrayView3, Ix2};
use std::fs::File;
use std::path::{Path, PathBuf};

/// A Hugging Face encoder loaded for inference (see the [module documentation](crate::hf)).
#[derive(Debug, Clone)]
pub struct HfEncoder {
    config: HfConfig,
    weights: EncoderWeights,
    source: PathBuf,
}

fn io_err(file: &Path) -> impl FnOnce(std::io::Error) -> HfError + '_ {
    move |source| HfError::Io {
        file: file.to_path_buf(),
        source,
    }
}

fn to_f64_1d(t: &Tensor) -> Array1<f64> {
    t.to_vec().into_iter().map(f64::from).collect()
}

impl HfEncoder {
    /// Load `dir/config.json` and `dir/model.safetensors` (memory-mapped; every tensor is
    /// copied out to f32 before the map is dropped). A `dir/tokenizer.json`, when present,
    /// adds its special tokens to [`HfConfig::special_token_ids`].
    pub fn load_dir(dir: &Path) -> Result<HfEncoder, HfError> {
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path).map_err(io_err(&config_path))?;
        let mut config = HfConfig::parse(&text, &config_path)?;
        if let Ok(tok) = std::fs::read_to_string(dir.join("tokenizer.json")) {
            config.add_tokenizer_specials(&tok);
        }
        let model_path = dir.join("model.safetensors");
        let file = File::open(&model_path).map_err(io_err(&model_path))?;
        let len = file.metadata().map_err(io_err(&model_path))?.len();
        if len == 0 {
            // Nothing to map (mapping 0 bytes fails on some systems): the header check reports
            // the truncated file.
            return HfEncoder::from_parts(config, &[], &model_path);
        }
        // SAFETY: the map is read-only and lives only until the end of this function; every
        // tensor is copied into owned memory before it is dropped. As with any mapped file,
        // another process truncating it meanwhile would fault: the accepted cost of not reading
        // a GB-sized checkpoint into a Vec first.
        let map = unsafe { Mmap::map(&file) }.map_err(io_err(&model_path))?;
        HfEncoder::from_parts(config, &map, &model_path)
    }

    /// Load from the text of a `config.json` and the bytes of a `model.safetensors` (errors
    /// name them `config.json` and `model.safetensors`). Used by tests and the fuzz target.
    pub fn from_bytes(config_json: &str, safetensors: &[u8]) -> Result<HfEncoder, HfError> {
        let config = HfConfig::parse(config_json, Path::new("config.json"))?;
        HfEncoder::from_parts(config, safetensors, Path::new("model.safetensors"))
    }

    fn from_parts(config: HfConfig, bytes: &[u8], file: &Path) -> Result<HfEncoder, HfError> {
        let src = TensorSource::new(bytes, file, config.family.prefix())?;
        let weights = read_weights(&src, &config)?;
        Ok(HfEncoder {
            config,
            weights,
            source: file.to_path_buf(),
        })
    }

    /// Assemble from weights another reader produced (the ONNX reader, [`crate::onnx`]).
    pub(crate) fn from_loaded(config: HfConfig, weights: EncoderWeights, file: &Path) -> HfEncoder {
        HfEncoder {
            config,
            weights,
            source: file.to_path_buf(),
        }
    }

    /// The random-init twin: the same configuration with freshly initialised, seeded weights
    /// ([`EncoderWeights::random_like`]: normal(0, 0.02²) weights, zero biases, γ = 1, β = 0).
    pub fn random_twin(&self, seed: u64) -> HfEncoder {
        HfEncoder {
            config: self.config.clone(),
            weights: self.weights.random_like(seed),
            source: self.source.clone(),
        }
    }

    /// Load a Hugging Face model directory, or an `.onnx` file ([`crate::onnx::load`]).
    pub fn load_path(path: &Path) -> Result<HfEncoder, HfError> {
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
            && path.is_file()
        {
            crate::onnx::load(path)
        } else {
            HfEncoder::load_dir(path)
        }
    }

    /// The architecture.
    pub fn config(&self) -> &HfConfig {
        &self.config
    }

    /// The weights (linear weights in PyTorch's `[out, in]` layout).
    pub fn weights(&self) -> &EncoderWeights {
        &self.weights
    }

    /// The checkpoint file this was loaded from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Run a text encoder on one sequence of token ids (special tokens included, as the
    /// tokenizer produced them; no padding). Errors for an empty sequence, one longer than
    /// [`HfConfig::max_tokens`], an id ≥ the vocabulary, or a vision model.
    pub fn forward(&self, token_ids: &[u32]) -> Result<EncoderTrace, HfError> {
        self.check_tokens(token_ids)?;
        no_grad(|| run(&self.config, &self.weights, Input::Tokens(token_ids)))
    }

    /// [`HfEncoder::forward`] on several sequences in one packed pass (see
    /// [`crate::hf::forward`]): one trace per sequence, in order, equal to the single-sequence
    /// traces up to the summation order of the matrix products. Faster than one call per
    /// sequence because each layer's weights are streamed once for all of them.
    pub fn forward_batch(&self, sequences: &[&[u32]]) -> Result<Vec<EncoderTrace>, HfError> {
        for ids in sequences {
            self.check_tokens(ids)?;
        }
        if sequences.is_empty() {
            return Ok(Vec::new());
        }
        let inputs = sequences.iter().map(|ids| Input::Tokens(ids)).collect();
        no_grad(|| run_packed(&self.config, &self.weights, inputs))
    }

    fn check_tokens(&self, token_ids: &[u32]) -> Result<(), HfError> {
        let c = &self.config;
        if c.family.is_vision() {
            return Err(HfError::Input(format!(
                "{} is a vision model: use forward_pixels",
                c.model_type
            )));
        }
        if token_ids.is_empty() {
            return Err(HfError::Input("no token ids".into()));
        }
        if token_ids.len() > c.max_tokens() {
            return Err(HfError::Input(format!(
                "{} tokens, but the model takes at most {}",
                token_ids.len(),
                c.max_tokens()
            )));
        }
        if let Some(bad) = token_ids.iter().find(|&&i| i as usize >= c.vocab) {
            return Err(HfError::Input(format!(
                "token id {bad} is outside the vocabulary of {}",
                c.vocab
            )));
        }
        Ok(())
    }

    /// Run a vision encoder on one image `[channels, image_size, image_size]`, already
    /// normalised as the checkpoint expects (transformers' image processor does that).
    pub fn forward_pixels(&self, pixels: ArrayView3<'_, f32>) -> Result<EncoderTrace, HfError> {
        let c = &self.config;
        let Some(image) = c.image else {
            return Err(HfError::Input(format!(
                "{} is a text model: use forward with token ids",
                c.model_type
            )));
        };
        // DINOv2 interpolates its positions: any square multiple of the patch side.
        let size = if c.family == crate::hf::Family::Dinov2 {
            let s = pixels.shape().get(1).copied().unwrap_or(0);
            if s == 0 || s % image.patch_size != 0 {
                image.image_size
            } else {
                s
            }
        } else {
            image.image_size
        };
        let want = [image.channels, size, size];
        if pixels.shape() != want {
            return Err(HfError::Input(format!(
                "pixels have shape {:?}, the model takes {want:?}",
                pixels.shape()
            )));
        }
        let pixels = pixels.to_owned().into_dyn();
        no_grad(|| run(c, &self.weights, Input::Pixels(pixels)))
    }

    fn check_layer(&self, layer: usize) -> Result<(), HfError> {
        if layer >= self.config.layers {
            return Err(HfError::Index {
                what: "layer",
                index: layer,
                len: self.config.layers,
            });
        }
        Ok(())
    }

    /// The value·output factors of head `head` in layer `layer`, in f64, in the row-vector
    /// convention of theory.md §3 (tokens are rows, `y = x W`):
    /// `W_V^h = (V[h·d_h..(h+1)·d_h, :])ᵀ` (d×d_h) and `W_O^h = (O[:, h·d_h..(h+1)·d_h])ᵀ`
    /// (d_h×d), with V and O the PyTorch `[out, in]` weights of the value and attention-output
    /// linears. So `H_h = W_V^h W_O^h` (d×d) and the layer's attention adds `Σ_h A_h X H_h`
    /// (plus biases) to its input X; `W_O^h W_V^h` (d_h×d_h) has the same nonzero eigenvalues
    /// (C9). With grouped-query attention the value rows are those of the head's key/value
    /// group ([`HfEncoder::kv_group`]): `W_V^{g(h)}`, shared by the group's query heads, while
    /// `W_O^h` is the head's own.
    pub fn head_value_output(
        &self,
        layer: usize,
        head: usize,
    ) -> Result<(Array2<f64>, Array2<f64>), HfError> {
        self.check_layer(layer)?;
        if head >= self.config.heads {
            return Err(HfError::Index {
                what: "head",
                index: head,
                len: self.config.heads,
            });
        }
        let l = &self.weights.layers[layer];
        let dh = self.config.head_dim;
        let group = self.kv_group(head);
        let rows = group * dh..(group + 1) * dh;
        let cols = head * dh..(head + 1) * dh;
        let matrix = |t: &Tensor| -> Result<Array2<f32>, HfError> {
            t.to_array()
                .into_dimensionality::<Ix2>()
                .map_err(|e| HfError::Input(format!("internal: weight is not a matrix: {e}")))
        };
        let v = matrix(&l.value.weight)?;
        let o = matrix(&l.output.weight)?;
        let w_v = v.slice(s![rows.clone(), ..]).t().mapv(f64::from);
        let mut w_o = o.slice(s![.., cols]).t().mapv(f64::from);
        if let Some(lambda) = &l.attn_scale {
            // LayerScale: H_h = W_V^h W_O^h diag(λ₁) (theory.md C8).
            let lambda = to_f64_1d(lambda);
            for (mut col, &s) in w_o.columns_mut().into_iter().zip(lambda.iter()) {
                col *= s;
            }
        }
        Ok((w_v, w_o))
    }

    /// The key/value head that query head `head` reads: `head / (heads / kv_heads)` (transformers'
    /// `repeat_kv` repeats each key/value head for consecutive query heads); `head` itself
    /// without grouped-query attention.
    pub fn kv_group(&self, head: usize) -> usize {
        let c = &self.config;
        head / (c.heads / c.kv_heads.max(1)).max(1)
    }

    /// `H_h = W_V^h W_O^h` (d×d, f64) of head `head` in layer `layer`; see
    /// [`HfEncoder::head_value_output`].
    pub fn head_matrix(&self, layer: usize, head: usize) -> Result<Array2<f64>, HfError> {
        let (w_v, w_o) = self.head_value_output(layer, head)?;
        Ok(w_v.dot(&w_o))
    }

    /// γ of the LayerNorm whose output is the input X of layer `layer`'s attention, so that the
    /// effective matrix of head h is `diag(γ) H_h` (theory.md C8). Pre-LN (ViT, DeiT, GPT-2,
    /// Llama): the layer's own `layernorm_before` / `ln_1` / `input_layernorm` (an RMSNorm's
    /// weight for Llama). Post-LN (BERT, MPNet): the previous layer's output
    /// LayerNorm, or the embedding LayerNorm for layer 0.
    pub fn attention_input_ln_gamma(&self, layer: usize) -> Result<Array1<f64>, HfError> {
        self.check_layer(layer)?;
        let gamma = if !self.config.post_ln {
            &self.weights.layers[layer].attn_norm.gamma
        } else if layer > 0 {
            &self.weights.layers[layer - 1].mlp_norm.gamma
        } else {
            match &self.weights.embeddings {
                EmbeddingW::Text { norm, .. } => &norm.gamma,
                EmbeddingW::Vision { .. } | EmbeddingW::Decoder { .. } => {
                    return Err(HfError::Input(
                        "internal: a post-LN model without an embedding LayerNorm".into(),
                    ))
                }
            }
        };
        Ok(to_f64_1d(gamma))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The audit runs sentences in parallel over one loaded model.
    #[test]
    fn encoder_is_shareable_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<HfEncoder>();
    }

    #[test]
    fn random_twin_is_seeded_fresh_and_runs() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf");
        for name in ["tiny-bert", "tiny-gpt2"] {
            let m = HfEncoder::load_dir(&dir.join(name)).unwrap();
            let (a, b, c) = (m.random_twin(7), m.random_twin(7), m.random_twin(8));
            let h = |e: &HfEncoder| e.head_matrix(0, 0).unwrap();
            assert_eq!(h(&a), h(&b), "{name}: seeded");
            assert_ne!(h(&a), h(&c), "{name}: another seed, other weights");
            assert_ne!(h(&a), h(&m), "{name}: not the trained weights");
            for l in 0..m.config().layers {
                let g = a.attention_input_ln_gamma(l).unwrap();
                assert!(g.iter().all(|&v| v == 1.0), "{name}: γ = 1");
            }
            // normal(0, 0.02²): the sample std of the value weights is near 0.02.
            let w = a.weights.layers[0].value.weight.to_vec();
            let std = (w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32).sqrt();
            assert!((std - 0.02).abs() < 0.004, "{name}: std {std}");
            assert!(a.weights.layers[0]
                .value
                .bias
                .to_vec()
                .iter()
                .all(|&v| v == 0.0));
            let trace = a.forward(&[1, 2, 3]).unwrap();
            assert_eq!(trace.hidden_states.len(), m.config().layers + 1);
        }
    }
}
