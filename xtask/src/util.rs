//! Small helpers shared by the tasks: locating the workspace, running commands, writing files.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

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

/// Seconds since the Unix epoch as an ISO 8601 UTC timestamp, `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_utc(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let secs = unix_seconds % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The current time as an ISO 8601 UTC timestamp.
pub fn now_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format_utc(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(format_utc(4_102_444_800), "2100-01-01T00:00:00Z");
    }
}
