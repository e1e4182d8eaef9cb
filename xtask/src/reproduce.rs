//! `cargo xtask reproduce`: the paper's experiments and the report.

use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct ReproduceArgs {}

pub fn run(_args: &ReproduceArgs) -> Result<()> {
    anyhow::bail!("reproduce is not implemented yet")
}
