//! `cargo xtask reproduce`: build the `eigenformer` binary and run `eigenformer reproduce`, which
//! runs the report's sections in-process and writes `REPORT.md` and `REPORT.html`
//! (`eigenformer_experiments::report`). This task only picks the build profile, the default output
//! directory and the experiments directory of this workspace; every other argument is passed
//! through unchanged and checked by the binary, which declares the options.

use crate::util::{cargo, command_stdout, run_command, workspace_root};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::process::Command;

/// `cargo xtask reproduce [ARGS]`: `ARGS` go to `eigenformer reproduce` unchanged (its `--help`
/// lists them), so the options are declared once, in the library. Only the build profile is read
/// from them here.
#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct ReproduceTask {
    /// Arguments of `eigenformer reproduce` (`--profile`, `--only`, `--out`, …).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

impl ReproduceTask {
    /// The value of `--profile` among the arguments (`quick`, the binary's default, when absent).
    fn profile(&self) -> &str {
        let mut it = self.args.iter();
        while let Some(a) = it.next() {
            if a == "--profile" {
                return it.next().map_or("quick", String::as_str);
            }
            if let Some(v) = a.strip_prefix("--profile=") {
                return v;
            }
        }
        "quick"
    }

    fn has(&self, flag: &str) -> bool {
        self.args
            .iter()
            .any(|a| a == flag || a.starts_with(&format!("{flag}=")))
    }
}

/// Build `eigenformer` (release for `quick`, `extended` and `gpu`; the dev profile for `smoke`, whose work is
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

pub fn run(task: &ReproduceTask) -> Result<()> {
    let profile = task.profile().to_string();
    let binary = build_eigenformer(profile != "smoke")?;
    let mut cmd = Command::new(binary);
    cmd.arg("reproduce").args(&task.args);
    // Defaults that depend on this workspace: the binary runs from the workspace root.
    if !task.has("--out") {
        cmd.arg("--out")
            .arg(workspace_root().join("reports").join(&profile));
    }
    if !task.has("--experiments-dir") {
        cmd.arg("--experiments-dir")
            .arg(workspace_root().join("experiments"));
    }
    cmd.current_dir(workspace_root());
    run_command(&mut cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(args: &[&str]) -> ReproduceTask {
        ReproduceTask {
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn the_profile_is_read_from_the_passed_arguments() {
        assert_eq!(task(&[]).profile(), "quick");
        assert_eq!(task(&["--profile", "smoke"]).profile(), "smoke");
        assert_eq!(
            task(&["--only", "theory", "--profile=extended"]).profile(),
            "extended"
        );
        assert!(task(&["--out=x"]).has("--out"));
        assert!(!task(&["--only", "theory"]).has("--out"));
    }
}
