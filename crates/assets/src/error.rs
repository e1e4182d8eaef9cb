//! Why an asset could not be resolved.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why an asset could not be resolved.
#[derive(Debug, Error)]
pub enum AssetError {
    #[error("unknown asset `{name}`; known assets: {}", crate::builtin_names().join(", "))]
    Unknown { name: String },
    #[error(
        "{}: sha256 mismatch: expected {}, actual {actual}",
        .path.display(),
        .expected.join(" or ")
    )]
    HashMismatch {
        path: PathBuf,
        expected: Vec<String>,
        actual: String,
    },
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{}: does not hold the files of `{asset}`: missing {} (also looked in the subdirectories {})\n{help}",
        .dir.display(),
        .missing.join(", "),
        list_or_dash(.subdirs)
    )]
    UserDirIncomplete {
        asset: String,
        dir: PathBuf,
        missing: Vec<String>,
        subdirs: Vec<String>,
        help: String,
    },
    #[error("{}: {reason}", .path.display())]
    Archive { path: PathBuf, reason: String },
    /// A refused output path or a checksum failure of the shared writer (it names its file).
    #[error(transparent)]
    File(eigenformer_io::IoError),
    #[error("no cache directory: set EIGENFORMER_CACHE (or HOME)")]
    NoCacheDir,
    #[error("could not obtain `{asset}`; every source failed:\n{}\n{help}", render_attempts(.attempts))]
    AllSourcesFailed {
        asset: String,
        /// `(source, failure)` for each source tried.
        attempts: Vec<(String, String)>,
        help: String,
    },
}

fn list_or_dash(items: &[String]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items.join(", ")
    }
}

fn render_attempts(attempts: &[(String, String)]) -> String {
    let mut s = String::new();
    for (i, (source, why)) in attempts.iter().enumerate() {
        let _ = writeln!(s, "  {}. {source}: {}", i + 1, why.replace('\n', "\n     "));
    }
    if attempts.is_empty() {
        s.push_str("  (the asset has no source)\n");
    }
    s
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> AssetError + '_ {
    move |source| AssetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl From<eigenformer_io::IoError> for AssetError {
    fn from(e: eigenformer_io::IoError) -> Self {
        match e {
            eigenformer_io::IoError::Io { path, source, .. } => AssetError::Io { path, source },
            eigenformer_io::IoError::Json { path, source } => AssetError::Archive {
                path,
                reason: source.to_string(),
            },
            other => AssetError::File(other),
        }
    }
}
