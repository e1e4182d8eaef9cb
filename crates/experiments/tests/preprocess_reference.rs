//! The audit's image preprocessing against transformers' image processors (PIL backend) on the
//! same images: DINOv2's shortest-edge resize with bicubic resampling and a centre crop, ViT's
//! exact bilinear resize, DeiT's exact bicubic resize then a crop. References from
//! `tests/reference/preprocess_reference.py`, committed under `tests/fixtures/preprocess/`.
//!
//! PIL resamples in fixed point and rounds (and clips) to 8 bits after each of its two passes; the
//! `image` crate keeps the first pass in floating point. Measured on these fixtures: at most one
//! step of 1/255 everywhere, except where bicubic upscaling overshoots a hard edge (the 12×12
//! image to 20×20), which PIL clips between the passes: there up to 7 steps on single pixels,
//! with the mean still 0.15 steps. A different resize size, crop offset, filter or channel order
//! moves most pixels by much more, so the bounds (max 8 steps, mean 0.5) tell the two apart.

use eigenformer_experiments::audit::images::Preprocess;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/preprocess")
}

fn base(config: &str) -> Preprocess {
    match config {
        "dinov2" => Preprocess::dinov2(),
        _ => Preprocess::vit(224),
    }
}

/// Largest and mean absolute difference, in units of 1/255 before normalisation.
fn differences(got: &[f32], want: &[f64], std: [f32; 3]) -> (f64, f64) {
    let plane = got.len() / 3;
    let mut max = 0.0f64;
    let mut sum = 0.0;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let steps = (f64::from(*g) - w).abs() * f64::from(std[i / plane]) * 255.0;
        max = max.max(steps);
        sum += steps;
    }
    (max, sum / got.len() as f64)
}

#[test]
fn preprocessing_matches_transformers_image_processors() {
    let text = std::fs::read_to_string(fixtures().join("reference.json")).unwrap();
    let reference: Value = serde_json::from_str(&text).unwrap();
    let cases = reference["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 9, "three processors × three images");
    for case in cases {
        let config = case["config"].as_str().unwrap();
        let image = case["image"].as_str().unwrap();
        let settings = reference["configs"][config].to_string();
        let pre = base(config).with_preprocessor_config(&settings).unwrap();
        let img = image::open(fixtures().join(image)).unwrap().to_rgb8();
        let got = pre.apply(&img);
        let shape: Vec<usize> = case["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(got.shape(), shape.as_slice(), "{config} on {image}");
        let want: Vec<f64> = case["pixel_values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let (max, mean) = differences(got.as_slice().unwrap(), &want, pre.std);
        eprintln!("{config} on {image}: max {max:.2}, mean {mean:.3} steps of 1/255");
        assert!(
            max <= 8.0 && mean <= 0.5,
            "{config} on {image}: max {max:.2}, mean {mean:.3} steps of 1/255"
        );
    }
}

#[test]
fn the_resize_size_follows_transformers() {
    // DINOv2 at full size: the shorter side to 256, the longer truncated (640·256/427 = 383.7).
    let d = Preprocess::dinov2();
    assert_eq!(d.resized_size(640, 427), (383, 256));
    assert_eq!(d.resized_size(427, 640), (256, 383));
    assert_eq!(d.resized_size(32, 32), (256, 256));
    // ViT/DeiT with size {height, width}: both sides, whatever the aspect ratio.
    let deit = Preprocess::vit(224)
        .with_preprocessor_config(r#"{"size": {"height": 256, "width": 256}, "crop_size": 224}"#)
        .unwrap();
    assert_eq!(deit.resized_size(640, 427), (256, 256));
    assert_eq!(deit.crop, 224);
    // A non-square size and an unknown filter are refused.
    let e = Preprocess::vit(224)
        .with_preprocessor_config(r#"{"size": {"height": 224, "width": 200}}"#)
        .unwrap_err();
    assert!(e.to_string().contains("square"), "{e}");
    let e = Preprocess::vit(224)
        .with_preprocessor_config(r#"{"resample": 5}"#)
        .unwrap_err();
    assert!(e.to_string().contains("resample 5"), "{e}");
}
