//! The error type of the experiment runner: what went wrong, with the file or command involved,
//! so `eigenformer experiments` can say exactly which experiment file, run or child failed.

use std::path::PathBuf;
use thiserror::Error;

/// Errors of [`crate::reproduce`].
#[derive(Debug, Error)]
pub enum ReproError {
    /// Reading or writing a file or directory.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An experiment file that is not valid TOML or does not match the schema.
    #[error("{path}: {source}")]
    Toml {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    /// A JSON file (a run's config, metrics, diagnostics or evaluation) that does not parse.
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// An experiment file that parses but describes an invalid grid.
    #[error("{file}: {message}")]
    Spec { file: String, message: String },
    /// A child `eigenformer` command that failed.
    #[error("`{command}` failed ({status}); last lines of {log}:\n{tail}")]
    Child {
        command: String,
        status: String,
        log: PathBuf,
        tail: String,
    },
    /// A run whose outputs are missing or inconsistent after its command succeeded.
    #[error("run {dir}: {message}")]
    Run { dir: PathBuf, message: String },
    /// The profile file (`experiments/profiles.toml`) is unreadable or invalid.
    #[error(transparent)]
    Profile(#[from] crate::profile::ProfileError),
    /// Anything else from a helper of the crate (plots, the atomic writer).
    #[error(transparent)]
    File(#[from] eigenformer_io::IoError),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<crate::train::config::ConfigError> for ReproError {
    fn from(e: crate::train::config::ConfigError) -> Self {
        match e {
            crate::train::config::ConfigError::Invalid { file, message } => {
                ReproError::Spec { file, message }
            }
        }
    }
}

impl ReproError {
    /// An [`ReproError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ReproError {
        let path = path.into();
        move |source| ReproError::Io { path, source }
    }

    /// An [`ReproError::Spec`] for `file`.
    pub fn spec(file: impl std::fmt::Display, message: impl Into<String>) -> ReproError {
        ReproError::Spec {
            file: file.to_string(),
            message: message.into(),
        }
    }
}

/// Results of this module.
pub type Result<T, E = ReproError> = std::result::Result<T, E>;
