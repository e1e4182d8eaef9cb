//! `eigenformer train` and its run directory (issue 14, items 4 and 5): the lock and the
//! `--resume` / `--overwrite` rule are checked before the data set is loaded, so a second trainer
//! or a forgotten `--resume` fails at once with a clear message, and nothing in the directory
//! changes. (`--data-dir` points at an empty directory: reaching the data would be an error of
//! its own, about missing files.)

use eigenformer_data::{Dataset, DatasetKind};
use eigenformer_experiments::train::config::TrainConfig;
use eigenformer_experiments::train::run::{train, TrainData, TrainOptions};
use eigenformer_experiments::train::rundir::RunLock;
use eigenformer_model::ViTConfig;
use std::path::Path;
use std::process::Command;

fn eigenformer(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_eigenformer"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// A finished one-epoch run on 12 synthetic 28×28 images, written through the library.
fn finished_run(out: &Path) {
    let images: Vec<u8> = (0..12 * 784).map(|i| (i * 7 % 251) as u8).collect();
    let labels: Vec<u8> = (0..12).map(|i| (i % 10) as u8).collect();
    let set = Dataset::new("synthetic", images, [12, 1, 28, 28], labels, 10).unwrap();
    let mut cfg = ViTConfig::preset("vit-small").unwrap();
    cfg.patch_size = 7;
    cfg.width = 8;
    cfg.depth = 1;
    cfg.heads = 1;
    cfg.mlp_hidden = 8;
    let run: TrainConfig =
        serde_json::from_str(r#"{"dataset": "fashion-mnist", "epochs": 1}"#).unwrap();
    train(
        &TrainOptions::new(run, cfg, out),
        &TrainData {
            kind: DatasetKind::FashionMnist,
            train: set.clone(),
            test: set,
        },
    )
    .unwrap();
}

#[test]
fn a_locked_run_directory_is_refused_with_the_holders_pid_before_loading_data() {
    let dir = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    std::fs::create_dir_all(&out).unwrap();
    let _held = RunLock::acquire(&out).unwrap();
    let (ok, stderr) = eigenformer(&[
        "train",
        "--dataset",
        "fashion-mnist",
        "--epochs",
        "1",
        "--data-dir",
        &empty.path().display().to_string(),
        "--out",
        &out.display().to_string(),
    ]);
    assert!(!ok);
    assert!(stderr.contains("is in use"), "{stderr}");
    assert!(
        stderr.contains(&format!("PID {}", std::process::id())),
        "{stderr}"
    );
}

#[test]
fn a_finished_run_needs_resume_or_overwrite_and_is_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    finished_run(&out);
    let before = snapshot(&out);
    let out_s = out.display().to_string();
    let data_s = empty.path().display().to_string();
    let base = [
        "train",
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        &data_s,
        "--out",
        &out_s,
    ];
    let (ok, stderr) = eigenformer(&[&base[..], &["--epochs", "1"]].concat());
    assert!(!ok);
    assert!(stderr.contains("already holds a training run"), "{stderr}");
    assert!(
        stderr.contains("--resume") && stderr.contains("--overwrite"),
        "{stderr}"
    );
    // --resume of another configuration names what differs, still before any data.
    let (ok, stderr) = eigenformer(&[&base[..], &["--epochs", "3", "--resume"]].concat());
    assert!(!ok);
    assert!(stderr.contains("different run"), "{stderr}");
    // The two flags exclude each other; --keep 0 keeps nothing to resume from.
    let (ok, stderr) = eigenformer(&[&base[..], &["--resume", "--overwrite"]].concat());
    assert!(!ok && stderr.contains("cannot be used with"), "{stderr}");
    let (ok, stderr) = eigenformer(&[&base[..], &["--keep", "0", "--resume"]].concat());
    assert!(!ok && stderr.contains("--keep"), "{stderr}");
    assert!(
        snapshot(&out) == before,
        "a refused command changed the run"
    );
}
