//! Dataset readers, normalisation/augmentation, batches and subsets, on small files the tests
//! write themselves.

use eigenformer_data::{
    augment, cifar, class_balanced_subset, idx, Augment, AugmentParams, DataError, Dataset,
    DatasetKind, Loader, Normalize, Split,
};
use flate2::write::GzEncoder;
use ndarray::{Array3, Array4};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::io::Write;
use std::path::{Path, PathBuf};

fn idx_images(n: usize, rows: usize, cols: usize) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&idx::IMAGES_MAGIC.to_be_bytes());
    for d in [n, rows, cols] {
        v.extend_from_slice(&(d as u32).to_be_bytes());
    }
    v.extend((0..n * rows * cols).map(|i| (i % 251) as u8));
    v
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&idx::LABELS_MAGIC.to_be_bytes());
    v.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    v.extend_from_slice(labels);
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn labels_cycle(n: usize, classes: u8) -> Vec<u8> {
    (0..n).map(|i| (i % classes as usize) as u8).collect()
}

#[test]
fn idx_raw_and_gzip_read_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let labels = labels_cycle(7, 10);
    let raw_i = write(dir.path(), "i.raw", &idx_images(7, 5, 4));
    let raw_l = write(dir.path(), "l.raw", &idx_labels(&labels));
    let gz_i = write(dir.path(), "i.gz", &gzip(&idx_images(7, 5, 4)));
    let gz_l = write(dir.path(), "l.gz", &gzip(&idx_labels(&labels)));
    let a = idx::load_pair("raw", &raw_i, &raw_l, 10).unwrap();
    let b = idx::load_pair("gz", &gz_i, &gz_l, 10).unwrap();
    assert_eq!(a.shape(), [7, 1, 5, 4]);
    assert_eq!(a.images(), b.images());
    assert_eq!(a.labels(), &labels[..]);
    assert_eq!(b.labels(), &labels[..]);
    assert_eq!(a.len(), 7);
    assert_eq!(a.num_classes(), 10);
    assert_eq!(a.image(1)[0], 20);
}

#[test]
fn load_dir_finds_gz_or_raw_names() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "t10k-images-idx3-ubyte", &idx_images(3, 28, 28));
    write(
        dir.path(),
        "t10k-labels-idx1-ubyte.gz",
        &gzip(&idx_labels(&[1, 2, 3])),
    );
    let d = DatasetKind::FashionMnist
        .load_dir(dir.path(), Split::Test)
        .unwrap();
    assert_eq!(d.shape(), [3, 1, 28, 28]);
    assert_eq!(d.name(), "fashion-mnist/test");
}

fn err_string<T: std::fmt::Debug>(r: Result<T, DataError>) -> String {
    r.expect_err("expected an error").to_string()
}

#[test]
fn idx_truncated_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = idx_images(4, 3, 3);
    bytes.truncate(bytes.len() - 5);
    let p = write(dir.path(), "short-images", &bytes);
    let msg = err_string(idx::read_images(&p));
    assert!(
        msg.contains("short-images") && msg.contains("truncated"),
        "{msg}"
    );
    assert!(msg.contains("52") && msg.contains("47"), "{msg}");
    // Header cut short.
    let p = write(dir.path(), "tiny", &bytes[..6]);
    let msg = err_string(idx::read_images(&p));
    assert!(msg.contains("tiny") && msg.contains("truncated"), "{msg}");
    // Trailing bytes are malformed, too.
    let mut long = idx_labels(&[1, 2]);
    long.push(0);
    let p = write(dir.path(), "long-labels", &long);
    let msg = err_string(idx::read_labels(&p));
    assert!(
        msg.contains("long-labels") && msg.contains("trailing"),
        "{msg}"
    );
}

#[test]
fn idx_wrong_magic_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    // A labels file where images are expected.
    let p = write(dir.path(), "labels-as-images", &idx_labels(&[1, 2, 3]));
    let msg = err_string(idx::read_images(&p));
    assert!(msg.contains("labels-as-images"), "{msg}");
    assert!(
        msg.contains("wrong magic number 0x00000801, expected 0x00000803"),
        "{msg}"
    );
    let p = write(dir.path(), "garbage", b"hello world, not idx");
    let msg = err_string(idx::read_labels(&p));
    assert!(msg.contains("garbage") && msg.contains("magic"), "{msg}");
}

/// Issue 14, item 8: a gzip IDX file is decompressed only as far as its header declares, and a
/// declaration no gzip file of that size could hold is refused before decompressing.
#[test]
fn gzip_idx_sizes_are_bounded_by_the_header_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // A header declaring 2^32-1 images of 255x255 pixels over a few bytes of data.
    let mut huge = Vec::new();
    huge.extend_from_slice(&idx::IMAGES_MAGIC.to_be_bytes());
    for d in [u32::MAX, 255, 255] {
        huge.extend_from_slice(&d.to_be_bytes());
    }
    huge.extend_from_slice(&[1, 2, 3]);
    let p = write(dir.path(), "huge.gz", &gzip(&huge));
    let msg = err_string(idx::read_images(&p));
    assert!(
        msg.contains("huge.gz") && msg.contains("more than a gzip file of"),
        "{msg}"
    );
    // A bomb: one 2x2 image declared, 20 MB of zeros after it. Decompression stops one byte
    // past the declared size.
    let mut bomb = idx_images(1, 2, 2);
    bomb.resize(bomb.len() + 20_000_000, 0);
    let p = write(dir.path(), "bomb.gz", &gzip(&bomb));
    assert!(std::fs::metadata(&p).unwrap().len() < 100_000);
    let msg = err_string(idx::read_images(&p));
    assert!(
        msg.contains("bomb.gz") && msg.contains("more than the 20 bytes the IDX header declares"),
        "{msg}"
    );
    let mut labels = idx_labels(&[1, 2]);
    labels.resize(labels.len() + 1_000_000, 0);
    let p = write(dir.path(), "labels.gz", &gzip(&labels));
    let msg = err_string(idx::read_labels(&p));
    assert!(msg.contains("more than the 10 bytes"), "{msg}");
    // A gzip header cut inside the IDX header.
    let p = write(dir.path(), "short.gz", &gzip(&idx_images(1, 2, 2)[..6]));
    let msg = err_string(idx::read_images(&p));
    assert!(msg.contains("short.gz") && msg.contains("header"), "{msg}");
}

#[test]
fn corrupted_gzip_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut gz = gzip(&idx_images(20, 8, 8));
    let mid = gz.len() / 2;
    for b in &mut gz[mid..mid + 16] {
        *b ^= 0x5a;
    }
    let p = write(dir.path(), "bad.gz", &gz);
    let msg = err_string(idx::read_images(&p));
    assert!(
        msg.contains("bad.gz") && msg.contains("corrupted gzip"),
        "{msg}"
    );
    // A gzip stream cut short.
    let gz = gzip(&idx_images(20, 8, 8));
    let p = write(dir.path(), "cut.gz", &gz[..gz.len() / 2]);
    let msg = err_string(idx::read_images(&p));
    assert!(msg.contains("cut.gz") && msg.contains("gzip"), "{msg}");
}

#[test]
fn idx_label_out_of_range_and_count_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let i = write(dir.path(), "imgs", &idx_images(3, 2, 2));
    let l = write(dir.path(), "labs", &idx_labels(&[0, 10, 1]));
    let msg = err_string(idx::load_pair("x", &i, &l, 10));
    assert!(
        msg.contains("labs") && msg.contains("label 10") && msg.contains("example 1"),
        "{msg}"
    );
    assert!(msg.contains("10 classes"), "{msg}");
    let l = write(dir.path(), "labs4", &idx_labels(&[0, 1, 2, 3]));
    let msg = err_string(idx::load_pair("x", &i, &l, 10));
    assert!(
        msg.contains("count mismatch") && msg.contains("3 images") && msg.contains("4 labels"),
        "{msg}"
    );
    assert!(msg.contains("imgs") && msg.contains("labs4"), "{msg}");
}

#[test]
fn missing_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let msg = err_string(DatasetKind::Mnist.load_dir(dir.path(), Split::Train));
    assert!(msg.contains("train-"), "{msg}");
    let msg = err_string(DatasetKind::Cifar10.load_dir(dir.path(), Split::Test));
    assert!(msg.contains("test_batch.bin"), "{msg}");
}

fn cifar_record(labels: &[u8], fill: u8) -> Vec<u8> {
    let mut r = labels.to_vec();
    r.extend((0..cifar::PIXELS).map(|i| fill.wrapping_add((i / 1024) as u8)));
    r
}

#[test]
fn cifar10_and_cifar100_records() {
    let dir = tempfile::tempdir().unwrap();
    for (k, name) in cifar::cifar10_files(Split::Train).iter().enumerate() {
        let mut bytes = Vec::new();
        for j in 0..3u8 {
            bytes.extend(cifar_record(&[(k as u8 + j) % 10], k as u8 * 10 + j));
        }
        write(dir.path(), name, &bytes);
    }
    let d = DatasetKind::Cifar10
        .load_dir(dir.path(), Split::Train)
        .unwrap();
    assert_eq!(d.shape(), [15, 3, 32, 32]);
    assert_eq!(d.num_classes(), 10);
    assert_eq!(d.label(4), 2); // file 2 (k = 1), record 1
    assert_eq!(d.image(4)[0], 11);
    assert_eq!(d.image(4)[1024], 12); // green plane
    assert_eq!(d.image(4)[2048], 13);

    let mut bytes = cifar_record(&[3, 77], 5);
    bytes.extend(cifar_record(&[19, 99], 6));
    write(dir.path(), "test.bin", &bytes);
    let d = DatasetKind::Cifar100
        .load_dir(dir.path(), Split::Test)
        .unwrap();
    assert_eq!(d.shape(), [2, 3, 32, 32]);
    assert_eq!(d.labels(), &[77, 99]);
    assert_eq!(d.num_classes(), 100);
}

#[test]
fn cifar_malformed_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = cifar_record(&[1], 0);
    bytes.extend(&cifar_record(&[2], 0)[..100]);
    let p = write(dir.path(), "short.bin", &bytes);
    let msg = err_string(cifar::read_files("c", &[p], cifar::CifarVariant::Cifar10));
    assert!(
        msg.contains("short.bin") && msg.contains("truncated") && msg.contains("record 2"),
        "{msg}"
    );
    let p = write(dir.path(), "label.bin", &cifar_record(&[12], 0));
    let msg = err_string(cifar::read_files("c", &[p], cifar::CifarVariant::Cifar10));
    assert!(
        msg.contains("label.bin") && msg.contains("label 12"),
        "{msg}"
    );
    let p = write(dir.path(), "fine.bin", &cifar_record(&[1, 100], 0));
    let msg = err_string(cifar::read_files("c", &[p], cifar::CifarVariant::Cifar100));
    assert!(
        msg.contains("fine.bin") && msg.contains("label 100"),
        "{msg}"
    );
    let p = write(dir.path(), "empty.bin", &[]);
    let msg = err_string(cifar::read_files("c", &[p], cifar::CifarVariant::Cifar100));
    assert!(msg.contains("empty.bin") && msg.contains("empty"), "{msg}");
}

#[test]
fn dataset_new_validates() {
    assert!(Dataset::new("x", vec![0; 8], [2, 1, 2, 2], vec![0, 1], 2).is_ok());
    assert!(Dataset::new("x", vec![0; 7], [2, 1, 2, 2], vec![0, 1], 2).is_err());
    assert!(Dataset::new("x", vec![0; 8], [2, 1, 2, 2], vec![0], 2).is_err());
    let msg = err_string(Dataset::new("x", vec![0; 8], [2, 1, 2, 2], vec![0, 2], 2));
    assert!(msg.contains("label 2"), "{msg}");
}

fn toy(n: usize, c: usize, h: usize, w: usize, classes: u8) -> Dataset {
    let images = (0..n * c * h * w).map(|i| (i * 7 % 256) as u8).collect();
    Dataset::new(
        "toy",
        images,
        [n, c, h, w],
        labels_cycle(n, classes),
        classes as usize,
    )
    .unwrap()
}

#[test]
fn normalisation_uses_the_constants() {
    let d = Dataset::new("one", vec![0, 255, 51, 102], [1, 1, 2, 2], vec![0], 1).unwrap();
    let loader = Loader::new(&d, 1)
        .unwrap()
        .normalize(Normalize::mnist())
        .unwrap();
    let (x, y) = loader.epoch(0).next().unwrap();
    assert_eq!(y, vec![0]);
    let expect = |p: f32| (p / 255.0 - 0.1307) / 0.3081;
    for (got, p) in x.iter().zip([0.0, 255.0, 51.0, 102.0]) {
        assert!((got - expect(p)).abs() < 1e-6);
    }
    assert!(Normalize::new(vec![0.5], vec![0.0]).is_err());
    assert!(Normalize::new(vec![0.5, 0.5], vec![1.0]).is_err());
    assert!(Loader::new(&d, 1)
        .unwrap()
        .normalize(Normalize::cifar10())
        .is_err());
    assert!(Loader::new(&d, 0).is_err());
    assert_eq!(DatasetKind::Cifar100.normalize().channels(), 3);
}

#[test]
fn augmentation_is_deterministic_and_preserves_shape() {
    let d = toy(64, 3, 8, 8, 4);
    let aug = Augment {
        crop_pad: 2,
        hflip: true,
        erase: 0.0,
    };
    let make = |seed| {
        Loader::new(&d, 16)
            .unwrap()
            .seed(seed)
            .shuffle(true)
            .augment(aug)
            .epoch(3)
            .collect::<Vec<_>>()
    };
    let (a, b, c) = (make(7), make(7), make(8));
    assert_eq!(a.len(), 4);
    for ((xa, ya), (xb, yb)) in a.iter().zip(&b) {
        assert_eq!(xa.dim(), (16, 3, 8, 8));
        assert_eq!(xa, xb);
        assert_eq!(ya, yb);
    }
    assert!(a.iter().zip(&c).any(|((xa, _), (xc, _))| xa != xc));
    // Different epochs: different order.
    let l = Loader::new(&d, 64).unwrap().seed(7).shuffle(true);
    assert_ne!(l.epoch_order(0), l.epoch_order(1));
    assert_eq!(l.epoch_order(1), l.epoch_order(1));

    // On float batches.
    let batch = Array4::from_shape_fn((5, 3, 6, 6), |(b, c, y, x)| (b + c + y * 6 + x) as f32);
    let run = |seed| Augment::cifar().apply_batch(&batch, &mut ChaCha8Rng::seed_from_u64(seed));
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
    assert_eq!(run(1).dim(), batch.dim());
    assert_eq!(
        Augment::none().apply_batch(&batch, &mut ChaCha8Rng::seed_from_u64(1)),
        batch
    );
}

#[test]
fn flip_and_crop_semantics() {
    let img = Array3::from_shape_fn((2, 4, 5), |(c, y, x)| (c * 100 + y * 10 + x + 1) as f32);
    let f = augment::hflip(&img);
    assert_eq!(f.dim(), img.dim());
    assert_eq!(f[[1, 2, 0]], img[[1, 2, 4]]);
    assert_eq!(augment::hflip(&f), img);
    // Window at the centre = identity; shifted windows bring in zeros.
    assert_eq!(augment::pad_crop(&img, 2, 2, 2), img);
    let c = augment::pad_crop(&img, 2, 0, 0); // window starts 2 above and 2 left
    assert_eq!(c.dim(), img.dim());
    assert_eq!(c[[0, 0, 0]], 0.0);
    assert_eq!(c[[0, 2, 2]], img[[0, 0, 0]]);
    let s = augment::shift_flip(
        &img,
        AugmentParams {
            dy: 1,
            dx: 0,
            flip: true,
            erase: None,
        },
    );
    assert_eq!(s[[0, 0, 0]], img[[0, 1, 4]]);
    assert_eq!(s[[0, 3, 0]], 0.0);

    // The u8 path of the loader agrees with the float functions.
    let d = toy(1, 2, 4, 5, 1);
    let a = Augment {
        crop_pad: 2,
        hflip: true,
        erase: 0.0,
    };
    let seed = 11;
    let (x, _) = Loader::new(&d, 1)
        .unwrap()
        .seed(seed)
        .augment(a)
        .epoch(0)
        .next()
        .unwrap();
    let orig = Loader::new(&d, 1).unwrap().epoch(0).next().unwrap().0;
    let orig = orig.index_axis(ndarray::Axis(0), 0).to_owned();
    let got = x.index_axis(ndarray::Axis(0), 0).to_owned();
    let any = (-2..=2)
        .flat_map(|dy| {
            (-2..=2).flat_map(move |dx| {
                [false, true].map(|flip| AugmentParams {
                    dy,
                    dx,
                    flip,
                    erase: None,
                })
            })
        })
        .any(|p| augment::shift_flip(&orig, p) == got);
    assert!(
        any,
        "the loader's augmentation is one of the crop/flip variants"
    );
}

#[test]
fn batches_cover_the_epoch_and_resume_exactly() {
    let d = toy(50, 1, 3, 3, 5);
    let l = Loader::new(&d, 16)
        .unwrap()
        .seed(3)
        .shuffle(true)
        .augment(Augment {
            crop_pad: 1,
            hflip: true,
            erase: 0.0,
        });
    assert_eq!(l.num_batches(), 4);
    let all: Vec<_> = l.epoch(2).collect();
    assert_eq!(all.last().unwrap().0.dim().0, 2);
    let mut seen: Vec<usize> = Vec::new();
    let order = l.epoch_order(2);
    for (i, (_, y)) in all.iter().enumerate() {
        seen.extend(y);
        let expect: Vec<usize> = order[i * 16..((i + 1) * 16).min(50)]
            .iter()
            .map(|&k| d.label(k))
            .collect();
        assert_eq!(y, &expect);
    }
    assert_eq!(seen.len(), 50);
    // Resuming at batch 2 gives batches 2 and 3 unchanged.
    let resumed: Vec<_> = l.epoch(2).skip(2).collect();
    assert_eq!(resumed.len(), 2);
    assert_eq!(resumed[0], all[2]);
    assert_eq!(resumed[1], all[3]);
    assert_eq!(l.clone().drop_last(true).epoch(0).count(), 3);
    assert_eq!(l.epoch(0).len(), 4);
}

#[test]
fn subsets_are_class_balanced_and_seeded() {
    let labels: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
    let s = class_balanced_subset(&labels, 10, 0.1, 5).unwrap();
    assert_eq!(s.len(), 100);
    let mut counts = [0; 10];
    for &i in &s {
        counts[labels[i] as usize] += 1;
    }
    assert_eq!(counts, [10; 10]);
    assert!(s.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(s, class_balanced_subset(&labels, 10, 0.1, 5).unwrap());
    assert_ne!(s, class_balanced_subset(&labels, 10, 0.1, 6).unwrap());
    // Not a multiple of the classes: as close as equal counts allow.
    assert_eq!(
        class_balanced_subset(&labels, 10, 0.123, 1).unwrap().len(),
        120
    );
    // Imbalanced: capped by the smallest class, still equal.
    let skew: Vec<u8> = (0..100).map(|i| if i < 90 { 0 } else { 1 }).collect();
    let s = class_balanced_subset(&skew, 2, 0.5, 1).unwrap();
    assert_eq!(s.len(), 20);
    assert_eq!(s.iter().filter(|&&i| skew[i] == 1).count(), 10);
    // Whole, tiny, invalid.
    assert_eq!(
        class_balanced_subset(&labels, 10, 1.0, 0).unwrap().len(),
        1000
    );
    assert_eq!(
        class_balanced_subset(&labels, 10, 0.0001, 0).unwrap().len(),
        10
    );
    for bad in [0.0, -0.5, 1.5, f64::NAN] {
        let msg = class_balanced_subset(&labels, 10, bad, 0)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("--train-fraction"), "{msg}");
    }
    let d = toy(200, 1, 2, 2, 4);
    let sub = d.train_fraction(0.24, 9).unwrap();
    assert_eq!(sub.len(), 48);
    assert_eq!(sub.class_counts(), vec![12; 4]);
}

#[test]
fn random_erasing_replaces_one_rectangle_and_leaves_other_draws_alone() {
    // Rectangles drawn for a 28×28 image: 2–33 % of the area, strictly inside the image.
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut drawn = 0;
    for _ in 0..500 {
        if let Some(r) = augment::EraseRect::sample(28, 28, &mut rng) {
            drawn += 1;
            let area = (r.height * r.width) as f64 / 784.0;
            assert!((0.005..=0.40).contains(&area), "area fraction {area}");
            assert!(r.top + r.height <= 28 && r.left + r.width <= 28);
        }
    }
    assert!(drawn > 400, "most draws fit: {drawn}/500");

    // Through the loader: with erase = 0 the batches are those of the recipe without erasing;
    // with erase = 1 (and no flips, whose draws would then interleave with the erasing draws)
    // every image differs from its unerased conversion on one rectangle only.
    let d = toy(32, 1, 12, 12, 4);
    let batches = |erase: f64, hflip: bool| {
        Loader::new(&d, 8)
            .unwrap()
            .seed(3)
            .shuffle(true)
            .augment(Augment {
                crop_pad: 0,
                hflip,
                erase,
            })
            .epoch(1)
            .collect::<Vec<_>>()
    };
    let plain = Loader::new(&d, 8)
        .unwrap()
        .seed(3)
        .shuffle(true)
        .augment(Augment {
            crop_pad: 0,
            hflip: true,
            erase: 0.0,
        })
        .epoch(1)
        .collect::<Vec<_>>();
    assert_eq!(batches(0.0, true), plain);
    let plain = batches(0.0, false);
    let erased = batches(1.0, false);
    assert_eq!(erased, batches(1.0, false), "deterministic for a seed");
    let mut changed_images = 0;
    for ((xe, ye), (xp, yp)) in erased.iter().zip(&plain) {
        assert_eq!(ye, yp);
        for (ie, ip) in xe.outer_iter().zip(xp.outer_iter()) {
            let diff: Vec<(usize, usize)> = ie
                .indexed_iter()
                .filter(|(_, v)| v.is_finite())
                .filter(|((c, y, x), v)| **v != ip[[*c, *y, *x]])
                .map(|((_, y, x), _)| (y, x))
                .collect();
            if diff.is_empty() {
                continue;
            }
            changed_images += 1;
            let (ys, xs): (Vec<_>, Vec<_>) = diff.iter().copied().unzip();
            let (y0, y1) = (*ys.iter().min().unwrap(), *ys.iter().max().unwrap());
            let (x0, x1) = (*xs.iter().min().unwrap(), *xs.iter().max().unwrap());
            // Every changed pixel lies in one rectangle covering at most a third of the image.
            assert!((y1 - y0 + 1) * (x1 - x0 + 1) <= 144 / 3 + 12);
        }
    }
    assert!(changed_images >= 24, "{changed_images}/32 images erased");
}
