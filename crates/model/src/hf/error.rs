//! [`HfError`]: everything that can go wrong loading or running a Hugging Face checkpoint.
//!
//! Every variant about a file names the file, and every variant about a tensor names the tensor,
//! so a user with a broken or mismatched download learns what to replace.

use eigenformer_tensor::TensorError;
use std::path::PathBuf;
use thiserror::Error;

/// Errors of [`crate::hf`].
#[derive(Debug, Error)]
pub enum HfError {
    /// A file could not be opened, mapped or read.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `config.json` is not valid JSON (or not an object).
    #[error("{}: not a valid JSON configuration: {reason}", file.display())]
    ConfigParse {
        /// The configuration file.
        file: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// A field of `config.json` is missing, of the wrong type or out of range.
    #[error("{}: field {field:?}: {reason}", file.display())]
    ConfigField {
        /// The configuration file.
        file: PathBuf,
        /// The field name.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `model_type` names a family this loader does not implement.
    #[error("{}: model_type {model_type:?} is not supported (supported: {supported})", file.display())]
    UnsupportedModel {
        /// The configuration file.
        file: PathBuf,
        /// The `model_type` found.
        model_type: String,
        /// The supported model types, comma-separated.
        supported: String,
    },
    /// The safetensors header is unreadable: the file is truncated, the length prefix is out of
    /// range, or the header is not the expected JSON.
    #[error("{}: corrupt safetensors header: {reason}", file.display())]
    Header {
        /// The checkpoint file.
        file: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A tensor's entry in the header is inconsistent: offsets outside the data, overlapping
    /// another tensor, or a byte length that does not match its dtype and shape.
    #[error("{}: tensor {tensor:?}: {reason}", file.display())]
    TensorEntry {
        /// The checkpoint file.
        file: PathBuf,
        /// The tensor name.
        tensor: String,
        /// What is wrong.
        reason: String,
    },
    /// The `safetensors` crate refused the file (after our own header checks passed).
    #[error("{}: safetensors: {reason}", file.display())]
    Safetensors {
        /// The checkpoint file.
        file: PathBuf,
        /// The crate's message.
        reason: String,
    },
    /// A tensor the model needs is not in the checkpoint.
    #[error("{}: missing tensor {tensor:?} (looked for {tried})", file.display())]
    MissingTensor {
        /// The checkpoint file.
        file: PathBuf,
        /// The tensor name without prefix.
        tensor: String,
        /// The full names tried, comma-separated.
        tried: String,
    },
    /// A tensor's shape does not match the configuration.
    #[error("{}: tensor {tensor:?} has shape {found:?} but the configuration implies {expected:?}", file.display())]
    TensorShape {
        /// The checkpoint file.
        file: PathBuf,
        /// The full tensor name.
        tensor: String,
        /// The shape implied by `config.json`.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor has a dtype this loader cannot convert to f32.
    #[error("{}: tensor {tensor:?} has dtype {dtype}; supported: F32, F16, BF16, F64", file.display())]
    TensorDtype {
        /// The checkpoint file.
        file: PathBuf,
        /// The full tensor name.
        tensor: String,
        /// The dtype found.
        dtype: String,
    },
    /// The input of a forward pass does not fit the model (empty, too long, id out of range,
    /// wrong pixel shape, text given to a vision model or the reverse).
    #[error("invalid input: {0}")]
    Input(String),
    /// A layer or head index out of range.
    #[error("{what} index {index} is out of range (the model has {len})")]
    Index {
        /// `layer` or `head`.
        what: &'static str,
        /// The index given.
        index: usize,
        /// How many there are.
        len: usize,
    },
    /// A tensor operation failed (a bug if the loader validated the shapes).
    /// An ONNX file that could not be read ([`crate::onnx`]).
    #[error(transparent)]
    Onnx(Box<crate::onnx::OnnxError>),
    #[error(transparent)]
    Tensor(#[from] TensorError),
}
