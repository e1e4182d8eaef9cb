//! Small helpers shared by the tasks: locating the workspace, running commands, writing files.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The workspace root (the parent of the `xtask` directory).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}

/// Run a command in the workspace root, streaming its output, and fail if it fails.
pub fn run_command(cmd: &mut Command) -> Result<()> {
    cmd.current_dir(workspace_root());
    let shown = format!("{cmd:?}");
    eprintln!("xtask: running {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

/// Run a command in the workspace root and return its standard output; stderr passes through.
pub fn command_stdout(cmd: &mut Command) -> Result<String> {
    cmd.current_dir(workspace_root()).stderr(Stdio::inherit());
    let shown = format!("{cmd:?}");
    let output = cmd
        .output()
        .with_context(|| format!("could not start {shown}"))?;
    if !output.status.success() {
        bail!("{shown} failed with {}", output.status);
    }
    String::from_utf8(output.stdout).with_context(|| format!("{shown} printed non-UTF-8 output"))
}

/// Like [`command_stdout`], trimmed, but `None` when the command is missing or fails, with its
/// stderr silenced (for optional facts such as the git commit).
pub fn try_command_stdout(cmd: &mut Command) -> Option<String> {
    let output = cmd
        .current_dir(workspace_root())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The cargo executable that invoked us (so `cargo +toolchain xtask` stays on that toolchain).
pub fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()))
}

/// Write `contents` to `path` atomically, through the workspace's one writer
/// ([`eigenformer_io::write_atomic`]), with the path in the error.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    eigenformer_io::write_atomic(path, contents)
        .with_context(|| format!("writing {}", path.display()))
}

pub use eigenformer_io::now_utc;
