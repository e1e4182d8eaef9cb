//! # eigenformer-io
//!
//! The bottom layer for files: every result, checkpoint and report the toolkit writes goes through
//! [`write_atomic`], JSON through [`write_json`] / [`read_json`], and every content hash through
//! [`sha256_hex`] / [`sha256_file`]. One implementation of each, so that a fix (an fsync, a cleanup)
//! reaches every writer at once.
//!
//! **Layering:** depends on no other `eigenformer-*` crate.

mod atomic;
mod digest;
mod json;
mod stamp;

pub use atomic::write_atomic;
pub use digest::{hex, sha256_file, sha256_hex, Sha256Stream};
pub use json::{read_json, write_json};
pub use stamp::{format_utc, now_utc};

use std::path::PathBuf;
use thiserror::Error;

/// Why a file could not be written or read.
#[derive(Debug, Error)]
pub enum IoError {
    #[error("{action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", .path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl IoError {
    pub(crate) fn io<'a>(
        action: &'static str,
        path: &'a std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> Self + 'a {
        move |source| IoError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Results of this crate.
pub type Result<T, E = IoError> = std::result::Result<T, E>;
