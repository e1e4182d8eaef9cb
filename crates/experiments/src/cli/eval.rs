//! `eigenformer eval`: test accuracy of a training checkpoint.

use crate::cli::train::dataset_kind;
use crate::data::Split;
use crate::train::checkpoint;
use crate::train::eval::{evaluate, EvalResult};
use anyhow::{Context, Result};
use clap::Args;
use eigenformer_model::ViT;
use std::path::{Path, PathBuf};

/// Arguments of `eigenformer eval`.
#[derive(Args, Debug, Clone)]
pub struct EvalArgs {
    /// The output directory of `eigenformer train` (holding checkpoint.json/.safetensors).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Directory holding the dataset's files (otherwise the cache / download).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Evaluate on the first N test images only.
    #[arg(long)]
    pub eval_limit: Option<usize>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Print JSON `{"test_accuracy", "test_loss", "images"}`.
    #[arg(long)]
    pub json: bool,
}

/// The model stored in the checkpoint directory `dir`, and the checkpoint's metadata.
pub fn load_model(dir: &Path) -> Result<(ViT, checkpoint::CheckpointMeta)> {
    let ck = checkpoint::load(dir)?;
    let model =
        ViT::new(ck.meta.model_config.clone(), 0).context("building the checkpoint's model")?;
    model
        .load_named(&ck.model)
        .context("loading the checkpoint's weights")?;
    Ok((model, ck.meta))
}

/// Evaluate the checkpoint of `args`.
pub fn measure(args: &EvalArgs) -> Result<EvalResult> {
    let (model, meta) = load_model(&args.checkpoint)?;
    let kind = dataset_kind(&meta.run.dataset)?;
    let mut test = kind.load(Split::Test, args.data_dir.as_deref())?;
    if let Some(n) = args.eval_limit {
        let idx: Vec<usize> = (0..n.min(test.len())).collect();
        test = test.select(&idx)?;
    }
    evaluate(&model, kind, &test, args.batch_size.max(1))
}

/// Run the command.
pub fn run(args: &EvalArgs) -> Result<()> {
    let r = measure(args)?;
    if args.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "test_accuracy={:.4} test_loss={:.4} images={}",
            r.test_accuracy, r.test_loss, r.images
        );
    }
    Ok(())
}
