//! `eigenformer train` as a library on tiny synthetic data: resume equivalence (bit for bit),
//! non-finite loss handling, mismatching and corrupted checkpoints, and the output files.

use eigenformer_experiments::train::checkpoint::{self, CheckpointRecord, WEIGHTS_FILE};
use eigenformer_experiments::train::run::{train, TrainData, TrainOptions};
use eigenformer_experiments::train::rundir::RunDir;
use eigenformer_model::AttentionKind;
use std::path::Path;

mod train_support;
use train_support::{run_config, tiny_config_with as tiny_config};

fn data() -> TrainData {
    train_support::data_of(60, 30)
}

fn options(out: &Path, epochs: usize, resume: bool, stop_after: Option<usize>) -> TrainOptions {
    TrainOptions {
        run: run_config(epochs),
        model_config: tiny_config(AttentionKind::Plain),
        out: out.to_path_buf(),
        resume,
        overwrite: false,
        keep: 2,
        progress: false,
        stop_after,
        zero_timings: false,
    }
}

#[test]
fn resume_gives_the_same_weights_bit_for_bit() {
    let data = data();
    let full = tempfile::tempdir().unwrap();
    let a = train(&options(full.path(), 3, false, None), &data).unwrap();
    assert_eq!(a.epochs.len(), 3);

    let split = tempfile::tempdir().unwrap();
    let first = train(&options(split.path(), 3, false, Some(1)), &data).unwrap();
    assert_eq!(first.epochs.len(), 1);
    assert_ne!(first.model.state_dict(), a.model.state_dict());
    let b = train(&options(split.path(), 3, true, None), &data).unwrap();
    assert_eq!(b.started_at, 1);
    assert_eq!(b.epochs.len(), 3);

    let (wa, wb) = (a.model.state_dict(), b.model.state_dict());
    assert_eq!(wa.len(), wb.len());
    for ((na, ta), (nb, tb)) in wa.iter().zip(&wb) {
        assert_eq!(na, nb);
        let bits_a: Vec<u32> = ta.iter().map(|v| v.to_bits()).collect();
        let bits_b: Vec<u32> = tb.iter().map(|v| v.to_bits()).collect();
        assert_eq!(bits_a, bits_b, "tensor {na} differs after resuming");
    }
    // The checkpoints (weights and optimiser moments) agree byte for byte, and so do the metrics
    // apart from timings.
    let read =
        |d: &Path| std::fs::read(checkpoint::current_dir(d).unwrap().join(WEIGHTS_FILE)).unwrap();
    assert!(read(full.path()) == read(split.path()));
    for (ea, eb) in a.epochs.iter().zip(&b.epochs) {
        assert_eq!(ea.epoch, eb.epoch);
        assert_eq!(ea.train_loss.to_bits(), eb.train_loss.to_bits());
        assert_eq!(ea.test_accuracy, eb.test_accuracy);
    }

    // metrics.json and diagnostics.json have the documented shape.
    let metrics: serde_json::Value =
        serde_json::from_slice(&std::fs::read(split.path().join("metrics.json")).unwrap()).unwrap();
    let epochs = metrics["epochs"].as_array().unwrap();
    assert_eq!(epochs.len(), 3);
    for key in [
        "epoch",
        "train_loss",
        "test_accuracy",
        "test_loss",
        "images_per_second",
        "seconds",
        "lr",
    ] {
        assert!(epochs[2].get(key).is_some(), "metrics.json lacks {key}");
    }
    let acc = epochs[2]["test_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    assert!(metrics["config"]["run"]["seed"].as_u64() == Some(7));
    let diag: serde_json::Value =
        serde_json::from_slice(&std::fs::read(split.path().join("diagnostics.json")).unwrap())
            .unwrap();
    let layers = diag["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    for (i, layer) in layers.iter().enumerate() {
        assert_eq!(layer["index"].as_u64(), Some(i as u64));
        assert!(layer["mean_cosine"].as_f64().unwrap().is_finite());
        assert!(layer["hc_dc"].as_f64().unwrap().is_finite());
        let heads = layer["heads"].as_array().unwrap();
        assert_eq!(heads.len(), 2);
        for head in heads {
            assert_eq!(head["eigenvalues_h"].as_array().unwrap().len(), 16);
            assert_eq!(head["eigenvalues_h_eff"].as_array().unwrap().len(), 16);
            let regime = head["regime"].as_str().unwrap();
            assert!([
                "smoothing",
                "alternating-smoothing",
                "sharpening",
                "balanced"
            ]
            .contains(&regime));
        }
    }
}

#[test]
fn spectral_attention_trains_and_writes_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), 1, false, None);
    opts.model_config = tiny_config(AttentionKind::SpectralMinus);
    opts.run.attention = "spectral-".into();
    let out = train(&opts, &data()).unwrap();
    assert_eq!(out.epochs.len(), 1);
    assert!(dir.path().join("diagnostics.json").is_file());
}

#[test]
fn non_finite_loss_stops_and_keeps_the_last_good_checkpoint() {
    let data = data();
    let dir = tempfile::tempdir().unwrap();
    train(&options(dir.path(), 3, false, Some(1)), &data).unwrap();
    // Blow the classifier up (finite, but its logits overflow), as a diverging run would.
    let ck = checkpoint::load(dir.path()).unwrap();
    let model = eigenformer_model::ViT::new(ck.meta.model_config.clone(), 0).unwrap();
    let mut weights = ck.model.clone();
    for (name, a) in &mut weights {
        if name == "head.weight" {
            a.fill(3e38);
        }
    }
    model.load_named(&weights).unwrap();
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
    let current = checkpoint::current_dir(dir.path()).unwrap();
    let before = std::fs::read(current.join(WEIGHTS_FILE)).unwrap();
    let before_meta = std::fs::read(current.join("checkpoint.json")).unwrap();

    let err = train(&options(dir.path(), 3, true, None), &data)
        .err()
        .expect("a non-finite loss must stop training");
    let msg = format!("{err:#}");
    assert!(msg.contains("not finite"), "{msg}");
    assert!(msg.contains("last good checkpoint (epoch 1)"), "{msg}");
    let current = checkpoint::current_dir(dir.path()).unwrap();
    assert!(std::fs::read(current.join(WEIGHTS_FILE)).unwrap() == before);
    assert!(std::fs::read(current.join("checkpoint.json")).unwrap() == before_meta);
    assert_eq!(checkpoint::load_meta(dir.path()).unwrap().epoch, 1);
}

#[test]
fn resume_with_another_configuration_is_refused() {
    let data = data();
    let dir = tempfile::tempdir().unwrap();
    train(&options(dir.path(), 2, false, Some(1)), &data).unwrap();
    let mut other = options(dir.path(), 2, true, None);
    other.run.dataset = "other".into();
    other.model_config.depth = 3;
    let msg = format!("{:#}", train(&other, &data).err().unwrap());
    assert!(msg.contains("different run"), "{msg}");
    assert!(msg.contains("dataset"), "{msg}");
    assert!(msg.contains("model configuration"), "{msg}");
}

#[test]
fn truncated_or_missing_checkpoint_is_a_clear_error() {
    let data = data();
    let dir = tempfile::tempdir().unwrap();
    train(&options(dir.path(), 1, false, None), &data).unwrap();
    let current = checkpoint::current_dir(dir.path()).unwrap();
    let path = current.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let msg = format!("{:#}", checkpoint::load(dir.path()).err().unwrap());
    assert!(msg.contains("truncated"), "{msg}");
    let msg = format!(
        "{:#}",
        train(&options(dir.path(), 1, true, None), &data)
            .err()
            .unwrap()
    );
    assert!(msg.contains("truncated"), "{msg}");

    std::fs::write(current.join("checkpoint.json"), b"{\"format\": 1").unwrap();
    let msg = format!("{:#}", checkpoint::load(dir.path()).err().unwrap());
    assert!(msg.contains("not a valid checkpoint"), "{msg}");

    let empty = tempfile::tempdir().unwrap();
    let msg = format!("{:#}", checkpoint::load(empty.path()).err().unwrap());
    assert!(msg.contains("checkpoint.json"), "{msg}");
}
