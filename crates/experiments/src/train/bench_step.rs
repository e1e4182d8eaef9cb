//! `eigenformer bench-step`: time full training steps (forward, backward, AdamW) of a ViT preset on
//! random data, for comparison with other frameworks at the same model, batch and threads.

use crate::train::{TrainHyper, Trainer};
use anyhow::{Context, Result};
use clap::Args;
use eigenformer_model::{AttentionKind, ViT, ViTConfig};
use ndarray::Array4;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::time::Instant;

/// Arguments of `eigenformer bench-step`.
#[derive(Args, Debug, Clone)]
pub struct BenchStepArgs {
    /// Model preset: `vit-small`, `vit-cifar` or `deit-ti`.
    #[arg(long, default_value = "vit-small")]
    pub config: String,
    /// Attention variant: plain, featscale, attnscale, spectral+, spectral-.
    #[arg(long, default_value = "plain")]
    pub attention: AttentionKind,
    /// Images per step.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 5)]
    pub steps: usize,
    /// Untimed warm-up steps before timing.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Print the result as JSON (the last line still ends in `images_per_second=<x>`).
    #[arg(long)]
    pub json: bool,
}

/// The measurement.
#[derive(Debug, Clone, Serialize)]
pub struct BenchStepResult {
    /// Model preset.
    pub config: String,
    /// Attention variant.
    pub attention: String,
    /// Batch size.
    pub batch_size: usize,
    /// Timed steps.
    pub steps: usize,
    /// Rayon threads.
    pub threads: usize,
    /// Median seconds per step.
    pub median_step_seconds: f64,
    /// Images per second at the median step time.
    pub images_per_second: f64,
    /// Model FLOPs of one training step (matrix products only; forward + backward ≈ 3× forward).
    pub step_gflop: f64,
    /// Achieved GFLOP/s at the median step time.
    pub gflop_per_second: f64,
    /// Peak resident memory of the process (MiB), from /proc/self/status.
    pub peak_rss_mib: Option<f64>,
}

/// FLOPs of the matrix products of one forward pass (multiply-add = 2 FLOPs).
pub fn forward_flops(cfg: &ViTConfig, batch: usize) -> f64 {
    let b = batch as f64;
    let n = cfg.num_tokens() as f64;
    let d = cfg.width as f64;
    let m = cfg.mlp_hidden as f64;
    let patches = cfg.num_patches() as f64;
    let patch_dim = cfg.patch_dim() as f64;
    let per_block = 2.0 * b * n * d * 3.0 * d // qkv
        + 2.0 * 2.0 * b * n * n * d // scores and A·V over all heads
        + 2.0 * b * n * d * d // output projection
        + 2.0 * 2.0 * b * n * d * m; // MLP
    2.0 * b * patches * patch_dim * d
        + cfg.depth as f64 * per_block
        + 2.0 * b * d * cfg.classes as f64
}

/// Peak resident set size of this process in MiB (Linux), if readable.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Run the benchmark.
pub fn measure(args: &BenchStepArgs) -> Result<BenchStepResult> {
    let mut cfg = ViTConfig::preset(&args.config)?;
    cfg.attention = args.attention;
    if args.batch_size == 0 || args.steps == 0 {
        anyhow::bail!("--batch-size and --steps must be at least 1");
    }
    let model = ViT::new(cfg.clone(), 0)?;
    let hyper = TrainHyper {
        total_steps: args.steps + args.warmup,
        ..TrainHyper::default()
    };
    let mut trainer = Trainer::new(model, hyper, 0)?;
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let shape = (
        args.batch_size,
        cfg.channels,
        cfg.image_size,
        cfg.image_size,
    );
    let images = Array4::from_shape_simple_fn(shape, || rng.gen_range(-1.0f32..1.0));
    let labels: Vec<usize> = (0..args.batch_size)
        .map(|_| rng.gen_range(0..cfg.classes))
        .collect();
    for _ in 0..args.warmup {
        trainer
            .train_step(&images, &labels)
            .context("warm-up step")?;
    }
    let mut times = Vec::with_capacity(args.steps);
    for _ in 0..args.steps {
        let start = Instant::now();
        trainer.train_step(&images, &labels).context("timed step")?;
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(|a, b| a.total_cmp(b));
    let median = times[times.len() / 2];
    let step_gflop = 3.0 * forward_flops(&cfg, args.batch_size) / 1e9;
    Ok(BenchStepResult {
        config: args.config.clone(),
        attention: args.attention.to_string(),
        batch_size: args.batch_size,
        steps: args.steps,
        threads: rayon::current_num_threads(),
        median_step_seconds: median,
        images_per_second: args.batch_size as f64 / median,
        step_gflop,
        gflop_per_second: step_gflop / median,
        peak_rss_mib: peak_rss_mib(),
    })
}

/// Run the command.
pub fn run(args: &BenchStepArgs) -> Result<()> {
    let r = measure(args)?;
    if args.json {
        eigenformer_io::outln!("{}", serde_json::to_string(&r)?)?;
    }
    eigenformer_io::outln!(
        "config={} attention={} batch={} threads={} median_step_s={:.4} gflop_per_s={:.1} peak_rss_mib={:.0} images_per_second={:.2}",
        r.config,
        r.attention,
        r.batch_size,
        r.threads,
        r.median_step_seconds,
        r.gflop_per_second,
        r.peak_rss_mib.unwrap_or(f64::NAN),
        r.images_per_second
    )?;
    Ok(())
}
