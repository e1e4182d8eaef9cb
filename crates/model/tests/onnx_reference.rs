//! Our forward on weights read from ONNX files against ONNX Runtime's outputs of the same
//! graphs, every hidden state and every attention matrix (references from
//! `tests/reference/onnx_reference.py`, committed under `tests/fixtures/onnx/`).
//!
//! The `.onnx` files are not committed: the tests find them through `EIGENFORMER_MINILM_L3_ONNX`
//! / `EIGENFORMER_DINOV2_S_ONNX` or the asset cache (`eigenformer fetch minilm-l3` /
//! `dinov2-s`), and skip with a printed reason when neither has them. Set
//! `EIGENFORMER_REQUIRE_ASSETS=1` to turn a skip into a failure.

mod hf_support;

use eigenformer_model::hf::{Family, HfEncoder};
use eigenformer_model::onnx;
use hf_support::{compare, load_reference};
use ndarray::ArrayD;
use safetensors::SafeTensors;
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/onnx")
        .join(name)
}

/// The `.onnx` of `asset`, or why there is none.
fn onnx_file(asset: &str, file: &str, env_var: &str) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(env_var).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{env_var}={} is not a file", p.display()))
        };
    }
    let var = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let roots: Vec<PathBuf> = [
        var("EIGENFORMER_CACHE"),
        var("XDG_CACHE_HOME").map(|p| p.join("eigenformer")),
        var("HOME").map(|p| p.join(".cache").join("eigenformer")),
    ]
    .into_iter()
    .flatten()
    .collect();
    for root in &roots {
        let cand = root.join(asset).join(file);
        if cand.is_file() {
            return Ok(cand);
        }
    }
    Err(format!(
        "no {file}: set {env_var} or run `eigenformer fetch {asset}` (looked in {})",
        roots
            .iter()
            .map(|r| r.join(asset).display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

fn load_or_skip(asset: &str, file: &str, env_var: &str) -> Option<HfEncoder> {
    match onnx_file(asset, file, env_var) {
        Ok(p) => Some(onnx::load(&p).unwrap_or_else(|e| panic!("{e}"))),
        Err(why) => {
            assert!(
                std::env::var_os("EIGENFORMER_REQUIRE_ASSETS").is_none(),
                "EIGENFORMER_REQUIRE_ASSETS is set but {why}"
            );
            println!("SKIPPED: {why}");
            None
        }
    }
}

#[test]
fn minilm_l3_onnx_matches_onnxruntime() {
    let Some(model) = load_or_skip(
        "minilm-l3",
        "paraphrase-MiniLM-L3-v2.onnx",
        "EIGENFORMER_MINILM_L3_ONNX",
    ) else {
        return;
    };
    let c = model.config();
    assert_eq!(
        (c.family, c.layers, c.width, c.heads),
        (Family::Bert, 3, 384, 12)
    );
    let a = compare(
        &model,
        &load_reference(&fixture("minilm-l3-reference.safetensors")),
    );
    println!(
        "minilm-l3: min cosine {:.7}, max |ours − onnxruntime| {:.2e}, attention {:.2e}",
        a.min_cosine, a.max_abs, a.max_attn_abs
    );
}

fn final_states(path: &Path) -> Vec<ArrayD<f32>> {
    let bytes = std::fs::read(path).expect("reference");
    let st = SafeTensors::deserialize(&bytes).expect("safetensors");
    (0..)
        .map_while(|i| st.tensor(&format!("s{i}.final")).ok())
        .map(|t| {
            let v: Vec<f32> = t
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            ArrayD::from_shape_vec(t.shape(), v).expect("shape")
        })
        .collect()
}

#[test]
fn dinov2_s_onnx_matches_onnxruntime() {
    let Some(model) = load_or_skip("dinov2-s", "vit_s_focus.onnx", "EIGENFORMER_DINOV2_S_ONNX")
    else {
        return;
    };
    let c = model.config();
    assert_eq!(
        (c.family, c.layers, c.width, c.heads),
        (Family::Dinov2, 12, 384, 6)
    );
    assert_eq!(
        c.image.map(|i| (i.image_size, i.patch_size)),
        Some((518, 14))
    );
    assert!(c.layer_scale.is_some());
    let path = fixture("dinov2-s-reference.safetensors");
    let cases = load_reference(&path);
    let a = compare(&model, &cases);
    // The output LayerNorm (transformers' last_hidden_state).
    let mut final_abs = 0.0f64;
    for (case, theirs) in cases.iter().zip(final_states(&path)) {
        let px = case.pixels.as_ref().expect("pixels");
        let ours = model
            .forward_pixels(px.view())
            .expect("forward")
            .final_hidden
            .expect("final norm");
        assert_eq!(ours.shape(), theirs.shape());
        for (x, y) in ours.iter().zip(theirs.iter()) {
            final_abs = final_abs.max(f64::from((x - y).abs()));
        }
    }
    assert!(
        final_abs <= hf_support::MAX_ABS,
        "final LayerNorm max |diff| {final_abs}"
    );
    println!(
        "dinov2-s: min cosine {:.7}, max |ours − onnxruntime| {:.2e} (final {:.2e}), attention {:.2e}",
        a.min_cosine, a.max_abs, final_abs, a.max_attn_abs
    );
}
