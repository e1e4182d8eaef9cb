//! Shared by the `hf_*` integration tests: reading the reference dumps written by
//! `benches/compare/hf_reference.py` and comparing our forward pass with them.

#![allow(dead_code)]

use eigenformer_model::hf::HfEncoder;
use ndarray::{Array3, Array4, ArrayD, Axis, IxDyn};
use safetensors::{Dtype, SafeTensors};
use std::path::{Path, PathBuf};

/// Per-token cosine every layer must reach (issue 5).
pub const MIN_COSINE: f64 = 0.9999;
/// Largest absolute difference allowed in any hidden-state entry (issue 5).
pub const MAX_ABS: f64 = 1e-3;
/// Largest absolute difference allowed in any attention probability.
pub const MAX_ATTN_ABS: f64 = 1e-4;

/// `crates/model/tests/fixtures/hf`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hf")
}

/// One input of a reference dump and transformers' outputs on it.
pub struct Case {
    pub ids: Option<Vec<u32>>,
    pub pixels: Option<Array3<f32>>,
    /// `[layers + 1, tokens, width]`.
    pub hidden: Array3<f32>,
    /// `[layers, heads, tokens, tokens]`, when dumped.
    pub attn: Option<Array4<f32>>,
}

fn f32_array(st: &SafeTensors<'_>, name: &str) -> Option<ArrayD<f32>> {
    let t = st.tensor(name).ok()?;
    assert_eq!(t.dtype(), Dtype::F32, "{name}");
    let v: Vec<f32> = t
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Some(ArrayD::from_shape_vec(IxDyn(t.shape()), v).expect("shape"))
}

/// Read every `s{i}.*` case of a reference dump.
pub fn load_reference(path: &Path) -> Vec<Case> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = SafeTensors::deserialize(&bytes).expect("reference dump");
    let mut cases = Vec::new();
    for i in 0.. {
        let Some(hidden) = f32_array(&st, &format!("s{i}.hidden")) else {
            break;
        };
        let ids = st.tensor(&format!("s{i}.ids")).ok().map(|t| {
            assert_eq!(t.dtype(), Dtype::I64);
            t.data()
                .chunks_exact(8)
                .map(|c| {
                    let v = i64::from_le_bytes(c.try_into().expect("8 bytes"));
                    u32::try_from(v).expect("token id")
                })
                .collect()
        });
        let pixels = f32_array(&st, &format!("s{i}.pixels"))
            .map(|p| p.into_dimensionality().expect("[C, H, W]"));
        let attn = f32_array(&st, &format!("s{i}.attn"))
            .map(|a| a.into_dimensionality().expect("[L, h, n, n]"));
        cases.push(Case {
            ids,
            pixels,
            hidden: hidden.into_dimensionality().expect("[L+1, n, d]"),
            attn,
        });
    }
    assert!(!cases.is_empty(), "{}: no cases", path.display());
    cases
}

/// Worst agreement over all cases, layers and tokens.
#[derive(Debug, Default)]
pub struct Agreement {
    pub min_cosine: f64,
    pub max_abs: f64,
    pub max_attn_abs: f64,
    pub layers: usize,
    pub tokens: usize,
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    ab / (aa.sqrt() * bb.sqrt()).max(f64::MIN_POSITIVE)
}

/// Run `model` on every case and measure the agreement; panics with the first layer/token
/// outside the tolerances.
pub fn compare(model: &HfEncoder, cases: &[Case]) -> Agreement {
    let mut agg = Agreement {
        min_cosine: 1.0,
        ..Agreement::default()
    };
    for (c, case) in cases.iter().enumerate() {
        let trace = match (&case.ids, &case.pixels) {
            (Some(ids), _) => model.forward(ids),
            (None, Some(px)) => model.forward_pixels(px.view()),
            (None, None) => panic!("case {c} has neither ids nor pixels"),
        }
        .expect("forward");
        assert_eq!(trace.hidden_states.len(), case.hidden.len_of(Axis(0)));
        for (l, ours) in trace.hidden_states.iter().enumerate() {
            let theirs = case.hidden.index_axis(Axis(0), l);
            assert_eq!(ours.shape(), theirs.shape(), "case {c} layer {l}");
            for (t, (a, b)) in ours.outer_iter().zip(theirs.outer_iter()).enumerate() {
                let (a, b) = (a.to_vec(), b.to_vec());
                let cos = cosine(&a, &b);
                let abs = a
                    .iter()
                    .zip(&b)
                    .map(|(x, y)| f64::from((x - y).abs()))
                    .fold(0.0, f64::max);
                assert!(
                    cos >= MIN_COSINE && abs <= MAX_ABS,
                    "case {c}, hidden state {l}, token {t}: cosine {cos}, max |diff| {abs}"
                );
                agg.min_cosine = agg.min_cosine.min(cos);
                agg.max_abs = agg.max_abs.max(abs);
                agg.tokens += 1;
            }
        }
        agg.layers = trace.hidden_states.len();
        if let Some(attn) = &case.attn {
            assert_eq!(trace.attentions.len(), attn.len_of(Axis(0)));
            for (l, heads) in trace.attentions.iter().enumerate() {
                for (h, ours) in heads.iter().enumerate() {
                    let theirs = attn.index_axis(Axis(0), l);
                    let theirs = theirs.index_axis(Axis(0), h);
                    let abs = (ours - &theirs)
                        .iter()
                        .fold(0.0f64, |m, v| m.max(f64::from(v.abs())));
                    assert!(
                        abs <= MAX_ATTN_ABS,
                        "case {c}, layer {l}, head {h}: attention max |diff| {abs}"
                    );
                    agg.max_attn_abs = agg.max_attn_abs.max(abs);
                }
            }
        }
    }
    agg
}

/// A checkpoint directory for `asset` (`minilm`, `mpnet`): `$env_var` if set, else the
/// eigenformer asset cache (`$EIGENFORMER_CACHE/<asset>`, `$XDG_CACHE_HOME/eigenformer/<asset>`,
/// `~/.cache/eigenformer/<asset>`), searched for a directory holding `config.json` and
/// `model.safetensors` (at most two levels down). `Err` says why there is none.
pub fn checkpoint_dir(asset: &str, env_var: &str) -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os(env_var).filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        return find_model_dir(&dir, 2).ok_or_else(|| {
            format!(
                "{env_var}={} holds no config.json + model.safetensors",
                dir.display()
            )
        });
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
        if let Some(dir) = find_model_dir(&root.join(asset), 2) {
            return Ok(dir);
        }
    }
    Err(format!(
        "no {asset} checkpoint: set {env_var} to its directory, or run `eigenformer fetch {asset}` \
         (looked in {})",
        roots
            .iter()
            .map(|r| r.join(asset).display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

fn find_model_dir(dir: &Path, depth: usize) -> Option<PathBuf> {
    if dir.join("config.json").is_file() && dir.join("model.safetensors").is_file() {
        return Some(dir.to_path_buf());
    }
    if depth == 0 {
        return None;
    }
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    subdirs.sort();
    subdirs
        .into_iter()
        .find_map(|d| find_model_dir(&d, depth - 1))
}
