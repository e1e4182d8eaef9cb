//! `cargo xtask test`: the one test command of the README and CI.
//!
//! 1. the layering check (`cargo xtask check-layers`);
//! 2. doctests (`cargo test --doc`), because cargo-nextest does not run them;
//! 3. every other test with `cargo nextest run --workspace` when cargo-nextest is installed, else
//!    `cargo test --workspace` (which runs the doctests itself, so step 2 is skipped).
//!
//! The main runner goes last so that the output ends with its summary line. Extra arguments are
//! passed to the main runner; package selections (`-p NAME`) also restrict the doctests.

use crate::util::{cargo, run_command};
use anyhow::{bail, Result};
use std::process::{Command, Stdio};

#[derive(clap::Args, Debug)]
pub struct TestArgs {
    /// Use `cargo test` even when cargo-nextest is installed.
    #[arg(long)]
    pub cargo_test: bool,
    /// Skip the doctests (only meaningful with cargo-nextest).
    #[arg(long)]
    pub no_doc: bool,
    /// Arguments passed on to `cargo nextest run` / `cargo test` (filters, `-p NAME`, `--release`, `-- ...`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// Which test runner to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Runner {
    Nextest,
    CargoTest,
}

fn nextest_installed() -> bool {
    cargo()
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The `-p NAME` / `--package NAME` selections among `args` (before any `--`), as cargo arguments.
fn package_args(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut iter = args.iter().take_while(|a| *a != "--");
    while let Some(a) = iter.next() {
        if a == "-p" || a == "--package" {
            if let Some(name) = iter.next() {
                out.extend(["-p".to_string(), name.clone()]);
            }
        } else if let Some(name) = a.strip_prefix("--package=") {
            out.extend(["-p".to_string(), name.to_string()]);
        } else if let Some(name) = a.strip_prefix("-p").filter(|n| !n.is_empty()) {
            out.extend(["-p".to_string(), name.to_string()]);
        }
    }
    out
}

/// The commands to run, in order, for `runner` and the user's extra `args`.
fn plan(runner: Runner, run_doc: bool, args: &[String]) -> Vec<Vec<String>> {
    let packages = package_args(args);
    // `--workspace` unless the user picked packages.
    let scope: Vec<String> = if packages.is_empty() {
        vec!["--workspace".to_string()]
    } else {
        Vec::new()
    };
    let mut commands = Vec::new();
    let main: Vec<String> = match runner {
        Runner::Nextest => {
            if run_doc {
                let doc_scope = if packages.is_empty() {
                    scope.clone()
                } else {
                    packages.clone()
                };
                commands.push(
                    ["test", "--doc"]
                        .iter()
                        .map(|s| s.to_string())
                        .chain(doc_scope)
                        .collect(),
                );
            }
            vec!["nextest".to_string(), "run".to_string()]
        }
        Runner::CargoTest => vec!["test".to_string()],
    };
    commands.push(
        main.into_iter()
            .chain(scope)
            .chain(args.iter().cloned())
            .collect(),
    );
    commands
}

pub fn run(args: &TestArgs) -> Result<()> {
    crate::layers::run()?;
    let runner = if !args.cargo_test && nextest_installed() {
        Runner::Nextest
    } else {
        if !args.cargo_test {
            eprintln!("xtask: cargo-nextest is not installed; falling back to `cargo test`");
        }
        Runner::CargoTest
    };
    let commands = plan(runner, !args.no_doc, &args.args);
    let mut failures = Vec::new();
    for command in &commands {
        let mut cmd: Command = cargo();
        cmd.args(command);
        // Keep going after a failing doctest run so the main runner's summary still comes last.
        if let Err(e) = run_command(&mut cmd) {
            failures.push(e);
        }
    }
    match failures.len() {
        0 => Ok(()),
        1 => Err(failures.remove(0)),
        n => bail!(
            "{n} test commands failed: {}",
            failures
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn nextest_plan_runs_doctests_first() {
        let p = plan(Runner::Nextest, true, &[]);
        assert_eq!(
            p,
            vec![
                s(&["test", "--doc", "--workspace"]),
                s(&["nextest", "run", "--workspace"])
            ]
        );
        assert_eq!(
            plan(Runner::Nextest, false, &s(&["foo"])),
            vec![s(&["nextest", "run", "--workspace", "foo"])]
        );
    }

    #[test]
    fn cargo_test_plan_is_one_command() {
        assert_eq!(
            plan(
                Runner::CargoTest,
                true,
                &s(&["--release", "--", "--ignored"])
            ),
            vec![s(&["test", "--workspace", "--release", "--", "--ignored"])]
        );
    }

    #[test]
    fn package_selection_replaces_workspace() {
        let args = s(&[
            "-p",
            "xtask",
            "--package=eigenformer-spectral",
            "-pfoo",
            "--",
            "-p",
            "x",
        ]);
        assert_eq!(
            package_args(&args),
            s(&["-p", "xtask", "-p", "eigenformer-spectral", "-p", "foo"])
        );
        let p = plan(Runner::Nextest, true, &args);
        assert_eq!(
            p[0],
            s(&[
                "test",
                "--doc",
                "-p",
                "xtask",
                "-p",
                "eigenformer-spectral",
                "-p",
                "foo"
            ])
        );
        assert_eq!(p[1][..2], s(&["nextest", "run"]));
        assert!(!p[1].contains(&"--workspace".to_string()));
    }
}
