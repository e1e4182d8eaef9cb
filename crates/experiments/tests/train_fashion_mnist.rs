//! A short real learning run on Fashion-MNIST through the resolver (official URL, else the Debian
//! package; skipped with a notice only without apt-get/dpkg-deb): a tiny ViT (7×7 patches, width
//! 32, depth 2, 2 heads) trained for 6 epochs on 2000 training images must get clearly above
//! chance (10%) on 1000 test images, and `eigenformer eval`'s loader must reproduce the last
//! epoch's accuracy from the checkpoint.

use eigenformer_assets::{program_available, Resolver};
use eigenformer_data::{DatasetKind, Split};
use eigenformer_experiments::eval::{load_model, measure, EvalArgs};
use eigenformer_experiments::train::config::TrainConfig;
use eigenformer_experiments::train::run::{train, TrainData, TrainOptions};
use eigenformer_model::ViTConfig;
use std::time::Instant;

#[test]
fn tiny_vit_learns_fashion_mnist() {
    if !(program_available("apt-get") && program_available("dpkg-deb")) {
        eprintln!(
            "NOTICE: skipping the Fashion-MNIST training test: apt-get/dpkg-deb are not available"
        );
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let kind = DatasetKind::FashionMnist;
    let dir = Resolver::new(cache.path())
        .resolve(&kind.asset(), None)
        .unwrap();
    let run = TrainConfig {
        dataset: kind.name().into(),
        model: "vit-small".into(),
        attention: "plain".into(),
        depth: None,
        width: None,
        heads: None,
        epochs: 6,
        batch_size: 32,
        lr: 3e-3,
        weight_decay: 0.05,
        warmup_epochs: 0.3,
        label_smoothing: 0.0,
        clip: 1.0,
        train_fraction: 2000.0 / 60000.0,
        seed: 0,
        max_train_batches: None,
        eval_limit: Some(1000),
        ..TrainConfig::default()
    };
    let train_set = kind
        .load_dir(&dir, Split::Train)
        .unwrap()
        .train_fraction(run.train_fraction, run.seed)
        .unwrap();
    let test_set = kind
        .load_dir(&dir, Split::Test)
        .unwrap()
        .select(&(0..1000).collect::<Vec<_>>())
        .unwrap();
    let mut cfg = ViTConfig::preset("vit-small").unwrap();
    cfg.patch_size = 7;
    cfg.width = 32;
    cfg.depth = 2;
    cfg.heads = 2;
    cfg.mlp_hidden = 64;
    let out = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let outcome = train(
        &TrainOptions {
            run,
            model_config: cfg,
            out: out.path().to_path_buf(),
            resume: false,
            overwrite: false,
            keep: 2,
            progress: false,
            stop_after: None,
            zero_timings: false,
        },
        &TrainData {
            kind,
            train: train_set,
            test: test_set,
        },
    )
    .unwrap();
    let acc: Vec<f64> = outcome.epochs.iter().map(|e| e.test_accuracy).collect();
    eprintln!(
        "trained on {} images for 6 epochs in {:.1?}: test accuracy per epoch {acc:?}",
        2000,
        t.elapsed()
    );
    // Measured (seed 0, 2 cores, dev profile): [0.393, 0.53, 0.581, 0.618, 0.652, 0.652] in
    // about 12 s; chance is 0.1.
    let last = acc[acc.len() - 1];
    assert!(
        last > 0.55,
        "test accuracy {last} is not clearly above chance"
    );

    let (_, meta) = load_model(out.path()).unwrap();
    assert_eq!(meta.epoch, 6);
    // `eigenformer eval` on the checkpoint, with the resolved files as --data-dir.
    let r = measure(&EvalArgs {
        checkpoint: out.path().to_path_buf(),
        data_dir: Some(dir.clone()),
        eval_limit: Some(1000),
        batch_size: 256,
        json: true,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(r.images, 1000);
    assert!((r.test_accuracy - last).abs() < 1e-9);
}
