//! Typed errors of the model crate.

use eigenformer_tensor::TensorError;
use thiserror::Error;

/// Everything that can go wrong when building, running or loading a model.
#[derive(Debug, Error)]
pub enum ModelError {
    /// A configuration field has an invalid value.
    #[error("invalid model configuration: {field} = {value}: {reason}")]
    InvalidConfig {
        /// The offending field (dotted path for nested fields, e.g. `spectral.eps`).
        field: &'static str,
        /// Its value, printed.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A configuration whose size exceeds a fixed limit (`MAX_PARAMETERS`,
    /// `MAX_ACTIVATION_FLOATS_PER_IMAGE`): refused before anything is allocated.
    #[error(
        "model too large: {what} would be {amount}, more than the limit of {limit} ({shape}); \
         choose a smaller width, depth or number of heads"
    )]
    TooLarge {
        /// What was measured (`the parameter count`, …).
        what: &'static str,
        /// The amount, printed (`more than 2^64` when it overflows).
        amount: String,
        /// The limit.
        limit: u64,
        /// The shape that asked for it.
        shape: String,
    },
    /// `ViTConfig::preset` got a name it does not know.
    #[error("unknown preset {name:?}; known presets: {known}")]
    UnknownPreset {
        /// The name given.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// A string could not be parsed as an enum value (attention kind, spectral form).
    #[error("unknown {what} {value:?}; expected one of: {expected}")]
    UnknownName {
        /// What was being parsed (`attention kind`, `spectral form`).
        what: &'static str,
        /// The string given.
        value: String,
        /// The accepted names, comma-separated.
        expected: String,
    },
    /// A configuration override names no field of the configuration or does not fit it.
    #[error("invalid override {key}={value}: {reason}")]
    InvalidOverride {
        /// The key (dotted path).
        key: String,
        /// The value given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// The input batch has the wrong shape for the model.
    #[error("input shape {found:?} does not fit the model: expected {expected}")]
    InputShape {
        /// The shape given.
        found: Vec<usize>,
        /// What was expected, in words.
        expected: String,
    },
    /// `load_named`: the model has a parameter the checkpoint does not provide.
    #[error("missing parameter {name:?} (shape {shape:?}) in the tensors to load")]
    MissingParameter {
        /// The parameter name.
        name: String,
        /// Its shape in the model.
        shape: Vec<usize>,
    },
    /// `load_named`: the checkpoint provides a tensor the model does not have.
    #[error("unexpected tensor {name:?}: the model has no parameter of that name")]
    UnexpectedParameter {
        /// The tensor name.
        name: String,
    },
    /// `load_named`: the same name appears twice.
    #[error("tensor {name:?} is given more than once")]
    DuplicateParameter {
        /// The tensor name.
        name: String,
    },
    /// `load_named`: a tensor has the wrong shape.
    #[error("parameter {name:?} has shape {expected:?} in the model but {found:?} was given")]
    ParameterShape {
        /// The parameter name.
        name: String,
        /// Its shape in the model.
        expected: Vec<usize>,
        /// The shape given.
        found: Vec<usize>,
    },
    /// Reading or writing a configuration as JSON failed.
    #[error("configuration JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A tensor operation failed.
    #[error(transparent)]
    Tensor(#[from] TensorError),
}

/// Result type of the model crate.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;

/// Lets model code run inside closures that must return the tensor crate's `Result` (e.g.
/// `eigenformer_tensor::check_gradients`): a wrapped tensor error comes back as it was, any other
/// model error as `TensorError::InvalidArgument { op: "model", .. }` carrying its message.
impl From<ModelError> for TensorError {
    fn from(e: ModelError) -> TensorError {
        match e {
            ModelError::Tensor(t) => t,
            other => TensorError::InvalidArgument {
                op: "model",
                reason: other.to_string(),
            },
        }
    }
}
