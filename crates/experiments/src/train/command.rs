//! `eigenformer train`: train a ViT on an image dataset, evaluating, checkpointing and writing
//! `metrics.json` / `diagnostics.json` after every epoch (see [`crate::train::run`]).

use crate::train::checkpoint::RunConfig;
use crate::train::run::{train, TrainData, TrainOptions};
use anyhow::{bail, Context, Result};
use clap::Args;
use eigenformer_data::{DatasetKind, Split};
use eigenformer_model::{AttentionKind, ViTConfig};
use std::path::PathBuf;

/// Arguments of `eigenformer train`.
#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Dataset: fashion-mnist, mnist, cifar10, cifar100.
    #[arg(long)]
    pub dataset: String,
    /// Model preset: vit-small (28×28×1), vit-cifar (32×32×3), deit-ti.
    #[arg(long, default_value = "vit-small")]
    pub model: String,
    /// Attention variant: plain, featscale, attnscale, spectral+, spectral-.
    #[arg(long, default_value = "plain")]
    pub attention: AttentionKind,
    /// Override the preset's depth.
    #[arg(long)]
    pub depth: Option<usize>,
    /// Override the preset's width (the MLP hidden width scales with it).
    #[arg(long)]
    pub width: Option<usize>,
    /// Override the preset's number of heads.
    #[arg(long)]
    pub heads: Option<usize>,
    /// Epochs.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Images per step.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Peak learning rate (AdamW, cosine schedule).
    #[arg(long, default_value_t = 5e-4)]
    pub lr: f32,
    /// Decoupled weight decay.
    #[arg(long, default_value_t = 0.05)]
    pub weight_decay: f32,
    /// Linear warm-up, in epochs (fractions allowed).
    #[arg(long, default_value_t = 1.0)]
    pub warmup_epochs: f64,
    /// Label smoothing of the training loss.
    #[arg(long, default_value_t = 0.1)]
    pub label_smoothing: f32,
    /// Global gradient-norm clip (0 = off).
    #[arg(long, default_value_t = 1.0)]
    pub clip: f32,
    /// Class-balanced fraction of the training set, in (0, 1].
    #[arg(long, default_value_t = 1.0)]
    pub train_fraction: f64,
    /// Seed (initialisation, shuffling, augmentation, drop-path).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Directory holding the dataset's files (otherwise the cache / download).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// At most this many batches per epoch (smoke tests).
    #[arg(long)]
    pub max_train_batches: Option<usize>,
    /// Evaluate on the first N test images only.
    #[arg(long)]
    pub eval_limit: Option<usize>,
    /// Continue from the checkpoint in --out.
    #[arg(long)]
    pub resume: bool,
    /// Output directory (metrics.json, diagnostics.json, checkpoint.*).
    #[arg(long)]
    pub out: PathBuf,
}

/// The dataset kind called `name`, or an error listing the known names.
pub fn dataset_kind(name: &str) -> Result<DatasetKind> {
    DatasetKind::from_name(name).with_context(|| {
        let known: Vec<_> = DatasetKind::ALL.iter().map(|k| k.name()).collect();
        format!("unknown dataset {name:?} (known: {})", known.join(", "))
    })
}

/// The model configuration of `args` for a dataset of kind `kind`.
pub fn model_config(args: &TrainArgs, kind: DatasetKind) -> Result<ViTConfig> {
    let mut cfg = ViTConfig::preset(&args.model)?;
    cfg.attention = args.attention;
    if let Some(d) = args.depth {
        cfg.depth = d;
    }
    if let Some(w) = args.width {
        cfg.mlp_hidden = cfg.mlp_hidden * w / cfg.width.max(1);
        cfg.width = w;
    }
    if let Some(h) = args.heads {
        cfg.heads = h;
    }
    cfg.classes = kind.classes();
    cfg.validate()?;
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
    Ok(cfg)
}

/// The [`RunConfig`] of `args`.
pub fn run_config(args: &TrainArgs) -> RunConfig {
    RunConfig {
        dataset: args.dataset.clone(),
        model: args.model.clone(),
        attention: args.attention.to_string(),
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        weight_decay: args.weight_decay,
        warmup_epochs: args.warmup_epochs,
        label_smoothing: args.label_smoothing,
        clip: (args.clip > 0.0).then_some(args.clip),
        train_fraction: args.train_fraction,
        seed: args.seed,
        max_train_batches: args.max_train_batches,
        eval_limit: args.eval_limit,
    }
}

/// Run the command.
pub fn run(args: &TrainArgs) -> Result<()> {
    let kind = dataset_kind(&args.dataset)?;
    let cfg = model_config(args, kind)?;
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    if !(args.warmup_epochs.is_finite() && args.warmup_epochs >= 0.0) {
        bail!("--warmup-epochs must be finite and non-negative");
    }
    let train_set = kind
        .load(Split::Train, args.data_dir.as_deref())?
        .train_fraction(args.train_fraction, args.seed)?;
    let mut test_set = kind.load(Split::Test, args.data_dir.as_deref())?;
    if let Some(n) = args.eval_limit {
        let idx: Vec<usize> = (0..n.min(test_set.len())).collect();
        test_set = test_set.select(&idx)?;
    }
    let outcome = train(
        &TrainOptions {
            run: run_config(args),
            model_config: cfg,
            out: args.out.clone(),
            resume: args.resume,
            progress: true,
            stop_after: None,
        },
        &TrainData {
            kind,
            train: train_set,
            test: test_set,
        },
    )?;
    if let Some(last) = outcome.epochs.last() {
        println!(
            "epochs={} test_accuracy={:.4} test_loss={:.4} out={}",
            last.epoch,
            last.test_accuracy,
            last.test_loss,
            args.out.display()
        );
    }
    Ok(())
}
