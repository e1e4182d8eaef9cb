//! `--model org/name`: a Hugging Face hub repository, found in the standard Hugging Face cache
//! or downloaded into it.
//!
//! Why the hub's own cache and layout (`<cache>/models--org--name/refs/main` naming a revision,
//! `snapshots/<revision>/<file>`): a model that transformers or `huggingface-cli` already
//! downloaded is used as it is, nothing is copied, and what we download is visible to them.
//! The cache is `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`,
//! else `~/.cache/huggingface/hub` (huggingface_hub's own rules). A repository the cache lacks
//! (or lacks files of) is downloaded with the `hf-hub` crate unless `--offline` (or
//! `HF_HUB_OFFLINE=1`) forbids it.

use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a hub name could not be resolved.
#[derive(Debug, Error)]
pub enum HubError {
    #[error(
        "{repo}: not in the Hugging Face cache ({reason}; looked in {}) and downloading is \
         switched off (--offline or HF_HUB_OFFLINE); download it with `huggingface-cli download \
         {repo}` or drop --offline",
        cache.display()
    )]
    Offline {
        repo: String,
        cache: PathBuf,
        reason: String,
    },
    #[error(
        "{repo}: not in the Hugging Face cache ({reason}; looked in {}), and downloading \
         {file} from the hub failed: {source}",
        cache.display()
    )]
    Download {
        repo: String,
        cache: PathBuf,
        reason: String,
        file: String,
        #[source]
        source: Box<hf_hub::api::sync::ApiError>,
    },
    #[error("{}: {reason}", path.display())]
    Cache { path: PathBuf, reason: String },
}

/// Whether `spec` has the form of a hub repository id `org/name` (one slash, each part
/// letters, digits, `-`, `_`, `.`, not starting with `.` or `-`). The caller checks first that
/// it is no local directory.
pub fn is_hub_name(spec: &str) -> bool {
    let mut parts = spec.split('/');
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 96
            && !p.starts_with(['.', '-'])
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(org), Some(name), None) if part_ok(org) && part_ok(name)
    )
}

/// The Hugging Face hub cache directory from the environment (see the module documentation).
pub fn cache_dir() -> PathBuf {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("HF_HUB_CACHE") {
        return dir;
    }
    if let Some(home) = var("HF_HOME") {
        return home.join("hub");
    }
    if let Some(xdg) = var("XDG_CACHE_HOME") {
        return xdg.join("huggingface").join("hub");
    }
    var("HOME")
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".cache")
        .join("huggingface")
        .join("hub")
}

/// Whether the environment forbids downloads (`HF_HUB_OFFLINE` set to 1/true/yes/on).
pub fn offline_from_env() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .map(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
        .unwrap_or(false)
}

/// `<cache>/models--org--name`.
pub fn repo_dir(cache: &Path, repo: &str) -> PathBuf {
    cache.join(format!("models--{}", repo.replace('/', "--")))
}

/// The snapshot directory of `repo` in `cache` holding every file of `files`: the revision
/// `refs/main` names (or the only snapshot when there is no `refs/main`). `Err` says what is
/// missing, for the message of a download or an offline refusal.
pub fn find_in_cache(cache: &Path, repo: &str, files: &[&str]) -> Result<PathBuf, String> {
    let dir = repo_dir(cache, repo);
    if !dir.is_dir() {
        return Err(format!("no {}", dir.display()));
    }
    let snapshots = dir.join("snapshots");
    let refs_main = dir.join("refs").join("main");
    let snapshot = match std::fs::read_to_string(&refs_main) {
        Ok(rev) => {
            let rev = rev.trim();
            if rev.is_empty() || rev.contains(['/', '\\']) || rev.starts_with('.') {
                return Err(format!("{} holds no revision", refs_main.display()));
            }
            snapshots.join(rev)
        }
        Err(_) => {
            let mut all: Vec<PathBuf> = std::fs::read_dir(&snapshots)
                .map_err(|e| format!("{}: {e}", snapshots.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect();
            if all.len() != 1 {
                return Err(format!(
                    "no {} and {} snapshots, so no revision to choose",
                    refs_main.display(),
                    all.len()
                ));
            }
            all.remove(0)
        }
    };
    if !snapshot.is_dir() {
        return Err(format!("no snapshot {}", snapshot.display()));
    }
    let missing: Vec<&str> = files
        .iter()
        .copied()
        .filter(|f| !snapshot.join(f).is_file())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{} lacks {}",
            snapshot.display(),
            missing.join(", ")
        ));
    }
    Ok(snapshot)
}

/// Resolve `repo` (`org/name`) to a directory holding `files`: the cache first, then (unless
/// `offline`) a download of `files` into the cache with `hf-hub`.
pub fn resolve(repo: &str, files: &[&str], offline: bool) -> Result<PathBuf, HubError> {
    resolve_in(&cache_dir(), repo, files, offline, None)
}

/// [`resolve`] with an explicit cache directory and, optionally, hub endpoint (default:
/// `$HF_ENDPOINT` or huggingface.co, as `hf-hub` decides).
pub fn resolve_in(
    cache: &Path,
    repo: &str,
    files: &[&str],
    offline: bool,
    endpoint: Option<&str>,
) -> Result<PathBuf, HubError> {
    let reason = match find_in_cache(cache, repo, files) {
        Ok(dir) => return Ok(dir),
        Err(reason) => reason,
    };
    if offline {
        return Err(HubError::Offline {
            repo: repo.to_string(),
            cache: cache.to_path_buf(),
            reason,
        });
    }
    let download_err = |file: &str, source: hf_hub::api::sync::ApiError| HubError::Download {
        repo: repo.to_string(),
        cache: cache.to_path_buf(),
        reason: reason.clone(),
        file: file.to_string(),
        source: Box::new(source),
    };
    let mut builder = hf_hub::api::sync::ApiBuilder::from_env()
        .with_cache_dir(cache.to_path_buf())
        .with_progress(false);
    if let Some(e) = endpoint {
        builder = builder.with_endpoint(e.to_string());
    }
    // hf-hub reads the token file `$HF_HOME/token`; `HF_TOKEN` (huggingface_hub's variable for
    // gated models) takes precedence, as in Python.
    if let Some(token) = std::env::var("HF_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
    {
        builder = builder.with_token(Some(token.trim().to_string()));
    }
    let api = builder
        .build()
        .map_err(|e| download_err("(client setup)", e))?;
    let remote = api.model(repo.to_string());
    let mut dir = None;
    for f in files {
        let path = remote.get(f).map_err(|e| download_err(f, e))?;
        dir = path.parent().map(Path::to_path_buf);
    }
    dir.ok_or_else(|| HubError::Cache {
        path: repo_dir(cache, repo),
        reason: "no files were requested".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_names_are_recognised() {
        assert!(is_hub_name("sentence-transformers/all-MiniLM-L6-v2"));
        assert!(is_hub_name("openai-community/gpt2"));
        for bad in [
            "gpt2",
            "a/b/c",
            "/abs",
            "./x",
            "../x/y",
            "a/",
            "org/na me",
            ".hidden/x",
        ] {
            assert!(!is_hub_name(bad), "{bad}");
        }
    }

    fn snapshot(cache: &Path, repo: &str, rev: &str, files: &[&str], refs: bool) -> PathBuf {
        let dir = repo_dir(cache, repo);
        let snap = dir.join("snapshots").join(rev);
        std::fs::create_dir_all(&snap).unwrap();
        for f in files {
            std::fs::write(snap.join(f), "{}").unwrap();
        }
        if refs {
            std::fs::create_dir_all(dir.join("refs")).unwrap();
            std::fs::write(dir.join("refs/main"), format!("{rev}\n")).unwrap();
        }
        snap
    }

    #[test]
    fn the_cache_is_read_through_refs_main() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path();
        let files = ["config.json", "model.safetensors"];
        let old = snapshot(cache, "org/m", "aaaa", &files, false);
        // One snapshot and no refs/main: that snapshot.
        assert_eq!(find_in_cache(cache, "org/m", &files).unwrap(), old);
        let new = snapshot(cache, "org/m", "bbbb", &files, true);
        assert_eq!(find_in_cache(cache, "org/m", &files).unwrap(), new);
        // A snapshot without a needed file names it.
        let e = find_in_cache(cache, "org/m", &["tokenizer.json"]).unwrap_err();
        assert!(e.contains("lacks tokenizer.json"), "{e}");
        let e = find_in_cache(cache, "org/other", &files).unwrap_err();
        assert!(e.contains("models--org--other"), "{e}");
    }

    #[test]
    fn offline_refuses_and_a_failed_download_says_why() {
        let tmp = tempfile::tempdir().unwrap();
        let e = resolve_in(tmp.path(), "org/absent", &["config.json"], true, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("org/absent") && e.contains("--offline"), "{e}");
        // The download goes to an endpoint that cannot answer: a clear error, not a panic
        // (no network is needed to see it fail).
        let endpoint = Some("http://127.0.0.1:9");
        let e = resolve_in(tmp.path(), "org/absent", &["config.json"], false, endpoint)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("org/absent") && e.contains("downloading config.json"),
            "{e}"
        );
    }
}
