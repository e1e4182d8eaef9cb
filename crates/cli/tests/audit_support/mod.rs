//! A tiny BERT checkpoint directory (config.json, model.safetensors with seeded random weights,
//! tokenizer.json) for audit tests that must run offline.

#![allow(dead_code)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use safetensors::tensor::TensorView;
use safetensors::Dtype;
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;

pub const WIDTH: usize = 16;
pub const HEADS: usize = 4;
pub const LAYERS: usize = 2;
pub const MAX_POSITIONS: usize = 12;

/// Words of the tiny vocabulary (ids 4…); everything else is [UNK].
pub const WORDS: &[&str] = &[
    "the", "a", "cat", "dog", "sat", "on", "mat", "ran", "fast", "slow", "big", "small", "red",
    "blue", "and", "is", ".",
];

pub fn vocab_size() -> usize {
    4 + WORDS.len()
}

/// Write the tiny model into `dir`. The tokenizer.json asks for truncation to 4 tokens and
/// padding to 10, which the audit must switch off.
pub fn write_tiny_bert(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let config = json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": WIDTH,
        "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS,
        "intermediate_size": 2 * WIDTH,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-12,
        "max_position_embeddings": MAX_POSITIONS,
        "type_vocab_size": 2,
        "vocab_size": vocab_size(),
        "pad_token_id": 0
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();

    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let d = WIDTH;
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    let mut rand = |shape: &[usize], scale: f32, offset: f32| -> Vec<f32> {
        let n: usize = shape.iter().product();
        (0..n)
            .map(|_| offset + scale * (rng.gen::<f32>() * 2.0 - 1.0))
            .collect()
    };
    let mut push = |name: &str, shape: &[usize], v: Vec<f32>| {
        tensors.push((name.to_string(), shape.to_vec(), v));
    };
    push(
        "embeddings.word_embeddings.weight",
        &[vocab_size(), d],
        rand(&[vocab_size(), d], 1.0, 0.0),
    );
    push(
        "embeddings.position_embeddings.weight",
        &[MAX_POSITIONS, d],
        rand(&[MAX_POSITIONS, d], 0.3, 0.0),
    );
    push(
        "embeddings.token_type_embeddings.weight",
        &[2, d],
        rand(&[2, d], 0.1, 0.0),
    );
    // One negative γ entry in the embedding LayerNorm: diag(γ)H must differ from H.
    let mut gamma = rand(&[d], 0.2, 1.0);
    gamma[0] = -0.8;
    push("embeddings.LayerNorm.weight", &[d], gamma);
    push("embeddings.LayerNorm.bias", &[d], rand(&[d], 0.1, 0.0));
    for l in 0..LAYERS {
        let p = format!("encoder.layer.{l}");
        for lin in [
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
        ] {
            push(
                &format!("{p}.{lin}.weight"),
                &[d, d],
                rand(&[d, d], 0.5, 0.0),
            );
            push(&format!("{p}.{lin}.bias"), &[d], rand(&[d], 0.1, 0.0));
        }
        push(
            &format!("{p}.intermediate.dense.weight"),
            &[2 * d, d],
            rand(&[2 * d, d], 0.4, 0.0),
        );
        push(
            &format!("{p}.intermediate.dense.bias"),
            &[2 * d],
            rand(&[2 * d], 0.1, 0.0),
        );
        push(
            &format!("{p}.output.dense.weight"),
            &[d, 2 * d],
            rand(&[d, 2 * d], 0.4, 0.0),
        );
        push(
            &format!("{p}.output.dense.bias"),
            &[d],
            rand(&[d], 0.1, 0.0),
        );
        for ln in ["attention.output.LayerNorm", "output.LayerNorm"] {
            push(&format!("{p}.{ln}.weight"), &[d], rand(&[d], 0.2, 1.0));
            push(&format!("{p}.{ln}.bias"), &[d], rand(&[d], 0.1, 0.0));
        }
    }
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(n, s, v)| (n, s, v.iter().flat_map(|x| x.to_le_bytes()).collect()))
        .collect();
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, &dir.join("model.safetensors")).unwrap();

    let mut vocab: HashMap<String, usize> = HashMap::new();
    for (i, t) in ["[PAD]", "[UNK]", "[CLS]", "[SEP]"].iter().enumerate() {
        vocab.insert(t.to_string(), i);
    }
    for (i, w) in WORDS.iter().enumerate() {
        vocab.insert(w.to_string(), 4 + i);
    }
    let added = |id: usize, content: &str| {
        json!({"id": id, "content": content, "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false, "special": true})
    };
    let special = |name: &str, id: usize| json!({"id": name, "ids": [id], "tokens": [name]});
    let tokenizer = json!({
        "version": "1.0",
        "truncation": {"direction": "Right", "max_length": 4, "strategy": "LongestFirst", "stride": 0},
        "padding": {"strategy": {"Fixed": 10}, "direction": "Right", "pad_to_multiple_of": null,
                    "pad_id": 0, "pad_type_id": 0, "pad_token": "[PAD]"},
        "added_tokens": [added(0, "[PAD]"), added(1, "[UNK]"), added(2, "[CLS]"), added(3, "[SEP]")],
        "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true,
                       "strip_accents": null, "lowercase": true},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}},
                     {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
            "special_tokens": {"[CLS]": special("[CLS]", 2), "[SEP]": special("[SEP]", 3)}
        },
        "decoder": null,
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": 100, "vocab": vocab}
    });
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
}
