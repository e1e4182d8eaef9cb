//! C10 as a property: for any parameter values (ψ inside or outside the clip range, any Θ or
//! invertible V), every head's realised H has exactly the clipped spectrum.

mod common;

use common::random;
use eigenformer_model::{Attention, AttentionKind, SpectralForm, ViTConfig};
use ndarray::{Array1, Array2};
use proptest::prelude::*;
use rand::SeedableRng;

fn max_abs(a: &Array2<f64>) -> f64 {
    a.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

fn check(form: SpectralForm, minus: bool, seed: u64, psi_scale: f32, eps: f32, upper: f32) {
    let mut c = ViTConfig::preset("vit-small").unwrap();
    c.width = 12;
    c.heads = 3;
    c.attention = if minus {
        AttentionKind::SpectralMinus
    } else {
        AttentionKind::SpectralPlus
    };
    c.spectral.form = form;
    c.spectral.eps = eps;
    c.spectral.upper = upper;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let attn = Attention::new(&c, &mut rng).unwrap();
    let sp = attn.spectral.as_ref().unwrap();
    let mut basis = random(&sp.basis.shape(), seed + 1, -1.0, 1.0);
    if form == SpectralForm::General {
        for h in 0..3 {
            for j in 0..12 {
                basis[[h, j, j]] += 3.0; // diagonally dominant: invertible
            }
        }
    }
    sp.basis.set_data(&basis).unwrap();
    let psi = random(&sp.psi.shape(), seed + 2, -psi_scale, psi_scale);
    sp.psi.set_data(&psi).unwrap();
    let sign = if minus { -1.0 } else { 1.0 };
    let gamma = Array1::<f64>::ones(12);
    for head in attn.head_h_matrices(0, &gamma).unwrap() {
        let u = head.eigvecs.as_ref().unwrap();
        let lam = head.eigvals.as_ref().unwrap();
        let k = lam.len();
        for (i, &l) in lam.iter().enumerate() {
            let p = psi[[head.head * k + i]] as f64;
            let want = sign * (p * p).clamp(eps as f64, upper as f64);
            assert!((l - want).abs() <= 1e-6 * want.abs(), "λ {l} vs {want}");
        }
        let ul = u * lam;
        let err = max_abs(&(&head.h.dot(u) - &ul));
        assert!(err <= 1e-5 * max_abs(&ul), "{form}: |HU − UΛ| = {err:e}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn prop_realised_spectrum_is_the_clipped_lambda(
        form in prop::sample::select(SpectralForm::ALL.to_vec()),
        minus in any::<bool>(),
        seed in 0u64..10_000,
        psi_scale in 0.001f32..3.0,
        eps in 1e-5f32..1e-2,
        upper in 0.1f32..4.0,
    ) {
        check(form, minus, seed, psi_scale, eps, upper.max(eps));
    }
}
