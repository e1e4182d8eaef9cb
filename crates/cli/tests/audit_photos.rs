//! The vision audit on real assets: the DINOv2-S/14 ONNX backbone (`eigenformer fetch dinov2-s`)
//! on the natural photos Debian's `python3-skimage` ships (`skimage/data`): an RGB PNG and a
//! non-square JPEG, a greyscale PNG (which must give the numbers of the same picture stored as
//! RGB), and the package's deliberately truncated JPEG (an error naming the file).
//!
//! The photos are found through `EIGENFORMER_SKIMAGE_DATA` or the Debian path, the model in the
//! asset cache the binary uses (`Resolver::default_cache_root`). Without either the tests print
//! why they skip; `EIGENFORMER_REQUIRE_ASSETS=1` (set by CI) turns the skip into a failure.

use eigenformer_experiments::audit::AuditReport;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SKIMAGE_DATA: &str = "/usr/lib/python3/dist-packages/skimage/data";

/// The photo directory and the asset cache holding `dinov2-s`, or why the test cannot run.
fn assets() -> Option<(PathBuf, PathBuf)> {
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let photos = var("EIGENFORMER_SKIMAGE_DATA").unwrap_or_else(|| PathBuf::from(SKIMAGE_DATA));
    // Where the binary looks too: $EIGENFORMER_CACHE, else $XDG_CACHE_HOME, else ~/.cache.
    let cache = eigenformer_assets::Resolver::default_cache_root().unwrap_or_default();
    let missing = if !photos.join("astronaut.png").is_file() {
        Some(format!(
            "no skimage photos in {} (apt-get install python3-skimage, or set \
             EIGENFORMER_SKIMAGE_DATA)",
            photos.display()
        ))
    } else if !cache.join("dinov2-s").is_dir() {
        Some(format!(
            "no dinov2-s in the asset cache {} (run `eigenformer fetch dinov2-s`)",
            cache.display()
        ))
    } else {
        None
    };
    match missing {
        None => Some((photos, cache)),
        Some(why) if std::env::var_os("EIGENFORMER_REQUIRE_ASSETS").is_some() => {
            panic!("EIGENFORMER_REQUIRE_ASSETS is set but {why}")
        }
        Some(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

fn audit(cache: &Path, images: &Path, out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eigenformer"))
        .args(["audit", "--model", "dinov2-s", "--images"])
        .arg(images)
        .arg("--out")
        .arg(out)
        .env("EIGENFORMER_CACHE", cache)
        .env("HF_HUB_OFFLINE", "1")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap()
}

fn report(out: &Path) -> AuditReport {
    serde_json::from_slice(&std::fs::read(out.join("audit.json")).unwrap()).unwrap()
}

fn copy_into(dir: &Path, photos: &Path, names: &[&str]) {
    std::fs::create_dir_all(dir).unwrap();
    for n in names {
        std::fs::copy(photos.join(n), dir.join(n)).unwrap();
    }
}

#[test]
fn dinov2_is_audited_on_real_photos_of_any_size_and_colour_type() {
    let Some((photos, cache)) = assets() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();

    // An RGB PNG (512×512) and a landscape JPEG (427×640).
    let colour = tmp.path().join("colour");
    copy_into(&colour, &photos, &["astronaut.png", "rocket.jpg"]);
    let o = audit(&cache, &colour, &tmp.path().join("out-colour"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = report(&tmp.path().join("out-colour"));
    assert_eq!(r.text.sentences, 2);
    assert_eq!(
        r.text.max_tokens, 257,
        "CLS + 16×16 patches of 14 px at 224"
    );
    assert_eq!(r.layers.len(), 13, "the embeddings and 12 blocks");
    for l in &r.layers {
        assert!(
            l.mean_cosine.is_finite() && (-1.0..=1.0).contains(&l.mean_cosine),
            "layer {}: {}",
            l.index,
            l.mean_cosine
        );
    }
    assert!(r.layers[1..].iter().all(|l| l.heads.len() == 6));

    // A greyscale PNG gives exactly what the same picture stored as RGB gives.
    let grey = tmp.path().join("grey");
    copy_into(&grey, &photos, &["camera.png"]);
    let rgb = tmp.path().join("rgb");
    std::fs::create_dir_all(&rgb).unwrap();
    let camera = image::open(photos.join("camera.png")).unwrap();
    assert!(
        matches!(camera.color(), image::ColorType::L8),
        "camera.png is the greyscale photo"
    );
    camera.to_rgb8().save(rgb.join("camera.png")).unwrap();
    let (og, or) = (tmp.path().join("out-grey"), tmp.path().join("out-rgb"));
    for (dir, out) in [(&grey, &og), (&rgb, &or)] {
        let o = audit(&cache, dir, out);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let (g, c) = (report(&og), report(&or));
    for (a, b) in g.layers.iter().zip(&c.layers) {
        assert_eq!(a.mean_cosine, b.mean_cosine, "layer {}", a.index);
        assert_eq!(a.hc_dc, b.hc_dc, "layer {}", a.index);
    }
}

#[test]
fn the_truncated_jpeg_of_skimage_is_an_error_naming_it() {
    let Some((photos, cache)) = assets() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("images");
    copy_into(&dir, &photos, &["truncated.jpg"]);
    let o = audit(&cache, &dir, &tmp.path().join("out"));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a truncated JPEG was accepted");
    assert!(err.contains("truncated.jpg"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
