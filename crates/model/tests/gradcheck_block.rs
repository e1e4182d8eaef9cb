//! Finite-difference gradient check of one whole block (pre-LN attention + MLP) for every
//! variant, with respect to all block parameters and the input.

mod common;

use common::{random, variants};
use eigenformer_model::{AttentionKind, Block, SpectralForm, ViTConfig};
use eigenformer_tensor::{check_gradients, GradCheckConfig, Tensor};
use ndarray::{ArrayD, IxDyn};

fn block_config(kind: AttentionKind, form: SpectralForm) -> ViTConfig {
    let mut c = ViTConfig::preset("vit-small").unwrap();
    c.width = 8;
    c.heads = 2;
    c.mlp_hidden = 12;
    c.depth = 1;
    c.attention = kind;
    c.spectral.form = form;
    c
}

/// Parameter values of O(1) (the initial 0.02-scale weights make every gradient tiny), chosen
/// away from kinks: ψ² stays inside the clip range under the finite-difference step, the
/// general-form V stays well conditioned, LayerNorm γ stays away from 0 (for |γ|).
fn randomise(block: &Block, seed: u64) {
    for (i, (name, p)) in block.named_parameters("b").into_iter().enumerate() {
        let shape = p.shape();
        let s = seed * 100 + i as u64;
        let data: ArrayD<f32> = if name.ends_with("psi") {
            random(&shape, s, 0.4, 0.9)
        } else if name.contains("norm") && name.ends_with("weight") {
            random(&shape, s, 0.5, 1.5)
        } else if name.ends_with("attn.v") {
            let d = shape[1];
            let mut v = random(&shape, s, -0.3, 0.3);
            for h in 0..shape[0] {
                for j in 0..d {
                    v[[h, j, j]] += 1.5;
                }
            }
            v
        } else if name.ends_with("theta") {
            random(&shape, s, -1.0, 1.0)
        } else {
            random(&shape, s, -0.5, 0.5)
        };
        p.set_data(&data).unwrap();
    }
}

fn check_block(kind: AttentionKind, form: SpectralForm, nonneg: bool) {
    let mut c = block_config(kind, form);
    c.nonneg_ln_gamma = nonneg;
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
    let block = Block::new(&c, 0, &mut rng).unwrap();
    randomise(&block, 3);
    if nonneg {
        // Mixed signs, so |γ| matters; away from 0.
        let g = ArrayD::from_shape_vec(
            IxDyn(&[8]),
            vec![0.9, -1.2, 0.7, -0.6, 1.3, -0.8, 1.1, -1.4],
        )
        .unwrap();
        block.norm1.weight.set_data(&g).unwrap();
    }
    let x = Tensor::parameter(random(&[2, 5, 8], 9, -1.0, 1.0));
    let mut inputs = vec![x];
    inputs.extend(block.named_parameters("b").into_iter().map(|(_, p)| p));
    let report = check_gradients(
        |t| Ok(block.forward(&t[0], None)?),
        &inputs,
        GradCheckConfig::default(),
    )
    .unwrap_or_else(|e| panic!("{kind} {form} nonneg={nonneg}: {e}"));
    let total: usize = inputs.iter().map(|t| t.len()).sum();
    assert_eq!(report.checked, total);
}

#[test]
fn plain_featscale_attnscale_blocks() {
    for (kind, form) in variants().into_iter().filter(|(k, _)| !k.is_spectral()) {
        check_block(kind, form, false);
    }
}

#[test]
fn spectral_plus_blocks_in_every_form() {
    for form in SpectralForm::ALL {
        check_block(AttentionKind::SpectralPlus, form, false);
    }
}

#[test]
fn spectral_minus_blocks_in_every_form() {
    for form in SpectralForm::ALL {
        check_block(AttentionKind::SpectralMinus, form, false);
    }
}

#[test]
fn spectral_minus_with_nonnegative_ln_gamma() {
    check_block(AttentionKind::SpectralMinus, SpectralForm::Lowrank, true);
    check_block(AttentionKind::SpectralMinus, SpectralForm::General, true);
}

#[test]
fn block_with_drop_path_and_a_fixed_mask() {
    // Drop-path in training mode: the gradient check with a re-seeded mask per evaluation.
    let mut c = block_config(AttentionKind::Plain, SpectralForm::Lowrank);
    c.depth = 2;
    c.drop_path = 0.5;
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
    let block = Block::new(&c, 1, &mut rng).unwrap();
    assert_eq!(block.drop_path, 0.5);
    randomise(&block, 4);
    let x = Tensor::parameter(random(&[4, 3, 8], 10, -1.0, 1.0));
    let inputs = vec![x, block.mlp.fc1.weight.clone()];
    check_gradients(
        |t| {
            let mut r = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(42);
            Ok(block.forward(&t[0], Some(&mut r))?)
        },
        &inputs,
        GradCheckConfig::default(),
    )
    .unwrap();
}
