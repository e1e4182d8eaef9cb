//! `eigenformer eval --corruption` as a library on a tiny trained checkpoint and synthetic data:
//! corrupted test sets are built once, cached on disk and reused; a damaged cache file is rebuilt;
//! bad arguments are clear errors.

use eigenformer_data::corrupt::{Corruption, FrostImage, Severity};
use eigenformer_data::{Dataset, DatasetKind};
use eigenformer_experiments::eval::{
    evaluate_corruptions, format_table, load_model, summarize, CorruptedCache, CorruptionPlan,
    EvalArgs,
};
use eigenformer_experiments::train::config::TrainConfig;
use eigenformer_experiments::train::eval::evaluate;
use eigenformer_experiments::train::run::{train, TrainData, TrainOptions};
use eigenformer_model::AttentionKind;

mod train_support;

use train_support::{synthetic, CLASSES};

fn tiny_checkpoint(out: &std::path::Path, test: &Dataset) {
    let cfg = train_support::tiny_vit(16, 1, CLASSES, AttentionKind::Plain);
    let run = TrainConfig {
        dataset: "synthetic".into(),
        model: "tiny".into(),
        attention: "plain".into(),
        depth: None,
        width: None,
        heads: None,
        epochs: 2,
        batch_size: 16,
        lr: 3e-3,
        weight_decay: 0.05,
        warmup_epochs: 0.5,
        label_smoothing: 0.0,
        clip: 1.0,
        train_fraction: 1.0,
        seed: 1,
        max_train_batches: None,
        eval_limit: None,
        ..TrainConfig::default()
    };
    train(
        &TrainOptions {
            run,
            model_config: cfg,
            out: out.to_path_buf(),
            resume: false,
            overwrite: false,
            keep: 2,
            progress: false,
            stop_after: None,
            zero_timings: false,
        },
        &TrainData {
            kind: DatasetKind::Mnist,
            train: synthetic("synthetic/train", 60, 1),
            test: test.clone(),
        },
    )
    .unwrap();
}

/// Two small striped frost images (the real ones come from the imagecorruptions wheel).
fn frost() -> Vec<FrostImage> {
    (0..2)
        .map(|k| {
            let (h, w) = (12, 14);
            let rgb = (0..3 * h * w)
                .map(|i| ((i * 37 + k * 11) % 256) as u8)
                .collect();
            FrostImage::new(h, w, rgb).unwrap()
        })
        .collect()
}

#[test]
fn corrupted_test_sets_are_cached_and_reused() {
    let test = synthetic("synthetic/test", 30, 2);
    let ck = tempfile::tempdir().unwrap();
    tiny_checkpoint(ck.path(), &test);
    let (model, meta) = load_model(ck.path()).unwrap();
    assert_eq!(meta.run.dataset, "synthetic");
    let kind = DatasetKind::Mnist;

    let cache_dir = tempfile::tempdir().unwrap();
    let cache = CorruptedCache::new(cache_dir.path());
    let plan = CorruptionPlan {
        corruptions: vec![
            Corruption::GaussianNoise,
            Corruption::Frost,
            Corruption::Contrast,
        ],
        severities: vec![Severity::new(1).unwrap(), Severity::new(5).unwrap()],
        seed: 3,
    };
    let frost = frost();
    let first = evaluate_corruptions(
        &model,
        kind,
        "synthetic",
        &test,
        &plan,
        &cache,
        Some(&frost),
        8,
        false,
    )
    .unwrap();
    assert_eq!(first.len(), 6);
    assert!(first.iter().all(|r| !r.cached && r.images == 30));
    assert!(first
        .iter()
        .all(|r| (0.0..=1.0).contains(&r.test_accuracy) && r.test_loss.is_finite()));
    let files: Vec<_> = std::fs::read_dir(cache_dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".u8"))
        .collect();
    assert_eq!(files.len(), 6, "{files:?}");
    assert!(files
        .iter()
        .any(|n| n.starts_with("synthetic-gaussian_noise-s5-seed3-n30-")));

    // The second evaluation reads every set from the cache and measures the same.
    let second = evaluate_corruptions(
        &model,
        kind,
        "synthetic",
        &test,
        &plan,
        &cache,
        Some(&frost),
        8,
        false,
    )
    .unwrap();
    for (a, b) in first.iter().zip(&second) {
        assert!(b.cached);
        assert_eq!(
            (a.test_accuracy, a.test_loss),
            (b.test_accuracy, b.test_loss)
        );
    }

    // A damaged cache file is rebuilt, giving the same images.
    let s5 = Severity::new(5).unwrap();
    let path = cache.path("synthetic", &test, Corruption::GaussianNoise, s5, 3);
    let good = std::fs::read(&path).unwrap();
    std::fs::write(&path, &good[..good.len() - 7]).unwrap();
    let (rebuilt, cached) = cache
        .get_or_create("synthetic", &test, Corruption::GaussianNoise, s5, 3, None)
        .unwrap();
    assert!(!cached);
    assert_eq!(std::fs::read(&path).unwrap(), good);
    assert_eq!(rebuilt.labels(), test.labels());
    // Issue 14, item 7: 100 bytes overwritten in the middle keep the length, so only the
    // checksum notices; the set is recomputed (bit for bit the original), not used.
    let mut rotten = good.clone();
    let mid = rotten.len() / 2;
    for b in &mut rotten[mid..mid + 100] {
        *b = !*b;
    }
    std::fs::write(&path, &rotten).unwrap();
    let (recomputed, cached) = cache
        .get_or_create("synthetic", &test, Corruption::GaussianNoise, s5, 3, None)
        .unwrap();
    assert!(!cached, "a damaged cache file was used");
    assert_eq!(recomputed.images(), rebuilt.images());
    assert_eq!(std::fs::read(&path).unwrap(), good);
    // And it is used again afterwards.
    let (_, cached) = cache
        .get_or_create("synthetic", &test, Corruption::GaussianNoise, s5, 3, None)
        .unwrap();
    assert!(cached);
    // Another seed is another file.
    assert_ne!(
        cache.path("synthetic", &test, Corruption::GaussianNoise, s5, 4),
        path
    );

    // The summary table has a row per corruption and the means.
    let clean = evaluate(&model, kind, &test, 8).unwrap();
    let report = summarize("synthetic", Some(ck.path()), 3, Some(clean), second);
    assert_eq!(report.mean_by_severity.len(), 2);
    let mean1 = report
        .results
        .iter()
        .filter(|r| r.severity == 1)
        .map(|r| r.test_accuracy)
        .sum::<f64>()
        / 3.0;
    assert!((report.mean_by_severity[0].test_accuracy - mean1).abs() < 1e-12);
    let table = format_table(&report);
    for name in ["gaussian_noise", "frost", "contrast", "mean", "clean"] {
        assert!(table.contains(name), "{table}");
    }
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["results"].as_array().unwrap().len(), 6);
    assert_eq!(json["results"][0]["corruption"], "gaussian_noise");
}

#[test]
fn corruption_arguments_are_checked() {
    let args = |c: Option<&str>, s: Option<&str>| EvalArgs {
        corruption: c.map(Into::into),
        severity: s.map(Into::into),
        ..Default::default()
    };
    assert_eq!(CorruptionPlan::from_args(&args(None, None)).unwrap(), None);
    let all = CorruptionPlan::from_args(&args(Some("all"), None))
        .unwrap()
        .unwrap();
    assert_eq!((all.corruptions.len(), all.severities.len()), (15, 5));
    assert!(all.needs_frost());
    let one = CorruptionPlan::from_args(&args(Some("fog"), Some("2")))
        .unwrap()
        .unwrap();
    assert_eq!(one.corruptions, vec![Corruption::Fog]);
    assert_eq!(one.severities, vec![Severity::new(2).unwrap()]);
    let err = CorruptionPlan::from_args(&args(Some("fogg"), None)).unwrap_err();
    assert!(
        format!("{err:#}").contains("unknown corruption `fogg`"),
        "{err:#}"
    );
    for bad in ["0", "6"] {
        let err = CorruptionPlan::from_args(&args(Some("fog"), Some(bad))).unwrap_err();
        assert!(format!("{err:#}").contains("1 to 5"), "{err:#}");
    }
    let err = CorruptionPlan::from_args(&args(None, Some("3"))).unwrap_err();
    assert!(err.to_string().contains("--severity needs --corruption"));
}
