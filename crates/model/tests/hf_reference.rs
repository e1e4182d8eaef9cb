//! Our Hugging Face forward pass against transformers (PyTorch), layer by layer.
//!
//! References come from `benches/compare/hf_reference.py` and are committed under
//! `tests/fixtures/hf/`:
//! - `tiny-{bert,mpnet,vit,deit}/`: tiny random checkpoints (mixed-sign LayerNorm weights, non-zero
//!   biases, 40-token inputs for MPNet's logarithmic buckets) with their dumps: always run;
//! - `minilm-reference.safetensors` (3 sentences, hidden states and attentions) and
//!   `mpnet-reference.safetensors` (1 sentence, hidden states) for the real checkpoints, which
//!   are not committed: the tests find them through `EIGENFORMER_MINILM_DIR` /
//!   `EIGENFORMER_MPNET_DIR` or the eigenformer asset cache (`eigenformer fetch minilm`), and
//!   skip with a printed reason when neither has them.
//!
//! Any other checkpoint: `EIGENFORMER_HF_DIR=dir EIGENFORMER_HF_REFERENCE=dump.safetensors`
//! after `python3 benches/compare/hf_reference.py dump dir dump.safetensors`.

mod hf_support;

use eigenformer_model::hf::{self, Family, HfEncoder};
use hf_support::{checkpoint_dir, compare, fixtures, load_reference, MAX_ABS, MIN_COSINE};
use std::path::Path;

fn check_dir(dir: &Path, reference: &Path) -> hf_support::Agreement {
    let model = hf::load_dir(dir).unwrap_or_else(|e| panic!("{e}"));
    let agreement = compare(&model, &load_reference(reference));
    println!(
        "{}: {} hidden states × {} token rows: min cosine {:.7}, max |diff| {:.2e}, attention max |diff| {:.2e}",
        dir.display(),
        agreement.layers,
        agreement.tokens,
        agreement.min_cosine,
        agreement.max_abs,
        agreement.max_attn_abs
    );
    agreement
}

fn check_tiny(name: &str) {
    let dir = fixtures().join(name);
    check_dir(&dir, &dir.join("reference.safetensors"));
}

#[test]
fn tiny_bert_matches_transformers() {
    check_tiny("tiny-bert");
}

#[test]
fn tiny_mpnet_matches_transformers() {
    check_tiny("tiny-mpnet");
}

#[test]
fn tiny_vit_matches_transformers() {
    check_tiny("tiny-vit");
}

#[test]
fn tiny_deit_matches_transformers() {
    check_tiny("tiny-deit");
}

fn check_real(asset: &str, env_var: &str, family: Family, layers: usize) {
    let dir = match checkpoint_dir(asset, env_var) {
        Ok(dir) => dir,
        Err(why) => {
            println!("skipping the {asset} reference comparison: {why}");
            return;
        }
    };
    let model = hf::load_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(model.config().family, family);
    assert_eq!(model.config().layers, layers);
    let a = check_dir(
        &dir,
        &fixtures().join(format!("{asset}-reference.safetensors")),
    );
    assert!(a.min_cosine >= MIN_COSINE && a.max_abs <= MAX_ABS);
}

#[test]
fn minilm_matches_transformers() {
    check_real("minilm", "EIGENFORMER_MINILM_DIR", Family::Bert, 6);
}

#[test]
fn mpnet_matches_transformers() {
    check_real("mpnet", "EIGENFORMER_MPNET_DIR", Family::MpNet, 12);
}

#[test]
fn any_checkpoint_matches_its_dump() {
    let (Some(dir), Some(reference)) = (
        std::env::var_os("EIGENFORMER_HF_DIR"),
        std::env::var_os("EIGENFORMER_HF_REFERENCE"),
    ) else {
        println!("skipping: set EIGENFORMER_HF_DIR and EIGENFORMER_HF_REFERENCE to compare a dump");
        return;
    };
    check_dir(Path::new(&dir), Path::new(&reference));
}

#[test]
fn special_tokens_come_from_config() {
    let model = hf::load_dir(&fixtures().join("tiny-mpnet")).expect("load");
    let c = model.config();
    assert_eq!(c.pad_token_id, Some(1));
    assert!(c.special_token_ids.contains(&1));
    assert!(c.post_ln);
    let vit = hf::load_dir(&fixtures().join("tiny-vit")).expect("load");
    assert!(!vit.config().post_ln);
    assert_eq!(vit.config().max_tokens(), 5);
    let deit = HfEncoder::load_dir(&fixtures().join("tiny-deit")).expect("load");
    assert_eq!(deit.config().leading_tokens(), 2);
}
