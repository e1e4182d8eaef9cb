//! The `eigenformer` command-line tool: argument parsing and one library call per subcommand.

use anyhow::{Context, Result};
use clap::Parser;
use eigenformer_experiments::{audit, eval, report, reproduce, theory, train};

mod commands;

/// Measure, predict and control oversmoothing in Transformers.
#[derive(Parser, Debug)]
#[command(name = "eigenformer", version, about)]
enum Cli {
    /// Per-layer spectra and token smoothing of a pre-trained text Transformer on real sentences.
    Audit(audit::command::AuditArgs),
    /// Time full training steps of a ViT preset on random data (images per second).
    BenchStep(train::bench_step::BenchStepArgs),
    /// Spectra of A and H, the dominating pair of X + A X H and the regime it predicts.
    Spectrum(commands::spectrum::SpectrumArgs),
    /// Iterate X + A X H for L layers and write the smoothing metrics per layer (CSV).
    Simulate(commands::simulate::SimulateArgs),
    /// The theory report: regime examples, prediction vs simulation on random instances, claim checks.
    Theory(theory::TheoryArgs),
    /// Resolve, verify and cache a data set (official URL, then registry fallbacks); print its directory.
    Fetch(commands::fetch::FetchArgs),
    /// Train a ViT on an image dataset: metrics, diagnostics and checkpoints after every epoch.
    Train(train::command::TrainArgs),
    /// Test accuracy of a `train` checkpoint.
    Eval(eval::EvalArgs),
    /// The paper's training experiments of a profile (experiments/*.toml): cached runs, tables, figures, claims.
    Experiments(reproduce::command::ExperimentsArgs),
    /// The whole reproduction of a profile: theory, pre-trained audits and training in-process, then REPORT.md and REPORT.html.
    Reproduce(report::ReproduceArgs),
}

fn main() -> Result<()> {
    eigenformer_tensor::memory::retain_freed_memory();
    match Cli::parse() {
        Cli::Audit(args) => audit::command::run(&args),
        Cli::BenchStep(args) => train::bench_step::run(&args),
        Cli::Spectrum(args) => commands::spectrum::run(&args),
        Cli::Simulate(args) => commands::simulate::run(&args),
        Cli::Theory(args) => theory::run(&args),
        Cli::Fetch(args) => commands::fetch::run(&args),
        Cli::Train(args) => train::command::run(&args),
        Cli::Eval(args) => eval::run(&args),
        Cli::Experiments(args) => reproduce::command::run(&args),
        Cli::Reproduce(args) if args.plan => report::plan::run(&args),
        Cli::Reproduce(args) => report::run(&args)
            .map(|_| ())
            .with_context(|| format!("eigenformer reproduce --profile {}", args.profile)),
    }
}
