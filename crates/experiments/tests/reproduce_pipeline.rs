//! The experiment runner of `eigenformer experiments` (crate::reproduce) end to end with a fake
//! executor that writes what `eigenformer train`/`eval` would and counts the calls: grid
//! expansion, configuration hashing, the run cache (finished runs are not rerun, interrupted ones
//! resume), aggregation (mean ± sd over seeds), the paired verdict rules and the section's
//! Markdown.

use eigenformer_experiments::eval::{CorruptionReport, CorruptionResult, SeverityMean};
use eigenformer_experiments::report::Verdict;
use eigenformer_experiments::reproduce::aggregate::{self, CorruptionRun};
use eigenformer_experiments::reproduce::cache::{Action, EvalRequest, Executor, RunCache};
use eigenformer_experiments::reproduce::claims::{self, Setting};
use eigenformer_experiments::reproduce::run::{self, plan, Options};
use eigenformer_experiments::reproduce::spec::{self, Profile};
use eigenformer_experiments::reproduce::stats::Stat;
use eigenformer_experiments::reproduce::Result;
use eigenformer_experiments::train::config::TrainConfig;
use eigenformer_experiments::train::diagnostics::{Diagnostics, HeadDiagnostics, LayerDiagnostics};
use eigenformer_experiments::train::run::{EpochMetrics, Metrics};
use eigenformer_model::ViTConfig;
use std::path::Path;

fn spec(attention: &str, depth: usize, seed: u64) -> TrainConfig {
    let t: toml::Table = toml::from_str(&format!(
        "dataset = \"fashion-mnist\"\nattention = \"{attention}\"\ndepth = {depth}\nseed = {seed}\nwidth = 16\nheads = 2"
    ))
    .unwrap();
    toml::Value::Table(t).try_into().unwrap()
}

/// Accuracy the fake "trains" to: a function of the configuration, different per seed.
fn fake_accuracy(s: &TrainConfig) -> f64 {
    let base = match s.attention.as_str() {
        "spectral+" => 0.80,
        "spectral-" => 0.70,
        "featscale" => 0.75,
        // Above the sanity gate (85 %) at the smallest depth, so the claims are decided.
        _ => 0.86,
    };
    base + 0.01 * s.seed as f64 - 0.001 * s.depth.unwrap_or(0) as f64 + 0.02 * s.train_fraction
}

#[derive(Default)]
struct Fake {
    fetches: usize,
    trains: usize,
    resumes: usize,
    evals: usize,
}

impl Executor for Fake {
    fn fetch(&mut self, _dataset: &str) -> Result<()> {
        self.fetches += 1;
        Ok(())
    }

    fn train(
        &mut self,
        spec: &TrainConfig,
        dir: &Path,
        resume: bool,
        progress: &mut dyn FnMut(),
    ) -> Result<()> {
        progress();
        self.trains += 1;
        if resume {
            self.resumes += 1;
        }
        let mut cfg = ViTConfig::preset(&spec.model).unwrap();
        cfg.depth = spec.depth.unwrap();
        cfg.width = spec.width.unwrap();
        cfg.heads = spec.heads.unwrap();
        let metrics = Metrics {
            config: serde_json::json!({ "model_config": cfg }),
            epochs: (1..=spec.epochs)
                .map(|e| EpochMetrics {
                    epoch: e,
                    train_loss: 1.0,
                    test_accuracy: fake_accuracy(spec),
                    test_loss: 1.0,
                    images_per_second: 100.0,
                    seconds: 1.0,
                    lr: 1e-3,
                })
                .collect(),
        };
        std::fs::write(
            dir.join("metrics.json"),
            serde_json::to_string(&metrics).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.join("checkpoint.json"), "{}").unwrap();
        let d_h = cfg.width / cfg.heads;
        let sign = match spec.attention.as_str() {
            "spectral+" => 0.5,
            "spectral-" => -0.5,
            _ => 0.3,
        };
        let head = HeadDiagnostics {
            eigenvalues_h: (0..cfg.width)
                .map(|i| if i < d_h { [sign, 0.0] } else { [0.0, 0.0] })
                .collect(),
            eigenvalues_h_eff: vec![],
            regime: "smoothing".into(),
            // regime_eff says "smoothing" for every variant, regime_sigma (measured σ_l) says
            // "sharpening" for spectral-: T6 holds only if regime_sigma is preferred.
            regime_eff: "smoothing".into(),
            eigenvalues_h_sigma: None,
            regime_sigma: (sign < 0.0).then_some("sharpening".into()),
            asymmetry: None,
        };
        // Smoothing per variant: spectral+ most, plain between, spectral- least (higher cosine,
        // lower ‖HC‖/‖DC‖), so that T5 holds.
        let smooth = match spec.attention.as_str() {
            "spectral+" => 2.0,
            "spectral-" => 0.0,
            _ => 1.0,
        };
        let diag = Diagnostics {
            epoch: spec.epochs,
            probe_images: 4,
            layers: (0..cfg.depth)
                .map(|l| LayerDiagnostics {
                    index: l,
                    mean_cosine: 0.3 + 0.1 * smooth + 0.05 * l as f64 + 0.01 * spec.seed as f64,
                    hc_dc: 1.0 - 0.2 * smooth + 0.01 * spec.seed as f64,
                    mean_cosine_centred: Some(0.1 * smooth),
                    sigma: Some(1.0),
                    heads: vec![head.clone(); cfg.heads],
                })
                .collect(),
        };
        std::fs::write(
            dir.join("diagnostics.json"),
            serde_json::to_string(&diag).unwrap(),
        )
        .unwrap();
        Ok(())
    }

    fn evaluate(&mut self, run_dir: &Path, request: &EvalRequest, out: &Path) -> Result<()> {
        self.evals += 1;
        let cfg: TrainConfig =
            serde_json::from_str(&std::fs::read_to_string(run_dir.join("config.json")).unwrap())
                .unwrap();
        let acc = fake_accuracy(&cfg);
        let json = match request {
            EvalRequest::Clean { .. } => serde_json::json!({
                "test_accuracy": acc, "test_loss": 1.0, "images": 10
            }),
            EvalRequest::Corruption { name, .. } => {
                let results: Vec<CorruptionResult> = (1..=5u8)
                    .map(|s| CorruptionResult {
                        corruption: name.clone(),
                        severity: s,
                        test_accuracy: acc - 0.05 * f64::from(s),
                        test_loss: 1.0,
                        images: 10,
                        cached: false,
                    })
                    .collect();
                serde_json::to_value(CorruptionReport {
                    dataset: cfg.dataset.clone(),
                    checkpoint: None,
                    corruption_seed: 0,
                    clean: None,
                    results,
                    mean_by_severity: vec![SeverityMean {
                        severity: 1,
                        test_accuracy: 0.0,
                    }],
                    mean_accuracy: 0.0,
                })
                .unwrap()
            }
        };
        std::fs::write(out, json.to_string()).unwrap();
        Ok(())
    }
}

const PROFILES: &str = r#"
[smoke.theory]
instances = 10
[smoke.pretrained]
models = ["minilm"]
sentences = 5
[smoke.training]
dataset = "fashion-mnist"
attention = ["plain", "featscale", "spectral+", "spectral-"]
seed = [0, 1, 2]
depth = 2
width = 16
heads = 2
epochs = 1
train_fraction = 1.0
[quick.theory]
instances = 10
[quick.pretrained]
models = ["minilm"]
sentences = 5
[quick.training]
dataset = "fashion-mnist"
attention = "plain"
seed = [0, 1, 2]
[extended.theory]
instances = 10
[extended.pretrained]
models = ["minilm"]
sentences = 5
[extended.training]
dataset = "fashion-mnist"
attention = "plain"
seed = [0, 1, 2]
[gpu.theory]
instances = 10
[gpu.pretrained]
models = ["minilm"]
sentences = 5
[gpu.training]
dataset = "cifar10"
attention = "plain"
seed = [0, 1, 2]
"#;

fn write_experiments(dir: &Path) {
    std::fs::write(dir.join("profiles.toml"), PROFILES).unwrap();
    std::fs::write(
        dir.join("depth.toml"),
        "kind = \"depth\"\ntitle = \"(a) depth\"\n[smoke]\ndepth = [1, 2]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("fraction.toml"),
        "kind = \"fraction\"\ntitle = \"(b) data\"\n[smoke]\ntrain_fraction = [0.1, 1.0]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("corruption.toml"),
        "kind = \"corruption\"\ntitle = \"(c) corrupted\"\n[smoke]\n[smoke.corruption]\nnames = [\"gaussian_noise\", \"contrast\"]\neval_limit = 10\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("smoothing.toml"),
        "kind = \"smoothing\"\ntitle = \"(d) smoothing\"\n[smoke]\ndepth = [1, 2]\n",
    )
    .unwrap();
}

#[test]
fn reproduce_grid_expansion_is_the_cartesian_product_of_the_lists() {
    let t: toml::Table = toml::from_str("a = [1, 2]\nb = \"x\"\nc = [3, 4, 5]").unwrap();
    let points = spec::expand_grid(&t, "t").unwrap();
    assert_eq!(points.len(), 6);
    assert!(points.iter().all(|p| p["b"].as_str() == Some("x")));
    let mut pairs: Vec<(i64, i64)> = points
        .iter()
        .map(|p| (p["a"].as_integer().unwrap(), p["c"].as_integer().unwrap()))
        .collect();
    pairs.dedup();
    assert_eq!(pairs.len(), 6);
    let empty: toml::Table = toml::from_str("a = []").unwrap();
    assert!(spec::expand_grid(&empty, "t").is_err());
}

#[test]
fn reproduce_experiment_files_expand_and_reject_bad_grids() {
    let dir = tempfile::tempdir().unwrap();
    write_experiments(dir.path());
    let exps = spec::load_experiments(dir.path(), Profile::Smoke, &[]).unwrap();
    let names: Vec<&str> = exps.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["depth", "fraction", "corruption", "smoothing"]);
    let depth = &exps[0];
    assert_eq!(depth.runs.len(), 2 * 4 * 3);
    // Shared configurations are planned once: depth (24) + fraction 10 % (12); corruption and
    // smoothing reuse them.
    assert_eq!(plan(&exps).len(), 24 + 12);
    // Profiles without a table have no experiments.
    assert!(spec::load_experiments(dir.path(), Profile::Quick, &[])
        .unwrap()
        .is_empty());
    assert!(spec::load_experiments(dir.path(), Profile::Smoke, &["nope".into()]).is_err());

    let base = spec::base_from_str(Path::new("p"), PROFILES, Profile::Smoke).unwrap();
    let bad = |text: &str| {
        spec::experiment_from_str("x", Path::new("x.toml"), text, &base, Profile::Smoke)
            .unwrap_err()
            .to_string()
    };
    // An axis the kind does not plot would be averaged over silently.
    assert!(
        bad("kind = \"depth\"\ntitle = \"t\"\n[smoke]\ndepth = [1, 2]\nwidth = [8, 16]")
            .contains("width")
    );
    // The x axis must be a list.
    assert!(bad("kind = \"depth\"\ntitle = \"t\"\n[smoke]\n").contains("depth"));
    // Unknown keys, attention names and corruption names are errors.
    assert!(
        bad("kind = \"depth\"\ntitle = \"t\"\n[smoke]\ndepth = [1]\nlearning = 1")
            .contains("learning")
    );
    assert!(
        bad("kind = \"depth\"\ntitle = \"t\"\n[smoke]\ndepth = [1]\nattention = \"magic\"")
            .contains("magic")
    );
    assert!(bad(
        "kind = \"corruption\"\ntitle = \"t\"\n[smoke]\n[smoke.corruption]\nnames = [\"rain\"]"
    )
    .contains("rain"));
    // At least 2 seeds in smoke (3 elsewhere).
    assert!(
        bad("kind = \"depth\"\ntitle = \"t\"\n[smoke]\ndepth = [1]\nseed = [0]").contains("seed")
    );
}

#[test]
fn reproduce_config_hash_is_stable_and_changes_with_every_field() {
    let a = spec("plain", 2, 0);
    assert_eq!(a.hash(), spec("plain", 2, 0).hash());
    assert_eq!(a.hash().len(), 16);
    let json = serde_json::to_value(&a).unwrap();
    let fields = json.as_object().unwrap().clone();
    let mut hashes = std::collections::BTreeSet::new();
    hashes.insert(a.hash());
    for (k, v) in &fields {
        let mut changed = json.clone();
        changed[k] = match v {
            serde_json::Value::String(s) => serde_json::json!(format!("{s}x")),
            serde_json::Value::Number(n) if n.is_u64() => {
                serde_json::json!(n.as_u64().unwrap() + 1)
            }
            serde_json::Value::Number(n) => serde_json::json!(n.as_f64().unwrap() * 0.5 + 0.01),
            serde_json::Value::Null => serde_json::json!(7),
            serde_json::Value::Bool(b) => serde_json::json!(!b),
            other => panic!("unexpected field {k}: {other}"),
        };
        let b: TrainConfig = serde_json::from_value(changed).unwrap();
        assert!(hashes.insert(b.hash()), "changing {k} kept the hash");
    }
    assert_eq!(hashes.len(), fields.len() + 1);
}

#[test]
fn reproduce_cache_never_reruns_a_finished_run_and_resumes_an_interrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let cache = RunCache::new(dir.path());
    let mut fake = Fake::default();
    let s = spec("spectral+", 2, 1);
    let (r, action) = cache.ensure(&s, &mut fake, &mut || {}).unwrap();
    assert_eq!(action, Action::Trained);
    assert!((r.test_accuracy - fake_accuracy(&s)).abs() < 1e-12);
    let (_, action) = cache.ensure(&s, &mut fake, &mut || {}).unwrap();
    assert_eq!(action, Action::Cached);
    assert_eq!(fake.trains, 1);
    // An interrupted run (checkpoint, no result.json) is resumed.
    std::fs::remove_file(cache.dir(&s).join("result.json")).unwrap();
    let (_, action) = cache.ensure(&s, &mut fake, &mut || {}).unwrap();
    assert_eq!(action, Action::Resumed);
    assert_eq!((fake.trains, fake.resumes), (2, 1));
    // Evaluations are cached too.
    let req = EvalRequest::Corruption {
        name: "contrast".into(),
        severity: None,
        seed: 0,
        eval_limit: Some(10),
    };
    let (_, cached) = cache.corruption_eval(&s, &req, &mut fake).unwrap();
    assert!(!cached);
    let (_, cached) = cache.corruption_eval(&s, &req, &mut fake).unwrap();
    assert!(cached);
    assert_eq!(fake.evals, 1);
    // A run that has not finished cannot be evaluated.
    assert!(cache
        .clean_eval(&spec("plain", 3, 0), None, &mut fake)
        .is_err());
}

#[test]
fn reproduce_stats() {
    let s = Stat::of(&[1.0, 2.0, 3.0]);
    assert_eq!((s.mean, s.n), (2.0, 3));
    assert!((s.sd - 1.0).abs() < 1e-12);
    assert!(Stat::of(&[5.0]).sd.is_nan());
    assert!(Stat::of(&[]).mean.is_nan());
    assert_eq!(s.show(2), "2.00 ± 1.00");
}

/// Per-seed values (seeds 0, 1, 2, …) of each variant.
fn setting(values: &[(&str, &[f64])]) -> Setting {
    Setting {
        label: "s".into(),
        runs: values
            .iter()
            .map(|(v, x)| {
                (
                    v.to_string(),
                    x.iter().enumerate().map(|(i, a)| (i as u64, *a)).collect(),
                )
            })
            .collect(),
    }
}

#[test]
fn reproduce_verdict_rules() {
    let decide = |s: &Setting| {
        claims::spectral_beats_featscale("T1", "x", Some(s))
            .finish(0.95, None)
            .claim
            .verdict
    };
    let good = setting(&[
        ("featscale", &[0.70, 0.71, 0.72]),
        ("spectral+", &[0.80, 0.82, 0.82]),
        ("spectral-", &[0.75, 0.76, 0.78]),
    ]);
    assert_eq!(decide(&good), Verdict::Holds);
    let bad = setting(&[
        ("featscale", &[0.70, 0.71, 0.72]),
        ("spectral+", &[0.80, 0.82, 0.82]),
        ("spectral-", &[0.60, 0.62, 0.62]),
    ]);
    assert_eq!(decide(&bad), Verdict::Fails);
    let noisy = setting(&[
        ("featscale", &[0.70, 0.80, 0.60]),
        ("spectral+", &[0.72, 0.79, 0.62]),
        ("spectral-", &[0.71, 0.80, 0.58]),
    ]);
    assert_eq!(decide(&noisy), Verdict::Inconclusive);
    assert_eq!(
        claims::spectral_beats_featscale("T1", "x", None)
            .finish(0.95, None)
            .claim
            .verdict,
        Verdict::Inconclusive
    );
    // v2: decided by the primary setting alone; the others are secondary lines.
    let flipped = setting(&[
        ("spectral+", &[0.60, 0.62, 0.62]),
        ("spectral-", &[0.75, 0.76, 0.78]),
    ]);
    let t4 = |p: &Setting, rest: &[Setting]| {
        claims::smoothing_beats_sharpening("T4", Some(p), rest)
            .finish(0.95, None)
            .claim
            .verdict
    };
    assert_eq!(t4(&good, std::slice::from_ref(&flipped)), Verdict::Holds);
    assert_eq!(t4(&flipped, &[good]), Verdict::Fails);
}

#[test]
fn reproduce_aggregates_mean_and_sd_over_seeds() {
    let specs: Vec<TrainConfig> = [0, 1, 2]
        .iter()
        .flat_map(|&seed| [spec("plain", 2, seed), spec("plain", 4, seed)])
        .collect();
    let runs: Vec<(&TrainConfig, f64)> = specs
        .iter()
        .map(|s| (s, 0.5 + 0.1 * s.seed as f64))
        .collect();
    let points = aggregate::sweep(&runs, "depth");
    assert_eq!(points.len(), 2);
    assert_eq!(points[0].x, 2.0);
    assert!((points[0].accuracy.mean - 0.6).abs() < 1e-12);
    assert!((points[0].accuracy.sd - 0.1).abs() < 1e-12);
    assert_eq!(points[0].runs.len(), 3);

    // Corruption: per seed the mean over corruptions, then over seeds.
    let report = |acc: [f64; 2]| CorruptionReport {
        dataset: "d".into(),
        checkpoint: None,
        corruption_seed: 0,
        clean: None,
        results: ["a", "b"]
            .iter()
            .zip(acc)
            .map(|(n, a)| CorruptionResult {
                corruption: n.to_string(),
                severity: 1,
                test_accuracy: a,
                test_loss: 0.0,
                images: 1,
                cached: true,
            })
            .collect(),
        mean_by_severity: vec![],
        mean_accuracy: 0.0,
    };
    let s0 = spec("plain", 2, 0);
    let s1 = spec("plain", 2, 1);
    let runs = vec![
        CorruptionRun {
            spec: &s0,
            clean: 0.9,
            reports: vec![report([0.2, 0.4])],
        },
        CorruptionRun {
            spec: &s1,
            clean: 0.8,
            reports: vec![report([0.4, 0.6])],
        },
    ];
    let c = aggregate::corruption(&runs);
    let sev1 = c.by_severity.iter().find(|p| p.severity == 1).unwrap();
    assert!((sev1.accuracy.mean - 0.4).abs() < 1e-12);
    assert!((sev1.accuracy.sd - 0.2f64.hypot(0.0) / 2f64.sqrt()).abs() < 1e-12);
    let clean = c.by_severity.iter().find(|p| p.severity == 0).unwrap();
    assert!((clean.accuracy.mean - 0.85).abs() < 1e-12);
    assert_eq!(c.cells.len(), 2);
}

#[test]
fn reproduce_runner_end_to_end_with_a_fake_executor() {
    let exp = tempfile::tempdir().unwrap();
    write_experiments(exp.path());
    let work = tempfile::tempdir().unwrap();
    let opts = Options {
        profile: Profile::Smoke,
        experiments_dir: exp.path().to_path_buf(),
        out: work.path().join("out"),
        runs_dir: work.path().join("runs"),
        only: vec![],
        progress: false,
        jobs: 1,
    };
    let mut fake = Fake::default();
    let section = run::run(&opts, &mut fake).unwrap();
    assert_eq!(fake.fetches, 1);
    assert_eq!(fake.trains, 36);
    // 12 corruption models × (clean + 2 corruptions).
    assert_eq!(fake.evals, 36);
    assert_eq!(section.counts.trained, 36);
    for f in [
        "training.md",
        "results.json",
        "claims.json",
        "runs.csv",
        "depth.csv",
        "depth.svg",
        "fraction.svg",
        "corruption.svg",
        "corruption.csv",
        "smoothing-cosine.svg",
        "smoothing-eigenvalues.svg",
    ] {
        assert!(opts.out.join(f).is_file(), "{f} missing");
    }
    let verdict = |id: &str| {
        section
            .claims
            .iter()
            .find(|c| c.claim.id == id)
            .unwrap()
            .claim
            .verdict
    };
    // The fake's spectral- is worse than FeatScale everywhere and spectral+ better than spectral-.
    assert_eq!(verdict("G"), Verdict::Holds);
    assert_eq!(verdict("T1"), Verdict::Fails);
    assert_eq!(verdict("T4"), Verdict::Holds);
    assert_eq!(verdict("T5"), Verdict::Holds);
    assert_eq!(verdict("T6"), Verdict::Holds);
    let md = std::fs::read_to_string(opts.out.join("training.md")).unwrap();
    assert!(md.starts_with("# Training from scratch"));
    assert!(md.contains("![(a) depth](depth.svg)"));
    assert!(md.contains("| T1 |"));
    // Every per-seed number of a deciding comparison is shown.
    assert!(
        md.contains("### T1: the paired differences that decide it"),
        "{md}"
    );
    assert!(
        md.contains("| seed | spectral- | featscale | difference |"),
        "{md}"
    );
    // claims.json carries the structured endpoint.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(opts.out.join("claims.json")).unwrap())
            .unwrap();
    assert_eq!(json[0]["id"], "G");
    let t1 = &json[1]["endpoint"];
    assert_eq!(json[1]["id"], "T1");
    assert_eq!(t1["kind"], "paired-mean");
    assert_eq!(t1["n_seeds"], 3);
    assert!(t1["upper"].as_f64().unwrap() < 0.0, "{t1}");
    assert!(t1["level"].as_f64().unwrap() >= 0.95);
    assert_eq!(json[6]["endpoint"]["kind"], "head-count");
    assert!(md.contains(" ± "));
    // The centred cosine is shown beside the raw one.
    assert!(md.contains("| spectral+ centred |"), "{md}");

    // A second run trains and evaluates nothing.
    let mut again = Fake::default();
    let section = run::run(&opts, &mut again).unwrap();
    assert_eq!((again.trains, again.evals), (0, 0));
    assert_eq!(section.counts.cached, 36);
}

/// A key that `TrainConfig` (the trainer's one configuration type) does not know is an error when
/// the grid is loaded, naming the experiment file and the key, before anything trains.
#[test]
fn an_unknown_training_key_is_refused_naming_the_file_and_the_key() {
    let dir = tempfile::tempdir().unwrap();
    write_experiments(dir.path());
    std::fs::write(
        dir.path().join("depth.toml"),
        "kind = \"depth\"\ntitle = \"(a) depth\"\n[smoke]\ndepth = [1, 2]\nlearning_rate = 0.1\n",
    )
    .unwrap();
    let err = spec::load_experiments(dir.path(), spec::Profile::Smoke, &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("depth.toml"), "{err}");
    assert!(err.contains("learning_rate"), "{err}");
}

/// The grid as job-array cells (`--list`, `--task-index`, `--merge`): the lr cells first, the
/// other cells' hashes pending until those finish, each cell trained once under its claim with
/// its evaluations, an interrupted one resumed, and the indices stable throughout.
#[test]
fn cells_run_lr_first_once_each_and_resume_an_interrupted_one() {
    use eigenformer_experiments::reproduce::cells::{self, Stage};
    let exp = tempfile::tempdir().unwrap();
    write_experiments(exp.path());
    let profiles = PROFILES.replacen(
        "train_fraction = 1.0\n[quick.theory]",
        "train_fraction = 1.0\nlr = \"selected\"\n[quick.theory]",
        1,
    );
    assert_ne!(profiles, PROFILES);
    std::fs::write(exp.path().join("profiles.toml"), profiles).unwrap();
    std::fs::write(
        exp.path().join("lr.toml"),
        "kind = \"lr\"\ntitle = \"lr\"\n[smoke]\nattention = \"plain\"\nseed = [0]\nlr = [1e-3, 2e-3]\nval_images = 10\n",
    )
    .unwrap();
    let runs = tempfile::tempdir().unwrap();
    let cache = RunCache::new(runs.path());
    let experiments = spec::load_experiments(exp.path(), Profile::Smoke, &[]).unwrap();
    let before = cells::cells(&experiments, &cache).unwrap();
    assert!(before.len() > 4);
    assert!(before[..2]
        .iter()
        .all(|c| c.stage == Stage::LearningRate && c.hash.is_some()));
    assert!(before[2..]
        .iter()
        .all(|c| c.stage == Stage::Grid && c.hash.is_none()));
    assert!(before.iter().enumerate().all(|(i, c)| c.index == i));

    let mut fake = Fake::default();
    let err = cells::run_cell(&experiments, &cache, 2, &mut fake)
        .unwrap_err()
        .to_string();
    assert!(err.contains("lr cells 0-1"), "{err}");
    let err = cells::run_cell(&experiments, &cache, before.len(), &mut fake)
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
    assert_eq!(fake.trains, 0);

    for i in 0..2 {
        let o = cells::run_cell(&experiments, &cache, i, &mut fake).unwrap();
        assert_eq!(o.action, Action::Trained);
    }
    let after = cells::cells(&experiments, &cache).unwrap();
    assert_eq!(after.len(), before.len());
    for (a, b) in after.iter().zip(&before) {
        assert_eq!((a.index, &a.label, a.stage), (b.index, &b.label, b.stage));
        assert!(a.hash.is_some());
    }
    assert_eq!(
        cells::unfinished(&after, &cache),
        (2..after.len()).collect::<Vec<_>>()
    );
    for c in &after[2..] {
        let o = cells::run_cell(&experiments, &cache, c.index, &mut fake).unwrap();
        assert_eq!(o.action, Action::Trained, "{}", c.label);
        assert_eq!(Some(o.hash), c.hash.clone());
    }
    assert!(cells::unfinished(&after, &cache).is_empty());
    let (trains, evals) = (fake.trains, fake.evals);
    assert!(
        evals > 0,
        "the corruption experiment's evaluations run with their cells"
    );

    // A finished cell is never rerun, and its evaluations are cached.
    let o = cells::run_cell(&experiments, &cache, 3, &mut fake).unwrap();
    assert_eq!(o.action, Action::Cached);
    assert_eq!((fake.trains, fake.evals), (trains, evals));

    // An interrupted cell (checkpoint, no result) resumes.
    let dir = cache.dir(after[4].spec.as_ref().unwrap());
    std::fs::remove_file(dir.join("result.json")).unwrap();
    assert_eq!(cells::unfinished(&after, &cache), vec![4]);
    let o = cells::run_cell(&experiments, &cache, 4, &mut fake).unwrap();
    assert_eq!(o.action, Action::Resumed);
    assert_eq!(fake.resumes, 1);

    // The merge over the finished cache trains nothing.
    let out = tempfile::tempdir().unwrap();
    let trains = fake.trains;
    run::run(
        &Options {
            profile: Profile::Smoke,
            experiments_dir: exp.path().to_path_buf(),
            out: out.path().to_path_buf(),
            runs_dir: runs.path().to_path_buf(),
            only: vec![],
            progress: false,
            jobs: 1,
        },
        &mut fake,
    )
    .unwrap();
    assert_eq!(fake.trains, trains);
    assert!(out.path().join("claims.json").is_file());
}

/// A forkable [`Fake`] for the parallel runner: the workers share one fake (its counters) and
/// record how many trainings overlapped; the one whose seed is `fail_seed` fails.
#[derive(Clone)]
struct Forking {
    inner: std::sync::Arc<std::sync::Mutex<Fake>>,
    in_flight: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    most_at_once: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    forks: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    fail_seed: Option<u64>,
}

impl Forking {
    fn new(fail_seed: Option<u64>) -> Self {
        Forking {
            inner: Default::default(),
            in_flight: Default::default(),
            most_at_once: Default::default(),
            forks: Default::default(),
            fail_seed,
        }
    }
}

impl Executor for Forking {
    fn fetch(&mut self, dataset: &str) -> Result<()> {
        self.inner.lock().unwrap().fetch(dataset)
    }

    fn train(
        &mut self,
        spec: &TrainConfig,
        dir: &Path,
        resume: bool,
        progress: &mut dyn FnMut(),
    ) -> Result<()> {
        use std::sync::atomic::Ordering::SeqCst;
        if Some(spec.seed) == self.fail_seed {
            return Err(eigenformer_experiments::reproduce::ReproError::Run {
                dir: dir.to_path_buf(),
                message: "the fake failed".into(),
            });
        }
        let now = self.in_flight.fetch_add(1, SeqCst) + 1;
        self.most_at_once.fetch_max(now, SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(15));
        let r = self
            .inner
            .lock()
            .unwrap()
            .train(spec, dir, resume, progress);
        self.in_flight.fetch_sub(1, SeqCst);
        r
    }

    fn evaluate(&mut self, run_dir: &Path, request: &EvalRequest, out: &Path) -> Result<()> {
        self.inner.lock().unwrap().evaluate(run_dir, request, out)
    }

    fn fork(&self, _jobs: usize) -> Option<Box<dyn Executor + Send>> {
        self.forks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Some(Box::new(self.clone()))
    }
}

/// `jobs = 3` trains runs at the same time and gives the section of a sequential run: the same
/// runs in the same order with the same numbers, the same claims, every run trained once; a
/// failing run fails the whole call with its error.
#[test]
fn parallel_jobs_give_the_sequential_section_and_surface_a_failure() {
    use std::sync::atomic::Ordering::SeqCst;
    let exp = tempfile::tempdir().unwrap();
    write_experiments(exp.path());
    let section_of = |jobs: usize, exec: &mut dyn Executor| {
        let work = tempfile::tempdir().unwrap();
        let opts = Options {
            profile: Profile::Smoke,
            experiments_dir: exp.path().to_path_buf(),
            out: work.path().join("out"),
            runs_dir: work.path().join("runs"),
            only: vec![],
            progress: false,
            jobs,
        };
        let section = run::run(&opts, exec);
        let claims = std::fs::read_to_string(opts.out.join("claims.json")).ok();
        (section, claims)
    };
    let mut seq = Fake::default();
    let (want, want_claims) = section_of(1, &mut seq);
    let want = want.unwrap();
    let mut par = Forking::new(None);
    let (got, got_claims) = section_of(3, &mut par);
    let got = got.unwrap();
    assert_eq!(
        par.forks.load(SeqCst),
        6,
        "3 workers for training, 3 for evaluations"
    );
    assert!(par.most_at_once.load(SeqCst) >= 2, "no two runs overlapped");
    assert!(par.most_at_once.load(SeqCst) <= 3);
    let fake = par.inner.lock().unwrap();
    assert_eq!((fake.trains, fake.evals), (seq.trains, seq.evals));
    assert_eq!(got.counts.trained, want.counts.trained);
    assert_eq!(got.counts.evaluations, want.counts.evaluations);
    let runs = |s: &eigenformer_experiments::reproduce::results::Section| {
        s.runs
            .iter()
            .map(|(p, r)| (p.hash.clone(), r.test_accuracy))
            .collect::<Vec<_>>()
    };
    assert_eq!(runs(&got), runs(&want));
    // claims.json holds no timing, so a parallel run writes the very same file.
    assert_eq!(got_claims.unwrap(), want_claims.unwrap());

    let mut failing = Forking::new(Some(1));
    let err = section_of(2, &mut failing).0.unwrap_err().to_string();
    assert!(err.contains("the fake failed"), "{err}");
}
