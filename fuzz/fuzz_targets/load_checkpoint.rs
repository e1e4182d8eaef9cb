//! Arbitrary bytes through the Hugging Face checkpoint loader, then a forward pass when the
//! loader accepts them: a loader must answer every input with a model or an `HfError`, never
//! a panic, an abort or an unbounded allocation.
//!
//! Input layout: the first byte picks the `config.json`: 0–3 a fixed micro config (BERT,
//! MPNet, ViT, DeiT; `seed-*` corpus files are valid checkpoints for them), anything else
//! means "the config text is the bytes up to the first NUL". The rest is `model.safetensors`.

#![no_main]

use eigenformer_model::hf::HfEncoder;
use libfuzzer_sys::fuzz_target;
use ndarray::Array3;

const CONFIGS: [&str; 4] = [
    include_str!("../configs/bert.json"),
    include_str!("../configs/mpnet.json"),
    include_str!("../configs/vit.json"),
    include_str!("../configs/deit.json"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (config, weights) = match CONFIGS.get(selector as usize) {
        Some(c) => (c.to_string(), rest),
        None => {
            let cut = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            let text = String::from_utf8_lossy(&rest[..cut]).into_owned();
            (text, rest.get(cut + 1..).unwrap_or(&[]))
        }
    };
    let Ok(model) = HfEncoder::from_bytes(&config, weights) else {
        return;
    };
    let c = model.config().clone();
    match c.image {
        Some(image) => {
            let px =
                Array3::<f32>::from_elem((image.channels, image.image_size, image.image_size), 0.5);
            let _ = model.forward_pixels(px.view());
        }
        None => {
            let _ = model.forward(&[0, 1, 2, 3]);
        }
    }
    for layer in 0..c.layers.min(2) {
        let _ = model.head_value_output(layer, 0);
        let _ = model.attention_input_ln_gamma(layer);
    }
});
