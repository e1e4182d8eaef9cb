//! Properties of all 15 corruptions on generated images (colour 32×32 and grayscale 28×28).

use super::*;

/// A smooth colour (or grey) test picture with some texture, values inside (0.05, 0.95).
pub(crate) fn picture(channels: usize, size: usize, variant: u64) -> Image {
    let mut data = Vec::with_capacity(channels * size * size);
    let phase = variant as f64 * 0.7;
    for c in 0..channels {
        for y in 0..size {
            for x in 0..size {
                let (xf, yf) = (x as f64, y as f64);
                let smooth = (xf / 3.0 + phase).sin() * (yf / 4.0 + c as f64).cos();
                let edge = if (x + y + variant as usize) % 11 < 5 {
                    0.15
                } else {
                    -0.15
                };
                let v = 0.5 + 0.25 * smooth + edge + 0.05 * c as f64;
                data.push(v.clamp(0.05, 0.95));
            }
        }
    }
    Image::new(channels, size, size, data).unwrap()
}

/// Synthetic frost photographs: bright crystalline streaks on a dark blue background.
pub(crate) fn synthetic_frost() -> Vec<FrostImage> {
    (0..6)
        .map(|k| {
            let (h, w) = (60 + 5 * k, 80);
            let mut rgb = vec![0u8; 3 * h * w];
            for c in 0..3 {
                for y in 0..h {
                    for x in 0..w {
                        // A hash of the position: crystalline texture without a period, so
                        // different crops differ.
                        let mut z = (x * 7919 + y * 104_729 + k * 1_299_709) as u64;
                        z = (z ^ (z >> 13)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                        let streak = ((z >> 40) % 1000) as f64 / 1000.0;
                        let v = 40.0 + 30.0 * c as f64 + 150.0 * streak * streak;
                        rgb[(c * h + y) * w + x] = v as u8;
                    }
                }
            }
            FrostImage::new(h, w, rgb).unwrap()
        })
        .collect()
}

fn run(img: &Image, c: Corruption, s: Severity, seed: u64, index: u64) -> Image {
    let frost = synthetic_frost();
    let mut rng = image_rng(seed, c, s, index);
    apply(img, c, s, &mut rng, Some(&frost)).unwrap()
}

fn mean_abs_diff(a: &Image, b: &Image) -> f64 {
    let (a, b) = (a.to_u8(), b.to_u8());
    a.iter()
        .zip(&b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).abs())
        .sum::<f64>()
        / a.len() as f64
}

#[test]
fn every_corruption_and_severity_keeps_shape_and_range_and_is_seeded() {
    for (channels, size) in [(3, 32), (1, 28)] {
        let img = picture(channels, size, 1);
        for c in Corruption::ALL {
            for s in Severity::ALL {
                let a = run(&img, c, s, 7, 3);
                assert_eq!(a.shape(), img.shape(), "{c} {s}");
                assert!(
                    a.data().iter().all(|v| (0.0..=1.0).contains(v)),
                    "{c} {s}: a value outside [0, 1]"
                );
                assert_eq!(a.to_u8().len(), img.to_u8().len());
                let again = run(&img, c, s, 7, 3);
                assert!(a == again, "{c} {s}: not deterministic");
                if c.is_random() {
                    let other_seed = run(&img, c, s, 8, 3);
                    let other_image = run(&img, c, s, 7, 4);
                    assert!(a != other_seed, "{c} {s}: same output under another seed");
                    assert!(a != other_image, "{c} {s}: same output for another index");
                }
                assert!(
                    mean_abs_diff(&a, &img) > 0.0 || (c == Corruption::JpegCompression),
                    "{c} {s}: the image did not change"
                );
            }
        }
    }
}

#[test]
fn distortion_grows_with_severity() {
    // Where the reference's parameters are monotone in severity, the mean absolute change
    // (averaged over a few pictures) grows with it. Not tested: glass blur (severity 4 blurs less
    // than 3 but shuffles twice), snow (the layers differ in zoom and threshold non-monotonically),
    // elastic (severity 1 has the largest affine jitter) and frost (from severity 3 on the image is
    // also darkened, so |(a − 1)·x + b·frost| shrinks for mid-grey images and frost).
    let monotone = [
        Corruption::GaussianNoise,
        Corruption::ShotNoise,
        Corruption::ImpulseNoise,
        Corruption::DefocusBlur,
        Corruption::MotionBlur,
        Corruption::ZoomBlur,
        Corruption::Fog,
        Corruption::Brightness,
        Corruption::Contrast,
        Corruption::Pixelate,
        Corruption::JpegCompression,
    ];
    for (channels, size) in [(3, 32), (1, 28)] {
        let pictures: Vec<Image> = (0..6).map(|v| picture(channels, size, v)).collect();
        for c in monotone {
            let dist: Vec<f64> = Severity::ALL
                .iter()
                .map(|&s| {
                    pictures
                        .iter()
                        .enumerate()
                        .map(|(i, p)| mean_abs_diff(&run(p, c, s, 11, i as u64), p))
                        .sum::<f64>()
                        / pictures.len() as f64
                })
                .collect();
            for k in 1..5 {
                assert!(
                    dist[k] >= dist[k - 1] * 0.98,
                    "{c} on {channels}×{size}: distortion per severity {dist:?}"
                );
            }
            assert!(dist[4] > dist[0], "{c}: {dist:?}");
        }
    }
}

#[test]
fn contrast_keeps_the_channel_means() {
    let img = picture(3, 32, 2);
    for s in Severity::ALL {
        let out = run(&img, Corruption::Contrast, s, 0, 0);
        for c in 0..3 {
            let m0 = img.plane(c).iter().sum::<f64>() / 1024.0;
            let m1 = out.plane(c).iter().sum::<f64>() / 1024.0;
            assert!((m0 - m1).abs() < 1e-12, "severity {s} channel {c}");
        }
    }
}

#[test]
fn brightness_keeps_hue_and_saturation_below_white() {
    let img = picture(3, 32, 3);
    let n = 32 * 32;
    for s in Severity::ALL {
        let out = run(&img, Corruption::Brightness, s, 0, 0);
        let add = [0.05, 0.1, 0.15, 0.2, 0.3][usize::from(s.get() - 1)];
        for i in 0..n {
            let (h0, s0, v0) =
                digital::rgb_to_hsv(img.data()[i], img.data()[n + i], img.data()[2 * n + i]);
            let (h1, s1, v1) =
                digital::rgb_to_hsv(out.data()[i], out.data()[n + i], out.data()[2 * n + i]);
            if v0 + add <= 1.0 && s0 > 1e-9 {
                assert!((h0 - h1).abs() < 1e-9, "hue {h0} -> {h1}");
                assert!((s0 - s1).abs() < 1e-9, "saturation {s0} -> {s1}");
                assert!((v1 - v0 - add).abs() < 1e-9);
            }
        }
    }
    // Grayscale: the value is the pixel.
    let grey = picture(1, 28, 3);
    let out = run(
        &grey,
        Corruption::Brightness,
        Severity::new(2).unwrap(),
        0,
        0,
    );
    for (a, b) in grey.data().iter().zip(out.data()) {
        assert!((b - (a + 0.1).min(1.0)).abs() < 1e-12);
    }
}

#[test]
fn gaussian_noise_has_the_stated_spread() {
    let img = Image::new(3, 32, 32, vec![0.5; 3 * 32 * 32]).unwrap();
    for (s, sigma) in Severity::ALL.iter().zip([0.04, 0.06, 0.08, 0.09, 0.10]) {
        let out = run(&img, Corruption::GaussianNoise, *s, 5, 0);
        let var =
            out.data().iter().map(|v| (v - 0.5).powi(2)).sum::<f64>() / out.data().len() as f64;
        assert!(
            (var.sqrt() / sigma - 1.0).abs() < 0.08,
            "severity {s}: std {}",
            var.sqrt()
        );
    }
}

#[test]
fn impulse_noise_flips_the_stated_fraction() {
    let img = Image::new(3, 32, 32, vec![0.5; 3 * 32 * 32]).unwrap();
    let mut flipped = 0usize;
    let trials = 20;
    for i in 0..trials {
        let out = run(
            &img,
            Corruption::ImpulseNoise,
            Severity::new(5).unwrap(),
            1,
            i,
        );
        flipped += out.data().iter().filter(|&&v| v != 0.5).count();
    }
    let frac = flipped as f64 / (trials as f64 * 3.0 * 1024.0);
    assert!((frac - 0.07).abs() < 0.01, "fraction {frac}");
}

#[test]
fn defocus_and_zoom_blur_keep_a_flat_image() {
    let img = Image::new(1, 28, 28, vec![0.4; 28 * 28]).unwrap();
    for c in [
        Corruption::DefocusBlur,
        Corruption::ZoomBlur,
        Corruption::MotionBlur,
    ] {
        for s in Severity::ALL {
            let out = run(&img, c, s, 0, 0);
            assert!(
                out.data().iter().all(|v| (v - 0.4).abs() < 1.0 / 255.0),
                "{c} {s}"
            );
        }
    }
}

#[test]
fn glass_blur_of_a_flat_image_stays_flat_after_quantisation() {
    let img = Image::new(3, 32, 32, vec![102.0 / 255.0; 3 * 32 * 32]).unwrap();
    let out = run(&img, Corruption::GlassBlur, Severity::new(5).unwrap(), 0, 0);
    assert!(out.to_u8().iter().all(|&v| v == 102));
}

#[test]
fn frost_needs_images_and_uses_them() {
    let img = picture(3, 32, 0);
    let s = Severity::new(3).unwrap();
    let mut rng = image_rng(0, Corruption::Frost, s, 0);
    assert!(matches!(
        apply(&img, Corruption::Frost, s, &mut rng, None),
        Err(CorruptError::FrostImagesMissing)
    ));
    assert!(matches!(
        apply(&img, Corruption::Frost, s, &mut rng, Some(&[])),
        Err(CorruptError::FrostImagesMissing)
    ));
    // A frost image smaller than the picture is a clear error.
    let tiny = vec![FrostImage::new(20, 20, vec![0; 3 * 400]).unwrap()];
    let err = apply(&img, Corruption::Frost, s, &mut rng, Some(&tiny)).unwrap_err();
    assert!(err.to_string().contains("too small"), "{err}");
    // With black frost, frost only scales the image by its weight (.9 at severity 3).
    let black: Vec<FrostImage> = (0..5)
        .map(|_| FrostImage::new(40, 40, vec![0; 3 * 1600]).unwrap())
        .collect();
    let out = apply(&img, Corruption::Frost, s, &mut rng, Some(&black)).unwrap();
    for (a, b) in img.data().iter().zip(out.data()) {
        assert!((b - 0.9 * a).abs() < 1e-12);
    }
}

#[test]
fn frost_images_shrink_like_opencv() {
    // 10×15 interleaved RGB whose red channel is the column index: shrinking by .2 keeps
    // columns 2, 7, 12 and rows 2, 7.
    let (h, w) = (10, 15);
    let mut rgb = Vec::new();
    for y in 0..h {
        for x in 0..w {
            rgb.extend([x as u8, y as u8, 9]);
        }
    }
    let f = FrostImage::from_full_size(h, w, &rgb, 0.2).unwrap();
    assert_eq!((f.height(), f.width()), (2, 3));
    assert_eq!(f.at(0, 1, 2), 12.0);
    assert_eq!(f.at(1, 1, 0), 7.0);
    assert_eq!(f.at(2, 0, 0), 9.0);
}

#[test]
fn names_and_severities_parse_and_reject_clearly() {
    for c in Corruption::ALL {
        assert_eq!(c.name().parse::<Corruption>().unwrap(), c);
    }
    assert_eq!(
        "Motion-Blur".parse::<Corruption>().unwrap(),
        Corruption::MotionBlur
    );
    assert_eq!(Corruption::ALL.len(), 15);
    let err = "gaussian_blur"
        .parse::<Corruption>()
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown corruption `gaussian_blur`") && err.contains("jpeg_compression"));
    for bad in ["0", "6", "-1", "x", ""] {
        let err = bad.parse::<Severity>().unwrap_err().to_string();
        assert!(err.contains("1 to 5"), "{bad}: {err}");
    }
    assert!(Severity::new(0).is_err() && Severity::new(6).is_err());
    assert_eq!("3".parse::<Severity>().unwrap().get(), 3);
}

#[test]
fn images_reject_bad_shapes() {
    assert!(Image::new(3, 2, 2, vec![0.0; 11]).is_err());
    assert!(Image::new(0, 2, 2, vec![]).is_err());
    assert!(Image::from_u8([1, 2, 2], &[0, 1, 2, 3]).is_ok());
}

#[test]
fn datasets_are_corrupted_per_image_independently_of_the_rest() {
    let n = 12;
    let mut pixels = Vec::new();
    for v in 0..n {
        pixels.extend(picture(1, 28, v as u64).to_u8());
    }
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let ds = Dataset::new("toy/test", pixels, [n, 1, 28, 28], labels.clone(), 10).unwrap();
    let s = Severity::new(4).unwrap();
    let full = corrupt_dataset(&ds, Corruption::ShotNoise, s, 9, None).unwrap();
    assert_eq!(full.labels(), &labels[..]);
    assert_eq!(full.name(), "toy/test/shot_noise-4");
    let prefix = corrupt_dataset(
        &ds.select(&[0, 1, 2, 3]).unwrap(),
        Corruption::ShotNoise,
        s,
        9,
        None,
    )
    .unwrap();
    assert_eq!(prefix.images(), &full.images()[..4 * 28 * 28]);
    for i in [0, 5, 11] {
        let img = Image::from_u8([1, 28, 28], ds.image(i)).unwrap();
        let mut rng = image_rng(9, Corruption::ShotNoise, s, i as u64);
        let one = apply(&img, Corruption::ShotNoise, s, &mut rng, None).unwrap();
        assert_eq!(full.image(i), &one.to_u8()[..]);
    }
    assert!(matches!(
        corrupt_dataset(&ds, Corruption::Frost, s, 9, None),
        Err(CorruptError::FrostImagesMissing)
    ));
}
