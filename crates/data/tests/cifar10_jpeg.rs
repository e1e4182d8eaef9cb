//! The CIFAR-10 JPEG copy through the asset resolver's mirror: `EIGENFORMER_MIRROR` names a
//! directory holding `cifar10-jpeg.tar.gz` (CI points it at the data kept beside the project).
//! Without it the test says why it does not run.

use eigenformer_assets::Resolver;
use eigenformer_data::{DatasetKind, Split};

#[test]
fn the_jpeg_copy_loads_with_the_cifar10_layout() {
    let Some(mirror) = std::env::var_os("EIGENFORMER_MIRROR").filter(|m| !m.is_empty()) else {
        eprintln!(
            "SKIPPED: EIGENFORMER_MIRROR is not set, so the CIFAR-10 JPEG copy is not reachable"
        );
        return;
    };
    if !std::path::Path::new(&mirror)
        .join("cifar10-jpeg.tar.gz")
        .is_file()
    {
        eprintln!("SKIPPED: {mirror:?} holds no cifar10-jpeg.tar.gz");
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let kind = DatasetKind::Cifar10Jpeg;
    let dir = Resolver::new(cache.path())
        .resolve(&kind.asset(), None)
        .unwrap();
    // Found in place in the mirror: nothing was copied into the cache.
    assert_eq!(dir, std::path::PathBuf::from(&mirror));
    let test = kind.load_dir(&dir, Split::Test).unwrap();
    assert_eq!(test.shape(), [10_000, 3, 32, 32]);
    assert_eq!(test.num_classes(), 10);
    assert_eq!(test.class_counts(), vec![1000; 10]);
    // The first 100 test images (what `--eval-limit 100` evaluates) cover every class.
    let first: std::collections::BTreeSet<usize> = (0..100).map(|i| test.label(i)).collect();
    assert_eq!(first.len(), 10, "{first:?}");
    let train = kind.load_dir(&dir, Split::Train).unwrap();
    assert_eq!(train.shape(), [50_000, 3, 32, 32]);
    assert_eq!(train.class_counts(), vec![5000; 10]);
    // Real photographs, not a constant fill: the pixel values spread over the whole range.
    let (lo, hi) = test
        .images()
        .iter()
        .fold((255u8, 0u8), |(l, h), &v| (l.min(v), h.max(v)));
    assert!(lo < 10 && hi > 245, "pixel range {lo}..{hi}");
    assert_eq!(kind.display_name(), "CIFAR-10 (JPEG q75 copy)");
}
