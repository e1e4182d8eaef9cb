//! `eigenformer audit --images` end to end on the tiny ViT fixture (8×8 images, patch 4,
//! CLS + 4 patches) with small generated images: the report, the CLS token as a special
//! position, an unreadable image named in the error, and a text model refused on images.

use eigenformer_experiments::audit::AuditReport;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../model/tests/fixtures/hf")
        .join(name)
}

fn eigenformer(args: &[&str], home: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eigenformer"))
        .args(args)
        .env("EIGENFORMER_CACHE", home.join("eigenformer"))
        .env("HF_HOME", home.join("hf"))
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

fn write_images(dir: &Path, n: u32) {
    std::fs::create_dir_all(dir).unwrap();
    for k in 0..n {
        // 20×12 gradients, different per image: shorter side 12 → 8, centre crop 8×8.
        let img = image::RgbImage::from_fn(20, 12, |x, y| {
            image::Rgb([
                (x * 12 + k * 40) as u8,
                (y * 20) as u8,
                ((x + y) * 7 + k) as u8,
            ])
        });
        img.save(dir.join(format!("img{k}.png"))).unwrap();
    }
}

#[test]
fn a_vit_is_audited_on_a_directory_of_images() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    write_images(&images, 3);
    let out = tmp.path().join("out");
    let model = fixture("tiny-vit");
    let o = eigenformer(
        &[
            "audit",
            "--model",
            model.to_str().unwrap(),
            "--images",
            images.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let r: AuditReport =
        serde_json::from_slice(&std::fs::read(out.join("audit.json")).unwrap()).unwrap();
    assert_eq!(r.text.sentences, 3);
    assert_eq!(r.text.max_tokens, 5, "CLS + 2×2 patches");
    assert_eq!(r.layers.len(), 3);
    assert!(r.text.source.contains("images from"), "{}", r.text.source);
    // Without CLS, 4 patch tokens remain: the cosine without the special token exists.
    assert!(r.layers.iter().all(|l| l.mean_cosine_no_special.is_some()));
    assert!(r.layers[1..].iter().all(|l| !l.heads.is_empty()));

    // An unreadable image is an error naming the file.
    std::fs::write(images.join("zz-broken.jpg"), b"not a jpeg").unwrap();
    let o = eigenformer(
        &[
            "audit",
            "--model",
            model.to_str().unwrap(),
            "--images",
            images.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("zz-broken.jpg") && err.contains("not a readable image"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_text_model_is_refused_on_images_and_a_wrong_size_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    write_images(&images, 1);
    let out = tmp.path().join("out");
    let bert = fixture("tiny-bert");
    let o = eigenformer(
        &[
            "audit",
            "--model",
            bert.to_str().unwrap(),
            "--images",
            images.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("is a text model but the inputs are images"),
        "{err}"
    );
    let vit = fixture("tiny-vit");
    let o = eigenformer(
        &[
            "audit",
            "--model",
            vit.to_str().unwrap(),
            "--images",
            images.to_str().unwrap(),
            "--image-size",
            "12",
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("image size 12 does not fit vit"), "{err}");
}

/// `--control random-init` audits a freshly initialised twin on the same images beside the
/// model: written to `random-init/`, named as the control, with the same shape and different
/// numbers (a twin that copied the weights would give the same cosines).
#[test]
fn a_random_init_control_is_audited_beside_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("images");
    write_images(&images, 3);
    let out = tmp.path().join("out");
    let model = fixture("tiny-vit");
    let o = eigenformer(
        &[
            "audit",
            "--model",
            model.to_str().unwrap(),
            "--images",
            images.to_str().unwrap(),
            "--control",
            "random-init",
            "--control-seed",
            "3",
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let read =
        |p: PathBuf| -> AuditReport { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let trained = read(out.join("audit.json"));
    let control = read(out.join("random-init/audit.json"));
    assert!(
        control.model.name.contains("random init, seed 3"),
        "{}",
        control.model.name
    );
    assert_eq!(control.layers.len(), trained.layers.len());
    assert_eq!(control.text.sentences, trained.text.sentences);
    let cos = |r: &AuditReport| r.layers.iter().map(|l| l.mean_cosine).collect::<Vec<_>>();
    assert_ne!(cos(&control), cos(&trained));
}
