//! The run directory of `eigenformer train` (issue 14): what a killed run leaves is cleaned up
//! and resumed exactly, a damaged newest checkpoint falls back to the previous one, the metrics
//! history cannot lose an epoch, a finished run is not silently replaced, one process owns a
//! directory, and a stopped run does not claim a checkpoint it never wrote.
//!
//! "Exactly" means byte for byte: with the timings zeroed, the directory a resumed run leaves is
//! compared file by file with that of an uninterrupted run.

mod train_support;

use eigenformer_experiments::train::checkpoint::{self, META_FILE, METRICS_FILE, WEIGHTS_FILE};
use eigenformer_experiments::train::run::{train, TrainOptions};
use eigenformer_experiments::train::rundir::{self, RunDir, RunLock, MANIFEST_FILE};
use std::path::Path;
use train_support::{assert_same_tree, data, options, tree};

/// The tree of an uninterrupted run of `epochs` epochs with `keep` checkpoints kept.
fn reference(epochs: usize, keep: usize) -> std::collections::BTreeMap<String, Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    train(
        &TrainOptions {
            keep,
            ..options(dir.path(), epochs)
        },
        &data(),
    )
    .unwrap();
    tree(dir.path())
}

fn stopped_after(dir: &Path, epochs: usize, stop: usize) {
    train(
        &TrainOptions {
            stop_after: Some(stop),
            ..options(dir, epochs)
        },
        &data(),
    )
    .unwrap();
}

fn resume(dir: &Path, epochs: usize) -> anyhow::Result<()> {
    train(
        &TrainOptions {
            resume: true,
            ..options(dir, epochs)
        },
        &data(),
    )
    .map(|_| ())
}

fn newest_dir(dir: &Path) -> std::path::PathBuf {
    let m = rundir::read_manifest(dir).unwrap().unwrap();
    dir.join(&m.checkpoints[0].dir)
}

/// Before: the history was re-read with serde_json's default float parser (off by one ulp now
/// and then), so a resumed `metrics.json` differed from an uninterrupted run's.
#[test]
fn a_resumed_run_directory_is_byte_identical_to_an_uninterrupted_one() {
    let want = reference(3, 2);
    for stop in [1, 2, 3] {
        let dir = tempfile::tempdir().unwrap();
        stopped_after(dir.path(), 3, stop);
        resume(dir.path(), 3).unwrap();
        assert_same_tree(&tree(dir.path()), &want, &format!("resumed after {stop}"));
    }
    // The layout the documentation describes.
    for name in [
        "train.lock",
        "manifest.json",
        "metrics.json",
        "diagnostics.json",
        "diagnostics/epoch-000001.json",
        "diagnostics/epoch-000003.json",
    ] {
        assert!(want.contains_key(name), "{name} missing: {:?}", want.keys());
    }
    let kept: Vec<_> = want
        .keys()
        .filter(|k| k.starts_with("checkpoints/") && k.ends_with(META_FILE))
        .collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(want["train.lock"].is_empty(), "a released lock is empty");
}

/// Item 1. Before: a kill between the checkpoint's renames left tensors and metadata of
/// different epochs and the run could not be resumed at all. Now a commit is one rename of the
/// manifest; everything a kill can leave around it is removed on the next start.
#[test]
fn what_a_killed_commit_leaves_is_removed_and_the_run_resumes_exactly() {
    let want = reference(3, 2);
    let dir = tempfile::tempdir().unwrap();
    stopped_after(dir.path(), 3, 2);
    let d = dir.path();
    let staging = d.join("checkpoints/.epoch-000003.tmp");
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::write(staging.join(WEIGHTS_FILE), b"half a tensor file").unwrap();
    let orphan = d.join("checkpoints/epoch-000003-0123456789ab");
    std::fs::create_dir_all(&orphan).unwrap();
    std::fs::write(orphan.join(META_FILE), b"{}").unwrap();
    std::fs::write(d.join(".manifest.json.tmp4000000000"), b"{").unwrap();
    std::fs::write(d.join(".metrics.json.tmp4000000000.3"), b"{").unwrap();
    std::fs::write(d.join("diagnostics/.epoch-000003.json.tmp4000000000"), b"").unwrap();
    std::fs::write(d.join("diagnostics/epoch-000003.json"), b"not committed").unwrap();
    // What the kill left does not count as a checkpoint, and nothing else is touched.
    assert_eq!(checkpoint::load_meta(d).unwrap().epoch, 2);
    std::fs::write(d.join("notes.txt"), b"mine").unwrap();
    resume(d, 3).unwrap();
    assert_eq!(std::fs::read(d.join("notes.txt")).unwrap(), b"mine");
    std::fs::remove_file(d.join("notes.txt")).unwrap();
    assert_same_tree(&tree(d), &want, "resumed over a killed commit");
}

/// Item 1, fallback. Before: a damaged tensor file ended the run ("does not match").
#[test]
fn a_newest_checkpoint_that_fails_its_checksum_falls_back_to_the_previous_one() {
    let want = reference(3, 2);
    for damaged in [WEIGHTS_FILE, METRICS_FILE, "diagnostics.json", META_FILE] {
        let dir = tempfile::tempdir().unwrap();
        stopped_after(dir.path(), 3, 2);
        let path = newest_dir(dir.path()).join(damaged);
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        // A digit for a digit keeps JSON valid, so only the checksum can notice.
        bytes[mid] = if bytes[mid] == b'1' { b'2' } else { b'1' };
        std::fs::write(&path, &bytes).unwrap();
        let (ck, warnings) = rundir::load_latest(dir.path()).unwrap();
        assert_eq!(ck.meta.epoch, 1, "{damaged}");
        assert_eq!(warnings.len(), 1, "{damaged}: {warnings:?}");
        assert!(warnings[0].contains("falling back"), "{warnings:?}");
        assert!(warnings[0].contains("epoch 2"), "{warnings:?}");
        resume(dir.path(), 3).unwrap();
        assert_same_tree(&tree(dir.path()), &want, damaged);
    }
    // Nothing to fall back to: a clear error naming the check that failed.
    let dir = tempfile::tempdir().unwrap();
    train(
        &TrainOptions {
            keep: 1,
            stop_after: Some(2),
            ..options(dir.path(), 3)
        },
        &data(),
    )
    .unwrap();
    let path = newest_dir(dir.path()).join(WEIGHTS_FILE);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
    let msg = format!("{:#}", resume(dir.path(), 3).unwrap_err());
    assert!(msg.contains("no usable checkpoint"), "{msg}");
    assert!(msg.contains("truncated"), "{msg}");
}

/// Item 2. Before: a `metrics.json` one epoch behind the checkpoint (a kill between the two
/// renames), garbage or missing was dropped and the run went on without those epochs.
#[test]
fn a_lost_or_stale_top_level_metrics_file_loses_no_epoch() {
    let want = reference(3, 2);
    let one_epoch = {
        let dir = tempfile::tempdir().unwrap();
        stopped_after(dir.path(), 3, 1);
        std::fs::read(dir.path().join(METRICS_FILE)).unwrap()
    };
    for (what, contents) in [
        ("one epoch behind", Some(one_epoch)),
        ("garbage", Some(b"{\"config\": ".to_vec())),
        ("missing", None),
    ] {
        let dir = tempfile::tempdir().unwrap();
        stopped_after(dir.path(), 3, 2);
        let path = dir.path().join(METRICS_FILE);
        match contents {
            Some(c) => std::fs::write(&path, c).unwrap(),
            None => std::fs::remove_file(&path).unwrap(),
        }
        resume(dir.path(), 3).unwrap();
        let metrics: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let epochs: Vec<u64> = metrics["epochs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["epoch"].as_u64().unwrap())
            .collect();
        assert_eq!(epochs, [1, 2, 3], "{what}");
        assert_same_tree(&tree(dir.path()), &want, what);
    }
}

/// The flat layout of earlier versions (checkpoint files and history directly in the run
/// directory) still resumes, but only with its whole history.
#[test]
fn the_flat_layout_of_earlier_versions_resumes_only_with_its_whole_history() {
    let dir = tempfile::tempdir().unwrap();
    stopped_after(dir.path(), 3, 2);
    let newest = newest_dir(dir.path());
    let flat = tempfile::tempdir().unwrap();
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(newest.join(META_FILE)).unwrap()).unwrap();
    let obj = meta.as_object_mut().unwrap();
    obj.remove("metrics_sha256");
    obj.remove("diagnostics_sha256");
    std::fs::write(flat.path().join(META_FILE), meta.to_string()).unwrap();
    std::fs::copy(newest.join(WEIGHTS_FILE), flat.path().join(WEIGHTS_FILE)).unwrap();
    let full = std::fs::read(newest.join(METRICS_FILE)).unwrap();
    let mut short: serde_json::Value = serde_json::from_slice(&full).unwrap();
    short["epochs"].as_array_mut().unwrap().remove(0);
    std::fs::write(flat.path().join(METRICS_FILE), short.to_string()).unwrap();
    let msg = format!("{:#}", resume(flat.path(), 3).unwrap_err());
    assert!(msg.contains("metrics history has epochs [2]"), "{msg}");

    std::fs::write(flat.path().join(METRICS_FILE), &full).unwrap();
    resume(flat.path(), 3).unwrap();
    let want = reference(3, 2);
    let got = tree(flat.path());
    assert!(!got.contains_key(META_FILE) && !got.contains_key(WEIGHTS_FILE));
    // The epoch it trains is exact; the manifest has only that one (the flat checkpoint was not
    // part of it), and there are no diagnostics of the flat layout's epochs.
    let mut compared = 0;
    for (path, bytes) in &want {
        if path.starts_with("checkpoints/epoch-000003-")
            || [
                "metrics.json",
                "diagnostics.json",
                "diagnostics/epoch-000003.json",
            ]
            .contains(&path.as_str())
        {
            assert!(got.get(path) == Some(bytes), "{path} differs");
            compared += 1;
        }
    }
    assert_eq!(compared, 7);
}

/// Item 4. Before: `train --epochs 1` into a finished 2-epoch run replaced it without a word.
#[test]
fn training_into_a_directory_holding_a_run_needs_resume_or_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    train(&options(dir.path(), 2), &data()).unwrap();
    let before = tree(dir.path());
    for epochs in [2, 1] {
        let msg = format!(
            "{:#}",
            train(&options(dir.path(), epochs), &data()).err().unwrap()
        );
        assert!(msg.contains("already holds a training run"), "{msg}");
        assert!(msg.contains("finished"), "{msg}");
        assert!(
            msg.contains("--resume") && msg.contains("--overwrite"),
            "{msg}"
        );
        assert_same_tree(&tree(dir.path()), &before, "after the refusal");
    }
    // --resume of another configuration names the differences and --overwrite.
    let msg = format!("{:#}", resume(dir.path(), 1).unwrap_err());
    assert!(
        msg.contains("different run") && msg.contains("epochs"),
        "{msg}"
    );
    assert!(msg.contains("--overwrite"), "{msg}");
    // --overwrite replaces the run: the result is that of a fresh run.
    let overwrite = TrainOptions {
        overwrite: true,
        ..options(dir.path(), 1)
    };
    train(&overwrite, &data()).unwrap();
    let fresh = reference(1, 2);
    assert_same_tree(&tree(dir.path()), &fresh, "overwritten");
    let both = TrainOptions {
        resume: true,
        ..overwrite
    };
    assert!(format!("{:#}", train(&both, &data()).err().unwrap()).contains("exclude"));
}

/// Item 5. Before: two trainers on one directory both ran, and one run's results were lost.
#[test]
fn a_second_trainer_on_the_same_directory_is_refused_with_the_holders_pid() {
    let dir = tempfile::tempdir().unwrap();
    let held = RunLock::acquire(dir.path()).unwrap();
    let msg = format!(
        "{:#}",
        train(&options(dir.path(), 1), &data()).err().unwrap()
    );
    assert!(msg.contains("is in use"), "{msg}");
    assert!(
        msg.contains(&format!("PID {}", std::process::id())),
        "{msg}"
    );
    assert!(!dir.path().join(MANIFEST_FILE).exists());
    // The same through an opened run directory.
    let msg = format!("{:#}", RunDir::open(dir.path()).unwrap_err());
    assert!(msg.contains("is in use"), "{msg}");
    drop(held);
    // A holder that died leaves its PID but no lock: the directory is taken over.
    std::fs::write(dir.path().join(rundir::LOCK_FILE), "4000000000\n").unwrap();
    train(&options(dir.path(), 1), &data()).unwrap();
    assert!(std::fs::read(dir.path().join(rundir::LOCK_FILE))
        .unwrap()
        .is_empty());
}

/// Item 12. Before: a run that diverged in its first epoch said "the last good checkpoint
/// (epoch 0) … is kept" although no checkpoint existed.
#[test]
fn a_run_that_diverges_in_its_first_epoch_claims_no_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), 2);
    opts.run.lr = 1e9;
    let msg = format!("{:#}", train(&opts, &data()).err().unwrap());
    assert!(msg.contains("not finite"), "{msg}");
    assert!(!msg.contains("epoch 0"), "{msg}");
    assert!(msg.contains("no checkpoint was written"), "{msg}");
    assert!(!checkpoint::exists(dir.path()));
}

/// Item 12. Before: a `checkpoint.json` edited to epoch 99 resumed, trained nothing, exited 0
/// and reported the wrong number of epochs.
#[test]
fn a_checkpoint_edited_to_epoch_99_is_caught() {
    let edit = |path: &Path| {
        let mut meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        meta["epoch"] = 99.into();
        std::fs::write(path, serde_json::to_string_pretty(&meta).unwrap()).unwrap();
    };
    // With an older checkpoint kept: the edit fails the checksum and the run falls back.
    let want = reference(2, 2);
    let dir = tempfile::tempdir().unwrap();
    train(&options(dir.path(), 2), &data()).unwrap();
    edit(&newest_dir(dir.path()).join(META_FILE));
    let (ck, warnings) = rundir::load_latest(dir.path()).unwrap();
    assert_eq!(ck.meta.epoch, 1);
    assert!(warnings[0].contains("edited or corrupted"), "{warnings:?}");
    resume(dir.path(), 2).unwrap();
    assert_same_tree(&tree(dir.path()), &want, "after the fallback");

    // The only checkpoint: an error.
    let dir = tempfile::tempdir().unwrap();
    train(
        &TrainOptions {
            keep: 1,
            ..options(dir.path(), 2)
        },
        &data(),
    )
    .unwrap();
    edit(&newest_dir(dir.path()).join(META_FILE));
    let msg = format!("{:#}", resume(dir.path(), 2).unwrap_err());
    assert!(msg.contains("no usable checkpoint"), "{msg}");
    assert!(msg.contains("edited or corrupted"), "{msg}");

    // The flat layout of earlier versions (no manifest, no checksum of checkpoint.json): the
    // epoch itself is refused.
    let src = tempfile::tempdir().unwrap();
    train(&options(src.path(), 2), &data()).unwrap();
    let newest = checkpoint::current_dir(src.path()).unwrap();
    let flat = tempfile::tempdir().unwrap();
    for name in [META_FILE, WEIGHTS_FILE, METRICS_FILE] {
        std::fs::copy(newest.join(name), flat.path().join(name)).unwrap();
    }
    let path = flat.path().join(META_FILE);
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    meta.as_object_mut().unwrap().remove("metrics_sha256");
    meta.as_object_mut().unwrap().remove("diagnostics_sha256");
    std::fs::write(&path, meta.to_string()).unwrap();
    edit(&path);
    let msg = format!("{:#}", resume(flat.path(), 2).unwrap_err());
    assert!(
        msg.contains("at epoch 99 but the run has 2 epochs"),
        "{msg}"
    );
}

/// `--keep K` keeps the newest K checkpoints and no more.
#[test]
fn keep_bounds_the_checkpoints_kept() {
    for keep in [1, 3] {
        let dir = tempfile::tempdir().unwrap();
        train(
            &TrainOptions {
                keep,
                ..options(dir.path(), 3)
            },
            &data(),
        )
        .unwrap();
        let m = rundir::read_manifest(dir.path()).unwrap().unwrap();
        let epochs: Vec<usize> = m.checkpoints.iter().map(|e| e.epoch).collect();
        let want: Vec<usize> = (1..=3).rev().take(keep).collect();
        assert_eq!(epochs, want);
        let dirs = std::fs::read_dir(dir.path().join("checkpoints"))
            .unwrap()
            .count();
        assert_eq!(dirs, keep);
        // Every epoch's diagnostics outlive its checkpoint.
        for e in 1..=3 {
            assert!(dir
                .path()
                .join(format!("diagnostics/epoch-{e:06}.json"))
                .is_file());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let zero = TrainOptions {
        keep: 0,
        ..options(dir.path(), 1)
    };
    assert!(format!("{:#}", train(&zero, &data()).err().unwrap()).contains("--keep"));
}
