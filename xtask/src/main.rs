//! `cargo xtask …`: the workspace's build, test, benchmark and reproduction driver.
//!
//! Every command a newcomer or CI needs lives here so that the README and `.ci/run` name the same
//! entry points: `cargo xtask test` (the whole test suite plus the layering check) and
//! `cargo xtask reproduce` (the paper's experiments and the report).

mod bench;
mod bench_audit;
mod bench_step;
mod layers;
mod python;
mod reproduce;
mod test;
mod util;

use anyhow::Result;
use clap::Parser;

#[derive(Parser, Debug)]
#[command(name = "cargo xtask", about = "Eigenformer workspace tasks")]
enum Task {
    /// Run the full test suite (layering check, unit, property and integration tests).
    Test(test::TestArgs),
    /// Check that no crate depends on a crate above it in the layering.
    CheckLayers,
    /// Run benchmarks; with `--compare`, ours against NumPy on the same shapes in one run; with
    /// `--step`, a training step against PyTorch; with `--audit`, `eigenformer audit` against
    /// transformers + NumPy.
    Bench(bench::BenchArgs),
    /// Run the paper's experiments and write the report.
    Reproduce(reproduce::ReproduceTask),
}

fn main() -> Result<()> {
    match Task::parse() {
        Task::Test(args) => test::run(&args),
        Task::CheckLayers => layers::run(),
        Task::Bench(args) => bench::run(&args),
        Task::Reproduce(args) => reproduce::run(&args),
    }
}
