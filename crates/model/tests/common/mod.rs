//! Helpers shared by the model tests.
#![allow(dead_code)]

use eigenformer_model::{AttentionKind, SpectralForm, ViTConfig};
use eigenformer_tensor::Tensor;
use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A tiny configuration: 8×8 images, patch 4 (4 patches + CLS), width 16, 2 heads, depth 2.
pub fn tiny(kind: AttentionKind, form: SpectralForm) -> ViTConfig {
    let mut c = ViTConfig::preset("vit-small").unwrap();
    c.image_size = 8;
    c.channels = 2;
    c.patch_size = 4;
    c.width = 16;
    c.depth = 2;
    c.heads = 2;
    c.mlp_hidden = 24;
    c.classes = 3;
    c.attention = kind;
    c.spectral.form = form;
    c
}

/// Every (kind, form) combination: the three plain kinds once, the spectral ones in each form.
pub fn variants() -> Vec<(AttentionKind, SpectralForm)> {
    let mut v = vec![
        (AttentionKind::Plain, SpectralForm::Lowrank),
        (AttentionKind::FeatScale, SpectralForm::Lowrank),
        (AttentionKind::AttnScale, SpectralForm::Lowrank),
    ];
    for kind in [AttentionKind::SpectralPlus, AttentionKind::SpectralMinus] {
        for form in SpectralForm::ALL {
            v.push((kind, form));
        }
    }
    v
}

pub fn random(shape: &[usize], seed: u64, lo: f32, hi: f32) -> ArrayD<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    ArrayD::from_shape_simple_fn(IxDyn(shape), || rng.gen_range(lo..hi))
}

pub fn images(b: usize, c: &ViTConfig, seed: u64) -> Tensor {
    Tensor::from_array(random(
        &[b, c.channels, c.image_size, c.image_size],
        seed,
        -1.0,
        1.0,
    ))
}
