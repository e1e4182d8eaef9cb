//! The `eigenformer` command-line tool.

use anyhow::Result;
use clap::Parser;
use eigenformer_experiments::cli;

/// Measure, predict and control oversmoothing in Transformers.
#[derive(Parser, Debug)]
#[command(name = "eigenformer", version, about)]
enum Cli {
    /// Spectra of A and H, the dominating pair of X + A X H and the regime it predicts.
    Spectrum(cli::spectrum::SpectrumArgs),
    /// Iterate X + A X H for L layers and write the smoothing metrics per layer (CSV).
    Simulate(cli::simulate::SimulateArgs),
}

fn main() -> Result<()> {
    match Cli::parse() {
        Cli::Spectrum(args) => cli::spectrum::run(&args),
        Cli::Simulate(args) => cli::simulate::run(&args),
    }
}
