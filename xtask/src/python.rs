//! The Python package's tests, the part of `cargo xtask test` that runs whenever the package can
//! be built: `python3` with NumPy and pytest, and `maturin` on the PATH (CI installs them; see
//! `.ci/run`). Then:
//!
//! 1. a virtual environment `target/python-venv` (once; `--system-site-packages`, so the
//!    PyTorch and transformers installed for the in-memory audit tests are visible);
//! 2. `maturin develop` builds `crates/python` (dev profile, sharing the workspace's build)
//!    and installs it there;
//! 3. `cargo build -p eigenformer-cli` for the binary the tests compare against
//!    (`EIGENFORMER_BIN`);
//! 4. `python -m pytest crates/python/tests`.
//!
//! Without the prerequisites the step is skipped with a notice, except under CI (`CI` set),
//! where that is an error: CI must run these tests.

use crate::util::{cargo, run_command, try_command_stdout, workspace_root};
use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The package name of the Python bindings.
pub const PACKAGE: &str = "eigenformer-python";

/// Whether the selection of `cargo xtask test` (its `-p` arguments, see
/// [`crate::test::package_args`]) includes the Python package: no selection, or one naming it.
pub fn selected(packages: &[String]) -> bool {
    let names: Vec<&String> = packages.iter().filter(|a| *a != "-p").collect();
    names.is_empty() || names.iter().any(|n| *n == PACKAGE)
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_string())
}

fn maturin() -> String {
    std::env::var("MATURIN").unwrap_or_else(|_| "maturin".to_string())
}

/// Why the package cannot be built and tested here, if it cannot.
fn missing_prerequisite() -> Option<String> {
    let py = python();
    if try_command_stdout(Command::new(&py).args(["-c", "import numpy, pytest"])).is_none() {
        return Some(format!(
            "`{py}` with numpy and pytest is not available (pip install numpy pytest)"
        ));
    }
    if try_command_stdout(Command::new(maturin()).arg("--version")).is_none() {
        return Some("maturin is not on the PATH (pip install maturin)".to_string());
    }
    None
}

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

fn venv_python(venv: &Path) -> PathBuf {
    venv.join("bin").join("python")
}

/// Build the package and run its pytest suite (see the module documentation).
pub fn run() -> Result<()> {
    if let Some(why) = missing_prerequisite() {
        if std::env::var_os("CI").is_some() {
            bail!("the Python package's tests cannot run under CI: {why}");
        }
        eprintln!("xtask: skipping the Python package's tests: {why}");
        return Ok(());
    }
    let target = target_dir();
    let venv = target.join("python-venv");
    if !venv_python(&venv).is_file() {
        run_command(
            Command::new(python())
                .args(["-m", "venv", "--system-site-packages"])
                .arg(&venv),
        )?;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![venv.join("bin")];
    dirs.extend(std::env::split_paths(&path));
    let path = std::env::join_paths(dirs)?;
    run_command(
        Command::new(maturin())
            .args(["develop", "--manifest-path", "crates/python/Cargo.toml"])
            .env("VIRTUAL_ENV", &venv)
            .env("PATH", &path),
    )?;
    run_command(cargo().args(["build", "-p", "eigenformer-cli", "--bin", "eigenformer"]))?;
    run_command(
        Command::new(venv_python(&venv))
            .args(["-m", "pytest", "crates/python/tests", "-q"])
            .env("EIGENFORMER_BIN", target.join("debug").join("eigenformer")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn python_tests_follow_the_package_selection() {
        assert!(selected(&[]));
        assert!(selected(&s(&["-p", "eigenformer-python"])));
        assert!(selected(&s(&["-p", "xtask", "-p", "eigenformer-python"])));
        assert!(!selected(&s(&["-p", "eigenformer-spectral"])));
    }
}
