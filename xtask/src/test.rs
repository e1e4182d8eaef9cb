//! `cargo xtask test`: the one test command of the README and CI.
//!
//! 1. the layering check (`cargo xtask check-layers`);
//! 2. the Python package's pytest suite, whenever the package can be built (`crate::python`;
//!    `--no-python` skips it, and so does a `-p` selection without `eigenformer-python`);
//! 3. doctests (`cargo test --doc`), because cargo-nextest does not run them;
//! 4. every other test with `cargo nextest run --workspace` when cargo-nextest is installed, else
//!    `cargo test --workspace` (which runs the doctests itself, so step 2 is skipped).
//!
//! The main runner goes last so that the output ends with its summary line. Extra arguments are
//! passed to the main runner; package selections (`-p NAME`) also restrict the doctests.

use crate::util::{cargo, command_stdout, run_command};
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
    /// Skip the Python package's tests (crates/python/tests, pytest).
    #[arg(long)]
    pub no_python: bool,
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
pub fn package_args(args: &[String]) -> Vec<String> {
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

/// Names of the workspace packages that have a library target (the only ones with doctests).
fn library_packages() -> Result<std::collections::BTreeSet<String>> {
    let json = command_stdout(cargo().args(["metadata", "--format-version", "1", "--no-deps"]))?;
    let meta: serde_json::Value = serde_json::from_str(&json)?;
    let mut names = std::collections::BTreeSet::new();
    for pkg in meta["packages"].as_array().into_iter().flatten() {
        let has_lib = pkg["targets"].as_array().into_iter().flatten().any(|t| {
            t["kind"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| matches!(k.as_str(), Some("lib" | "rlib" | "dylib" | "proc-macro")))
        });
        if has_lib {
            if let Some(name) = pkg["name"].as_str() {
                names.insert(name.to_string());
            }
        }
    }
    Ok(names)
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
    let mut commands = plan(runner, !args.no_doc, &args.args);
    if runner == Runner::Nextest && commands.len() == 2 {
        // `cargo test --doc -p NAME` fails for a package without a library (e.g. xtask): drop those.
        let libs = library_packages()?;
        let doc = &mut commands[0];
        let mut kept = vec![doc[0].clone(), doc[1].clone()];
        let mut selected = 0;
        for pair in doc[2..].chunks(2) {
            match pair {
                [flag, name] if flag == "-p" => {
                    selected += 1;
                    if libs.contains(name) {
                        kept.extend(pair.iter().cloned());
                    }
                }
                _ => kept.extend(pair.iter().cloned()),
            }
        }
        if selected > 0 && kept.len() == 2 {
            commands.remove(0);
        } else {
            *doc = kept;
        }
    }
    let packages = package_args(&args.args);
    if !packages.is_empty() && packages.chunks(2).all(|p| p[1] == crate::python::PACKAGE) {
        // Its Rust library has no tests (`test = false`): only its pytest suite runs.
        commands.clear();
    }
    let mut failures = Vec::new();
    if !args.no_python && crate::python::selected(&packages) {
        if let Err(e) = crate::python::run() {
            failures.push(e);
        }
    }
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
