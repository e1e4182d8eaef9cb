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
pub mod stdout;

pub use atomic::{clean_stale_temporaries, write_atomic, write_atomic_with};
pub use digest::{hex, sha256_file, sha256_hex, Sha256Stream};
pub use json::{read_json, read_json_sealed, write_json, write_json_sealed, CHECKSUM_KEY};
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
    /// An output path that exists and is not a regular file (a device, FIFO, socket or
    /// directory): replacing it would destroy it (`/dev/null` as root), so it is refused.
    #[error(
        "{}{}: is {kind}; outputs are written only to regular files (give a file name)",
        .path.display(),
        .target.as_ref().map(|t| format!(" (a symlink to {})", t.display())).unwrap_or_default()
    )]
    NotRegular {
        path: PathBuf,
        kind: &'static str,
        /// The end of the symlink chain, when `path` is a link.
        target: Option<PathBuf>,
    },
    #[error("{}: more than {hops} symlinks in a row (a loop?)", .path.display())]
    SymlinkLoop { path: PathBuf, hops: usize },
    /// A sealed JSON file ([`read_json_sealed`]) without a checksum or whose contents do not
    /// match it.
    #[error("{}: {reason}", .path.display())]
    Checksum { path: PathBuf, reason: String },
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
