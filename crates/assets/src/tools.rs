//! The package managers the registry fallbacks drive (`apt-get`, `dpkg-deb`, `npm`, `pip`), and
//! moving their files into place.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A progress line on stderr (stdout carries only results, e.g. `eigenformer fetch`'s directory).
pub(crate) fn status(msg: &str) {
    eprintln!("eigenformer: {msg}");
}

/// Run a command, capturing its output; the error holds its stderr.
pub(crate) fn run(cmd: &mut Command, what: &str) -> Result<std::process::Output, String> {
    let out = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!("{what}: the program is not installed on this machine")
        } else {
            format!("{what}: {e}")
        }
    })?;
    if out.status.success() {
        Ok(out)
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(format!("{what} failed ({}): {}", out.status, stderr.trim()))
    }
}

/// Whether a program can be run (it exists on `PATH`).
pub fn program_available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `apt-get download` into `work`; returns the .deb. When the package is unknown and we are
/// root, runs `apt-get update` once and retries.
pub(crate) fn apt_download(
    package: &str,
    version: Option<&str>,
    work: &Path,
) -> Result<PathBuf, String> {
    let spec = match version {
        Some(v) => format!("{package}={v}"),
        None => package.to_string(),
    };
    let attempt = || {
        run(
            Command::new("apt-get")
                .arg("download")
                .arg("-q")
                .arg(&spec)
                .current_dir(work),
            "apt-get download",
        )
    };
    if let Err(first) = attempt() {
        if first.contains("not installed on this machine") {
            return Err(first);
        }
        if !is_root() {
            return Err(format!(
                "{first}\n(if the package is unknown, run `sudo apt-get update` and try again)"
            ));
        }
        status("  apt-get download failed; running `apt-get update` once and retrying");
        run(
            Command::new("apt-get").arg("update").arg("-qq"),
            "apt-get update",
        )?;
        attempt()?;
    }
    find_by_extension(work, "deb")
}

pub(crate) fn find_by_extension(dir: &Path, ext: &str) -> Result<PathBuf, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == ext))
        .ok_or_else(|| format!("no .{ext} file appeared in {}", dir.display()))
}

/// Move a file (rename; copy + remove across file systems), creating parent directories.
pub(crate) fn move_file(from: &Path, to: &Path) -> Result<(), String> {
    if !from.is_file() {
        return Err(format!("{} is not in the package", from.display()));
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    // Different file systems: copy next to the destination, then rename (still atomic).
    let tmp = to.with_extension(format!("partial{}", std::process::id()));
    std::fs::copy(from, &tmp).map_err(|e| format!("copying {}: {e}", from.display()))?;
    std::fs::rename(&tmp, to).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("renaming into {}: {e}", to.display())
    })
}
