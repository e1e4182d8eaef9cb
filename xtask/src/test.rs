//! `cargo xtask test`: the one test command of the README and CI.

use crate::util::{cargo, run_command};
use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct TestArgs {}

pub fn run(_args: &TestArgs) -> Result<()> {
    crate::layers::run()?;
    run_command(cargo().args(["test", "--workspace"]))
}
