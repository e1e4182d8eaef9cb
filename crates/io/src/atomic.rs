//! Atomic replacement of a file's contents.

use crate::{IoError, Result};
use std::io::Write as _;
use std::path::Path;

/// Write `contents` to `path` atomically: a temporary file in the same directory, fsynced, then
/// renamed over `path`, then the directory fsynced. A reader never sees a half-written result, an
/// interrupted run leaves the old file intact, and after the call returns the new contents survive
/// a power loss. The temporary file is removed on every error path.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(IoError::io("creating directory", dir))?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    let tmp = dir.join(format!(".{file_name}.tmp{}", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp).map_err(IoError::io("creating", &tmp))?;
        file.write_all(contents)
            .map_err(IoError::io("writing", &tmp))?;
        file.sync_all().map_err(IoError::io("syncing", &tmp))?;
        std::fs::rename(&tmp, path).map_err(IoError::io("renaming into place", path))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
    // The rename is durable only once the directory entry is; some file systems refuse to open a
    // directory for syncing, which loses durability but not atomicity, so that is not an error.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_contents_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("out.txt");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out.txt")]);
    }

    #[test]
    fn a_failed_rename_removes_the_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // A directory in the way makes the rename fail after the temporary file was written.
        let path = dir.path().join("taken");
        std::fs::create_dir(path.join("x").parent().unwrap()).unwrap();
        std::fs::write(path.join("x"), b"keep").unwrap();
        let err = write_atomic(&path, b"new").unwrap_err();
        assert!(err.to_string().contains("taken"), "{err}");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("taken")]);
    }
}
