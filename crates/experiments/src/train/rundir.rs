//! The run directory of `eigenformer train` (`--out`): who owns it, how a checkpoint is committed,
//! and which checkpoint is current.
//!
//! ```text
//! OUT/
//!   train.lock                      held (flock) by the training process; holds its PID
//!   manifest.json                   the committed checkpoints, newest first (the commit point)
//!   checkpoints/
//!     epoch-000011-<sha>/           one checkpoint (crate::train::checkpoint): tensors,
//!     epoch-000012-<sha>/           checkpoint.json, metrics.json (history), diagnostics.json
//!   diagnostics/epoch-000001.json   the diagnostics of every epoch (pruned checkpoints included)
//!   metrics.json                    copy of the current checkpoint's metrics.json
//!   diagnostics.json                copy of the current checkpoint's diagnostics.json
//! ```
//!
//! **Commit.** A checkpoint is written into a staging directory `checkpoints/.epoch-N.tmp`, every
//! file fsynced, the directory fsynced, renamed to `checkpoints/epoch-N-<sha>` (the first 12 hex
//! digits of the sha256 of its `checkpoint.json`, so a new checkpoint never takes the name of an
//! older, different one) and `checkpoints/` fsynced. Then `manifest.json` is replaced atomically
//! ([`eigenformer_io::write_atomic`]): that rename is the commit. Only then are the top-level
//! copies written and checkpoints beyond the last K pruned. A process killed at any point leaves
//! the manifest naming either the previous checkpoint or the new one, each complete; what it
//! leaves besides (a staging directory, a renamed but uncommitted checkpoint, a temporary file,
//! a half-pruned old checkpoint) is removed by the next process that opens the directory.
//!
//! **Verification.** The manifest names the sha256 of each checkpoint's `checkpoint.json`, which
//! names the sha256 of every other file. [`load_latest`] takes the newest checkpoint that passes
//! every check; each newer one that fails is reported as a warning. Since a kill cannot produce
//! a failing checkpoint, this fallback is for what happens to files afterwards (bit rot, edits).
//!
//! **Ownership.** [`RunLock`] is an advisory lock (`flock`) on `train.lock`. The kernel releases
//! it when its holder exits or is killed, so a dead holder's lock is simply taken over; the PID
//! in the file names a live holder in the error of a second process. The file is never deleted:
//! a lock on a deleted file would let a third process lock a new file of the same name.

use crate::train::checkpoint::{
    self, Checkpoint, CheckpointMeta, CheckpointRecord, DIAGNOSTICS_FILE, META_FILE, METRICS_FILE,
    WEIGHTS_FILE,
};
use crate::train::diagnostics::Diagnostics;
use crate::train::run::Metrics;
use anyhow::{bail, Context, Result};
use eigenformer_io::write_atomic;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file.
pub const LOCK_FILE: &str = "train.lock";
/// The manifest of committed checkpoints.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The directory of the checkpoints.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// The directory of the per-epoch diagnostics.
pub const DIAGNOSTICS_DIR: &str = "diagnostics";
/// Checkpoints kept by default (`--keep`): the newest, and one to fall back to.
pub const DEFAULT_KEEP: usize = 2;
/// Version of the manifest layout.
pub const MANIFEST_FORMAT: u32 = 1;

/// Hex digits of the `checkpoint.json` sha256 in a checkpoint directory's name.
const NAME_SHA_DIGITS: usize = 12;

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: u32,
    /// The committed checkpoints, newest first; the first is the current one.
    pub checkpoints: Vec<ManifestEntry>,
}

/// One committed checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    /// Epochs completed.
    pub epoch: usize,
    /// Its directory, relative to the run directory (`checkpoints/epoch-…`).
    pub dir: String,
    /// sha256 (hex) of its `checkpoint.json`.
    pub checkpoint_sha256: String,
}

/// The directory name of the checkpoint of `epoch` whose `checkpoint.json` has sha256 `sha`.
pub fn checkpoint_dir_name(epoch: usize, sha: &str) -> String {
    let digits = sha.get(..NAME_SHA_DIGITS).unwrap_or(sha);
    format!("epoch-{epoch:06}-{digits}")
}

impl ManifestEntry {
    /// The entry's directory name, derived from its epoch and sha256 rather than read from
    /// `dir`, so that an edited manifest cannot point loading or pruning anywhere else.
    pub fn dir_name(&self) -> String {
        checkpoint_dir_name(self.epoch, &self.checkpoint_sha256)
    }
}

/// The manifest of the run directory `root`: `None` when there is none; an error when it cannot
/// be read or parsed.
pub fn read_manifest(root: &Path) -> Result<Option<Manifest>> {
    let path = root.join(MANIFEST_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let m: Manifest = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: not a valid manifest", path.display()))?;
    if m.format != MANIFEST_FORMAT {
        bail!(
            "{}: manifest format {} is not supported (expected {MANIFEST_FORMAT})",
            path.display(),
            m.format
        );
    }
    Ok(Some(m))
}

/// A checkpoint that may be loaded, with what it must match.
struct Candidate {
    epoch: usize,
    dir: PathBuf,
    /// The sha256 its `checkpoint.json` must have (a prefix of it for a scanned directory).
    sha: Option<String>,
}

/// The epoch and sha256 prefix in a checkpoint directory's name (`epoch-000012-0123456789ab`).
fn parse_dir_name(name: &str) -> Option<(usize, &str)> {
    let rest = name.strip_prefix("epoch-")?;
    let (epoch, sha) = rest.split_once('-')?;
    let ok = epoch.len() >= 6
        && epoch.bytes().all(|b| b.is_ascii_digit())
        && sha.len() == NAME_SHA_DIGITS
        && sha.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| epoch.parse().ok().map(|e| (e, sha))).flatten()
}

/// The checkpoints of `root` to try, newest first, and warnings about how they were found.
fn candidates(root: &Path) -> Result<(Vec<Candidate>, Vec<String>)> {
    let mut warnings = Vec::new();
    let mut out = Vec::new();
    match read_manifest(root) {
        Ok(Some(m)) => {
            for e in m.checkpoints {
                out.push(Candidate {
                    epoch: e.epoch,
                    dir: root.join(CHECKPOINTS_DIR).join(e.dir_name()),
                    sha: Some(e.checkpoint_sha256),
                });
            }
        }
        Ok(None) => {}
        Err(e) => {
            // The manifest is written atomically, so this is damage after the fact; every
            // checkpoint directory names the sha256 of its own metadata, so they can still be
            // found and verified without it.
            warnings.push(format!(
                "{e:#}; looking for checkpoints in {} instead",
                root.join(CHECKPOINTS_DIR).display()
            ));
            let mut found = Vec::new();
            if let Ok(entries) = std::fs::read_dir(root.join(CHECKPOINTS_DIR)) {
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if let Some((epoch, sha)) = parse_dir_name(&name) {
                        found.push(Candidate {
                            epoch,
                            dir: entry.path(),
                            sha: Some(sha.to_string()),
                        });
                    }
                }
            }
            found.sort_by_key(|c| std::cmp::Reverse(c.epoch));
            out.extend(found);
        }
    }
    if out.is_empty() && root.join(META_FILE).is_file() {
        // A checkpoint directory, or a run directory in the flat layout of earlier versions.
        let meta = std::fs::read(root.join(META_FILE))
            .ok()
            .and_then(|b| checkpoint::parse_meta(&b, &root.join(META_FILE)).ok());
        out.push(Candidate {
            epoch: meta.map_or(0, |m| m.epoch),
            dir: root.to_path_buf(),
            sha: None,
        });
    }
    Ok((out, warnings))
}

/// Load `c`, checking it against what the manifest says of it.
fn load_candidate(c: &Candidate) -> Result<Checkpoint> {
    let path = c.dir.join(META_FILE);
    let bytes = std::fs::read(&path)
        .with_context(|| format!("reading the checkpoint metadata {}", path.display()))?;
    let meta = checkpoint::parse_meta(&bytes, &path)?;
    if let Some(expected) = &c.sha {
        let sha = eigenformer_io::sha256_hex(&bytes);
        if !sha.starts_with(expected.as_str()) {
            bail!(
                "{}: sha256 {sha} does not match {MANIFEST_FILE} (expected {expected}); the file \
                 was edited or corrupted",
                path.display()
            );
        }
        if meta.epoch != c.epoch {
            bail!(
                "{}: says epoch {} but {MANIFEST_FILE} has epoch {}",
                path.display(),
                meta.epoch,
                c.epoch
            );
        }
        if meta.metrics_sha256.is_none() || meta.diagnostics_sha256.is_none() {
            bail!(
                "{}: names no sha256 of its metrics history or diagnostics",
                path.display()
            );
        }
    }
    checkpoint::load_dir_with(&c.dir, meta)
}

/// The newest checkpoint of `root` that passes every check (a run directory's, or `root` itself
/// when it is a checkpoint directory), and a warning for each newer one that failed. An error
/// when there is no checkpoint or none passes, listing why each failed.
pub fn load_latest(root: &Path) -> Result<(Checkpoint, Vec<String>)> {
    let (cands, mut warnings) = candidates(root)?;
    if cands.is_empty() {
        bail!(
            "no checkpoint in {} (neither {MANIFEST_FILE} nor {META_FILE})",
            root.display()
        );
    }
    let mut failures: Vec<String> = Vec::new();
    for c in &cands {
        match load_candidate(c) {
            Ok(ck) => {
                if !failures.is_empty() {
                    warnings.push(format!(
                        "{}; falling back to the previous checkpoint (epoch {}, {})",
                        failures.join("; "),
                        ck.meta.epoch,
                        ck.dir.display()
                    ));
                }
                return Ok((ck, warnings));
            }
            Err(e) => failures.push(format!(
                "the checkpoint of epoch {} ({}) failed its checks: {e:#}",
                c.epoch,
                c.dir.display()
            )),
        }
    }
    bail!(
        "no usable checkpoint in {}:\n  {}",
        root.display(),
        failures.join("\n  ")
    )
}

/// The lock that makes one process the owner of a run directory (see the module documentation).
/// Released when dropped, or by the kernel when the process dies.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
    taken_over_from: Option<String>,
}

impl RunLock {
    /// Lock the run directory `dir` (which must exist), or fail at once, naming the PID of the
    /// live holder, when another process holds it.
    pub fn acquire(dir: &Path) -> Result<RunLock> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening the lock file {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "PID not yet recorded".to_string(),
                    pid => format!("PID {pid}"),
                };
                bail!(
                    "{} is in use: another `eigenformer train` ({holder}) holds {}; wait for it \
                     to finish or stop it, or train into another --out",
                    dir.display(),
                    path.display()
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| {
                    format!(
                        "locking {} (the file system must support flock)",
                        path.display()
                    )
                })
            }
        }
        // A holder that exits normally empties the file; a PID left in it belongs to one that
        // was killed (its lock died with it).
        let mut previous = String::new();
        let _ = file.read_to_string(&mut previous);
        let taken_over_from = Some(previous.trim().to_string()).filter(|p| !p.is_empty());
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| file.write_all(format!("{}\n", std::process::id()).as_bytes()))
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(RunLock {
            file,
            path,
            taken_over_from,
        })
    }

    /// The PID left in the lock file by a previous holder that did not release it (it was
    /// killed or crashed), if any.
    pub fn taken_over_from(&self) -> Option<&str> {
        self.taken_over_from.as_deref()
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Empty means "released normally"; closing the file releases the lock itself.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// An opened, locked run directory.
#[derive(Debug)]
pub struct RunDir {
    root: PathBuf,
    lock: RunLock,
}

/// Whether `name` is a temporary file that [`write_atomic`] left behind for `target`
/// (`.NAME.tmp…`).
fn is_temporary_of(name: &str, target: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|n| n.strip_prefix(target))
        .is_some_and(|rest| rest.starts_with(".tmp"))
}

/// Remove `path`, a file or a directory tree; absent is fine.
fn remove_path(path: &Path) -> Result<()> {
    let r = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    r.with_context(|| format!("removing {}", path.display()))
}

/// The names in `dir` (none when it does not exist).
fn names_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

impl RunDir {
    /// Create (if needed) and lock the run directory `root`, then remove what a killed process
    /// left in it: staging directories, renamed but uncommitted checkpoints, temporary files.
    pub fn open(root: &Path) -> Result<RunDir> {
        std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        let lock = RunLock::acquire(root)?;
        if let Some(pid) = lock.taken_over_from() {
            eprintln!(
                "warning: {}: the previous owner (PID {pid}) ended without releasing it; taking \
                 the run directory over",
                lock.path().display()
            );
        }
        let dir = RunDir {
            root: root.to_path_buf(),
            lock,
        };
        dir.clean_leftovers()?;
        Ok(dir)
    }

    /// The run directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The lock held on it.
    pub fn lock(&self) -> &RunLock {
        &self.lock
    }

    fn checkpoints(&self) -> PathBuf {
        self.root.join(CHECKPOINTS_DIR)
    }

    fn clean_leftovers(&self) -> Result<()> {
        for name in names_in(&self.root) {
            let ours = [
                MANIFEST_FILE,
                METRICS_FILE,
                DIAGNOSTICS_FILE,
                META_FILE,
                WEIGHTS_FILE,
            ];
            if ours.iter().any(|t| is_temporary_of(&name, t)) {
                remove_path(&self.root.join(name))?;
            }
        }
        let diagnostics = self.root.join(DIAGNOSTICS_DIR);
        for name in names_in(&diagnostics) {
            if name.starts_with(".epoch-") && name.contains(".tmp") {
                remove_path(&diagnostics.join(name))?;
            }
        }
        // Checkpoint directories the manifest does not name were never committed. When the
        // manifest cannot be read nothing is removed: the directories are what is left to load.
        if let Ok(manifest) = read_manifest(&self.root) {
            self.prune(manifest.as_ref())?;
        }
        Ok(())
    }

    /// Remove the staging directories and the checkpoints that `manifest` does not name.
    fn prune(&self, manifest: Option<&Manifest>) -> Result<()> {
        let keep: Vec<String> = manifest
            .map(|m| m.checkpoints.iter().map(ManifestEntry::dir_name).collect())
            .unwrap_or_default();
        for name in names_in(&self.checkpoints()) {
            let listed = keep.contains(&name);
            let ours = name.starts_with(".epoch-") || parse_dir_name(&name).is_some();
            if ours && !listed {
                remove_path(&self.checkpoints().join(name))?;
            }
        }
        Ok(())
    }

    /// Whether the directory holds a committed checkpoint (in the current or the flat layout).
    pub fn has_checkpoint(&self) -> bool {
        candidates(&self.root).is_ok_and(|(c, _)| !c.is_empty())
    }

    /// The metadata of the newest checkpoint, read without verifying the checkpoint (for the
    /// checks made before any data is loaded): `Ok(None)` without a checkpoint, `Err` when its
    /// `checkpoint.json` cannot be read.
    pub fn newest_meta(&self) -> Result<Option<CheckpointMeta>> {
        let (cands, _) = candidates(&self.root)?;
        let Some(c) = cands.first() else {
            return Ok(None);
        };
        let path = c.dir.join(META_FILE);
        let bytes = std::fs::read(&path)
            .with_context(|| format!("reading the checkpoint metadata {}", path.display()))?;
        Ok(Some(checkpoint::parse_meta(&bytes, &path)?))
    }

    /// The newest checkpoint that passes every check (see [`load_latest`]).
    pub fn latest(&self) -> Result<(Checkpoint, Vec<String>)> {
        load_latest(&self.root)
    }

    /// Remove the run this directory holds (`--overwrite`): the manifest first, which uncommits
    /// every checkpoint at once, then the checkpoints, the diagnostics and the top-level copies,
    /// and the files of the flat layout. Files that are not the trainer's are left alone.
    pub fn clear(&self) -> Result<()> {
        remove_path(&self.root.join(MANIFEST_FILE))?;
        checkpoint::sync_dir(&self.root)?;
        self.prune(None)?;
        self.clear_diagnostics_after(0)?;
        for name in [METRICS_FILE, DIAGNOSTICS_FILE, META_FILE, WEIGHTS_FILE] {
            remove_path(&self.root.join(name))?;
        }
        Ok(())
    }

    /// Remove the per-epoch diagnostics of the epochs after `epoch`: they belong to epochs that
    /// were never committed (or to a run that was replaced).
    pub fn clear_diagnostics_after(&self, epoch: usize) -> Result<()> {
        let dir = self.root.join(DIAGNOSTICS_DIR);
        for name in names_in(&dir) {
            let n = name
                .strip_prefix("epoch-")
                .and_then(|r| r.strip_suffix(".json"))
                .and_then(|d| d.parse::<usize>().ok());
            if n.is_some_and(|n| n > epoch) {
                remove_path(&dir.join(name))?;
            }
        }
        Ok(())
    }

    /// Write the top-level copies of a checkpoint's history and diagnostics, for readers that
    /// want the current state without knowing the layout.
    pub fn write_copies(&self, metrics: &Metrics, diagnostics: Option<&Diagnostics>) -> Result<()> {
        write_atomic(
            &self.root.join(METRICS_FILE),
            &checkpoint::metrics_json(metrics)?,
        )?;
        if let Some(d) = diagnostics {
            write_atomic(
                &self.root.join(DIAGNOSTICS_FILE),
                &checkpoint::diagnostics_json(d)?,
            )?;
        }
        Ok(())
    }

    /// Commit `record` as the current checkpoint, keeping the newest `keep` (at least 1), as the
    /// module documentation describes. `record.meta.epoch` must be newer than every checkpoint
    /// that passes its checks (a checkpoint directory of the same name is replaced). Returns the
    /// new checkpoint's directory.
    pub fn commit(&self, record: &CheckpointRecord<'_>, keep: usize) -> Result<PathBuf> {
        let epoch = record.meta.epoch;
        // The diagnostics of every epoch outlive the pruning of its checkpoint; written first,
        // so every committed epoch has them (a rewrite after a kill has the same contents).
        write_atomic(
            &self
                .root
                .join(DIAGNOSTICS_DIR)
                .join(format!("epoch-{epoch:06}.json")),
            &checkpoint::diagnostics_json(record.diagnostics)?,
        )?;
        let checkpoints = self.checkpoints();
        if !checkpoints.is_dir() {
            std::fs::create_dir_all(&checkpoints)
                .with_context(|| format!("creating {}", checkpoints.display()))?;
            checkpoint::sync_dir(&self.root)?;
        }
        let staging = checkpoints.join(format!(".epoch-{epoch:06}.tmp"));
        remove_path(&staging)?;
        let staged = (|| {
            std::fs::create_dir(&staging)
                .with_context(|| format!("creating {}", staging.display()))?;
            let meta_bytes = checkpoint::write_dir(&staging, record)?;
            checkpoint::sync_dir(&staging)?;
            let sha = eigenformer_io::sha256_hex(&meta_bytes);
            let name = checkpoint_dir_name(epoch, &sha);
            let target = checkpoints.join(&name);
            remove_path(&target)?;
            std::fs::rename(&staging, &target).with_context(|| {
                format!("renaming {} to {}", staging.display(), target.display())
            })?;
            Ok::<_, anyhow::Error>((sha, name, target))
        })();
        let (sha, name, target) = match staged {
            Ok(t) => t,
            Err(e) => {
                // A full disk must not stay full of a half-written checkpoint.
                let _ = remove_path(&staging);
                return Err(e);
            }
        };
        checkpoint::sync_dir(&checkpoints)?;

        let previous = read_manifest(&self.root).ok().flatten();
        let mut entries = vec![ManifestEntry {
            epoch,
            dir: format!("{CHECKPOINTS_DIR}/{name}"),
            checkpoint_sha256: sha,
        }];
        if let Some(p) = previous {
            entries.extend(p.checkpoints.into_iter().filter(|e| e.epoch < epoch));
        }
        entries.truncate(keep.max(1));
        let manifest = Manifest {
            format: MANIFEST_FORMAT,
            checkpoints: entries,
        };
        let text = serde_json::to_string_pretty(&manifest)? + "\n";
        write_atomic(&self.root.join(MANIFEST_FILE), text.as_bytes())?;

        self.write_copies(record.metrics, Some(record.diagnostics))?;
        self.prune(Some(&manifest))?;
        // The flat layout's checkpoint files are superseded by the first commit.
        remove_path(&self.root.join(META_FILE))?;
        remove_path(&self.root.join(WEIGHTS_FILE))?;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_round_trip_and_temporaries_are_recognised() {
        let sha = "0123456789abcdef0123";
        let name = checkpoint_dir_name(12, sha);
        assert_eq!(name, "epoch-000012-0123456789ab");
        assert_eq!(parse_dir_name(&name), Some((12, "0123456789ab")));
        for bad in [
            "epoch-12-0123456789ab",
            "epoch-000012-0123",
            "epoch-000012",
            ".epoch-000012.tmp",
            "epoch-00001x-0123456789ab",
        ] {
            assert_eq!(parse_dir_name(bad), None, "{bad}");
        }
        assert!(is_temporary_of(".metrics.json.tmp123", "metrics.json"));
        assert!(is_temporary_of(".metrics.json.tmp123.4", "metrics.json"));
        assert!(!is_temporary_of("metrics.json", "metrics.json"));
        assert!(!is_temporary_of(".metrics.json", "metrics.json"));
        assert!(!is_temporary_of(".metrics.jsonx.tmp1", "metrics.json"));
    }

    #[test]
    fn a_second_lock_names_the_holder_and_a_released_lock_is_free() {
        let dir = tempfile::tempdir().unwrap();
        let held = RunLock::acquire(dir.path()).unwrap();
        assert_eq!(held.taken_over_from(), None);
        let err = format!("{:#}", RunLock::acquire(dir.path()).unwrap_err());
        assert!(
            err.contains(&format!("PID {}", std::process::id())),
            "{err}"
        );
        drop(held);
        let again = RunLock::acquire(dir.path()).unwrap();
        assert_eq!(
            again.taken_over_from(),
            None,
            "a normal release is not a takeover"
        );
        drop(again);
        // What a killed holder leaves: its PID, and no lock.
        std::fs::write(dir.path().join(LOCK_FILE), "4000000000\n").unwrap();
        let taken = RunLock::acquire(dir.path()).unwrap();
        assert_eq!(taken.taken_over_from(), Some("4000000000"));
    }
}
