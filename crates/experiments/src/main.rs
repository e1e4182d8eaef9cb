//! The `eigenformer` command-line tool.

use anyhow::Result;
use clap::Parser;

/// Measure, predict and control oversmoothing in Transformers.
#[derive(Parser, Debug)]
#[command(name = "eigenformer", version, about)]
enum Cli {}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli {}
}
