//! The IDX format of MNIST and Fashion-MNIST.
//!
//! A big-endian header: magic `0x0000_08DD` (`08` = unsigned bytes, `DD` = number of
//! dimensions), then one `u32` per dimension, then the data. Images are `0x00000803`
//! (`[N, rows, cols]`), labels `0x00000801` (`[N]`). Files may be gzip-compressed (detected by
//! the gzip magic bytes `1f 8b`, not by the file name) or raw.

use super::{DataError, Dataset, Split};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Magic number of an IDX file of unsigned-byte images `[N, rows, cols]`.
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte labels `[N]`.
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Images read from an IDX file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdxImages {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    /// `count · rows · cols` bytes, row-major.
    pub pixels: Vec<u8>,
}

/// The usual file names (gzip) of a split: `(images, labels)`.
pub fn file_names(split: Split) -> (&'static str, &'static str) {
    match split {
        Split::Train => ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
        Split::Test => ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
    }
}

/// `dir/name` if it exists, else `dir/name` without a `.gz` suffix if that exists (an
/// uncompressed copy), else `dir/name` (so that the error names the expected file).
pub fn find_maybe_gz(dir: &Path, name: &str) -> PathBuf {
    let gz = dir.join(name);
    if gz.exists() {
        return gz;
    }
    match name.strip_suffix(".gz") {
        Some(raw) if dir.join(raw).exists() => dir.join(raw),
        _ => gz,
    }
}

/// The file's bytes, decompressed if they start with the gzip magic bytes.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    decode_maybe_gz(path, bytes)
}

/// At most this many bytes come out of one byte of deflate data (its maximal ratio is about
/// 1032:1), so a gzip file of `n` bytes cannot hold more than `n` times this.
pub const MAX_GZIP_RATIO: u64 = 1032;

fn is_gzip(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
}

/// `bytes` decompressed if they start with the gzip magic bytes, else unchanged. `path` only
/// names the file in errors. The output is bounded by what `bytes` can hold
/// ([`MAX_GZIP_RATIO`]), so a corrupt trailer cannot request absurd memory.
pub fn decode_maybe_gz(path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>, DataError> {
    if !is_gzip(&bytes) {
        return Ok(bytes);
    }
    let limit = (bytes.len() as u64).saturating_mul(MAX_GZIP_RATIO);
    gunzip(path, &bytes, limit)
}

/// The first `limit` bytes of the gzip data `bytes`.
fn gunzip(path: &Path, bytes: &[u8], limit: u64) -> Result<Vec<u8>, DataError> {
    // The gzip trailer holds the uncompressed size mod 2^32: a capacity hint, capped by `limit`.
    let hint = bytes
        .len()
        .checked_sub(4)
        .and_then(|at| bytes.get(at..))
        .and_then(|t| t.try_into().ok())
        .map(|t: [u8; 4]| u64::from(u32::from_le_bytes(t)))
        .unwrap_or(0)
        .min(limit)
        .min(1 << 30);
    let mut out = Vec::with_capacity(hint as usize);
    GzDecoder::new(bytes)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| DataError::Gzip {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    Ok(out)
}

/// The (decompressed) bytes of the IDX file `path` whose header is `magic` and `dims` sizes. For
/// a gzip file the header is decompressed first and the size it declares checked (overflow,
/// and against what the compressed file can hold) before the rest is decompressed, and never more
/// than the declared size plus one byte (to detect trailing data) comes out: a corrupt header or a
/// decompression bomb is an error naming the file, not an allocation failure.
fn read_idx(
    path: &Path,
    magic: u32,
    dims: usize,
    what: (&'static str, &str),
) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    decode_idx(path, raw, magic, dims, what)
}

/// [`read_idx`] on the file's bytes `raw`.
fn decode_idx(
    path: &Path,
    raw: Vec<u8>,
    magic: u32,
    dims: usize,
    (what, file_kind): (&'static str, &str),
) -> Result<Vec<u8>, DataError> {
    if !is_gzip(&raw) {
        return Ok(raw);
    }
    let header_len = 4 + 4 * dims;
    let head = gunzip(path, &raw, header_len as u64)?;
    check_magic(path, &head, magic, what)?;
    let sizes = header(path, &head, dims, file_kind)?;
    let declared = sizes
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .and_then(|n| n.checked_add(header_len as u64));
    let bound = (raw.len() as u64).saturating_mul(MAX_GZIP_RATIO);
    match declared {
        Some(n) if n <= bound => {
            let out = gunzip(path, &raw, n + 1)?;
            if out.len() as u64 > n {
                return Err(DataError::Malformed {
                    path: path.to_path_buf(),
                    message: format!(
                        "the gzip data holds more than the {n} bytes the IDX header declares \
                         ({sizes:?}); trailing data"
                    ),
                });
            }
            Ok(out)
        }
        Some(n) => Err(DataError::Malformed {
            path: path.to_path_buf(),
            message: format!(
                "the IDX header declares {sizes:?} ({n} bytes), more than a gzip file of {} bytes \
                 can hold",
                raw.len()
            ),
        }),
        None => Err(DataError::Malformed {
            path: path.to_path_buf(),
            message: format!("the IDX header's dimensions {sizes:?} overflow"),
        }),
    }
}

fn header(path: &Path, bytes: &[u8], dims: usize, what: &str) -> Result<Vec<usize>, DataError> {
    let need = 4 + 4 * dims;
    if bytes.len() < need {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            what: format!("the IDX header of {what}"),
            expected: need as u64,
            actual: bytes.len() as u64,
        });
    }
    let word = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    Ok((0..dims).map(|d| word(4 + 4 * d) as usize).collect())
}

fn check_magic(
    path: &Path,
    bytes: &[u8],
    expected: u32,
    what: &'static str,
) -> Result<(), DataError> {
    if bytes.len() < 4 {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            what: "the IDX magic number".into(),
            expected: 4,
            actual: bytes.len() as u64,
        });
    }
    let found = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if found != expected {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            found,
            expected,
            what,
        });
    }
    Ok(())
}

fn check_len(
    path: &Path,
    actual: usize,
    expected: Option<usize>,
    what: String,
) -> Result<(), DataError> {
    let Some(expected) = expected else {
        return Err(DataError::Malformed {
            path: path.to_path_buf(),
            message: format!("{what}: the header's dimensions overflow"),
        });
    };
    if actual < expected {
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            what,
            expected: expected as u64,
            actual: actual as u64,
        });
    }
    if actual > expected {
        return Err(DataError::Malformed {
            path: path.to_path_buf(),
            message: format!(
                "{what} needs {expected} bytes but the file has {actual} ({} unexpected trailing bytes)",
                actual - expected
            ),
        });
    }
    Ok(())
}

/// Parse (already decompressed) IDX image bytes.
pub fn parse_images(path: &Path, mut bytes: Vec<u8>) -> Result<IdxImages, DataError> {
    check_magic(
        path,
        &bytes,
        IMAGES_MAGIC,
        "IDX images: unsigned bytes, 3 dimensions",
    )?;
    let dims = header(path, &bytes, 3, "an images file")?;
    let (count, rows, cols) = (dims[0], dims[1], dims[2]);
    if rows == 0 || cols == 0 {
        return Err(DataError::Malformed {
            path: path.to_path_buf(),
            message: format!("images of {rows}x{cols} pixels"),
        });
    }
    let expected = count
        .checked_mul(rows)
        .and_then(|n| n.checked_mul(cols))
        .and_then(|n| n.checked_add(16));
    check_len(
        path,
        bytes.len(),
        expected,
        format!("{count} images of {rows}x{cols} pixels"),
    )?;
    bytes.drain(..16);
    Ok(IdxImages {
        count,
        rows,
        cols,
        pixels: bytes,
    })
}

/// Parse (already decompressed) IDX label bytes.
pub fn parse_labels(path: &Path, mut bytes: Vec<u8>) -> Result<Vec<u8>, DataError> {
    check_magic(
        path,
        &bytes,
        LABELS_MAGIC,
        "IDX labels: unsigned bytes, 1 dimension",
    )?;
    let count = header(path, &bytes, 1, "a labels file")?[0];
    check_len(
        path,
        bytes.len(),
        count.checked_add(8),
        format!("{count} labels"),
    )?;
    bytes.drain(..8);
    Ok(bytes)
}

const IMAGES_WHAT: (&str, &str) = ("IDX images: unsigned bytes, 3 dimensions", "an images file");
const LABELS_WHAT: (&str, &str) = ("IDX labels: unsigned bytes, 1 dimension", "a labels file");

/// Read an IDX images file (raw or gzip).
pub fn read_images(path: &Path) -> Result<IdxImages, DataError> {
    parse_images(path, read_idx(path, IMAGES_MAGIC, 3, IMAGES_WHAT)?)
}

/// Read an IDX labels file (raw or gzip).
pub fn read_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    parse_labels(path, read_idx(path, LABELS_MAGIC, 1, LABELS_WHAT)?)
}

/// [`read_images`] on the file's contents `raw` (raw or gzip); `path` only names the file in
/// errors. What the fuzz target runs.
pub fn images_from_bytes(path: &Path, raw: Vec<u8>) -> Result<IdxImages, DataError> {
    parse_images(path, decode_idx(path, raw, IMAGES_MAGIC, 3, IMAGES_WHAT)?)
}

/// [`read_labels`] on the file's contents `raw` (raw or gzip); `path` only names the file in
/// errors.
pub fn labels_from_bytes(path: &Path, raw: Vec<u8>) -> Result<Vec<u8>, DataError> {
    parse_labels(path, decode_idx(path, raw, LABELS_MAGIC, 1, LABELS_WHAT)?)
}

/// Read an images file and a labels file into a single-channel [`Dataset`] of `classes`
/// classes, checking that the counts agree and every label is `< classes`. The two files are
/// read in parallel.
pub fn load_pair(
    name: impl Into<String>,
    images_path: &Path,
    labels_path: &Path,
    classes: usize,
) -> Result<Dataset, DataError> {
    let (images, labels) = rayon::join(|| read_images(images_path), || read_labels(labels_path));
    let (images, labels) = (images?, labels?);
    if images.count != labels.len() {
        return Err(DataError::CountMismatch {
            images_path: images_path.to_path_buf(),
            labels_path: labels_path.to_path_buf(),
            images: images.count,
            labels: labels.len(),
        });
    }
    if let Some((index, &label)) = labels
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= classes)
    {
        return Err(DataError::LabelOutOfRange {
            path: labels_path.to_path_buf(),
            index,
            label,
            classes,
        });
    }
    Dataset::new(
        name,
        images.pixels,
        [images.count, 1, images.rows, images.cols],
        labels,
        classes,
    )
}
