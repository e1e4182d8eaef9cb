//! `eigenformer experiments`: the paper's training experiments of one profile, declared in
//! `experiments/*.toml`, run with a cache of finished runs, aggregated into `training.md`,
//! CSV/JSON files, figures and claim verdicts (see [`crate::reproduce`]). `cargo xtask
//! reproduce` runs it for the report's training section.

use crate::reproduce::cache::RunCache;
use crate::reproduce::exec::ChildExecutor;
use crate::reproduce::run::{self, evaluations, plan, Options};
use crate::reproduce::spec::{load_experiments, Profile};
use crate::train::config::TrainConfig;
use anyhow::{Context, Result};
use clap::Args;
use eigenformer_assets::Resolver;
use std::path::PathBuf;

/// Arguments of `eigenformer experiments`.
#[derive(Args, Debug, Clone)]
pub struct ExperimentsArgs {
    /// Compute profile: smoke (CI, minutes), quick (Fashion-MNIST, ≤ 90 min on 2 cores),
    /// extended (overnight on a CPU: 60k images, deeper, ablations, CIFAR-10), gpu (CIFAR-10 at
    /// DeiT-Ti size, for the CUDA backend).
    #[arg(long, value_enum, default_value_t = Profile::Quick)]
    pub profile: Profile,
    /// Run only this experiment (a file stem of the experiments directory); repeatable.
    #[arg(long = "only", value_name = "NAME")]
    pub only: Vec<String>,
    /// Output directory (training.md, results.json, claims.json, CSV, SVG).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Directory of the experiment files.
    #[arg(long, default_value = "experiments")]
    pub experiments_dir: PathBuf,
    /// Run cache, one directory per configuration hash (default: `<asset cache>/runs`).
    #[arg(long)]
    pub runs_dir: Option<PathBuf>,
    /// Print the runs and the estimated time and exit without running anything.
    #[arg(long)]
    pub plan: bool,
    /// For --plan: training throughput of vit-small (width 128, 6 blocks) in images/s on this
    /// machine; other sizes are scaled by width × depth.
    #[arg(long, default_value_t = 200.0)]
    pub images_per_second: f64,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// Seconds `spec` should take at `ips` images/s for vit-small (width 128, 6 blocks), scaling
/// linearly in width and depth (conservative for narrower models, whose FLOPs fall
/// quadratically with the width).
pub fn estimate_seconds(spec: &TrainConfig, ips: f64) -> f64 {
    let width = spec.width.unwrap_or(128) as f64 / 128.0;
    let depth = spec.depth.unwrap_or(6) as f64 / 6.0;
    spec.image_steps() as f64 * width * depth / ips.max(1e-9)
}

fn print_plan(args: &ExperimentsArgs, runs_dir: &std::path::Path) -> Result<()> {
    let experiments = load_experiments(&args.experiments_dir, args.profile, &args.only)?;
    let planned = plan(&experiments);
    let cache = RunCache::new(runs_dir);
    let mut total = 0.0;
    let mut images = 0usize;
    for e in &experiments {
        eigenformer_io::outln!(
            "experiment {} ({:?}): {} runs",
            e.name,
            e.kind,
            e.runs.len()
        )?;
    }
    for p in &planned {
        let secs = estimate_seconds(&p.spec, args.images_per_second);
        let done = cache.dir(&p.spec).join("result.json").is_file();
        if !done {
            total += secs;
            images += p.spec.image_steps();
        }
        eigenformer_io::outln!(
            "{} {:<40} {:>9} image-steps ~{:>6.0} s {}{}",
            p.hash,
            p.spec.label(),
            p.spec.image_steps(),
            secs,
            p.experiments.join(","),
            if done { " (cached)" } else { "" }
        )?;
    }
    let evals = evaluations(&experiments);
    eigenformer_io::outln!(
        "{} distinct runs, {} to train: {} image-steps, ~{:.1} min at {} images/s (vit-small); \
         plus {} evaluations",
        planned.len(),
        planned
            .iter()
            .filter(|p| !cache.dir(&p.spec).join("result.json").is_file())
            .count(),
        images,
        total / 60.0,
        args.images_per_second,
        evals.len()
    )?;
    Ok(())
}

/// The default run cache, `<asset cache>/runs`: finished runs are shared by every output
/// directory, so a second report of the same profile trains nothing.
pub fn default_runs_dir() -> Result<PathBuf> {
    Ok(Resolver::default_cache_root()
        .context("locating the run cache")?
        .join("runs"))
}

/// Run the command.
pub fn run(args: &ExperimentsArgs) -> Result<()> {
    let runs_dir = match &args.runs_dir {
        Some(d) => d.clone(),
        None => default_runs_dir().context("(or pass --runs-dir)")?,
    };
    if args.plan {
        return print_plan(args, &runs_dir);
    }
    let out = args
        .out
        .clone()
        .context("--out DIR is required (unless --plan)")?;
    let mut exec = ChildExecutor::current()?;
    let section = run::run(
        &Options {
            profile: args.profile,
            experiments_dir: args.experiments_dir.clone(),
            out: out.clone(),
            runs_dir,
            only: args.only.clone(),
            progress: !args.quiet,
        },
        &mut exec,
    )
    .with_context(|| format!("the {} experiments", args.profile.name()))?;
    print_summary(&section, &out)?;
    Ok(())
}

/// The command's summary: each claim's verdict, what was trained and cached, where it went.
pub fn print_summary(
    section: &crate::reproduce::results::Section,
    out: &std::path::Path,
) -> Result<(), eigenformer_io::IoError> {
    for c in &section.claims {
        eigenformer_io::outln!("experiments: {} {}", c.claim.id, c.claim.verdict.name())?;
    }
    let n = &section.counts;
    eigenformer_io::outln!(
        "experiments: {} runs ({} trained, {} resumed, {} cached), {} evaluations, {:.0} s; wrote {}",
        n.runs,
        n.trained,
        n.resumed,
        n.cached,
        n.evaluations,
        section.seconds,
        out.join("training.md").display()
    )?;
    Ok(())
}
