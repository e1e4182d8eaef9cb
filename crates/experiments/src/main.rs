//! The `eigenformer` command-line tool.

use anyhow::Result;
use clap::Parser;
use eigenformer_experiments::cli;

/// Measure, predict and control oversmoothing in Transformers.
#[derive(Parser, Debug)]
#[command(name = "eigenformer", version, about)]
enum Cli {
    /// Per-layer spectra and token smoothing of a pre-trained text Transformer on real sentences.
    Audit(cli::audit::AuditArgs),
    /// Time full training steps of a ViT preset on random data (images per second).
    BenchStep(cli::bench_step::BenchStepArgs),
    /// Spectra of A and H, the dominating pair of X + A X H and the regime it predicts.
    Spectrum(cli::spectrum::SpectrumArgs),
    /// Iterate X + A X H for L layers and write the smoothing metrics per layer (CSV).
    Simulate(cli::simulate::SimulateArgs),
    /// The theory report: regime examples, prediction vs simulation on random instances, claim checks.
    Theory(cli::theory::TheoryArgs),
    /// Resolve, verify and cache a data set (official URL, then registry fallbacks); print its directory.
    Fetch(cli::fetch::FetchArgs),
    /// Train a ViT on an image dataset: metrics, diagnostics and checkpoints after every epoch.
    Train(cli::train::TrainArgs),
    /// Test accuracy of a `train` checkpoint.
    Eval(cli::eval::EvalArgs),
    /// The paper's training experiments of a profile (experiments/*.toml): cached runs, tables, figures, claims.
    Experiments(cli::experiments::ExperimentsArgs),
}

fn main() -> Result<()> {
    eigenformer_tensor::memory::retain_freed_memory();
    match Cli::parse() {
        Cli::Audit(args) => cli::audit::run(&args),
        Cli::BenchStep(args) => cli::bench_step::run(&args),
        Cli::Spectrum(args) => cli::spectrum::run(&args),
        Cli::Simulate(args) => cli::simulate::run(&args),
        Cli::Theory(args) => cli::theory::run(&args),
        Cli::Fetch(args) => cli::fetch::run(&args),
        Cli::Train(args) => cli::train::run(&args),
        Cli::Eval(args) => cli::eval::run(&args),
        Cli::Experiments(args) => cli::experiments::run(&args),
    }
}
