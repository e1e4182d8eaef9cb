//! Timing of all 15 × 5 corruptions of the Fashion-MNIST test set (ignored by default; run with
//! `cargo test --release -p eigenformer-experiments --test corrupt_timing -- --ignored
//! --nocapture`). Uses the cached Fashion-MNIST files (the asset resolver), `EIGENFORMER_FROST_DIR`
//! for the frost images (frost is skipped without it) and `CORRUPT_TIMING_IMAGES` to time fewer
//! images.

use eigenformer_assets::Resolver;
use eigenformer_data::corrupt::{corrupt_dataset, load_frost_images, Corruption, Severity};
use eigenformer_data::{DatasetKind, Split};
use std::time::Instant;

#[test]
#[ignore = "timing run: minutes on 2 cores"]
fn time_every_corruption_of_the_fashion_mnist_test_set() {
    let kind = DatasetKind::FashionMnist;
    let dir = Resolver::from_env()
        .unwrap()
        .resolve(&kind.asset(), None)
        .unwrap();
    let mut test = kind.load_dir(&dir, Split::Test).unwrap();
    if let Some(n) = std::env::var("CORRUPT_TIMING_IMAGES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    {
        test = test
            .select(&(0..n.min(test.len())).collect::<Vec<_>>())
            .unwrap();
    }
    let frost = std::env::var("EIGENFORMER_FROST_DIR")
        .ok()
        .map(|d| load_frost_images(std::path::Path::new(&d)).unwrap());
    eprintln!(
        "{} images, {} rayon threads",
        test.len(),
        rayon::current_num_threads()
    );
    let total = Instant::now();
    for c in Corruption::ALL {
        if c == Corruption::Frost && frost.is_none() {
            eprintln!("{c:<18} skipped (set EIGENFORMER_FROST_DIR)");
            continue;
        }
        let t = Instant::now();
        for s in Severity::ALL {
            let out = corrupt_dataset(&test, c, s, 0, frost.as_deref()).unwrap();
            assert_eq!(out.len(), test.len());
        }
        eprintln!("{c:<18} 5 severities: {:>7.2} s", t.elapsed().as_secs_f64());
    }
    eprintln!("total: {:.1} s", total.elapsed().as_secs_f64());
}
