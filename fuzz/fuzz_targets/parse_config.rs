//! Arbitrary text through the model configuration parsers: a Hugging Face `config.json`
//! (`eigenformer_model::hf::HfConfig::parse`, with a `tokenizer.json`'s special tokens) and the
//! ViT configuration a training checkpoint records (`ViTConfig::from_json`). Each must give a
//! configuration or a typed error, never a panic; an accepted configuration's derived sizes must
//! be computable without overflow.
//!
//! Input layout: the text up to the first NUL is `config.json`, the rest `tokenizer.json`.

#![no_main]

use eigenformer_model::{HfConfig, ViTConfig};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let cut = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let config = String::from_utf8_lossy(&data[..cut]);
    let tokenizer = String::from_utf8_lossy(data.get(cut + 1..).unwrap_or(&[]));
    if let Ok(mut c) = HfConfig::parse(&config, Path::new("config.json")) {
        c.add_tokenizer_specials(&tokenizer);
        let _ = (c.leading_tokens(), c.max_tokens());
        assert!(c.heads > 0 && c.width % c.heads == 0 && c.head_dim * c.heads == c.width);
        if let Some(image) = c.image {
            let _ = image.patches();
        }
    }
    if let Ok(v) = ViTConfig::from_json(&config) {
        // Validated: the sizes are bounded, so none of this can overflow.
        let params = v.parameter_count().expect("validated sizes fit");
        assert!(params <= eigenformer_model::MAX_PARAMETERS);
        let _ = (
            v.num_tokens(),
            v.head_dim(),
            v.patch_dim(),
            v.activation_floats_per_image(),
            v.drop_path_rate(v.depth - 1),
        );
    }
});
