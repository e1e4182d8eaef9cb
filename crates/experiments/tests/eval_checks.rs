//! Issue 14, item 10: `eigenformer eval` refuses what train refuses (no images, empty batches)
//! and a checkpoint whose weights are not finite, instead of printing `test_loss=NaN` and
//! exiting 0.

use eigenformer_data::{Dataset, DatasetKind};
use eigenformer_experiments::eval::{load_model, measure, EvalArgs};
use eigenformer_experiments::train::checkpoint::{self, CheckpointRecord};
use eigenformer_experiments::train::config::TrainConfig;
use eigenformer_experiments::train::run::{train, TrainData, TrainOptions};
use eigenformer_experiments::train::rundir::RunDir;
use eigenformer_model::AttentionKind;

mod train_support;

/// `n` 8×8 grey images of 2 classes.
fn synthetic(n: usize) -> Dataset {
    let images = (0..n * 64).map(|i| (i * 37 % 251) as u8).collect();
    let labels = (0..n).map(|i| (i % 2) as u8).collect();
    Dataset::new("synthetic", images, [n, 1, 8, 8], labels, 2).unwrap()
}

fn tiny_checkpoint(out: &std::path::Path) {
    let cfg = train_support::tiny_vit(8, 1, 2, AttentionKind::Plain);
    let mut run: TrainConfig =
        toml::from_str("dataset = \"mnist\"\nepochs = 1\nbatch_size = 8\n").unwrap();
    run.model = "tiny".into();
    train(
        &TrainOptions::new(run, cfg, out),
        &TrainData {
            kind: DatasetKind::Mnist,
            train: synthetic(16),
            test: synthetic(8),
        },
    )
    .unwrap();
}

#[test]
fn zero_images_or_batches_are_refused_before_loading() {
    for args in [
        EvalArgs {
            checkpoint: "/nonexistent".into(),
            eval_limit: Some(0),
            ..Default::default()
        },
        EvalArgs {
            checkpoint: "/nonexistent".into(),
            batch_size: 0,
            ..Default::default()
        },
    ] {
        let err = measure(&args).unwrap_err().to_string();
        assert!(err.contains("must be at least 1"), "{err}");
    }
}

#[test]
fn a_checkpoint_with_a_nan_weight_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    tiny_checkpoint(dir.path());
    let (model, _) = load_model(dir.path()).unwrap();
    let ck = checkpoint::load(dir.path()).unwrap();
    let (name, param) = model.named_parameters().into_iter().nth(2).unwrap();
    param
        .update_data(|a| *a.iter_mut().next().unwrap() = f32::NAN)
        .unwrap();
    // Committed as a new checkpoint through the run directory, so it passes every checksum and
    // only the evaluation can notice the NaN.
    let run = RunDir::open(dir.path()).unwrap();
    let record = CheckpointRecord {
        model: &model,
        optimizer: &ck.optimizer,
        meta: &ck.meta,
        metrics: ck.metrics.as_ref().unwrap(),
        diagnostics: ck.diagnostics.as_ref().unwrap(),
    };
    run.commit(&record, 2).unwrap();
    drop(run);
    let err = format!(
        "{:#}",
        measure(&EvalArgs {
            checkpoint: dir.path().to_path_buf(),
            ..Default::default()
        })
        .unwrap_err()
    );
    assert!(err.contains(&name) && err.contains("non-finite"), "{err}");
}
