//! Shared by the run-directory tests: a tiny synthetic data set and model that train in well
//! under a second, and a byte-for-byte snapshot of a directory tree.

#![allow(dead_code)] // each test file uses a different part

use eigenformer_data::{Dataset, DatasetKind};
use eigenformer_experiments::train::config::TrainConfig;
use eigenformer_experiments::train::run::{TrainData, TrainOptions};
use eigenformer_model::{AttentionKind, ViTConfig};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const CLASSES: usize = 3;

/// `n` 8×8 grey images: class k is a bright horizontal band at rows 2k..2k+2 plus seeded noise.
pub fn synthetic(name: &str, n: usize, seed: u64) -> Dataset {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as u32
    };
    let mut images = Vec::with_capacity(n * 64);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let class = i % CLASSES;
        for r in 0..8 {
            for _ in 0..8 {
                let band = r / 2 == class;
                let noise = (next() % 60) as u8;
                images.push(if band { 180 + noise } else { noise });
            }
        }
        labels.push(class as u8);
    }
    Dataset::new(name, images, [n, 1, 8, 8], labels, CLASSES).unwrap()
}

/// [`tiny_config_with`] plain attention.
pub fn tiny_config() -> ViTConfig {
    tiny_config_with(AttentionKind::Plain)
}

/// A 2-block ViT of width 16 on 8×8 grey images, with drop-path (which exercises the per-step
/// drop-path seeds of a resumed run).
pub fn tiny_config_with(attention: AttentionKind) -> ViTConfig {
    let mut cfg = tiny_vit(16, 2, CLASSES, attention);
    cfg.drop_path = 0.1;
    cfg.validate().unwrap();
    cfg
}

/// The tests' ViT: `vit-small`'s shape on 8×8 grey images in four 4×4 patches, 2 heads, an MLP
/// twice the width, no drop-path.
pub fn tiny_vit(width: usize, depth: usize, classes: usize, attention: AttentionKind) -> ViTConfig {
    let mut cfg = ViTConfig::preset("vit-small").unwrap();
    cfg.image_size = 8;
    cfg.patch_size = 4;
    cfg.width = width;
    cfg.depth = depth;
    cfg.heads = 2;
    cfg.mlp_hidden = 2 * width;
    cfg.classes = classes;
    cfg.attention = attention;
    cfg.validate().unwrap();
    cfg
}

pub fn run_config(epochs: usize) -> TrainConfig {
    TrainConfig {
        dataset: "synthetic".into(),
        model: "tiny".into(),
        attention: "plain".into(),
        depth: None,
        width: None,
        heads: None,
        epochs,
        batch_size: 16,
        lr: 3e-3,
        weight_decay: 0.05,
        warmup_epochs: 0.5,
        label_smoothing: 0.1,
        clip: 1.0,
        train_fraction: 1.0,
        seed: 7,
        max_train_batches: None,
        eval_limit: None,
        ..TrainConfig::default()
    }
}

pub fn data() -> TrainData {
    data_of(48, 12)
}

/// `train` training and `test` test images of [`synthetic`].
pub fn data_of(train: usize, test: usize) -> TrainData {
    TrainData {
        kind: DatasetKind::Mnist,
        train: synthetic("synthetic/train", train, 1),
        test: synthetic("synthetic/test", test, 2),
    }
}

/// A run of `epochs` epochs into `out` with the timings zeroed, so its files can be compared
/// byte for byte with another run's.
pub fn options(out: &Path, epochs: usize) -> TrainOptions {
    TrainOptions {
        zero_timings: true,
        ..TrainOptions::new(run_config(epochs), tiny_config(), out)
    }
}

/// Every file under `root` by relative path, with its bytes (directories appear through their
/// files; an empty directory as a path ending in `/`).
pub fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        if entries.is_empty() && dir != root {
            let rel = dir.strip_prefix(root).unwrap().display().to_string();
            out.insert(format!("{rel}/"), Vec::new());
        }
        for path in entries {
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// Assert that two trees are equal, naming the first path that differs.
pub fn assert_same_tree(
    got: &BTreeMap<String, Vec<u8>>,
    want: &BTreeMap<String, Vec<u8>>,
    what: &str,
) {
    let names = |t: &BTreeMap<String, Vec<u8>>| t.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(got), names(want), "{what}: the files differ");
    for (path, bytes) in want {
        assert!(got[path] == *bytes, "{what}: {path} differs");
    }
}
