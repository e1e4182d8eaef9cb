//! Issue 14, item 7: the run cache's `result.json` and `eval-*.json` carry a checksum checked on
//! use. A damaged file (100 bytes overwritten) is not trusted: the result is recomputed, with a
//! warning, instead of being reported.

use eigenformer_experiments::eval::{CorruptionReport, CorruptionResult};
use eigenformer_experiments::reproduce::cache::{Action, EvalRequest, Executor, RunCache};
use eigenformer_experiments::reproduce::Result;
use eigenformer_experiments::train::config::TrainConfig;
use eigenformer_experiments::train::run::{EpochMetrics, Metrics};
use std::path::Path;

/// Writes what `eigenformer train` / `eval --out` would, and counts the calls.
#[derive(Default)]
struct Fake {
    trains: usize,
    resumes: usize,
    evals: usize,
}

impl Executor for Fake {
    fn fetch(&mut self, _dataset: &str) -> Result<()> {
        Ok(())
    }

    fn train(
        &mut self,
        spec: &TrainConfig,
        dir: &Path,
        resume: bool,
        _progress: &mut dyn FnMut(),
    ) -> Result<()> {
        self.trains += 1;
        self.resumes += usize::from(resume);
        let metrics = Metrics {
            config: serde_json::json!({}),
            epochs: (1..=spec.epochs)
                .map(|e| EpochMetrics {
                    epoch: e,
                    train_loss: 1.0 / 3.0,
                    test_accuracy: 0.875,
                    test_loss: 0.1 + 0.2,
                    images_per_second: 100.0,
                    seconds: 2.5,
                    lr: 1e-3,
                })
                .collect(),
        };
        eigenformer_io::write_json(&dir.join("metrics.json"), &metrics).unwrap();
        std::fs::write(dir.join("checkpoint.json"), "{}").unwrap();
        Ok(())
    }

    fn evaluate(&mut self, _run_dir: &Path, request: &EvalRequest, out: &Path) -> Result<()> {
        self.evals += 1;
        let report = match request {
            EvalRequest::Clean { .. } => serde_json::json!({
                "test_accuracy": 0.8125, "test_loss": 0.5, "images": 16
            }),
            EvalRequest::Corruption { name, .. } => serde_json::to_value(CorruptionReport {
                dataset: "fashion-mnist".into(),
                checkpoint: None,
                corruption_seed: 0,
                clean: None,
                results: vec![CorruptionResult {
                    corruption: name.clone(),
                    severity: 1,
                    test_accuracy: 0.5,
                    test_loss: 1.5,
                    images: 16,
                    cached: false,
                }],
                mean_by_severity: vec![],
                mean_accuracy: 0.5,
            })
            .unwrap(),
        };
        eigenformer_io::write_json(out, &report).unwrap();
        Ok(())
    }
}

fn spec() -> TrainConfig {
    toml::from_str("dataset = \"fashion-mnist\"\nwidth = 16\nheads = 2\nepochs = 3\n").unwrap()
}

/// Overwrite 100 bytes in the middle of `path` with other JSON-looking text.
fn rot(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    assert!(bytes.len() > 200, "{}", bytes.len());
    let mid = bytes.len() / 2 - 50;
    for (i, b) in bytes[mid..mid + 100].iter_mut().enumerate() {
        *b = if i % 2 == 0 { b'9' } else { b' ' };
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_damaged_result_json_is_recomputed_not_reported() {
    let dir = tempfile::tempdir().unwrap();
    let cache = RunCache::new(dir.path());
    let mut fake = Fake::default();
    let s = spec();
    let (first, action) = cache.ensure(&s, &mut fake, &mut || {}).unwrap();
    assert_eq!(action, Action::Trained);
    let result = cache.dir(&s).join("result.json");
    let text = std::fs::read_to_string(&result).unwrap();
    assert!(text.contains("\"sha256\""), "{text}");
    let (_, action) = cache.ensure(&s, &mut fake, &mut || {}).unwrap();
    assert_eq!(action, Action::Cached);

    // Changing one value keeps valid JSON; only the checksum notices.
    let edited = text.replacen("\"test_accuracy\": 0.875", "\"test_accuracy\": 0.975", 1);
    assert_ne!(edited, text);
    std::fs::write(&result, edited).unwrap();
    let (again, action) = cache.ensure(&s, &mut fake, &mut || {}).unwrap();
    assert_eq!(
        action,
        Action::Resumed,
        "the edited result.json was trusted"
    );
    assert_eq!(again, first);
    assert_eq!(std::fs::read_to_string(&result).unwrap(), text);

    // 100 bytes of garbage: recomputed too.
    rot(&result);
    let (again, action) = cache.ensure(&s, &mut fake, &mut || {}).unwrap();
    assert_eq!(action, Action::Resumed);
    assert_eq!(again, first);
    assert_eq!((fake.trains, fake.resumes), (3, 2));
}

#[test]
fn damaged_evaluation_results_are_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let cache = RunCache::new(dir.path());
    let mut fake = Fake::default();
    let s = spec();
    cache.ensure(&s, &mut fake, &mut || {}).unwrap();
    let req = EvalRequest::Corruption {
        name: "contrast".into(),
        severity: Some(1),
        seed: 0,
        eval_limit: Some(16),
    };
    let (first, cached) = cache.corruption_eval(&s, &req, &mut fake).unwrap();
    assert!(!cached);
    let (_, cached) = cache.corruption_eval(&s, &req, &mut fake).unwrap();
    assert!(cached);
    assert_eq!(fake.evals, 1);

    let file = cache.dir(&s).join(req.file_name());
    let good = std::fs::read(&file).unwrap();
    rot(&file);
    let (again, cached) = cache.corruption_eval(&s, &req, &mut fake).unwrap();
    assert!(!cached, "a damaged eval file was used");
    assert_eq!(again, first);
    assert_eq!(fake.evals, 2);
    assert_eq!(std::fs::read(&file).unwrap(), good);

    // An unsealed file (written before checksums, or by hand) is rerun as well.
    let clean = EvalRequest::Clean {
        eval_limit: Some(16),
    };
    let (c, cached) = cache.clean_eval(&s, Some(16), &mut fake).unwrap();
    assert!(!cached);
    let clean_file = cache.dir(&s).join(clean.file_name());
    eigenformer_io::write_json(&clean_file, &c).unwrap();
    let (_, cached) = cache.clean_eval(&s, Some(16), &mut fake).unwrap();
    assert!(!cached);
    let (_, cached) = cache.clean_eval(&s, Some(16), &mut fake).unwrap();
    assert!(cached);
    assert_eq!(fake.evals, 4);
}
