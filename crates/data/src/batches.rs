//! Deterministic mini-batches.

use super::augment::convert_image;
use super::{Augment, DataError, Dataset, DatasetKind, Normalize};
use ndarray::Array4;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A seed for stream `stream` of epoch `epoch`, mixed from the run's seed (SplitMix64 finaliser,
/// so that neighbouring inputs give unrelated ChaCha keys).
fn derive_seed(seed: u64, epoch: u64, stream: u64) -> u64 {
    let mut z = seed
        ^ epoch.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03).rotate_left(17);
    for _ in 0..2 {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
    }
    z
}

/// Produces the mini-batches of a [`Dataset`]: `(images [B, C, H, W] as f32, labels)`.
///
/// Everything random is a function of `(seed, epoch)`: the order of epoch `e` is a
/// `ChaCha8Rng(seed, e)` shuffle, and the augmentation of batch `b` of epoch `e` uses its own
/// `ChaCha8Rng(seed, e, b)`. So a run resumed at epoch `e` (or at batch `b`, with
/// [`Iterator::nth`] / `skip`, which do not convert the skipped batches) sees exactly the
/// batches an uninterrupted run would have seen.
#[derive(Clone, Debug)]
pub struct Loader<'a> {
    dataset: &'a Dataset,
    batch_size: usize,
    seed: u64,
    shuffle: bool,
    drop_last: bool,
    augment: Augment,
    normalize: Normalize,
}

impl<'a> Loader<'a> {
    /// Batches of `batch_size` in dataset order, no augmentation, pixels scaled to `[0, 1]`.
    pub fn new(dataset: &'a Dataset, batch_size: usize) -> Result<Self, DataError> {
        if batch_size == 0 {
            return Err(DataError::Invalid("batch size must be at least 1".into()));
        }
        Ok(Loader {
            dataset,
            batch_size,
            seed: 0,
            shuffle: false,
            drop_last: false,
            augment: Augment::none(),
            normalize: Normalize::unit(dataset.image_shape()[0]),
        })
    }

    /// The training loader of a dataset of kind `kind`: shuffled from `seed`, the kind's
    /// augmentation and normalisation, last partial batch kept.
    pub fn train(
        dataset: &'a Dataset,
        kind: DatasetKind,
        batch_size: usize,
        seed: u64,
    ) -> Result<Self, DataError> {
        Loader::new(dataset, batch_size)?
            .seed(seed)
            .shuffle(true)
            .augment(kind.train_augment())
            .normalize(kind.normalize())
    }

    /// The evaluation loader: dataset order, no augmentation, the kind's normalisation.
    pub fn eval(
        dataset: &'a Dataset,
        kind: DatasetKind,
        batch_size: usize,
    ) -> Result<Self, DataError> {
        Loader::new(dataset, batch_size)?.normalize(kind.normalize())
    }

    /// Set the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Shuffle each epoch (from `(seed, epoch)`).
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }
    /// Drop the last batch when it is smaller than the batch size.
    pub fn drop_last(mut self, drop_last: bool) -> Self {
        self.drop_last = drop_last;
        self
    }
    /// Set the augmentation.
    pub fn augment(mut self, augment: Augment) -> Self {
        self.augment = augment;
        self
    }
    /// Set the normalisation; errors if its channel count differs from the images'.
    pub fn normalize(mut self, normalize: Normalize) -> Result<Self, DataError> {
        let c = self.dataset.image_shape()[0];
        if normalize.channels() != c {
            return Err(DataError::Invalid(format!(
                "normalisation for {} channels, but {} has {c}",
                normalize.channels(),
                self.dataset.name()
            )));
        }
        self.normalize = normalize;
        Ok(self)
    }

    /// The dataset.
    pub fn dataset(&self) -> &'a Dataset {
        self.dataset
    }
    /// Batches per epoch.
    pub fn num_batches(&self) -> usize {
        let n = self.dataset.len();
        if self.drop_last {
            n / self.batch_size
        } else {
            n.div_ceil(self.batch_size)
        }
    }

    /// The order in which epoch `epoch` visits the examples.
    pub fn epoch_order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.dataset.len()).collect();
        if self.shuffle {
            let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(self.seed, epoch, u64::MAX));
            order.shuffle(&mut rng);
        }
        order
    }

    /// The batches of epoch `epoch`.
    pub fn epoch(&self, epoch: u64) -> BatchIter<'_> {
        BatchIter {
            order: self.epoch_order(epoch),
            tables: self.normalize.lookup_tables(),
            loader: self,
            epoch,
            next: 0,
            end: self.num_batches(),
        }
    }

    /// Batch `b` of epoch `epoch`, converted.
    fn make_batch(
        &self,
        order: &[usize],
        tables: &[[f32; 256]],
        epoch: u64,
        b: usize,
    ) -> (Array4<f32>, Vec<usize>) {
        let start = b * self.batch_size;
        let end = (start + self.batch_size).min(order.len());
        let idx = &order[start..end];
        let [c, h, w] = self.dataset.image_shape();
        let per = c * h * w;
        let mut data = vec![0f32; idx.len() * per];
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(self.seed, epoch, b as u64));
        for (&i, dst) in idx.iter().zip(data.chunks_exact_mut(per)) {
            let params = self.augment.sample(h, w, &mut rng);
            convert_image(self.dataset.image(i), [c, h, w], params, tables, dst);
        }
        let labels = idx.iter().map(|&i| self.dataset.label(i)).collect();
        let images = match Array4::from_shape_vec((idx.len(), c, h, w), data) {
            Ok(a) => a,
            Err(_) => unreachable!("the buffer has B·C·H·W values"),
        };
        (images, labels)
    }
}

/// The batches of one epoch; see [`Loader`].
#[derive(Debug)]
pub struct BatchIter<'a> {
    loader: &'a Loader<'a>,
    order: Vec<usize>,
    tables: Vec<[f32; 256]>,
    epoch: u64,
    next: usize,
    end: usize,
}

impl BatchIter<'_> {
    /// The index (within the epoch) of the batch the next call to `next` returns.
    pub fn position(&self) -> usize {
        self.next
    }
}

impl Iterator for BatchIter<'_> {
    type Item = (Array4<f32>, Vec<usize>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let b = self.next;
        self.next += 1;
        Some(
            self.loader
                .make_batch(&self.order, &self.tables, self.epoch, b),
        )
    }

    fn nth(&mut self, n: usize) -> Option<Self::Item> {
        self.next = self.next.saturating_add(n).min(self.end);
        self.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.end - self.next;
        (left, Some(left))
    }
}

impl ExactSizeIterator for BatchIter<'_> {}
