//! Atomic replacement of a file's contents: the one writer behind every output the toolkit writes.
//!
//! What it guarantees, and why each point is here:
//!
//! - **Atomic and durable.** The contents go to a temporary file in the target's directory, which
//!   is fsynced, renamed over the target, and the directory fsynced. A reader never sees a
//!   half-written result, an interrupted run leaves the old file intact, and after the call returns
//!   the new contents survive a power loss.
//! - **Symlinks are written through.** A rename would replace the link itself with a regular file,
//!   so the link is resolved first and its *target* is replaced; the link stays a link. This is
//!   what `cmd > link` does in a shell, and what a user who points an output at a link means.
//! - **Only regular files are replaced.** An existing device file, FIFO, socket or directory is
//!   refused with [`IoError::NotRegular`]: renaming over `/dev/null` or `/dev/full` as root would
//!   replace the machine's device node with a regular file.
//! - **No temporary file outlives its writer.** Every error path removes it. A process that was
//!   killed cannot, so the first write into a directory (per process) removes the temporary
//!   files there whose writer is dead (see [`clean_stale_temporaries`]).

use crate::{IoError, Result};
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Symlinks followed before a chain counts as a loop (the Linux kernel's limit).
const MAX_LINK_HOPS: usize = 40;

/// Sequence number of the temporary files of this process, so two threads writing the same path
/// at once cannot share (and delete) one temporary file.
static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Directories this process already cleaned of stale temporary files. A directory needs cleaning
/// once: temporary files created later belong to live writers.
static CLEANED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// Write `contents` to `path` atomically (see the module documentation): a temporary file in the
/// same directory, fsynced, renamed over `path`, then the directory fsynced. A symlink at `path`
/// is written through (its target is replaced); an existing non-regular file is refused with
/// [`IoError::NotRegular`]. The temporary file is removed on every error path.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(contents))
}

/// [`write_atomic`] with the contents streamed by `fill` into the (buffered) temporary file, for
/// outputs too large to assemble in memory first. An error returned by `fill`, as by any later
/// step, removes the temporary file and leaves `path` as it was.
pub fn write_atomic_with<F>(path: &Path, fill: F) -> Result<()>
where
    F: FnOnce(&mut dyn Write) -> std::io::Result<()>,
{
    let target = resolve_output(path)?;
    let dir = target
        .path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."))
        .to_path_buf();
    std::fs::create_dir_all(&dir).map_err(IoError::io("creating directory", &dir))?;
    clean_stale_once(&dir);
    let file_name = target
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let (tmp, file) = create_temporary(&dir, &file_name)?;
    let written = (|| {
        let mut w = BufWriter::new(file);
        fill(&mut w).map_err(IoError::io("writing", &tmp))?;
        let file = w
            .into_inner()
            .map_err(|e| IoError::io("writing", &tmp)(e.into_error()))?;
        if let Some(perms) = &target.permissions {
            // Replacing a file keeps its mode (a read-only or executable output stays so).
            file.set_permissions(perms.clone())
                .map_err(IoError::io("setting permissions of", &tmp))?;
        }
        file.sync_all().map_err(IoError::io("syncing", &tmp))?;
        drop(file);
        std::fs::rename(&tmp, &target.path).map_err(IoError::io("renaming into place", path))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
    // The rename is durable only once the directory entry is; some file systems refuse to open a
    // directory for syncing, which loses durability but not atomicity, so that is not an error.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Where a write to `path` lands: the end of its symlink chain, and the mode to keep when that is
/// an existing regular file.
struct Target {
    path: PathBuf,
    permissions: Option<std::fs::Permissions>,
}

/// Follow `path` through symlinks to the file a write replaces; refuse anything but a regular
/// file or a name that does not exist yet (a dangling link creates its target, as in a shell).
fn resolve_output(path: &Path) -> Result<Target> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_LINK_HOPS {
        let meta = match std::fs::symlink_metadata(&current) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Target {
                    path: current,
                    permissions: None,
                })
            }
            Err(e) => return Err(IoError::io("inspecting", &current)(e)),
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            let link =
                std::fs::read_link(&current).map_err(IoError::io("reading link", &current))?;
            current = match current.parent() {
                Some(parent) if link.is_relative() => parent.join(link),
                _ => link,
            };
            continue;
        }
        if kind.is_file() {
            return Ok(Target {
                path: current,
                permissions: Some(meta.permissions()),
            });
        }
        return Err(IoError::NotRegular {
            path: path.to_path_buf(),
            kind: describe(&kind),
            target: (current != path).then_some(current),
        });
    }
    Err(IoError::SymlinkLoop {
        path: path.to_path_buf(),
        hops: MAX_LINK_HOPS,
    })
}

/// "a directory", "a FIFO", … for errors.
fn describe(kind: &std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// The name of this process' temporary file number `seq` for `file_name`:
/// `.NAME.tmpPID.SEQ` (hidden, and carrying the PID that [`clean_stale_temporaries`] checks).
fn temporary_name(file_name: &str, pid: u32, seq: u64) -> String {
    format!(".{file_name}.tmp{pid}.{seq}")
}

/// Create a new temporary file in `dir`. `create_new` (O_EXCL) never opens an existing file, so a
/// file or symlink planted under the name is not written through; a leftover of a dead process
/// that had this PID is removed and the creation retried once.
fn create_temporary(dir: &Path, file_name: &str) -> Result<(PathBuf, File)> {
    let pid = std::process::id();
    let tmp = dir.join(temporary_name(
        file_name,
        pid,
        TEMP_SEQ.fetch_add(1, Ordering::Relaxed),
    ));
    let open = || OpenOptions::new().write(true).create_new(true).open(&tmp);
    let file = match open() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let _ = std::fs::remove_file(&tmp);
            open()
        }
        other => other,
    }
    .map_err(IoError::io("creating", &tmp))?;
    Ok((tmp, file))
}

/// The PID of a temporary file name written by [`write_atomic`] (`.NAME.tmpPID.SEQ`, or the older
/// `.NAME.tmpPID`), or `None` for any other name.
fn temporary_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let at = rest.rfind(".tmp")?;
    if at == 0 {
        return None;
    }
    let tail = &rest[at + 4..];
    let (pid, seq) = match tail.split_once('.') {
        Some((pid, seq)) => (pid, Some(seq)),
        None => (tail, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(pid) || seq.is_some_and(|s| !digits(s)) {
        return None;
    }
    pid.parse().ok()
}

/// Whether a process with this PID exists, or `None` when that cannot be told (no `/proc`).
fn pid_alive(pid: u32) -> Option<bool> {
    if !Path::new("/proc/self").exists() {
        return None;
    }
    Some(Path::new("/proc").join(pid.to_string()).exists())
}

/// Remove the temporary files in `dir` left by writers that are no longer running (a killed
/// process cannot remove its own); returns the names removed. Only regular files named like
/// [`write_atomic`]'s temporaries whose PID is neither this process nor alive are touched, and
/// nothing at all where liveness cannot be checked (no `/proc`). Errors are ignored: cleaning up
/// is a courtesy and must never fail a write.
///
/// A PID is only meaningful in its own PID namespace: a directory shared with a writer in another
/// container could lose that writer's in-flight temporary file, whose rename then fails with an
/// error (the target is never damaged).
pub fn clean_stale_temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    if pid_alive(std::process::id()) != Some(true) {
        return removed;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return removed;
    };
    let me = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temporary_pid) else {
            continue;
        };
        if pid == me || pid_alive(pid) != Some(false) {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_file())
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed.push(entry.path());
        }
    }
    removed
}

/// [`clean_stale_temporaries`] the first time this process writes into `dir`.
fn clean_stale_once(dir: &Path) {
    let key = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    {
        let mut guard = CLEANED.lock().unwrap_or_else(|p| p.into_inner());
        if !guard.get_or_insert_with(HashSet::new).insert(key) {
            return;
        }
    }
    clean_stale_temporaries(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn replaces_contents_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("out.txt");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(names(path.parent().unwrap()), ["out.txt"]);
    }

    #[test]
    fn a_path_below_a_file_fails_and_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the target's directory should be makes creating the directory fail.
        let blocker = dir.path().join("taken");
        std::fs::write(&blocker, b"keep").unwrap();
        let err = write_atomic(&blocker.join("x"), b"new").unwrap_err();
        assert!(err.to_string().contains("taken"), "{err}");
        assert_eq!(names(dir.path()), ["taken"]);
        assert_eq!(std::fs::read(&blocker).unwrap(), b"keep");
    }

    #[test]
    fn a_failing_writer_leaves_the_old_file_and_no_temporary_file() {
        // What a full disk does: the write fails half-way.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        write_atomic(&path, b"old").unwrap();
        let err = write_atomic_with(&path, |w| {
            w.write_all(&[7u8; 100_000])?;
            Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space left on device",
            ))
        })
        .unwrap_err();
        assert!(err.to_string().contains("no space left"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(names(dir.path()), ["out.bin"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_is_written_through_and_stays_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("data").join("real.csv");
        std::fs::create_dir_all(real.parent().unwrap()).unwrap();
        std::fs::write(&real, b"old").unwrap();
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink("data/real.csv", &link).unwrap();
        // A chain of two links, one absolute.
        let link2 = dir.path().join("link2.csv");
        std::os::unix::fs::symlink(&link, &link2).unwrap();
        write_atomic(&link2, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert!(std::fs::symlink_metadata(&link2)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        assert_eq!(names(dir.path()), ["data", "link.csv", "link2.csv"]);
        assert_eq!(names(real.parent().unwrap()), ["real.csv"]);
        // A dangling link creates its target.
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink("data/new.csv", &dangling).unwrap();
        write_atomic(&dangling, b"x").unwrap();
        assert_eq!(std::fs::read(real.with_file_name("new.csv")).unwrap(), b"x");
        // A loop is an error, not a hang.
        let a = dir.path().join("loop-a");
        let b = dir.path().join("loop-b");
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        let err = write_atomic(&a, b"x").unwrap_err();
        assert!(matches!(err, IoError::SymlinkLoop { .. }), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn replacing_a_file_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.sh");
        std::fs::write(&path, b"old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o750)).unwrap();
        write_atomic(&path, b"new").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o750);
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_fifo_or_socket_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        let err = write_atomic(&sub, b"x").unwrap_err();
        assert!(err.to_string().contains("a directory"), "{err}");
        assert!(sub.is_dir());

        let sock = dir.path().join("sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let err = write_atomic(&sock, b"x").unwrap_err();
        assert!(err.to_string().contains("a socket"), "{err}");

        // A symlink to a socket names both.
        let link = dir.path().join("to-sock");
        std::os::unix::fs::symlink(&sock, &link).unwrap();
        let err = write_atomic(&link, b"x").unwrap_err().to_string();
        assert!(err.contains("to-sock") && err.contains("a socket"), "{err}");

        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::symlink_metadata(&sock)
            .unwrap()
            .file_type()
            .is_socket());
        assert_eq!(names(dir.path()), ["sock", "sub", "to-sock"]);
    }

    /// A device node like `/dev/null` (made with `mknod` in a temporary directory, so that a
    /// regression could only replace the test's own node, never the machine's; skipped where
    /// `mknod` is not permitted) and a FIFO are refused and left as they were.
    #[cfg(unix)]
    #[test]
    fn a_device_node_or_fifo_is_refused_without_being_touched() {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            let err = write_atomic(&fifo, b"x").unwrap_err();
            assert!(
                matches!(
                    err,
                    IoError::NotRegular {
                        kind: "a FIFO (named pipe)",
                        ..
                    }
                ),
                "{err}"
            );
            assert!(std::fs::symlink_metadata(&fifo)
                .unwrap()
                .file_type()
                .is_fifo());
        } else {
            eprintln!("skipped the FIFO: mkfifo failed");
        }
        let null = dir.path().join("null");
        let made = std::process::Command::new("mknod")
            .arg(&null)
            .args(["c", "1", "3"])
            .status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("skipped the device node: mknod is not permitted here");
            return;
        }
        let before = std::fs::symlink_metadata(&null).unwrap();
        assert!(before.file_type().is_char_device());
        let err = write_atomic(&null, b"x").unwrap_err();
        assert!(
            matches!(
                err,
                IoError::NotRegular {
                    kind: "a character device",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("regular files"), "{err}");
        let after = std::fs::symlink_metadata(&null).unwrap();
        assert!(after.file_type().is_char_device());
        assert_eq!((before.ino(), before.rdev()), (after.ino(), after.rdev()));
        let mut expected = vec!["null".to_string()];
        if fifo.exists() {
            expected.insert(0, "fifo".into());
        }
        assert_eq!(names(dir.path()), expected);
    }

    #[test]
    fn temporary_names_are_recognised() {
        assert_eq!(
            temporary_pid(&temporary_name("metrics.json", 42, 3)),
            Some(42)
        );
        assert_eq!(temporary_pid(".diagnostics.json.tmp1234"), Some(1234));
        assert_eq!(temporary_pid(".a.tmp.b.tmp77.0"), Some(77));
        for other in [
            "metrics.json",
            ".tmp12",
            ".x.tmp",
            ".x.tmp12a",
            ".x.tmp12.",
            ".x.tmp12.3b",
            "x.tmp12",
            ".x.tmpfile",
        ] {
            assert_eq!(temporary_pid(other), None, "{other}");
        }
    }

    #[test]
    fn stale_temporaries_of_dead_processes_are_removed_at_the_next_write() {
        if pid_alive(std::process::id()) != Some(true) {
            eprintln!("skipped: no /proc to tell live processes");
            return;
        }
        // A PID that is not running: a child that has exited and been reaped.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        assert_eq!(pid_alive(dead), Some(false));
        let live = std::process::id();

        let dir = tempfile::tempdir().unwrap();
        let stale = [
            format!(".checkpoint.safetensors.tmp{dead}"),
            temporary_name("metrics.json", dead, 0),
        ];
        for s in &stale {
            std::fs::write(dir.path().join(s), b"partial").unwrap();
        }
        // Kept: a live writer's file, a directory with a temporary name, an unrelated dotfile.
        let mine = temporary_name("other.json", live, 999_999);
        std::fs::write(dir.path().join(&mine), b"in flight").unwrap();
        let dir_named = temporary_name("d", dead, 1);
        std::fs::create_dir(dir.path().join(&dir_named)).unwrap();
        std::fs::write(dir.path().join(".keep.tmpfile"), b"").unwrap();

        write_atomic(&dir.path().join("out.txt"), b"x").unwrap();
        let mut expected = vec![
            ".keep.tmpfile".to_string(),
            dir_named.clone(),
            mine.clone(),
            "out.txt".into(),
        ];
        expected.sort();
        assert_eq!(names(dir.path()), expected);

        // Cleaning runs once per directory per process; the public function cleans on demand.
        std::fs::write(dir.path().join(&stale[0]), b"partial").unwrap();
        write_atomic(&dir.path().join("out.txt"), b"y").unwrap();
        assert!(dir.path().join(&stale[0]).exists());
        assert_eq!(
            clean_stale_temporaries(dir.path()),
            vec![dir.path().join(&stale[0])]
        );
    }

    #[test]
    fn a_planted_temporary_file_is_not_written_through() {
        // A leftover under this process' next temporary name (PID reuse) is replaced, not
        // appended to or followed.
        let dir = tempfile::tempdir().unwrap();
        let next = TEMP_SEQ.load(Ordering::Relaxed);
        // Other tests may take sequence numbers concurrently: plant a range.
        for seq in next..next + 64 {
            std::fs::write(
                dir.path()
                    .join(temporary_name("out.txt", std::process::id(), seq)),
                b"planted",
            )
            .unwrap();
        }
        write_atomic(&dir.path().join("out.txt"), b"fresh").unwrap();
        assert_eq!(std::fs::read(dir.path().join("out.txt")).unwrap(), b"fresh");
    }
}
