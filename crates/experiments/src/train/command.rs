//! `eigenformer train`: train a ViT on an image dataset, evaluating, checkpointing and writing
//! `metrics.json` / `diagnostics.json` after every epoch (see [`crate::train::run`]) into a run
//! directory ([`crate::train::rundir`]).
//!
//! The run directory is locked, and checked against `--resume` / `--overwrite`, before the data
//! set is loaded: a second process, or a forgotten `--resume`, fails at once.

use crate::train::config::TrainConfig;
use crate::train::run::{check_start, train_in, TrainData, TrainOptions};
use crate::train::rundir::{RunDir, DEFAULT_KEEP};
use anyhow::{bail, Context, Result};
use clap::Args;
use eigenformer_data::{Dataset, DatasetKind, Split};
use eigenformer_model::ViTConfig;
use std::path::PathBuf;

/// Arguments of `eigenformer train`: the run's [`TrainConfig`] (as flags, or `--config FILE`)
/// and where to run it.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Read the configuration from this file (JSON, or TOML for a `.toml` name; the keys are the
    /// flags' names with underscores) instead of the flags.
    #[arg(long, value_name = "FILE", conflicts_with = "TrainConfig")]
    pub config: Option<PathBuf>,
    /// The run's configuration.
    #[command(flatten)]
    pub train: TrainConfig,
    /// Directory holding the dataset's files (otherwise the cache / download).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Continue the run in --out from its newest good checkpoint (needed to train into a
    /// directory that holds a run of the same configuration).
    #[arg(long)]
    pub resume: bool,
    /// Replace the run that --out holds (its checkpoints, metrics and diagnostics) and start
    /// from scratch.
    #[arg(long, conflicts_with = "resume")]
    pub overwrite: bool,
    /// Checkpoints to keep in --out/checkpoints: the newest, and older ones that --resume falls
    /// back to when the newest fails its checksum.
    #[arg(long, default_value_t = DEFAULT_KEEP, value_name = "K")]
    pub keep: usize,
    /// Output directory, the run directory (manifest.json, checkpoints/, metrics.json,
    /// diagnostics.json, diagnostics/, train.lock).
    #[arg(long)]
    pub out: PathBuf,
}

impl TrainArgs {
    /// The configuration: read from `--config`, or the flags; validated either way.
    pub fn resolve(&self) -> Result<TrainConfig> {
        let (cfg, source) = match &self.config {
            Some(path) => (read_config(path)?, path.display().to_string()),
            None => (self.train.clone(), "command line".to_string()),
        };
        cfg.validate(&source)?;
        Ok(cfg)
    }
}

/// Read a [`TrainConfig`] from a JSON file, or TOML when the name ends in `.toml`.
pub fn read_config(path: &std::path::Path) -> Result<TrainConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the configuration {}", path.display()))?;
    let parsed = if path.extension().is_some_and(|e| e == "toml") {
        toml::from_str(&text).map_err(anyhow::Error::from)
    } else {
        serde_json::from_str(&text).map_err(anyhow::Error::from)
    };
    parsed.with_context(|| format!("{}: not a training configuration", path.display()))
}

/// The dataset kind called `name`, or an error listing the known names.
pub fn dataset_kind(name: &str) -> Result<DatasetKind> {
    DatasetKind::from_name(name).with_context(|| {
        let known: Vec<_> = DatasetKind::ALL.iter().map(|k| k.name()).collect();
        format!("unknown dataset {name:?} (known: {})", known.join(", "))
    })
}

/// The model configuration of `args` for a dataset of kind `kind`.
pub fn model_config(args: &TrainConfig, kind: DatasetKind) -> Result<ViTConfig> {
    // The preset with the run's overrides and size bounds, then the classes of `kind` (the
    // dataset the caller resolved) and the image-shape check below.
    let mut cfg = args.vit_config()?;
    if cfg.classes != kind.classes() {
        cfg.classes = kind.classes();
        cfg.validate()?;
    }
    let [c, h, w] = kind.image_shape();
    if c != cfg.channels || h != cfg.image_size || w != cfg.image_size {
        bail!(
            "--model {} expects {}×{}×{} images but {} has {c}×{h}×{w} (use vit-small for the \
             MNISTs, vit-cifar for CIFAR)",
            args.model,
            cfg.channels,
            cfg.image_size,
            cfg.image_size,
            kind.name()
        );
    }
    super::spectral_init::apply(cfg, args)
}

/// The training and evaluation sets of `run`: with `val_images`, a class-balanced validation
/// set of that size is cut from the training split (drawn with the seed) and stands in for the
/// test set, which is then never read; the training fraction applies to what remains.
pub fn load_splits(
    run: &TrainConfig,
    kind: DatasetKind,
    data_dir: Option<&std::path::Path>,
) -> Result<(Dataset, Dataset)> {
    let full = kind.load(Split::Train, data_dir)?;
    match run.val_images {
        None => Ok((
            full.train_fraction(run.train_fraction, run.seed)?,
            kind.load(Split::Test, data_dir)?,
        )),
        Some(n) => {
            if n >= full.len() {
                bail!(
                    "val_images {n} must be smaller than the {} training images",
                    full.len()
                );
            }
            let (val, rest) = full.split_balanced(n, run.seed)?;
            Ok((rest.train_fraction(run.train_fraction, run.seed)?, val))
        }
    }
}

/// Run the command.
pub fn run(args: &TrainArgs) -> Result<()> {
    let run = args.resolve()?;
    let kind = dataset_kind(&run.dataset)?;
    let cfg = model_config(&run, kind)?;
    let opts = TrainOptions {
        resume: args.resume,
        overwrite: args.overwrite,
        keep: args.keep,
        progress: true,
        ..TrainOptions::new(run.clone(), cfg, args.out.clone())
    };
    let dir = RunDir::open(&args.out)?;
    check_start(&dir, &opts)?;
    let (train_set, mut test_set) = load_splits(&run, kind, args.data_dir.as_deref())?;
    if let Some(n) = run.eval_limit {
        let idx: Vec<usize> = (0..n.min(test_set.len())).collect();
        test_set = test_set.select(&idx)?;
    }
    let outcome = train_in(
        &dir,
        &opts,
        &TrainData {
            kind,
            train: train_set,
            test: test_set,
        },
    )?;
    if let Some(last) = outcome.epochs.last() {
        eigenformer_io::outln!(
            "epochs={} test_accuracy={:.4} test_loss={:.4} out={}",
            last.epoch,
            last.test_accuracy,
            last.test_loss,
            args.out.display()
        )?;
    }
    Ok(())
}
