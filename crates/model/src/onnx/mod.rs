//! Weights of PyTorch-exported ONNX models (BERT-style text encoders, DINOv2 backbones) read
//! into the Hugging Face loader ([`crate::hf`]): the graph is *not* executed, only its
//! initializers are read and mapped to transformers' tensor names, and our own forward runs.
//!
//! - **Decoding**: `prost` messages for the few `onnx.proto` fields needed ([`proto`]).
//!   Float initializers in `raw_data` (little-endian) or `float_data`/`double_data`; each
//!   tensor's declared size (product of `dims`, checked for overflow and against
//!   [`MAX_ELEMENTS`]) must equal the bytes present before anything is allocated; tensors with
//!   external data are refused ([`OnnxError::ExternalData`]).
//! - **Names**: named initializers keep their name from the first `embeddings.` / `encoder.` /
//!   `layernorm.` segment on (`model.0.auto_model.encoder.layer.0.…bias` →
//!   `encoder.layer.0.…bias`). PyTorch folds each `nn.Linear` weight into an anonymous
//!   `onnx::MatMul_N` `[in, out]` initializer: it is named after the node that consumes it
//!   (`/…/encoder/layer.0/attention/self/value/MatMul` → `encoder.layer.0.attention.self.value.weight`)
//!   and transposed to `[out, in]`. DINOv2's position table is exported as two anonymous
//!   pieces under `/…/embeddings/` (`[1, 1, d]` for CLS, `[1, N, d]` for the grid), joined back
//!   into `embeddings.position_embeddings`.
//! - **Configuration** (there is no `config.json`): the family from the tensor names, sizes
//!   from the shapes, the per-head width from the attention's scale constant (`Div` by `√d_h`,
//!   or `Mul` of q and k by `d_h^(-1/4)`), LayerNorm ε from a `LayerNormalization` node's
//!   `epsilon` or the constant added in a decomposed norm. The result is checked by the same
//!   [`HfConfig::parse`] as a real `config.json`.

pub mod proto;

use crate::hf::checkpoint::TensorSource;
use crate::hf::weights::read_weights;
use crate::hf::{HfConfig, HfError};
use ndarray::{ArrayD, IxDyn};
use prost::Message;
use proto::{GraphProto, ModelProto, TensorProto};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The largest tensor accepted, in elements (2³¹: far above any model audited here).
pub const MAX_ELEMENTS: u64 = 1 << 31;

/// Why an ONNX file could not be read.
#[derive(Debug, Error)]
pub enum OnnxError {
    /// The file could not be read.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not a protobuf `ModelProto`.
    #[error("{}: not an ONNX model: {reason}", file.display())]
    Decode {
        /// The file.
        file: PathBuf,
        /// The decoder's message.
        reason: String,
    },
    /// A tensor stored outside the file.
    #[error("{}: initializer {tensor:?} keeps its data in an external file, which is not supported (re-export with the weights inside the .onnx file)", file.display())]
    ExternalData {
        /// The file.
        file: PathBuf,
        /// The initializer.
        tensor: String,
    },
    /// A tensor whose declared size is impossible or does not match its data.
    #[error("{}: initializer {tensor:?}: {reason}", file.display())]
    Size {
        /// The file.
        file: PathBuf,
        /// The initializer.
        tensor: String,
        /// What is wrong.
        reason: String,
    },
    /// The graph is not one of the layouts this reader knows.
    #[error("{}: {reason}", file.display())]
    Layout {
        /// The file.
        file: PathBuf,
        /// What is missing or ambiguous.
        reason: String,
    },
}

impl From<OnnxError> for HfError {
    fn from(e: OnnxError) -> HfError {
        HfError::Onnx(Box::new(e))
    }
}

/// The float values of `t`, after checking its declared size against its data.
fn decode_floats(t: &TensorProto, file: &Path) -> Result<Option<ArrayD<f32>>, OnnxError> {
    let size_err = |reason: String| OnnxError::Size {
        file: file.to_path_buf(),
        tensor: t.name.clone(),
        reason,
    };
    if t.data_location == 1 || !t.external_data.is_empty() {
        return Err(OnnxError::ExternalData {
            file: file.to_path_buf(),
            tensor: t.name.clone(),
        });
    }
    let mut count: u64 = 1;
    let mut dims = Vec::with_capacity(t.dims.len());
    for &d in &t.dims {
        let d = u64::try_from(d).map_err(|_| size_err(format!("negative dimension {d}")))?;
        count = count
            .checked_mul(d)
            .filter(|&c| c <= MAX_ELEMENTS)
            .ok_or_else(|| size_err(format!("dims {:?} exceed {MAX_ELEMENTS} elements", t.dims)))?;
        dims.push(d as usize);
    }
    let n = count as usize;
    let values: Vec<f32> = match t.data_type {
        proto::FLOAT if !t.raw_data.is_empty() => {
            if t.raw_data.len() as u64 != count * 4 {
                return Err(size_err(format!(
                    "dims {:?} declare {count} floats but raw_data holds {} bytes",
                    t.dims,
                    t.raw_data.len()
                )));
            }
            t.raw_data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        }
        proto::FLOAT => {
            if t.float_data.len() != n {
                return Err(size_err(format!(
                    "dims {:?} declare {count} floats but float_data holds {}",
                    t.dims,
                    t.float_data.len()
                )));
            }
            t.float_data.clone()
        }
        proto::DOUBLE if !t.raw_data.is_empty() => {
            if t.raw_data.len() as u64 != count * 8 {
                return Err(size_err(format!(
                    "dims {:?} declare {count} doubles but raw_data holds {} bytes",
                    t.dims,
                    t.raw_data.len()
                )));
            }
            t.raw_data
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f32)
                .collect()
        }
        proto::DOUBLE => {
            if t.double_data.len() != n {
                return Err(size_err(format!(
                    "dims {:?} declare {count} doubles but double_data holds {}",
                    t.dims,
                    t.double_data.len()
                )));
            }
            t.double_data.iter().map(|&v| v as f32).collect()
        }
        // Integer shape constants and the like: not weights.
        _ => return Ok(None),
    };
    ArrayD::from_shape_vec(IxDyn(&dims), values)
        .map(Some)
        .map_err(|e| size_err(e.to_string()))
}

/// The roots of transformers' tensor names below any wrapper prefix.
const ROOTS: [&str; 3] = ["embeddings", "encoder", "layernorm"];

/// `model.0.auto_model.encoder.layer.0.x` → `encoder.layer.0.x` (from the first root segment).
fn strip_to_root(name: &str) -> Option<String> {
    let parts: Vec<&str> = name.split('.').collect();
    let at = parts.iter().position(|p| ROOTS.contains(p))?;
    Some(parts[at..].join("."))
}

/// `/model/model.0/auto_model/encoder/layer.0/attention/self/value/MatMul` →
/// `encoder.layer.0.attention.self.value` (the module path of the node, from its root).
fn module_of(node_name: &str) -> Option<String> {
    let parts: Vec<&str> = node_name.split('/').filter(|p| !p.is_empty()).collect();
    let at = parts.iter().position(|p| ROOTS.contains(p))?;
    let module = &parts[at..parts.len().checked_sub(1)?];
    (!module.is_empty()).then(|| module.join("."))
}

/// What the reader took from one ONNX file.
pub struct OnnxWeights {
    /// Float tensors by transformers' names (linear weights `[out, in]`).
    pub tensors: HashMap<String, ArrayD<f32>>,
    /// The synthesised `config.json`.
    pub config_json: serde_json::Value,
}

fn scalar(t: &TensorProto, file: &Path) -> Option<f64> {
    let a = decode_floats(t, file).ok().flatten()?;
    (a.len() == 1).then(|| f64::from(a.iter().next().copied().unwrap_or(f32::NAN)))
}

fn layout(file: &Path, reason: impl Into<String>) -> OnnxError {
    OnnxError::Layout {
        file: file.to_path_buf(),
        reason: reason.into(),
    }
}

/// Read the initializers of the ONNX `bytes` (from `file`) under transformers' names and
/// infer the configuration.
pub fn read_weights_from_bytes(bytes: &[u8], file: &Path) -> Result<OnnxWeights, OnnxError> {
    let model = ModelProto::decode(bytes).map_err(|e| OnnxError::Decode {
        file: file.to_path_buf(),
        reason: e.to_string(),
    })?;
    let graph: GraphProto = model
        .graph
        .ok_or_else(|| layout(file, "the model has no graph"))?;
    // Scalar constants (Constant nodes and initializers) by value name.
    let mut scalars: HashMap<&str, f64> = HashMap::new();
    for node in &graph.node {
        if node.op_type == "Constant" {
            if let (Some(out), Some(t)) = (
                node.output.first(),
                node.attribute
                    .iter()
                    .find(|a| a.name == "value")
                    .and_then(|a| a.t.as_ref()),
            ) {
                if let Some(v) = scalar(t, file) {
                    scalars.insert(out, v);
                }
            }
        }
    }
    let mut consumers: HashMap<&str, Vec<(usize, &proto::NodeProto)>> = HashMap::new();
    for node in &graph.node {
        for (slot, input) in node.input.iter().enumerate() {
            consumers
                .entry(input.as_str())
                .or_default()
                .push((slot, node));
        }
    }
    let mut tensors = HashMap::new();
    let mut position_pieces: Vec<ArrayD<f32>> = Vec::new();
    for init in &graph.initializer {
        let Some(array) = decode_floats(init, file)? else {
            continue;
        };
        if array.len() == 1 {
            scalars.insert(
                init.name.as_str(),
                f64::from(array.iter().next().copied().unwrap_or(0.0)),
            );
        }
        if let Some(name) = strip_to_root(&init.name).filter(|_| !init.name.starts_with("onnx::")) {
            tensors.insert(name, array);
            continue;
        }
        let users = consumers
            .get(init.name.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let [(slot, node)] = users else {
            continue;
        };
        match (node.op_type.as_str(), module_of(&node.name)) {
            ("MatMul", Some(module)) if *slot == 1 && array.ndim() == 2 => {
                let t = array.t().as_standard_layout().into_owned();
                tensors.insert(format!("{module}.weight"), t);
            }
            ("Concat" | "Reshape", Some(module))
                if module == "embeddings" && array.ndim() == 3 && array.shape()[0] == 1 =>
            {
                position_pieces.push(array);
            }
            _ => {}
        }
    }
    if !tensors.contains_key("embeddings.position_embeddings") && position_pieces.len() == 2 {
        position_pieces.sort_by_key(|a| a.shape()[1]);
        let views: Vec<_> = position_pieces.iter().map(|a| a.view()).collect();
        let joined = ndarray::concatenate(ndarray::Axis(1), &views)
            .map_err(|e| layout(file, format!("position embeddings: {e}")))?;
        tensors.insert("embeddings.position_embeddings".into(), joined);
    }
    let config_json = infer_config(&graph, &tensors, &scalars, file)?;
    Ok(OnnxWeights {
        tensors,
        config_json,
    })
}

fn shape<'a>(
    tensors: &'a HashMap<String, ArrayD<f32>>,
    name: &str,
    file: &Path,
) -> Result<&'a [usize], OnnxError> {
    tensors
        .get(name)
        .map(|a| a.shape())
        .ok_or_else(|| layout(file, format!("no initializer maps to {name:?}")))
}

fn infer_config(
    graph: &GraphProto,
    tensors: &HashMap<String, ArrayD<f32>>,
    scalars: &HashMap<&str, f64>,
    file: &Path,
) -> Result<serde_json::Value, OnnxError> {
    let layers = (0..)
        .take_while(|l| {
            let p = format!("encoder.layer.{l}.");
            tensors.keys().any(|k| k.starts_with(&p))
        })
        .count();
    if layers == 0 {
        return Err(layout(
            file,
            "no encoder.layer.N initializers (supported: BERT-style text encoders, DINOv2)",
        ));
    }
    // Layer 0's nodes: the attention scale and the LayerNorm ε.
    let in_layer0 = |n: &&proto::NodeProto| n.name.contains("/layer.0/");
    let consts = |n: &proto::NodeProto| -> Vec<f64> {
        n.input
            .iter()
            .filter_map(|i| scalars.get(i.as_str()).copied())
            .collect()
    };
    let mut eps = None;
    for node in graph.node.iter().filter(in_layer0) {
        if node.op_type == "LayerNormalization" {
            eps = node
                .attribute
                .iter()
                .find(|a| a.name == "epsilon")
                .map(|a| f64::from(a.f));
        } else if node.op_type == "Add" && node.name.contains("norm") {
            eps = consts(node).into_iter().find(|&c| c > 0.0 && c < 1e-3);
        }
        if eps.is_some() {
            break;
        }
    }
    let attention_scalars = |op: &str| -> Vec<f64> {
        graph
            .node
            .iter()
            .filter(in_layer0)
            .filter(|n| {
                n.op_type == op && n.name.contains("/attention/") && !n.name.contains("/output/")
            })
            .flat_map(consts)
            .collect()
    };
    let divs = attention_scalars("Div");
    let muls = attention_scalars("Mul");
    let head_dim = match (divs.as_slice(), muls.as_slice()) {
        ([c], []) => c * c,
        ([], [c]) => 1.0 / (c * c),
        ([], [a, b]) if (a - b).abs() < 1e-6 => 1.0 / (a * a * b * b),
        _ => {
            return Err(layout(
                file,
                format!("cannot read the head width from layer 0's attention scale (Div constants {divs:?}, Mul constants {muls:?})"),
            ))
        }
    };
    let head_dim = head_dim.round() as usize;
    let eps = eps.unwrap_or(1e-12);
    if tensors.contains_key("encoder.layer.0.attention.self.query.weight") {
        let [vocab, width] = shape(tensors, "embeddings.word_embeddings.weight", file)? else {
            return Err(layout(file, "word embeddings are not a matrix"));
        };
        let max_positions = shape(tensors, "embeddings.position_embeddings.weight", file)?[0];
        let type_vocab = tensors
            .get("embeddings.token_type_embeddings.weight")
            .map_or(0, |a| a.shape()[0]);
        let intermediate = shape(tensors, "encoder.layer.0.intermediate.dense.weight", file)?[0];
        if head_dim == 0 || width % head_dim != 0 {
            return Err(layout(
                file,
                format!("head width {head_dim} does not divide {width}"),
            ));
        }
        Ok(json!({
            "model_type": "bert",
            "hidden_size": width,
            "num_attention_heads": width / head_dim,
            "num_hidden_layers": layers,
            "intermediate_size": intermediate,
            "hidden_act": "gelu",
            "layer_norm_eps": eps,
            "vocab_size": vocab,
            "max_position_embeddings": max_positions,
            "type_vocab_size": type_vocab,
            "pad_token_id": 0,
        }))
    } else if tensors.contains_key("encoder.layer.0.layer_scale1.lambda1") {
        let [width, channels, patch, _] = shape(
            tensors,
            "embeddings.patch_embeddings.projection.weight",
            file,
        )?
        else {
            return Err(layout(file, "the patch projection is not a 4-d kernel"));
        };
        let positions = shape(tensors, "embeddings.position_embeddings", file)?[1];
        let registers = tensors
            .get("embeddings.register_tokens")
            .map_or(0, |a| a.shape()[1]);
        let grid = ((positions.saturating_sub(1)) as f64).sqrt().round() as usize;
        if grid * grid + 1 != positions {
            return Err(layout(
                file,
                format!("{positions} positions are not CLS + a square grid"),
            ));
        }
        let intermediate = shape(tensors, "encoder.layer.0.mlp.fc1.weight", file)?[0];
        if head_dim == 0 || width % head_dim != 0 {
            return Err(layout(
                file,
                format!("head width {head_dim} does not divide {width}"),
            ));
        }
        Ok(json!({
            "model_type": if registers > 0 { "dinov2_with_registers" } else { "dinov2" },
            "hidden_size": width,
            "num_attention_heads": width / head_dim,
            "num_hidden_layers": layers,
            "mlp_ratio": intermediate as f64 / *width as f64,
            "hidden_act": "gelu",
            "layer_norm_eps": eps,
            "image_size": grid * patch,
            "patch_size": patch,
            "num_channels": channels,
            "qkv_bias": true,
            "num_register_tokens": registers,
        }))
    } else {
        Err(layout(
            file,
            "neither a BERT-style encoder (encoder.layer.0.attention.self.query) nor DINOv2 (encoder.layer.0.layer_scale1)",
        ))
    }
}

/// Load the ONNX model `file` as an [`HfEncoder`](crate::hf::HfEncoder).
pub fn load(file: &Path) -> Result<crate::hf::HfEncoder, HfError> {
    let bytes = std::fs::read(file).map_err(|source| OnnxError::Io {
        file: file.to_path_buf(),
        source,
    })?;
    from_bytes(&bytes, file)
}

/// Load ONNX `bytes` (named `file` in errors).
pub fn from_bytes(bytes: &[u8], file: &Path) -> Result<crate::hf::HfEncoder, HfError> {
    let weights = read_weights_from_bytes(bytes, file)?;
    let config = HfConfig::parse(&weights.config_json.to_string(), file)?;
    let src = TensorSource::from_decoded(&weights.tensors, file, config.family.prefix());
    let encoder_weights = read_weights(&src, &config)?;
    Ok(crate::hf::HfEncoder::from_loaded(
        config,
        encoder_weights,
        file,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_from_the_root_segment() {
        assert_eq!(
            strip_to_root("model.0.auto_model.encoder.layer.0.attention.self.query.bias")
                .as_deref(),
            Some("encoder.layer.0.attention.self.query.bias")
        );
        assert_eq!(
            module_of("/model/model.0/auto_model/encoder/layer.2/attention/self/value/MatMul")
                .as_deref(),
            Some("encoder.layer.2.attention.self.value")
        );
        assert_eq!(strip_to_root("decoder.bn1.weight"), None);
    }

    fn tensor(name: &str, dims: &[i64], raw: usize) -> TensorProto {
        TensorProto {
            name: name.into(),
            dims: dims.to_vec(),
            data_type: proto::FLOAT,
            raw_data: vec![0; raw],
            ..TensorProto::default()
        }
    }

    #[test]
    fn declared_sizes_are_checked_before_allocating() {
        let f = Path::new("m.onnx");
        assert!(decode_floats(&tensor("a", &[2, 3], 24), f)
            .unwrap()
            .is_some());
        let short = decode_floats(&tensor("a", &[2, 3], 20), f).unwrap_err();
        assert!(short.to_string().contains("declare 6 floats"), "{short}");
        let huge = decode_floats(&tensor("a", &[1 << 20, 1 << 20, 1 << 20], 4), f).unwrap_err();
        assert!(huge.to_string().contains("exceed"), "{huge}");
        let neg = decode_floats(&tensor("a", &[-1], 4), f).unwrap_err();
        assert!(neg.to_string().contains("negative"), "{neg}");
        let mut ext = tensor("w", &[1], 4);
        ext.data_location = 1;
        let e = decode_floats(&ext, f).unwrap_err();
        assert!(matches!(e, OnnxError::ExternalData { .. }), "{e}");
    }

    #[test]
    fn garbage_is_a_decode_error() {
        let e = read_weights_from_bytes(&[0xff, 0xff, 0xff], Path::new("x.onnx")).err();
        assert!(matches!(e, Some(OnnxError::Decode { .. })));
    }
}
