//! `eigenformer experiments`: the paper's training experiments of one profile, declared in
//! `experiments/*.toml`, run with a cache of finished runs, aggregated into `training.md`,
//! CSV/JSON files, figures and claim verdicts (see [`crate::reproduce`]). `cargo xtask
//! reproduce` runs it for the report's training section.

use crate::reproduce::cache::RunCache;
use crate::reproduce::cells::{self, Cell};
use crate::reproduce::exec::ChildExecutor;
use crate::reproduce::run::{self, evaluations, plan, Options};
use crate::reproduce::slurm::{self, SlurmOptions};
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
    #[command(flatten)]
    pub jobs: crate::reproduce::parallel::JobsFlag,
    /// Print every cell of the grid (stable index, stage, config hash, run) and exit.
    #[arg(long, conflicts_with_all = ["plan", "merge", "task_index", "emit"])]
    pub list: bool,
    /// With --list: one JSON document instead of the table.
    #[arg(long, requires = "list")]
    pub json: bool,
    /// Run one cell of the grid (an index of --list) and its evaluations, then exit. Defaults to
    /// `SLURM_ARRAY_TASK_ID` when that is set and neither --merge nor --emit is given.
    #[arg(long, conflicts_with_all = ["plan", "merge", "emit"])]
    pub task_index: Option<usize>,
    /// Build the training section (--out) from the run cache without training anything; fails
    /// naming the cells that have not finished.
    #[arg(long, conflicts_with_all = ["plan", "emit"])]
    pub merge: bool,
    /// Write job scripts for a scheduler into --emit-dir and exit: `slurm` (sbatch job arrays
    /// and a dependent merge job; see docs/slurm.md).
    #[arg(long, value_parser = ["slurm"], conflicts_with = "plan")]
    pub emit: Option<String>,
    /// With --emit: where the scripts go.
    #[arg(long, default_value = "slurm")]
    pub emit_dir: PathBuf,
    /// With --emit: where the tasks' logs go (default: `<emit-dir>/logs`).
    #[arg(long)]
    pub log_dir: Option<PathBuf>,
    /// With --emit: at most this many array tasks at once (`--array=…%K`).
    #[arg(long, default_value_t = 8)]
    pub throttle: usize,
    /// With --emit: CPUs of each task (the trainer uses them all).
    #[arg(long, default_value_t = 2)]
    pub cpus_per_task: usize,
    /// With --emit: memory of each task, as sbatch spells it.
    #[arg(long, default_value = "8G")]
    pub mem: String,
    /// With --emit: time limit of each task (an interrupted cell resumes from its checkpoint
    /// when resubmitted).
    #[arg(long, default_value = "04:00:00")]
    pub time: String,
    /// With --emit: GPUs per task (`--gres=gpu:N`).
    #[arg(long)]
    pub gpus: Option<usize>,
    /// With --emit: the partition.
    #[arg(long)]
    pub partition: Option<String>,
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
    if args.list {
        return print_cells(args, &runs_dir);
    }
    if let Some(kind) = &args.emit {
        return emit(args, kind, &runs_dir);
    }
    let task_index = match args.task_index {
        Some(i) => Some(i),
        None if !args.merge => slurm_task_index()?,
        None => None,
    };
    if let Some(index) = task_index {
        return run_one_cell(args, index, &runs_dir);
    }
    let out = args
        .out
        .clone()
        .context("--out DIR is required (unless --plan)")?;
    let mut exec = ChildExecutor::current()?;
    if args.merge {
        let experiments = load_experiments(&args.experiments_dir, args.profile, &args.only)?;
        let cache = RunCache::new(&runs_dir);
        let all = cells::cells(&experiments, &cache)?;
        let missing = cells::unfinished(&all, &cache);
        if !missing.is_empty() {
            anyhow::bail!(
                "cannot merge: {} of {} cells have not finished (indices {}); run them with \
                 --task-index N (or resubmit their array tasks)",
                missing.len(),
                all.len(),
                cells::index_ranges(&missing)
            );
        }
    }
    let section = run::run(
        &Options {
            profile: args.profile,
            experiments_dir: args.experiments_dir.clone(),
            out: out.clone(),
            runs_dir,
            only: args.only.clone(),
            progress: !args.quiet,
            jobs: args.jobs.jobs(),
        },
        &mut exec,
    )
    .with_context(|| format!("the {} experiments", args.profile.name()))?;
    print_summary(&section, &out)?;
    Ok(())
}

/// `SLURM_ARRAY_TASK_ID`, when this runs as an array task.
fn slurm_task_index() -> Result<Option<usize>> {
    match std::env::var("SLURM_ARRAY_TASK_ID") {
        Ok(v) => v.trim().parse().map(Some).with_context(|| {
            format!("SLURM_ARRAY_TASK_ID={v:?} is not a cell index (pass --task-index N)")
        }),
        Err(_) => Ok(None),
    }
}

fn load_cells(args: &ExperimentsArgs, runs_dir: &std::path::Path) -> Result<Vec<Cell>> {
    let experiments = load_experiments(&args.experiments_dir, args.profile, &args.only)?;
    Ok(cells::cells(&experiments, &RunCache::new(runs_dir))?)
}

/// `--list`: every cell with its index and hash (`pending` while it waits for the selected
/// learning rate), and whether it has finished.
fn print_cells(args: &ExperimentsArgs, runs_dir: &std::path::Path) -> Result<()> {
    let all = load_cells(args, runs_dir)?;
    let cache = RunCache::new(runs_dir);
    let finished = |c: &Cell| {
        c.spec
            .as_ref()
            .is_some_and(|s| cache.dir(s).join("result.json").is_file())
    };
    if args.json {
        let rows: Vec<serde_json::Value> = all
            .iter()
            .map(|c| {
                serde_json::json!({
                    "index": c.index,
                    "stage": c.stage,
                    "hash": c.hash,
                    "label": c.label,
                    "experiments": c.experiments,
                    "finished": finished(c),
                })
            })
            .collect();
        let doc = serde_json::json!({
            "schema_version": 1,
            "profile": args.profile.name(),
            "runs_dir": runs_dir,
            "cells": rows,
        });
        eigenformer_io::outln!("{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(());
    }
    for c in &all {
        let stage = match c.stage {
            cells::Stage::LearningRate => "lr",
            cells::Stage::Grid => "grid",
        };
        eigenformer_io::outln!(
            "{:>4} {:<4} {:<16} {:<8} {} [{}]",
            c.index,
            stage,
            c.hash.as_deref().unwrap_or("pending"),
            if finished(c) { "finished" } else { "todo" },
            c.label,
            c.experiments.join(",")
        )?;
    }
    Ok(())
}

/// `--task-index N`: one cell and its evaluations.
fn run_one_cell(args: &ExperimentsArgs, index: usize, runs_dir: &std::path::Path) -> Result<()> {
    let experiments = load_experiments(&args.experiments_dir, args.profile, &args.only)?;
    let cache = RunCache::new(runs_dir);
    let mut exec = ChildExecutor::current()?;
    let outcome = cells::run_cell(&experiments, &cache, index, &mut exec)
        .with_context(|| format!("cell {index} of the {} profile", args.profile.name()))?;
    let action = match outcome.action {
        crate::reproduce::cache::Action::Cached => "cached",
        crate::reproduce::cache::Action::Trained => "trained",
        crate::reproduce::cache::Action::Resumed => "resumed",
    };
    eigenformer_io::outln!(
        "cell {}: {} {} (test accuracy {:.4}, {}; {} evaluations run)",
        outcome.index,
        outcome.label,
        action,
        outcome.test_accuracy,
        outcome.hash,
        outcome.evaluations_run
    )?;
    Ok(())
}

fn absolute(p: &std::path::Path) -> Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))
}

/// `--emit slurm`: the job scripts.
fn emit(args: &ExperimentsArgs, kind: &str, runs_dir: &std::path::Path) -> Result<()> {
    anyhow::ensure!(kind == "slurm", "unknown --emit {kind:?} (known: slurm)");
    let all = load_cells(args, runs_dir)?;
    let emit_dir = absolute(&args.emit_dir)?;
    let out = match &args.out {
        Some(o) => absolute(o)?,
        None => emit_dir.join("report"),
    };
    let env = ["EIGENFORMER_MIRROR", "EIGENFORMER_CACHE", "HF_HOME"]
        .into_iter()
        .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?)))
        .collect();
    let options = SlurmOptions {
        profile: args.profile,
        only: args.only.clone(),
        binary: std::env::current_exe().context("locating the eigenformer binary")?,
        experiments_dir: absolute(&args.experiments_dir)?,
        runs_dir: absolute(runs_dir)?,
        out,
        log_dir: match &args.log_dir {
            Some(d) => absolute(d)?,
            None => emit_dir.join("logs"),
        },
        throttle: args.throttle,
        cpus_per_task: args.cpus_per_task,
        mem: args.mem.clone(),
        time: args.time.clone(),
        gpus: args.gpus,
        partition: args.partition.clone(),
        env,
    };
    let scripts = slurm::scripts(&options, &all)?;
    for path in slurm::write(&emit_dir, &scripts)? {
        eigenformer_io::outln!("wrote {}", path.display())?;
    }
    eigenformer_io::outln!(
        "{} cells; submit with {}",
        all.len(),
        emit_dir.join("submit.sh").display()
    )?;
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
