//! The real Fashion-MNIST through the resolver: official URL first, then (where that is
//! unreachable) the Debian package `dataset-fashion-mnist`. Skipped, with a notice, only on a
//! machine without `apt-get` and `dpkg-deb`.

use eigenformer_assets::{program_available, Resolver};
use eigenformer_data::{DatasetKind, Loader, Split};
use std::time::Instant;

#[test]
fn fashion_mnist_resolves_and_reads() {
    if !(program_available("apt-get") && program_available("dpkg-deb")) {
        eprintln!(
            "NOTICE: skipping the real Fashion-MNIST test: apt-get/dpkg-deb are not available"
        );
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let kind = DatasetKind::FashionMnist;
    let t = Instant::now();
    let dir = Resolver::new(cache.path())
        .resolve(&kind.asset(), None)
        .unwrap();
    eprintln!(
        "resolved fashion-mnist into {} in {:.1?}",
        dir.display(),
        t.elapsed()
    );
    assert_eq!(dir, cache.path().join("fashion-mnist"));

    let t = Instant::now();
    let train = kind.load_dir(&dir, Split::Train).unwrap();
    let read_train = t.elapsed();
    let test = kind.load_dir(&dir, Split::Test).unwrap();
    eprintln!("read 60000 training images in {read_train:.2?}");
    assert_eq!(train.shape(), [60000, 1, 28, 28]);
    assert_eq!(test.shape(), [10000, 1, 28, 28]);
    assert_eq!(train.num_classes(), 10);
    assert_eq!(train.class_counts(), vec![6000; 10]);
    assert_eq!(test.class_counts(), vec![1000; 10]);
    let (min, max) = train
        .images()
        .iter()
        .fold((255u8, 0u8), |(lo, hi), &p| (lo.min(p), hi.max(p)));
    assert_eq!((min, max), (0, 255));

    // The documented normalisation constants are the training set's statistics.
    let n = train.images().len() as f64;
    let mean = train
        .images()
        .iter()
        .map(|&p| p as f64 / 255.0)
        .sum::<f64>()
        / n;
    let var = train
        .images()
        .iter()
        .map(|&p| (p as f64 / 255.0 - mean).powi(2))
        .sum::<f64>()
        / n;
    let norm = kind.normalize();
    assert!((mean - norm.mean()[0] as f64).abs() < 1e-3, "mean {mean}");
    assert!(
        (var.sqrt() - norm.std()[0] as f64).abs() < 1e-3,
        "std {}",
        var.sqrt()
    );

    // One epoch of normalised batches.
    let t = Instant::now();
    let loader = Loader::train(&train, kind, 256, 1).unwrap();
    let mut seen = 0;
    for (x, y) in loader.epoch(0) {
        assert_eq!(x.dim().1, 1);
        seen += y.len();
    }
    assert_eq!(seen, 60000);
    eprintln!("one epoch of batches in {:.2?}", t.elapsed());

    // The command prints the cached directory (a cache hit now).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_eigenformer"))
        .args(["fetch", "fashion-mnist"])
        .env("EIGENFORMER_CACHE", cache.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        dir.display().to_string()
    );
}
