//! # eigenformer-data
//!
//! Image datasets for the Vision Transformer experiments, and the corruptions ([`corrupt`]) the
//! robustness experiments evaluate on.
//!
//! * Readers: [`idx`] (MNIST, Fashion-MNIST: IDX files, raw or gzip) and [`cifar`] (CIFAR-10 and
//!   CIFAR-100 binary versions). Every malformed input is a [`DataError`] that names the file and
//!   what is wrong; no reader panics on bad input.
//! * [`Dataset`]: the pixels as `u8` in `[N, C, H, W]` order (a quarter of the memory of `f32`),
//!   the labels and the number of classes. Batches are converted to `f32` on the fly by a
//!   [`Loader`], which also normalises ([`Normalize`]), augments ([`Augment`]) and shuffles
//!   deterministically from `(seed, epoch)`.
//! * [`folder`]: the torchvision ImageFolder layout (`<split>/<class>/<image>`, JPEG/PNG), as a
//!   directory or one tar archive: the CIFAR-10 JPEG copy ([`DatasetKind::Cifar10Jpeg`]).
//! * Subsets: [`class_balanced_subset`] / [`Dataset::train_fraction`] for `--train-fraction`.
//! * [`DatasetKind::load`] finds the files through the asset resolver ([`eigenformer_assets`]): a
//!   user-given directory, the cache, then the official URLs and registry fallbacks.
//!
//! **Layering:** depends on `eigenformer-assets` and `eigenformer-io` only.

pub mod augment;
mod batches;
pub mod cifar;
pub mod corrupt;
pub mod folder;
pub mod idx;
pub mod subset;

pub use augment::{Augment, AugmentParams, EraseRect, Normalize};
pub use batches::{BatchIter, Loader};
pub use subset::class_balanced_subset;

use eigenformer_assets::{self as assets, AssetError, Resolver};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Everything that can be wrong with a dataset file or a data argument.
#[derive(Debug, Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{}: cannot read the file: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file starts like gzip but does not decompress (corrupted or cut short).
    #[error("{}: corrupted gzip data ({message}); delete the file and fetch it again", .path.display())]
    Gzip { path: PathBuf, message: String },
    /// The IDX magic number is not the one expected for this kind of file.
    #[error("{}: wrong magic number 0x{found:08x}, expected 0x{expected:08x} ({what})", .path.display())]
    BadMagic {
        path: PathBuf,
        found: u32,
        expected: u32,
        what: &'static str,
    },
    /// The file is shorter than its header (or record size) says.
    #[error("{}: truncated file: {what} needs {expected} bytes but the file has {actual}", .path.display())]
    Truncated {
        path: PathBuf,
        what: String,
        expected: u64,
        actual: u64,
    },
    /// Any other structural problem (trailing bytes, empty file, zero dimensions).
    #[error("{}: malformed file: {message}", .path.display())]
    Malformed { path: PathBuf, message: String },
    /// The images file and the labels file disagree on the number of examples.
    #[error(
        "count mismatch: {} holds {images} images but {} holds {labels} labels",
        .images_path.display(),
        .labels_path.display()
    )]
    CountMismatch {
        images_path: PathBuf,
        labels_path: PathBuf,
        images: usize,
        labels: usize,
    },
    /// A label is not below the number of classes.
    #[error(
        "{}: label {label} of example {index} is out of range (the dataset has {classes} classes)",
        .path.display()
    )]
    LabelOutOfRange {
        path: PathBuf,
        index: usize,
        label: u8,
        classes: usize,
    },
    /// A bad argument (batch size 0, fraction outside (0, 1], inconsistent shape, ...).
    #[error("invalid argument: {0}")]
    Invalid(String),
}

impl DataError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Loading a dataset by kind: either the files could not be obtained or they are malformed.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error(transparent)]
    Asset(#[from] AssetError),
    #[error(transparent)]
    Data(#[from] DataError),
}

/// An image classification dataset held in memory.
///
/// Pixels are `u8` in row-major `[N, C, H, W]` order; labels are `u8`, each `< classes`
/// (checked on construction).
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    name: String,
    images: Vec<u8>,
    shape: [usize; 4],
    labels: Vec<u8>,
    classes: usize,
}

impl Dataset {
    /// A dataset from raw parts. Errors if `images.len()` is not the product of `shape`, if the
    /// number of labels is not `shape[0]`, or if a label is `>= classes`.
    pub fn new(
        name: impl Into<String>,
        images: Vec<u8>,
        shape: [usize; 4],
        labels: Vec<u8>,
        classes: usize,
    ) -> Result<Self, DataError> {
        let name = name.into();
        let expected = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if expected != Some(images.len()) {
            return Err(DataError::Invalid(format!(
                "dataset {name}: {} pixel bytes do not match the shape {shape:?}",
                images.len()
            )));
        }
        if labels.len() != shape[0] {
            return Err(DataError::Invalid(format!(
                "dataset {name}: {} labels for {} images",
                labels.len(),
                shape[0]
            )));
        }
        if classes == 0 || classes > 256 {
            return Err(DataError::Invalid(format!(
                "dataset {name}: {classes} classes (must be 1..=256)"
            )));
        }
        if let Some((index, &label)) = labels
            .iter()
            .enumerate()
            .find(|(_, &l)| l as usize >= classes)
        {
            return Err(DataError::LabelOutOfRange {
                path: PathBuf::from(&name),
                index,
                label,
                classes,
            });
        }
        Ok(Dataset {
            name,
            images,
            shape,
            labels,
            classes,
        })
    }

    /// The dataset's name, e.g. `fashion-mnist/train`.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.shape[0]
    }
    /// Whether the dataset holds no example.
    pub fn is_empty(&self) -> bool {
        self.shape[0] == 0
    }
    /// Number of classes (labels are `0..num_classes()`).
    pub fn num_classes(&self) -> usize {
        self.classes
    }
    /// `[N, C, H, W]`.
    pub fn shape(&self) -> [usize; 4] {
        self.shape
    }
    /// `[C, H, W]` of one image.
    pub fn image_shape(&self) -> [usize; 3] {
        [self.shape[1], self.shape[2], self.shape[3]]
    }
    /// All pixels, `[N, C, H, W]` row-major.
    pub fn images(&self) -> &[u8] {
        &self.images
    }
    /// All labels.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }
    /// The pixels of example `i` (`C·H·W` bytes). Panics if `i >= len()` (a programming error).
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.shape[1] * self.shape[2] * self.shape[3];
        &self.images[i * n..(i + 1) * n]
    }
    /// The label of example `i`.
    pub fn label(&self, i: usize) -> usize {
        self.labels[i] as usize
    }
    /// How many examples each class has.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }

    /// The examples at `indices`, in that order. Errors on an index out of range.
    pub fn select(&self, indices: &[usize]) -> Result<Dataset, DataError> {
        let per = self.shape[1] * self.shape[2] * self.shape[3];
        let mut images = Vec::with_capacity(indices.len() * per);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            if i >= self.len() {
                return Err(DataError::Invalid(format!(
                    "index {i} out of range for {} ({} examples)",
                    self.name,
                    self.len()
                )));
            }
            images.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Ok(Dataset {
            name: self.name.clone(),
            images,
            shape: [indices.len(), self.shape[1], self.shape[2], self.shape[3]],
            labels,
            classes: self.classes,
        })
    }

    /// A seeded, class-balanced subset of about `fraction · len()` examples (see
    /// [`class_balanced_subset`]); `fraction == 1` returns the whole dataset.
    pub fn train_fraction(&self, fraction: f64, seed: u64) -> Result<Dataset, DataError> {
        let indices = class_balanced_subset(&self.labels, self.classes, fraction, seed)?;
        let mut subset = self.select(&indices)?;
        if indices.len() != self.len() {
            subset.name = format!("{}[fraction {fraction}]", self.name);
        }
        Ok(subset)
    }

    /// `(validation, rest)`: a class-balanced subset of about `n` examples drawn with `seed` (on
    /// a stream of its own, so it is not the `train_fraction` subset of the same seed), and every
    /// other example. The two never share an example.
    pub fn split_balanced(&self, n: usize, seed: u64) -> Result<(Dataset, Dataset), DataError> {
        if n == 0 || n >= self.len() {
            return Err(DataError::Invalid(format!(
                "a validation split of {n} needs 1 to {} examples",
                self.len().saturating_sub(1)
            )));
        }
        const VALIDATION_STREAM: u64 = 0x7661_6c69_6461_7465; // "validate"
        let fraction = n as f64 / self.len() as f64;
        let chosen = class_balanced_subset(
            &self.labels,
            self.classes,
            fraction,
            seed ^ VALIDATION_STREAM,
        )?;
        let mut is_val = vec![false; self.len()];
        for &i in &chosen {
            is_val[i] = true;
        }
        let rest: Vec<usize> = (0..self.len()).filter(|&i| !is_val[i]).collect();
        let mut val = self.select(&chosen)?;
        val.name = format!("{}[validation {}]", self.name, chosen.len());
        let mut train = self.select(&rest)?;
        train.name = format!("{}[without validation]", self.name);
        Ok((val, train))
    }
}

/// Which split of a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    /// `train` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

/// The datasets the toolkit knows by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DatasetKind {
    Mnist,
    FashionMnist,
    Cifar10,
    Cifar100,
    /// CIFAR-10 re-encoded as JPEG quality 75 (lossy, so not the same pixels as `Cifar10`), in
    /// the ImageFolder layout ([`folder`]).
    Cifar10Jpeg,
}

impl DatasetKind {
    /// All kinds.
    pub const ALL: [DatasetKind; 5] = [
        DatasetKind::Mnist,
        DatasetKind::FashionMnist,
        DatasetKind::Cifar10,
        DatasetKind::Cifar100,
        DatasetKind::Cifar10Jpeg,
    ];

    /// The name used on the command line and as the asset / cache directory name.
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Cifar100 => "cifar100",
            DatasetKind::Cifar10Jpeg => "cifar10-jpeg",
        }
    }

    /// How reports name the data: the JPEG copy always says so.
    pub fn display_name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "MNIST",
            DatasetKind::FashionMnist => "Fashion-MNIST",
            DatasetKind::Cifar10 => "CIFAR-10",
            DatasetKind::Cifar100 => "CIFAR-100",
            DatasetKind::Cifar10Jpeg => "CIFAR-10 (JPEG q75 copy)",
        }
    }

    /// The kind called `name` (as printed by [`DatasetKind::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Number of classes.
    pub fn classes(self) -> usize {
        match self {
            DatasetKind::Cifar100 => 100,
            _ => 10,
        }
    }

    /// `[C, H, W]` of one image.
    pub fn image_shape(self) -> [usize; 3] {
        match self {
            DatasetKind::Mnist | DatasetKind::FashionMnist => [1, 28, 28],
            DatasetKind::Cifar10 | DatasetKind::Cifar100 | DatasetKind::Cifar10Jpeg => [3, 32, 32],
        }
    }

    /// The standard per-channel normalisation constants (see [`Normalize`]).
    pub fn normalize(self) -> Normalize {
        match self {
            DatasetKind::Mnist => Normalize::mnist(),
            DatasetKind::FashionMnist => Normalize::fashion_mnist(),
            DatasetKind::Cifar10 | DatasetKind::Cifar10Jpeg => Normalize::cifar10(),
            DatasetKind::Cifar100 => Normalize::cifar100(),
        }
    }

    /// The training augmentation: random crop with 4 pixels of zero padding and horizontal flips
    /// for CIFAR, none for the MNISTs (flipping digits or clothes changes their meaning).
    pub fn train_augment(self) -> Augment {
        match self {
            DatasetKind::Mnist | DatasetKind::FashionMnist => Augment::none(),
            DatasetKind::Cifar10 | DatasetKind::Cifar100 | DatasetKind::Cifar10Jpeg => {
                Augment::cifar()
            }
        }
    }

    /// The asset holding this dataset's files.
    pub fn asset(self) -> assets::Asset {
        match assets::builtin(self.name()) {
            Some(asset) => asset,
            None => unreachable!("every dataset kind has a built-in asset"),
        }
    }

    /// Read one split from a directory that holds the files under their usual names
    /// (`train-images-idx3-ubyte.gz`, ... for the MNISTs, raw or gzip; `data_batch_1.bin`, ...
    /// for CIFAR-10; `train.bin`, `test.bin` for CIFAR-100).
    pub fn load_dir(self, dir: &Path, split: Split) -> Result<Dataset, DataError> {
        let name = format!("{}/{}", self.name(), split.name());
        match self {
            DatasetKind::Mnist | DatasetKind::FashionMnist => {
                let (images, labels) = idx::file_names(split);
                idx::load_pair(
                    name,
                    &idx::find_maybe_gz(dir, images),
                    &idx::find_maybe_gz(dir, labels),
                    10,
                )
            }
            DatasetKind::Cifar10 => cifar::load_cifar10(dir, split),
            DatasetKind::Cifar100 => cifar::load_cifar100(dir, split),
            DatasetKind::Cifar10Jpeg => {
                let archive = dir.join("cifar10-jpeg.tar.gz");
                if archive.is_file() {
                    folder::load_archive(&name, &archive, split, self.image_shape())
                } else {
                    folder::load_dir(&name, dir, split, self.image_shape())
                }
            }
        }
    }

    /// Resolve the files (user directory → cache → official URLs → registry fallbacks; see
    /// [`eigenformer_assets`]) and read one split.
    pub fn load(self, split: Split, data_dir: Option<&Path>) -> Result<Dataset, LoadError> {
        // An extracted ImageFolder tree given by hand is read as it is (it has no pinned hash).
        if let (DatasetKind::Cifar10Jpeg, Some(dir)) = (self, data_dir) {
            if dir.join(split.name()).is_dir() {
                return Ok(self.load_dir(dir, split)?);
            }
        }
        let resolver = Resolver::from_env()?;
        let dir = resolver.resolve(&self.asset(), data_dir)?;
        Ok(self.load_dir(&dir, split)?)
    }
}
