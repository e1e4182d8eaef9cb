//! The training loop behind `eigenformer train`, as a library function on in-memory datasets (so
//! tests can train on synthetic data).
//!
//! Per epoch: the seeded [`Loader`] batches, [`Trainer::train_step`] each, then an evaluation on
//! the test set, `diagnostics.json`, the checkpoint and `metrics.json` (all atomic). Everything
//! random is a function of the seed, the epoch and the global step, so a run resumed from the
//! checkpoint of epoch e ends with the same weights, bit for bit, as an uninterrupted one.

use super::checkpoint::{self, CheckpointMeta};
use super::config::TrainConfig;
use super::diagnostics;
use super::eval::{evaluate, EvalResult};
use super::{TrainHyper, Trainer};
use anyhow::{bail, Context, Result};
use eigenformer_data::{Dataset, DatasetKind, Loader};
use eigenformer_io::write_atomic;
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
    /// Output directory.
    pub out: PathBuf,
    /// Continue from the checkpoint in `out` (if there is one).
    pub resume: bool,
    /// Show a progress bar.
    pub progress: bool,
    /// Stop once this many epochs are complete (as if interrupted; `None` = train all epochs).
    pub stop_after: Option<usize>,
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

fn read_metrics(path: &std::path::Path) -> Option<Metrics> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Train as `opts` says on `data`; see the module documentation.
pub fn train(opts: &TrainOptions, data: &TrainData) -> Result<TrainOutcome> {
    let run = &opts.run;
    if run.epochs == 0 {
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
    let loader = Loader::train(&data.train, data.kind, run.batch_size, run.seed)?;
    let steps_per_epoch = match run.max_train_batches {
        Some(m) => loader.num_batches().min(m.max(1)),
        None => loader.num_batches(),
    };
    let hyper = resolve_hyper(run, steps_per_epoch);
    let model = ViT::new(cfg.clone(), run.seed)?;
    let mut trainer = Trainer::new(model, hyper, run.seed)?;
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("creating {}", opts.out.display()))?;
    let metrics_path = opts.out.join("metrics.json");

    let mut start_epoch = 0;
    let mut history = Vec::new();
    if opts.resume && checkpoint::exists(&opts.out) {
        let ck = checkpoint::load(&opts.out)
            .with_context(|| format!("resuming from {}", opts.out.display()))?;
        let mut diffs = ck.meta.run.mismatches(run);
        if ck.meta.model_config != *cfg {
            diffs.push(format!(
                "model configuration: checkpoint {}, now {}",
                serde_json::to_string(&ck.meta.model_config)?,
                serde_json::to_string(cfg)?
            ));
        }
        if !diffs.is_empty() {
            bail!(
                "cannot resume from {}: the checkpoint belongs to a different run:\n  {}",
                opts.out.display(),
                diffs.join("\n  ")
            );
        }
        trainer
            .model
            .load_named(&ck.model)
            .context("loading the checkpoint's weights")?;
        trainer
            .restore(&ck.optimizer, ck.meta.global_step)
            .context("loading the checkpoint's optimiser state")?;
        start_epoch = ck.meta.epoch;
        if let Some(m) = read_metrics(&metrics_path) {
            history = m
                .epochs
                .into_iter()
                .filter(|e| e.epoch <= start_epoch)
                .collect();
        }
        eprintln!(
            "resuming from epoch {start_epoch} (step {}) in {}",
            ck.meta.global_step,
            opts.out.display()
        );
    } else if opts.resume {
        eprintln!(
            "no checkpoint in {}; starting from scratch",
            opts.out.display()
        );
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
        for (b, (x, labels)) in loader.epoch(epoch as u64).take(steps_per_epoch).enumerate() {
            let stats = trainer.train_step(&x, &labels).with_context(|| {
                format!(
                    "epoch {}, batch {b}: training stopped; the last good checkpoint (epoch {}) in \
                     {} is kept",
                    epoch + 1,
                    epoch,
                    opts.out.display()
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
        let seconds = start.elapsed().as_secs_f64();
        let result: EvalResult = evaluate(&trainer.model, data.kind, &data.test, run.batch_size)?;
        let finite_weights = trainer
            .model
            .state_dict()
            .iter()
            .all(|(_, a)| a.iter().all(|v| v.is_finite()));
        if !finite_weights || !result.test_loss.is_finite() {
            bail!(
                "epoch {}: the weights or the test loss are not finite (test loss {}); training \
                 stopped (lower --lr); the last good checkpoint (epoch {epoch}) in {} is kept",
                epoch + 1,
                result.test_loss,
                opts.out.display()
            );
        }
        let diag = diagnostics::compute(&trainer.model, &probe, epoch + 1)?;
        write_atomic(
            &opts.out.join("diagnostics.json"),
            serde_json::to_string_pretty(&diag)?.as_bytes(),
        )?;
        let meta = CheckpointMeta {
            format: checkpoint::FORMAT_VERSION,
            model_config: cfg.clone(),
            hyper,
            run: run.clone(),
            epoch: epoch + 1,
            global_step: trainer.step,
            optimizer_step: 0,
            weights_sha256: String::new(),
        };
        checkpoint::save(&opts.out, &trainer.model, &trainer.optimizer_state(), meta)?;
        history.push(EpochMetrics {
            epoch: epoch + 1,
            train_loss: loss_sum / images.max(1) as f64,
            test_accuracy: result.test_accuracy,
            test_loss: result.test_loss,
            images_per_second: images as f64 / seconds.max(1e-9),
            seconds,
            lr: f64::from(last_lr),
        });
        let metrics = Metrics {
            config: config_json.clone(),
            epochs: history.clone(),
        };
        write_atomic(
            &metrics_path,
            serde_json::to_string_pretty(&metrics)?.as_bytes(),
        )?;
        if opts.progress {
            eprintln!(
                "epoch {}/{}: train_loss {:.4} test_accuracy {:.4} test_loss {:.4} ({:.0} img/s)",
                epoch + 1,
                run.epochs,
                loss_sum / images.max(1) as f64,
                result.test_accuracy,
                result.test_loss,
                images as f64 / seconds.max(1e-9)
            );
        }
    }
    Ok(TrainOutcome {
        model: trainer.model,
        epochs: history,
        started_at: start_epoch,
    })
}
