//! The training loop behind `eigenformer train`, as a library function on in-memory datasets (so
//! tests can train on synthetic data).
//!
//! Per epoch: the seeded [`Loader`] batches, [`Trainer::train_step`] each, then an evaluation on
//! the test set, the diagnostics, and one atomic commit of the checkpoint with the metrics
//! history and the diagnostics into the run directory ([`RunDir::commit`]). Everything random is
//! a function of the seed, the epoch and the global step, and the history is stored with the
//! checkpoint (floats round-trip exactly), so a run resumed from the checkpoint of epoch e ends
//! with the same weights, optimiser state and `metrics.json`, byte for byte, as an uninterrupted
//! one (with the timings zeroed, [`TrainOptions::zero_timings`]).

use super::checkpoint::{self, CheckpointMeta, CheckpointRecord};
use super::config::TrainConfig;
use super::diagnostics;
use super::eval::{evaluate, EvalResult};
use super::rundir::{RunDir, DEFAULT_KEEP};
use super::{TrainHyper, Trainer};
use anyhow::{bail, Context, Result};
use eigenformer_data::{Augment, Dataset, DatasetKind, Loader};
use eigenformer_model::{ViT, ViTConfig};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;

/// One line of `metrics.json`'s `epochs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss (label-smoothed) of the epoch's steps.
    pub train_loss: f64,
    /// Test accuracy in [0, 1].
    pub test_accuracy: f64,
    /// Mean test cross-entropy.
    pub test_loss: f64,
    /// Training throughput of the epoch.
    pub images_per_second: f64,
    /// Wall-clock seconds of the epoch's training steps.
    pub seconds: f64,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
}

/// `metrics.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// The run's settings, the model's configuration and the resolved hyper-parameters.
    pub config: serde_json::Value,
    /// One entry per completed epoch.
    pub epochs: Vec<EpochMetrics>,
}

/// What to train and where to write.
#[derive(Debug, Clone)]
pub struct TrainOptions {
    /// The run's settings.
    pub run: TrainConfig,
    /// The model's configuration (preset with overrides; classes must match the dataset).
    pub model_config: ViTConfig,
    /// Output directory (the run directory, [`crate::train::rundir`]).
    pub out: PathBuf,
    /// Continue from the checkpoint in `out` (if there is one).
    pub resume: bool,
    /// Replace the run that `out` holds, if any (excludes `resume`). Without either, training
    /// into a directory that holds a run is refused, so a forgotten `--resume` loses nothing.
    pub overwrite: bool,
    /// Checkpoints to keep (at least 1): the newest, and older ones to fall back to when the
    /// newest fails its checks.
    pub keep: usize,
    /// Show a progress bar.
    pub progress: bool,
    /// Stop once this many epochs are complete (as if interrupted; `None` = train all epochs).
    pub stop_after: Option<usize>,
    /// Record 0 for the timings (`seconds`, `images_per_second`). The wall clock is the only
    /// input that differs between two runs of one configuration, so with it zeroed two runs'
    /// files compare byte for byte (how the tests check that a resumed run equals an
    /// uninterrupted one).
    pub zero_timings: bool,
}

impl TrainOptions {
    /// Train `run` with `model_config` into `out`: from scratch, [`DEFAULT_KEEP`] checkpoints
    /// kept, no progress bar, all epochs, timings measured.
    pub fn new(run: TrainConfig, model_config: ViTConfig, out: impl Into<PathBuf>) -> Self {
        TrainOptions {
            run,
            model_config,
            out: out.into(),
            resume: false,
            overwrite: false,
            keep: DEFAULT_KEEP,
            progress: false,
            stop_after: None,
            zero_timings: false,
        }
    }
}

/// The data of a run: the kind (normalisation, augmentation) and both splits (already subset).
#[derive(Debug, Clone)]
pub struct TrainData {
    /// Dataset kind.
    pub kind: DatasetKind,
    /// Training images (after `--train-fraction`).
    pub train: Dataset,
    /// Test images (after `--eval-limit`).
    pub test: Dataset,
}

/// The end of a run.
pub struct TrainOutcome {
    /// The trained model.
    pub model: ViT,
    /// All epochs' metrics (including those of earlier, resumed-from runs).
    pub epochs: Vec<EpochMetrics>,
    /// Epoch index training started at (0, or the resumed checkpoint's epoch).
    pub started_at: usize,
}

/// The hyper-parameters of a run with `steps_per_epoch` steps per epoch.
pub fn resolve_hyper(run: &TrainConfig, steps_per_epoch: usize) -> TrainHyper {
    let total = (run.epochs * steps_per_epoch).max(1);
    TrainHyper {
        lr: run.lr as f32,
        weight_decay: run.weight_decay as f32,
        warmup_steps: ((run.warmup_epochs * steps_per_epoch as f64).round() as usize).min(total),
        total_steps: total,
        label_smoothing: run.label_smoothing as f32,
        clip_grad_norm: run.clip_norm(),
        ..TrainHyper::default()
    }
}

/// The batches of (logical) epoch `epoch`. Without `epoch_steps`: the first `steps_per_epoch`
/// batches of pass `epoch` over the data. With it: global steps `epoch·S .. (epoch+1)·S` of the
/// stream of consecutive passes (step g is batch `g mod P` of pass `g div P`, P batches per
/// pass), so the batches are a function of the global step alone and a resumed run sees the
/// same ones.
fn epoch_batches<'a>(
    loader: &'a Loader<'a>,
    epoch: usize,
    steps_per_epoch: usize,
    epoch_steps: Option<usize>,
) -> Box<dyn Iterator<Item = (ndarray::Array4<f32>, Vec<usize>)> + 'a> {
    if epoch_steps.is_none() {
        return Box::new(loader.epoch(epoch as u64).take(steps_per_epoch));
    }
    let per_pass = loader.num_batches().max(1);
    let first = epoch * steps_per_epoch;
    let (pass, offset) = (first / per_pass, first % per_pass);
    // `skip` on one pass's iterator does not convert the skipped batches.
    Box::new(
        loader
            .epoch(pass as u64)
            .skip(offset)
            .chain((pass + 1..).flat_map(move |p| loader.epoch(p as u64)))
            .take(steps_per_epoch),
    )
}

/// How training into a run directory starts, decided from the options and what the directory
/// holds ([`check_start`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The directory holds no run: train from scratch.
    Fresh,
    /// The directory holds a run that `--overwrite` replaces.
    Overwrite,
    /// Continue the run the directory holds.
    Resume,
}

/// The differences between the run that wrote `meta` and the run `opts` describes (empty when
/// the checkpoint can be continued).
fn config_diffs(meta: &CheckpointMeta, opts: &TrainOptions) -> Result<Vec<String>> {
    let mut diffs = meta.run.mismatches(&opts.run);
    if meta.model_config != opts.model_config {
        diffs.push(format!(
            "model configuration: checkpoint {}, now {}",
            serde_json::to_string(&meta.model_config)?,
            serde_json::to_string(&opts.model_config)?
        ));
    }
    Ok(diffs)
}

fn different_run(out: &std::path::Path, diffs: &[String]) -> anyhow::Error {
    anyhow::anyhow!(
        "cannot resume from {}: the checkpoint belongs to a different run:\n  {}\n(pass \
         --overwrite to replace it, or train into another --out)",
        out.display(),
        diffs.join("\n  ")
    )
}

/// Decide how training `opts` into the locked directory `dir` starts, before any data is
/// loaded: a directory holding a run needs `--resume` (for the same configuration) or
/// `--overwrite`. Reads only the newest checkpoint's `checkpoint.json`; [`train_in`] verifies
/// the checkpoint itself.
pub fn check_start(dir: &RunDir, opts: &TrainOptions) -> Result<Start> {
    if opts.resume && opts.overwrite {
        bail!("--resume and --overwrite exclude each other");
    }
    if opts.keep == 0 {
        bail!("--keep must be at least 1");
    }
    if !dir.has_checkpoint() {
        return Ok(Start::Fresh);
    }
    if opts.overwrite {
        return Ok(Start::Overwrite);
    }
    let meta = dir.newest_meta();
    if !opts.resume {
        let what = match &meta {
            Ok(Some(m)) => {
                let state = if m.epoch >= m.run.epochs {
                    "finished".to_string()
                } else {
                    format!("stopped after epoch {} of {}", m.epoch, m.run.epochs)
                };
                let same = config_diffs(m, opts)?.is_empty();
                format!(
                    "{state}, {} configuration",
                    if same { "the same" } else { "a different" }
                )
            }
            Ok(None) => "a checkpoint".to_string(),
            Err(e) => format!("a checkpoint that cannot be read: {e:#}"),
        };
        bail!(
            "{} already holds a training run ({what}); pass --resume to continue it or \
             --overwrite to replace it",
            opts.out.display()
        );
    }
    if let Ok(Some(m)) = &meta {
        let diffs = config_diffs(m, opts)?;
        if !diffs.is_empty() {
            return Err(different_run(&opts.out, &diffs));
        }
    }
    Ok(Start::Resume)
}

/// What a stopped run leaves, for its error message.
fn kept(last_epoch: usize, out: &std::path::Path) -> String {
    if last_epoch == 0 {
        format!(
            "no checkpoint was written to {} (none is kept from this run)",
            out.display()
        )
    } else {
        format!(
            "the last good checkpoint (epoch {last_epoch}) in {} is kept",
            out.display()
        )
    }
}

/// Train as `opts` says on `data`; see the module documentation. Opens and locks `opts.out`
/// for the whole run ([`RunDir::open`]).
pub fn train(opts: &TrainOptions, data: &TrainData) -> Result<TrainOutcome> {
    check_data(opts, data)?;
    let dir = RunDir::open(&opts.out)?;
    train_in(&dir, opts, data)
}

fn check_data(opts: &TrainOptions, data: &TrainData) -> Result<()> {
    if opts.run.epochs == 0 {
        bail!("--epochs must be at least 1");
    }
    if data.train.is_empty() || data.test.is_empty() {
        bail!("the training and test sets must not be empty");
    }
    let cfg = &opts.model_config;
    if cfg.classes != data.train.num_classes() {
        bail!(
            "the model has {} classes but {} has {}",
            cfg.classes,
            data.train.name(),
            data.train.num_classes()
        );
    }
    let [c, h, w] = data.train.image_shape();
    if c != cfg.channels || h != cfg.image_size || w != cfg.image_size {
        bail!(
            "the model expects {}×{}×{} images but {} has {c}×{h}×{w} (use a matching --model)",
            cfg.channels,
            cfg.image_size,
            cfg.image_size,
            data.train.name()
        );
    }
    Ok(())
}

/// [`train`] in a run directory the caller has opened (and so locked) already, as the command
/// does before it loads the data. `dir` must be the directory of `opts.out`.
pub fn train_in(dir: &RunDir, opts: &TrainOptions, data: &TrainData) -> Result<TrainOutcome> {
    check_data(opts, data)?;
    let run = &opts.run;
    let cfg = &opts.model_config;
    let start = check_start(dir, opts)?;
    let mut loader = Loader::train(&data.train, data.kind, run.batch_size, run.seed)?;
    if run.crop_pad.is_some() || run.hflip.is_some() || run.random_erase.is_some() {
        let default = data.kind.train_augment();
        loader = loader.augment(Augment {
            crop_pad: run.crop_pad.unwrap_or(default.crop_pad),
            hflip: run.hflip.unwrap_or(default.hflip),
            erase: run.random_erase.unwrap_or(default.erase),
        });
    }
    let steps_per_epoch = match (run.epoch_steps, run.max_train_batches) {
        (Some(s), _) => s,
        (None, Some(m)) => loader.num_batches().min(m.max(1)),
        (None, None) => loader.num_batches(),
    };
    let hyper = resolve_hyper(run, steps_per_epoch);
    let model = ViT::new(cfg.clone(), run.seed)?;
    let initial_radius = super::spectral_init::mean_spectral_radius(&model)?;
    let mut trainer = Trainer::new(model, hyper, run.seed)?;

    let mut start_epoch = 0;
    let mut history = Vec::new();
    match start {
        Start::Overwrite => {
            dir.clear()
                .with_context(|| format!("removing the run in {}", opts.out.display()))?;
            eprintln!(
                "--overwrite: removed the run that {} held",
                opts.out.display()
            );
        }
        Start::Fresh => {
            if opts.resume {
                eprintln!(
                    "no checkpoint in {}; starting from scratch",
                    opts.out.display()
                );
            }
            // Diagnostics of epochs that were never committed.
            dir.clear_diagnostics_after(0)?;
        }
        Start::Resume => {
            let (ck, warnings) = dir
                .latest()
                .with_context(|| format!("resuming from {}", opts.out.display()))?;
            for w in warnings {
                eprintln!("warning: {w}");
            }
            let diffs = config_diffs(&ck.meta, opts)?;
            if !diffs.is_empty() {
                return Err(different_run(&opts.out, &diffs));
            }
            let m = &ck.meta;
            if m.epoch > run.epochs {
                bail!(
                    "cannot resume from {}: the checkpoint is at epoch {} but the run has {} \
                     epochs ({} edited?); pass --overwrite to start over",
                    ck.dir.display(),
                    m.epoch,
                    run.epochs,
                    checkpoint::META_FILE
                );
            }
            if m.global_step != m.epoch * steps_per_epoch || m.hyper != hyper {
                bail!(
                    "cannot resume from {}: the checkpoint took {} steps in {} epochs with \
                     hyper-parameters {}, but this run takes {steps_per_epoch} steps per epoch \
                     with {} (different data, or {} edited?)",
                    ck.dir.display(),
                    m.global_step,
                    m.epoch,
                    serde_json::to_string(&m.hyper)?,
                    serde_json::to_string(&hyper)?,
                    checkpoint::META_FILE
                );
            }
            let past = ck
                .history()
                .with_context(|| format!("resuming from {}", opts.out.display()))?;
            trainer
                .model
                .load_named(&ck.model)
                .context("loading the checkpoint's weights")?;
            trainer
                .restore(&ck.optimizer, m.global_step)
                .context("loading the checkpoint's optimiser state")?;
            start_epoch = m.epoch;
            dir.clear_diagnostics_after(start_epoch)?;
            // The top-level copies may lag behind the checkpoint (a kill right after a commit).
            dir.write_copies(&past, ck.diagnostics.as_ref())?;
            history = past.epochs;
            eprintln!(
                "resuming from epoch {start_epoch} (step {}) in {}",
                m.global_step,
                opts.out.display()
            );
        }
    }

    let probe_n = data.test.len().min(diagnostics::PROBE_IMAGES);
    let probe = Loader::eval(&data.test, data.kind, probe_n)?
        .epoch(0)
        .next()
        .map(|(x, _)| x)
        .context("empty test set")?;
    let config_json = serde_json::json!({
        "run": run,
        "model_config": cfg,
        "hyper": hyper,
        "train_images": data.train.len(),
        "test_images": data.test.len(),
        "steps_per_epoch": steps_per_epoch,
        "initial_spectral_radius": initial_radius,
        "plain_initial_spectral_radius": cfg.spectral.init_radius,
    });

    let end_epoch = opts.stop_after.map_or(run.epochs, |s| s.min(run.epochs));
    for epoch in start_epoch..end_epoch {
        let bar = if opts.progress {
            let bar = ProgressBar::new(steps_per_epoch as u64);
            if let Ok(style) = ProgressStyle::with_template(
                "epoch {msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        } else {
            ProgressBar::hidden()
        };
        bar.set_message(format!("{}/{}", epoch + 1, run.epochs));
        let start = Instant::now();
        let (mut loss_sum, mut images, mut last_lr) = (0f64, 0usize, 0f32);
        for (b, (x, labels)) in
            epoch_batches(&loader, epoch, steps_per_epoch, run.epoch_steps).enumerate()
        {
            let stats = trainer.train_step(&x, &labels).with_context(|| {
                format!(
                    "epoch {}, batch {b}: training stopped; {}",
                    epoch + 1,
                    kept(epoch, &opts.out)
                )
            })?;
            loss_sum += f64::from(stats.loss) * labels.len() as f64;
            images += labels.len();
            last_lr = stats.lr;
            bar.inc(1);
            bar.set_message(format!(
                "{}/{} loss {:.4}",
                epoch + 1,
                run.epochs,
                stats.loss
            ));
        }
        bar.finish_and_clear();
        let seconds = if opts.zero_timings {
            0.0
        } else {
            start.elapsed().as_secs_f64()
        };
        let result: EvalResult = evaluate(&trainer.model, data.kind, &data.test, run.batch_size)?;
        let finite_weights = trainer
            .model
            .state_dict()
            .iter()
            .all(|(_, a)| a.iter().all(|v| v.is_finite()));
        if !finite_weights || !result.test_loss.is_finite() {
            bail!(
                "epoch {}: the weights or the test loss are not finite (test loss {}); training \
                 stopped (lower --lr); {}",
                epoch + 1,
                result.test_loss,
                kept(epoch, &opts.out)
            );
        }
        let diag = diagnostics::compute(&trainer.model, &probe, epoch + 1)?;
        history.push(EpochMetrics {
            epoch: epoch + 1,
            train_loss: loss_sum / images.max(1) as f64,
            test_accuracy: result.test_accuracy,
            test_loss: result.test_loss,
            images_per_second: if seconds > 0.0 {
                images as f64 / seconds
            } else {
                0.0
            },
            seconds,
            lr: f64::from(last_lr),
        });
        let metrics = Metrics {
            config: config_json.clone(),
            epochs: history.clone(),
        };
        let meta = CheckpointMeta {
            format: checkpoint::FORMAT_VERSION,
            model_config: cfg.clone(),
            hyper,
            run: run.clone(),
            epoch: epoch + 1,
            global_step: trainer.step,
            optimizer_step: 0,
            weights_sha256: String::new(),
            metrics_sha256: None,
            diagnostics_sha256: None,
        };
        let optimizer = trainer.optimizer_state();
        dir.commit(
            &CheckpointRecord {
                model: &trainer.model,
                optimizer: &optimizer,
                meta: &meta,
                metrics: &metrics,
                diagnostics: &diag,
            },
            opts.keep,
        )
        .with_context(|| {
            format!(
                "epoch {}: committing the checkpoint; {}",
                epoch + 1,
                kept(epoch, &opts.out)
            )
        })?;
        if opts.progress {
            let last = &history[history.len() - 1];
            eprintln!(
                "epoch {}/{}: train_loss {:.4} test_accuracy {:.4} test_loss {:.4} ({:.0} img/s)",
                epoch + 1,
                run.epochs,
                last.train_loss,
                last.test_accuracy,
                last.test_loss,
                last.images_per_second
            );
        }
    }
    Ok(TrainOutcome {
        model: trainer.model,
        epochs: history,
        started_at: start_epoch,
    })
}
