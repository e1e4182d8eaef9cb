//! `cargo xtask reproduce`: build the `eigenformer` binary and run `eigenformer reproduce`, which
//! runs the report's sections in-process and writes `REPORT.md` and `REPORT.html`
//! (`eigenformer_experiments::report`). This task only picks the build profile, the default output
//! directory and the experiments directory of this workspace; it links none of the crates, so the
//! profile and section names are passed through as strings and checked by the binary.

use crate::util::{cargo, command_stdout, run_command, workspace_root};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::Command;

#[derive(clap::Args, Debug)]
pub struct ReproduceArgs {
    /// Compute profile: smoke (CI, minutes), quick (one workstation), full (the full settings).
    #[arg(long, default_value = "quick", value_parser = ["smoke", "quick", "full"])]
    pub profile: String,
    /// Run only this section (repeatable); the others are listed as not run.
    #[arg(long = "only", value_name = "SECTION", value_parser = ["theory", "pretrained", "training"])]
    pub only: Vec<String>,
    /// Output directory for REPORT.md and the sections' artefacts [default: reports/<profile> in the
    /// workspace root].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Build `eigenformer` (release for `quick` and `full`; the dev profile for `smoke`, whose work is
/// tiny, so CI reuses the binary `cargo xtask test` already built instead of a release build with
/// LTO, minutes on 2 cores) and return its path.
fn build_eigenformer(release: bool) -> Result<PathBuf> {
    let mut build = cargo();
    build.arg("build");
    if release {
        build.arg("--release");
    }
    build.args(["-p", "eigenformer-cli", "--bin", "eigenformer"]);
    run_command(&mut build)?;
    let json = command_stdout(cargo().args(["metadata", "--format-version", "1", "--no-deps"]))?;
    let meta: serde_json::Value = serde_json::from_str(&json)?;
    let target = meta["target_directory"]
        .as_str()
        .context("`cargo metadata` gave no target_directory")?;
    let dir = if release { "release" } else { "debug" };
    Ok(PathBuf::from(target).join(dir).join("eigenformer"))
}

pub fn run(args: &ReproduceArgs) -> Result<()> {
    let out = match &args.out {
        // Absolute, because the binary runs in the workspace root.
        Some(dir) => std::path::absolute(dir)?,
        None => workspace_root().join("reports").join(&args.profile),
    };
    let binary = build_eigenformer(args.profile != "smoke")?;
    let mut cmd = Command::new(binary);
    cmd.args(["reproduce", "--profile", &args.profile]);
    for section in &args.only {
        cmd.args(["--only", section]);
    }
    cmd.arg("--out")
        .arg(&out)
        .arg("--experiments-dir")
        .arg(workspace_root().join("experiments"));
    run_command(&mut cmd)
}
