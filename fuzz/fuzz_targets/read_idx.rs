//! Arbitrary bytes through the MNIST/Fashion-MNIST IDX reader (raw or gzip) and the CIFAR
//! record parser (`eigenformer_data::{idx, cifar}`): every input must give data or a
//! `DataError`, never a panic, an abort or an unbounded allocation (a gzip bomb included).
//!
//! Input layout: the first byte picks the reader (0: IDX images, 1: IDX labels, 2: CIFAR-10
//! records, 3: CIFAR-100 records; others: IDX images); the rest is the file.

#![no_main]

use eigenformer_data::{cifar, idx};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, file)) = data.split_first() else {
        return;
    };
    let path = Path::new("fuzz-idx");
    match selector {
        1 => {
            if let Ok(labels) = idx::labels_from_bytes(path, file.to_vec()) {
                assert!(labels.len() as u64 <= file.len() as u64 * idx::MAX_GZIP_RATIO);
            }
        }
        2 | 3 => {
            let variant = if selector == 2 {
                cifar::CifarVariant::Cifar10
            } else {
                cifar::CifarVariant::Cifar100
            };
            let (mut pixels, mut labels) = (Vec::new(), Vec::new());
            if cifar::parse_records(path, file, variant, &mut pixels, &mut labels).is_ok() {
                assert_eq!(pixels.len(), labels.len() * cifar::PIXELS);
            }
        }
        _ => {
            if let Ok(images) = idx::images_from_bytes(path, file.to_vec()) {
                assert_eq!(
                    images.pixels.len(),
                    images.count * images.rows * images.cols
                );
            }
        }
    }
});
