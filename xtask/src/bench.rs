//! `cargo xtask bench`: criterion benches, and `--compare` against NumPy on the same shapes.

use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Also time NumPy (OpenBLAS) on the same shapes and print a ratio table.
    #[arg(long)]
    pub compare: bool,
}

pub fn run(_args: &BenchArgs) -> Result<()> {
    anyhow::bail!("benchmarks are not implemented yet")
}
