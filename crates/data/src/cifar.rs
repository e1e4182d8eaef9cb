//! The binary versions of CIFAR-10 and CIFAR-100.
//!
//! * CIFAR-10: records of 1 label byte + 3072 pixel bytes (1024 red, 1024 green, 1024 blue, each
//!   32×32 row-major), 10,000 per file; `data_batch_1.bin` … `data_batch_5.bin` (train) and
//!   `test_batch.bin` (test).
//! * CIFAR-100: records of 1 coarse label byte + 1 fine label byte + 3072 pixel bytes;
//!   `train.bin` (50,000) and `test.bin` (10,000). The fine label (100 classes) is used.
//!
//! The pixel layout is already `[C, H, W]`, so records are copied as they are.

use super::{DataError, Dataset, Split};
use std::path::{Path, PathBuf};

/// Pixel bytes of one 3×32×32 image.
pub const PIXELS: usize = 3 * 32 * 32;

/// The two binary layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CifarVariant {
    /// One label byte (10 classes).
    Cifar10,
    /// Coarse then fine label byte; the fine label (100 classes) is kept.
    Cifar100,
}

impl CifarVariant {
    /// Bytes per record.
    pub fn record_len(self) -> usize {
        self.label_bytes() + PIXELS
    }
    fn label_bytes(self) -> usize {
        match self {
            CifarVariant::Cifar10 => 1,
            CifarVariant::Cifar100 => 2,
        }
    }
    /// Number of classes of the label kept.
    pub fn classes(self) -> usize {
        match self {
            CifarVariant::Cifar10 => 10,
            CifarVariant::Cifar100 => 100,
        }
    }
}

/// CIFAR-10's files for a split.
pub fn cifar10_files(split: Split) -> &'static [&'static str] {
    match split {
        Split::Train => &[
            "data_batch_1.bin",
            "data_batch_2.bin",
            "data_batch_3.bin",
            "data_batch_4.bin",
            "data_batch_5.bin",
        ],
        Split::Test => &["test_batch.bin"],
    }
}

/// CIFAR-100's file for a split.
pub fn cifar100_files(split: Split) -> &'static [&'static str] {
    match split {
        Split::Train => &["train.bin"],
        Split::Test => &["test.bin"],
    }
}

/// Append the records in `bytes` (the contents of `path`) to `pixels` and `labels`.
pub fn parse_records(
    path: &Path,
    bytes: &[u8],
    variant: CifarVariant,
    pixels: &mut Vec<u8>,
    labels: &mut Vec<u8>,
) -> Result<(), DataError> {
    let rec = variant.record_len();
    if bytes.is_empty() {
        return Err(DataError::Malformed {
            path: path.to_path_buf(),
            message: "the file is empty".into(),
        });
    }
    if !bytes.len().is_multiple_of(rec) {
        let whole = bytes.len() / rec;
        return Err(DataError::Truncated {
            path: path.to_path_buf(),
            what: format!(
                "record {} ({rec}-byte records: {} label byte(s) + {PIXELS} pixels)",
                whole + 1,
                variant.label_bytes()
            ),
            expected: ((whole + 1) * rec) as u64,
            actual: bytes.len() as u64,
        });
    }
    let n = bytes.len() / rec;
    pixels.reserve(n * PIXELS);
    labels.reserve(n);
    let label_at = variant.label_bytes() - 1;
    let classes = variant.classes();
    for (index, record) in bytes.chunks_exact(rec).enumerate() {
        let label = record[label_at];
        if label as usize >= classes {
            return Err(DataError::LabelOutOfRange {
                path: path.to_path_buf(),
                index,
                label,
                classes,
            });
        }
        if variant == CifarVariant::Cifar100 && record[0] >= 20 {
            return Err(DataError::Malformed {
                path: path.to_path_buf(),
                message: format!(
                    "coarse label {} of record {index} is out of range (20 superclasses)",
                    record[0]
                ),
            });
        }
        labels.push(label);
        pixels.extend_from_slice(&record[variant.label_bytes()..]);
    }
    Ok(())
}

/// Read CIFAR binary files (concatenated in the order given) into one [`Dataset`].
pub fn read_files(
    name: impl Into<String>,
    paths: &[PathBuf],
    variant: CifarVariant,
) -> Result<Dataset, DataError> {
    use rayon::prelude::*;
    let contents: Vec<(&PathBuf, Vec<u8>)> = paths
        .par_iter()
        .map(|p| {
            std::fs::read(p)
                .map(|b| (p, b))
                .map_err(|e| DataError::io(p, e))
        })
        .collect::<Result<_, _>>()?;
    let total: usize = contents.iter().map(|(_, b)| b.len()).sum();
    let mut pixels = Vec::with_capacity(total);
    let mut labels = Vec::with_capacity(total / variant.record_len() + 1);
    for (path, bytes) in &contents {
        parse_records(path, bytes, variant, &mut pixels, &mut labels)?;
    }
    let n = labels.len();
    Dataset::new(name, pixels, [n, 3, 32, 32], labels, variant.classes())
}

/// CIFAR-10's `split` from `dir` (the `cifar-10-batches-bin` directory).
pub fn load_cifar10(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let paths: Vec<PathBuf> = cifar10_files(split).iter().map(|f| dir.join(f)).collect();
    read_files(
        format!("cifar10/{}", split.name()),
        &paths,
        CifarVariant::Cifar10,
    )
}

/// CIFAR-100's `split` from `dir` (the `cifar-100-binary` directory).
pub fn load_cifar100(dir: &Path, split: Split) -> Result<Dataset, DataError> {
    let paths: Vec<PathBuf> = cifar100_files(split).iter().map(|f| dir.join(f)).collect();
    read_files(
        format!("cifar100/{}", split.name()),
        &paths,
        CifarVariant::Cifar100,
    )
}
