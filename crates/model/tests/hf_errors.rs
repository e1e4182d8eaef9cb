//! Bad checkpoints and bad inputs give an [`HfError`] naming the file and the tensor, never a
//! panic; odd-but-valid checkpoints (prefixed names, `gamma`/`beta`, half precision, non-finite
//! values) load.

mod hf_support;

use eigenformer_model::hf::{self, HfEncoder, HfError};
use hf_support::fixtures;
use ndarray::{Array2, Array3};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::path::Path;

/// One tensor of a checkpoint, owned, to be edited and written back.
struct Owned {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

fn tiny_bert_bytes() -> Vec<u8> {
    std::fs::read(fixtures().join("tiny-bert/model.safetensors")).expect("fixture")
}

fn tiny_bert_config() -> String {
    std::fs::read_to_string(fixtures().join("tiny-bert/config.json")).expect("fixture")
}

fn tensors(bytes: &[u8]) -> Vec<Owned> {
    let st = SafeTensors::deserialize(bytes).expect("valid fixture");
    let mut out: Vec<Owned> = st
        .iter()
        .map(|(name, v)| Owned {
            name: name.to_string(),
            dtype: v.dtype(),
            shape: v.shape().to_vec(),
            data: v.data().to_vec(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn serialize(tensors: &[Owned]) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|t| {
            let view = TensorView::new(t.dtype, t.shape.clone(), &t.data).expect("consistent");
            (t.name.clone(), view)
        })
        .collect();
    safetensors::serialize(views, None).expect("serialize")
}

/// A safetensors file from a hand-written header and `data` bytes.
fn raw(header: &str, data: usize) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.resize(out.len() + data, 0);
    out
}

fn load(config: &str, bytes: &[u8]) -> Result<HfEncoder, HfError> {
    HfEncoder::from_bytes(config, bytes)
}

fn message(r: Result<HfEncoder, HfError>) -> (HfError, String) {
    let e = r.expect_err("must be refused");
    let msg = e.to_string();
    (e, msg)
}

#[test]
fn truncated_file_names_the_file_and_a_tensor() {
    let bytes = tiny_bert_bytes();
    let (e, msg) = message(load(&tiny_bert_config(), &bytes[..bytes.len() / 2]));
    assert!(matches!(e, HfError::TensorEntry { .. }), "{msg}");
    assert!(
        msg.contains("model.safetensors") && msg.contains("past the data"),
        "{msg}"
    );
    for cut in [0, 3, 8, 20] {
        let (e, msg) = message(load(&tiny_bert_config(), &bytes[..cut]));
        assert!(matches!(e, HfError::Header { .. }), "{cut}: {msg}");
    }
}

#[test]
fn corrupted_header_is_refused() {
    let mut bytes = tiny_bert_bytes();
    bytes[8] = b'[';
    bytes[12] = 0xff;
    let (e, msg) = message(load(&tiny_bert_config(), &bytes));
    assert!(matches!(e, HfError::Header { .. }), "{msg}");
    let mut bytes = tiny_bert_bytes();
    bytes[0..8].copy_from_slice(&u64::MAX.to_le_bytes());
    let (e, msg) = message(load(&tiny_bert_config(), &bytes));
    assert!(matches!(e, HfError::Header { .. }), "{msg}");
}

#[test]
fn out_of_range_and_overlapping_offsets_name_the_tensor() {
    let config = tiny_bert_config();
    let h = r#"{"embeddings.word_embeddings.weight":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}}"#;
    let (e, msg) = message(load(&config, &raw(h, 16)));
    assert!(
        matches!(&e, HfError::TensorEntry { tensor, .. } if tensor == "w"),
        "{msg}"
    );
    let h = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#;
    let (e, msg) = message(load(&config, &raw(h, 12)));
    assert!(
        matches!(e, HfError::TensorEntry { .. }) && msg.contains("overlap"),
        "{msg}"
    );
    // A gap between tensors passes our check and is refused by the safetensors crate.
    let h = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#;
    let (e, msg) = message(load(&config, &raw(h, 12)));
    assert!(matches!(e, HfError::Safetensors { .. }), "{msg}");
}

#[test]
fn missing_tensor_is_named() {
    let mut t = tensors(&tiny_bert_bytes());
    t.retain(|t| t.name != "encoder.layer.1.attention.self.value.bias");
    let (e, msg) = message(load(&tiny_bert_config(), &serialize(&t)));
    assert!(
        matches!(&e, HfError::MissingTensor { tensor, .. } if tensor == "encoder.layer.1.attention.self.value.bias"),
        "{msg}"
    );
    assert!(
        msg.contains("bert.encoder.layer.1.attention.self.value.bias"),
        "{msg}"
    );
}

#[test]
fn config_that_does_not_match_the_tensors_names_the_tensor() {
    let config =
        tiny_bert_config().replace("\"intermediate_size\": 64", "\"intermediate_size\": 65");
    assert_ne!(config, tiny_bert_config());
    let (e, msg) = message(load(&config, &tiny_bert_bytes()));
    assert!(
        matches!(&e, HfError::TensorShape { tensor, expected, found, .. }
            if tensor == "encoder.layer.0.intermediate.dense.weight" && expected == &[65, 32] && found == &[64, 32]),
        "{msg}"
    );
    let config = tiny_bert_config().replace("\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
    let (e, msg) = message(load(&config, &tiny_bert_bytes()));
    assert!(
        matches!(e, HfError::MissingTensor { .. }) && msg.contains("layer.2"),
        "{msg}"
    );
}

#[test]
fn bad_configs_name_the_field() {
    let bytes = tiny_bert_bytes();
    let (e, msg) = message(load("{not json", &bytes));
    assert!(
        matches!(e, HfError::ConfigParse { .. }) && msg.contains("config.json"),
        "{msg}"
    );
    let (e, _) = message(load("[1, 2]", &bytes));
    assert!(matches!(e, HfError::ConfigParse { .. }));
    let no_width = tiny_bert_config().replace("\"hidden_size\"", "\"hidden_sighs\"");
    let (e, msg) = message(load(&no_width, &bytes));
    assert!(
        matches!(&e, HfError::ConfigField { field, .. } if field == "hidden_size"),
        "{msg}"
    );
    let bad_heads =
        tiny_bert_config().replace("\"num_attention_heads\": 4", "\"num_attention_heads\": 5");
    let (e, msg) = message(load(&bad_heads, &bytes));
    assert!(
        matches!(&e, HfError::ConfigField { field, .. } if field == "num_attention_heads"),
        "{msg}"
    );
    let typed = tiny_bert_config().replace("\"vocab_size\": 64", "\"vocab_size\": \"64\"");
    let (e, msg) = message(load(&typed, &bytes));
    assert!(
        matches!(&e, HfError::ConfigField { field, .. } if field == "vocab_size"),
        "{msg}"
    );
    let t5 = tiny_bert_config().replace("\"model_type\": \"bert\"", "\"model_type\": \"t5\"");
    let (e, msg) = message(load(&t5, &bytes));
    assert!(
        matches!(e, HfError::UnsupportedModel { .. }) && msg.contains("\"t5\""),
        "{msg}"
    );
    // The message lists every supported model_type.
    for supported in [
        "bert", "mpnet", "vit", "deit", "gpt2", "llama", "mistral", "qwen2",
    ] {
        assert!(msg.contains(supported), "{supported} missing from: {msg}");
    }
}

#[test]
fn missing_files_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let e = hf::load_dir(dir.path()).expect_err("no config");
    assert!(
        matches!(&e, HfError::Io { file, .. } if file.ends_with("config.json")),
        "{e}"
    );
    std::fs::write(dir.path().join("config.json"), tiny_bert_config()).expect("write");
    let e = hf::load_dir(dir.path()).expect_err("no weights");
    assert!(
        matches!(&e, HfError::Io { file, .. } if file.ends_with("model.safetensors")),
        "{e}"
    );
    std::fs::write(dir.path().join("model.safetensors"), b"").expect("write");
    let e = hf::load_dir(dir.path()).expect_err("empty weights");
    assert!(matches!(e, HfError::Header { .. }), "{e}");
}

#[test]
fn prefixed_names_and_gamma_beta_load_the_same_model() {
    let plain = load(&tiny_bert_config(), &tiny_bert_bytes()).expect("plain");
    let mut t = tensors(&tiny_bert_bytes());
    for x in &mut t {
        x.name = format!("bert.{}", x.name)
            .replace("LayerNorm.weight", "LayerNorm.gamma")
            .replace("LayerNorm.bias", "LayerNorm.beta");
    }
    // A task head's own tensors next to the encoder's must not confuse the lookup.
    t.push(Owned {
        name: "cls.predictions.bias".into(),
        dtype: Dtype::F32,
        shape: vec![1],
        data: vec![0; 4],
    });
    let prefixed = load(&tiny_bert_config(), &serialize(&t)).expect("prefixed");
    let ids = [3, 17, 42, 5];
    let (a, b) = (
        plain.forward(&ids).expect("fwd"),
        prefixed.forward(&ids).expect("fwd"),
    );
    assert_eq!(a, b);
}

#[test]
fn half_precision_checkpoints_load() {
    let t = tensors(&tiny_bert_bytes());
    let plain = load(&tiny_bert_config(), &tiny_bert_bytes()).expect("plain");
    let ids = [3, 17, 42, 5];
    let want = plain.forward(&ids).expect("fwd").hidden_states;
    for dtype in [Dtype::BF16, Dtype::F16, Dtype::F64] {
        let converted: Vec<Owned> = t
            .iter()
            .map(|x| {
                let floats = x
                    .data
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]));
                let data: Vec<u8> = match dtype {
                    Dtype::BF16 => floats
                        .flat_map(|f| ((f.to_bits() >> 16) as u16).to_le_bytes())
                        .collect(),
                    Dtype::F16 => floats.flat_map(|f| f32_to_f16(f).to_le_bytes()).collect(),
                    _ => floats.flat_map(|f| f64::from(f).to_le_bytes()).collect(),
                };
                Owned {
                    name: x.name.clone(),
                    dtype,
                    shape: x.shape.clone(),
                    data,
                }
            })
            .collect();
        let model = load(&tiny_bert_config(), &serialize(&converted)).expect("half");
        let got = model.forward(&ids).expect("fwd").hidden_states;
        let worst = got
            .iter()
            .zip(&want)
            .flat_map(|(a, b)| a.iter().zip(b.iter()).map(|(x, y)| (x - y).abs()))
            .fold(0.0f32, f32::max);
        let tol = if dtype == Dtype::F64 { 0.0 } else { 0.1 };
        assert!(worst <= tol, "{dtype:?}: max |diff| {worst}");
    }
}

/// f32 → IEEE half, round toward zero (enough for a test of the loader's conversion).
fn f32_to_f16(f: f32) -> u16 {
    let b = f.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
    if exp <= 0 {
        return sign;
    }
    if exp >= 0x1f {
        return sign | 0x7c00;
    }
    sign | ((exp as u16) << 10) | ((b >> 13) & 0x3ff) as u16
}

#[test]
fn non_finite_weights_load() {
    let mut t = tensors(&tiny_bert_bytes());
    let w = t
        .iter_mut()
        .find(|x| x.name == "encoder.layer.0.output.dense.bias")
        .expect("tensor");
    w.data[0..4].copy_from_slice(&f32::NAN.to_le_bytes());
    w.data[4..8].copy_from_slice(&f32::INFINITY.to_le_bytes());
    let model = load(&tiny_bert_config(), &serialize(&t)).expect("non-finite values load");
    let trace = model.forward(&[3, 4]).expect("forward runs");
    assert!(trace.hidden_states[1].iter().any(|v| v.is_nan()));
}

#[test]
fn bad_inputs_are_refused() {
    let text = hf::load_dir(&fixtures().join("tiny-bert")).expect("load");
    let vision = hf::load_dir(&fixtures().join("tiny-vit")).expect("load");
    assert!(matches!(text.forward(&[]), Err(HfError::Input(_))));
    assert!(matches!(text.forward(&[64]), Err(HfError::Input(_))));
    assert!(matches!(text.forward(&[u32::MAX]), Err(HfError::Input(_))));
    assert!(matches!(text.forward(&vec![2; 65]), Err(HfError::Input(_))));
    assert!(text.forward(&vec![2; 64]).is_ok());
    assert!(matches!(vision.forward(&[1, 2]), Err(HfError::Input(_))));
    let px = Array3::<f32>::zeros((3, 8, 8));
    assert!(matches!(
        text.forward_pixels(px.view()),
        Err(HfError::Input(_))
    ));
    assert!(vision.forward_pixels(px.view()).is_ok());
    let wrong = Array3::<f32>::zeros((3, 8, 9));
    assert!(matches!(
        vision.forward_pixels(wrong.view()),
        Err(HfError::Input(_))
    ));
    let mpnet = hf::load_dir(&fixtures().join("tiny-mpnet")).expect("load");
    assert!(mpnet.forward(&vec![2; 64]).is_ok());
    assert!(matches!(
        mpnet.forward(&vec![2; 65]),
        Err(HfError::Input(_))
    ));
}

fn weight(model_dir: &Path, name: &str) -> Array2<f64> {
    let bytes = std::fs::read(model_dir.join("model.safetensors")).expect("read");
    let t = tensors(&bytes);
    let x = t.iter().find(|x| x.name == name).expect("tensor");
    let v: Vec<f64> = x
        .data
        .chunks_exact(4)
        .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    let cols = x.shape.get(1).copied().unwrap_or(1);
    Array2::from_shape_vec((x.shape[0], cols), v).expect("shape")
}

#[test]
fn head_factors_follow_theory_conventions() {
    for (family, v_name, o_name, gamma0) in [
        (
            "tiny-bert",
            "attention.self.value",
            "attention.output.dense",
            "embeddings.LayerNorm.weight",
        ),
        (
            "tiny-mpnet",
            "attention.attn.v",
            "attention.attn.o",
            "embeddings.LayerNorm.weight",
        ),
        (
            "tiny-vit",
            "attention.attention.value",
            "attention.output.dense",
            "encoder.layer.0.layernorm_before.weight",
        ),
    ] {
        let dir = fixtures().join(family);
        let model = hf::load_dir(&dir).expect("load");
        let c = model.config().clone();
        // Σ_h W_V^h W_O^h = Vᵀ Oᵀ = (O V)ᵀ for the [out, in] weights V and O.
        let v = weight(&dir, &format!("encoder.layer.1.{v_name}.weight"));
        let o = weight(&dir, &format!("encoder.layer.1.{o_name}.weight"));
        let want = o.dot(&v).reversed_axes();
        let mut sum = Array2::<f64>::zeros((c.width, c.width));
        for h in 0..c.heads {
            let (w_v, w_o) = model.head_value_output(1, h).expect("head");
            assert_eq!(w_v.dim(), (c.width, c.head_dim));
            assert_eq!(w_o.dim(), (c.head_dim, c.width));
            let hm = model.head_matrix(1, h).expect("head");
            assert!((&hm - &w_v.dot(&w_o)).iter().all(|x| x.abs() < 1e-12));
            sum += &hm;
        }
        let err = (&sum - &want).iter().fold(0.0f64, |m, x| m.max(x.abs()));
        assert!(err < 1e-9, "{family}: {err}");
        let g = model.attention_input_ln_gamma(0).expect("gamma");
        let want_g = weight(&dir, gamma0).column(0).to_owned();
        assert_eq!(g, want_g, "{family}");
        assert!(matches!(
            model.head_value_output(c.layers, 0),
            Err(HfError::Index { what: "layer", .. })
        ));
        assert!(matches!(
            model.head_value_output(0, c.heads),
            Err(HfError::Index { what: "head", .. })
        ));
        assert!(model.attention_input_ln_gamma(c.layers).is_err());
    }
    // Post-LN: the input of layer 1's attention is layer 0's output LayerNorm.
    let dir = fixtures().join("tiny-bert");
    let model = hf::load_dir(&dir).expect("load");
    let g = model.attention_input_ln_gamma(1).expect("gamma");
    assert_eq!(
        g,
        weight(&dir, "encoder.layer.0.output.LayerNorm.weight")
            .column(0)
            .to_owned()
    );
    let dir = fixtures().join("tiny-deit");
    let model = hf::load_dir(&dir).expect("load");
    let g = model.attention_input_ln_gamma(1).expect("gamma");
    assert_eq!(
        g,
        weight(&dir, "encoder.layer.1.layernorm_before.weight")
            .column(0)
            .to_owned()
    );
}

/// The fuzz target's seed checkpoints (`fuzz/corpus/load_checkpoint/seed-<family>`, written by
/// `fuzz/make_seeds.py` for the configs in `fuzz/configs/`) must stay loadable, so the fuzzer
/// starts from inputs that reach the forward pass.
#[test]
fn fuzz_seeds_are_valid_checkpoints() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    for (selector, family) in ["bert", "mpnet", "vit", "deit"].iter().enumerate() {
        let config = std::fs::read_to_string(fuzz.join(format!("configs/{family}.json")))
            .expect("fuzz config");
        let seed = std::fs::read(fuzz.join(format!("corpus/load_checkpoint/seed-{family}")))
            .expect("fuzz seed");
        assert_eq!(seed[0] as usize, selector);
        let model = load(&config, &seed[1..]).unwrap_or_else(|e| panic!("{family}: {e}"));
        match model.config().image {
            Some(i) => {
                let px = Array3::<f32>::zeros((i.channels, i.image_size, i.image_size));
                model.forward_pixels(px.view()).expect("forward");
            }
            None => {
                model.forward(&[0, 1, 2, 3]).expect("forward");
            }
        }
    }
}
