//! Issue 14 at the command line: outputs go through the one safe writer (a symlink is written
//! through; a FIFO or device node is refused and left alone; no temporary file survives a run,
//! an error or a full disk; stale ones of killed runs are cleaned up), a closed stdout ends a
//! command quietly, inputs with NaN name their file, and eval refuses empty evaluations.

use ndarray::{array, Array2};
use ndarray_npy::write_npy;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_eigenformer"))
}

fn save(dir: &Path, name: &str, a: &Array2<f64>) -> PathBuf {
    let p = dir.join(name);
    write_npy(&p, a).unwrap();
    p
}

/// A 3-token attention matrix and a 2×2 H in `dir`.
fn inputs(dir: &Path) -> (PathBuf, PathBuf) {
    let a = save(
        dir,
        "a.npy",
        &array![[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.3, 0.6]],
    );
    let h = save(dir, "h.npy", &array![[0.5, 0.1], [0.0, 0.3]]);
    (a, h)
}

fn simulate(a: &Path, h: &Path, out: &Path, layers: usize) -> Output {
    bin()
        .arg("simulate")
        .arg("--attention")
        .arg(a)
        .arg("--h")
        .arg(h)
        .args(["--layers", &layers.to_string(), "--normalize", "--out"])
        .arg(out)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The writing end of a pipe whose reader has already exited: every write to it fails with
/// EPIPE, deterministically (the reader is gone before the command starts).
fn closed_pipe() -> Stdio {
    let mut reader = Command::new("true").stdin(Stdio::piped()).spawn().unwrap();
    let writer = reader.stdin.take().unwrap();
    reader.wait().unwrap();
    Stdio::from(writer)
}

/// Run `cmd` with stdout into a closed pipe; returns (exit code, stderr).
fn into_closed_pipe(mut cmd: Command) -> (Option<i32>, String) {
    let child = cmd
        .stdout(closed_pipe())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.code(), stderr(&out))
}

/// Issue 14, item 9: `spectrum --json | head -1` panicked with "failed printing to stdout:
/// Broken pipe" (exit 101). Now every printing command ends quietly with 141 (128 + SIGPIPE).
#[test]
fn a_closed_stdout_ends_commands_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let (a, h) = inputs(dir.path());
    for json in [true, false] {
        let mut cmd = bin();
        cmd.arg("spectrum")
            .arg("--attention")
            .arg(&a)
            .arg("--h")
            .arg(&h);
        if json {
            cmd.arg("--json");
        }
        let (code, err) = into_closed_pipe(cmd);
        assert_eq!(code, Some(141), "json={json}: {err}");
        assert!(err.is_empty(), "json={json}: {err}");
    }
    let mut cmd = bin();
    cmd.arg("simulate")
        .arg("--attention")
        .arg(&a)
        .arg("--h")
        .arg(&h)
        .args(["--layers", "3", "--out"])
        .arg(dir.path().join("m.csv"));
    let (code, err) = into_closed_pipe(cmd);
    assert_eq!(code, Some(141), "{err}");
    assert!(err.is_empty(), "{err}");
    // The CSV was written before the summary was printed.
    assert!(dir.path().join("m.csv").is_file());

    // A warning into a closed stderr (`2>&1 | head`) goes through std's eprintln!, whose panic
    // the binary turns into the same quiet exit.
    let skewed = save(dir.path(), "skewed.npy", &array![[0.9, 0.3], [0.2, 0.5]]);
    let h2 = save(dir.path(), "h2.npy", &array![[0.5]]);
    let out = bin()
        .arg("spectrum")
        .arg("--attention")
        .arg(&skewed)
        .arg("--h")
        .arg(&h2)
        .arg("--allow-nonstochastic")
        .stdout(Stdio::null())
        .stderr(closed_pipe())
        .status()
        .unwrap();
    assert_eq!(out.code(), Some(141));
}

/// Issue 14, item 3: `--out` onto a symlink replaced the link with a regular file.
#[cfg(unix)]
#[test]
fn simulate_out_writes_through_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    let (a, h) = inputs(dir.path());
    let results = dir.path().join("results");
    std::fs::create_dir(&results).unwrap();
    std::fs::write(results.join("metrics.csv"), "old\n").unwrap();
    let link = dir.path().join("latest.csv");
    std::os::unix::fs::symlink("results/metrics.csv", &link).unwrap();
    let o = simulate(&a, &h, &link, 4);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let csv = std::fs::read_to_string(results.join("metrics.csv")).unwrap();
    assert!(csv.starts_with("layer,"), "{csv}");
    assert_eq!(csv.lines().count(), 6, "{csv}"); // the header and layers 0..=4
    assert_eq!(names(&results), ["metrics.csv"]);
}

/// Issue 14, item 3: `--out` onto a FIFO or a device node replaced it (`--out /dev/full` replaced
/// the machine's /dev/full). Now it is refused, named, and left as it was. The device node is
/// the test's own (`mknod` in a temporary directory); skipped where that is not permitted.
#[cfg(unix)]
#[test]
fn simulate_out_refuses_a_fifo_and_a_device_node() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let (a, h) = inputs(dir.path());
    let fifo = dir.path().join("fifo.csv");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let o = simulate(&a, &h, &fifo, 4);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("fifo.csv") && err.contains("FIFO") && err.contains("regular files"),
        "{err}"
    );
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    // A symlink to the FIFO is refused too, naming both.
    let link = dir.path().join("to-fifo");
    std::os::unix::fs::symlink(&fifo, &link).unwrap();
    let err = stderr(&simulate(&a, &h, &link, 4));
    assert!(err.contains("to-fifo") && err.contains("FIFO"), "{err}");
    assert_eq!(names(dir.path()), ["a.npy", "fifo.csv", "h.npy", "to-fifo"]);

    let full = dir.path().join("full");
    let made = Command::new("mknod")
        .arg(&full)
        .args(["c", "1", "7"])
        .status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("NOTICE: skipping the device-node case: mknod is not permitted here");
        return;
    }
    let o = simulate(&a, &h, &full, 4);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("a character device"), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(&full)
        .unwrap()
        .file_type()
        .is_char_device());
    // The machine's device files are only looked at.
    for dev in ["/dev/null", "/dev/full"] {
        if let Ok(m) = std::fs::symlink_metadata(dev) {
            assert!(m.file_type().is_char_device(), "{dev}");
        }
    }
}

/// Issue 14, item 6: a temporary file of a killed run stayed forever; the next write into the
/// directory removes it (and leaves a live process' file and other files alone).
#[test]
fn simulate_removes_stale_temporaries_and_leaves_none_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let (a, h) = inputs(dir.path());
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    if !Path::new("/proc/self").exists() {
        eprintln!("NOTICE: skipping: no /proc to tell live processes");
        return;
    }
    let stale = format!(".metrics.csv.tmp{dead}");
    let live = format!(".other.csv.tmp{}.0", std::process::id());
    std::fs::write(out.join(&stale), vec![0u8; 4096]).unwrap();
    std::fs::write(out.join(&live), b"in flight").unwrap();
    let o = simulate(&a, &h, &out.join("metrics.csv"), 3);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut expected = vec![live, "metrics.csv".to_string()];
    expected.sort();
    assert_eq!(names(&out), expected);
}

/// Unmounts the tmpfs at `0` on drop, so a failing assertion does not leave a mount behind.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Issue 14, item 6: on a full disk a partial temporary file stayed and kept the disk full.
/// Needs root and `mount` (a 64 KiB tmpfs); skipped with a notice otherwise.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_is_an_error_that_leaves_the_old_file_and_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let (a, h) = inputs(dir.path());
    let small = dir.path().join("small");
    std::fs::create_dir(&small).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&small)
        .stderr(Stdio::null())
        .status();
    if !mounted.is_ok_and(|s| s.success()) {
        eprintln!("NOTICE: skipping the full-disk test: cannot mount a tmpfs (needs root)");
        return;
    }
    let _guard = Mount(small.clone());
    let out = small.join("metrics.csv");
    std::fs::write(&out, "old\n").unwrap();
    // 3000 layers of metrics are about 400 KB of CSV: more than the 64 KiB file system holds.
    let o = simulate(&a, &h, &out, 3000);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "old\n");
    assert_eq!(names(&small), ["metrics.csv"]);
    // And a retry that fits works (the failed one left no space taken).
    let o = simulate(&a, &h, &out, 10);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(names(&small), ["metrics.csv"]);
}

/// Issue 14, item 12: a NaN in H was reported as "argument `a` contains a non-finite value".
#[test]
fn a_nan_input_names_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = inputs(dir.path());
    let h = save(
        dir.path(),
        "h-with-nan.npy",
        &array![[0.5, f64::NAN], [0.0, 0.3]],
    );
    let out = dir.path().join("m.csv");
    let o = simulate(&a, &h, &out, 3);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("h-with-nan.npy") && err.contains("(0, 1)") && err.contains("NaN"),
        "{err}"
    );
    assert!(!out.exists());
    let o = bin()
        .arg("spectrum")
        .arg("--attention")
        .arg(&a)
        .arg("--h")
        .arg(&h)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("h-with-nan.npy"), "{}", stderr(&o));
}

/// Issue 14, item 8: a `.npy` header declaring (100000000, 100000000) aborted the process
/// ("memory allocation of 80000000000000000 bytes failed", exit 134).
#[test]
fn a_huge_npy_header_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = inputs(dir.path());
    let mut header =
        "{'descr': '<f8', 'fortran_order': False, 'shape': (100000000, 100000000), }".to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&[0u8; 64]);
    let h = dir.path().join("huge.npy");
    std::fs::write(&h, bytes).unwrap();
    let o = bin()
        .arg("spectrum")
        .arg("--attention")
        .arg(&a)
        .arg("--h")
        .arg(&h)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("huge.npy") && err.contains("(100000000, 100000000)"),
        "{err}"
    );
}

/// Issue 14, item 10: `eval --eval-limit 0` reported an accuracy over no images and
/// `--batch-size 0` was accepted; both are refused before anything is loaded, as train does.
#[test]
fn eval_refuses_an_empty_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, value) in [("--eval-limit", "0"), ("--batch-size", "0")] {
        let o = bin()
            .arg("eval")
            .arg("--checkpoint")
            .arg(dir.path())
            .args([flag, value])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(1), "{flag}");
        let err = stderr(&o);
        assert!(err.contains(&format!("{flag} must be at least 1")), "{err}");
        let o = bin()
            .arg("eval")
            .arg("--checkpoint")
            .arg(dir.path())
            .args([flag, value, "--corruption", "contrast"])
            .output()
            .unwrap();
        assert!(stderr(&o).contains("must be at least 1"), "{}", stderr(&o));
    }
}

/// Issue 14, item 8: `train --width 1000000 --heads 1` aborted on a failed allocation; now the
/// configuration is refused before any data is loaded, stating the limit.
#[test]
fn train_refuses_an_absurd_model_with_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let o = bin()
        .args([
            "train",
            "--dataset",
            "fashion-mnist",
            "--width",
            "1000000",
            "--heads",
            "1",
            "--out",
        ])
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("model too large") && err.contains("more than the limit of 1073741824"),
        "{err}"
    );
    assert!(!dir.path().join("run").exists());
}
