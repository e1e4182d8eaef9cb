//! C10: after training steps with a large learning rate, every head's realised H still has exactly
//! the clipped spectrum (checked with plain ndarray math; no eigen-solver).

mod common;

use common::{images, tiny};
use eigenformer_model::{AttentionKind, Mode, SpectralForm, ViT};
use eigenformer_tensor::optim::{decay_groups, AdamW, AdamWConfig, Optimizer};
use ndarray::Array2;

fn max_abs(a: &Array2<f64>) -> f64 {
    a.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

fn train_and_check(kind: AttentionKind, form: SpectralForm) {
    let sign = kind.spectral_sign().unwrap() as f64;
    let mut c = tiny(kind, form);
    c.nonneg_ln_gamma = true;
    let (eps, upper) = (c.spectral.eps as f64, c.spectral.upper as f64);
    let model = ViT::new(c.clone(), 5).unwrap();
    // One ψ of layer 0 below √ε, so the lower clip is exercised too (its gradient is 0 there).
    let psi0 = model.blocks[0].attn.spectral.as_ref().unwrap().psi.clone();
    psi0.update_data(|p| p[[0]] = 1e-3).unwrap();
    let before = model.state_dict();
    let mut opt = AdamW::new(
        decay_groups(&model.named_parameters(), 0.05),
        AdamWConfig {
            lr: 0.05,
            ..AdamWConfig::default()
        },
    )
    .unwrap();
    let x = images(8, &c, 1);
    let targets: Vec<usize> = (0..8).map(|i| i % c.classes).collect();
    let mut losses = Vec::new();
    for step in 0..20 {
        opt.zero_grad();
        let loss = model
            .forward(&x, Mode::Train { seed: step })
            .unwrap()
            .cross_entropy(&targets, 0.0)
            .unwrap();
        losses.push(loss.item().unwrap());
        loss.backward().unwrap();
        opt.step().unwrap();
    }
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    assert_ne!(model.state_dict(), before, "training changed nothing");

    let named = model.named_parameters();
    let mut clipped_low = 0;
    let mut clipped_high = 0;
    for (l, layer) in model.head_h_matrices().unwrap().iter().enumerate() {
        let psi = named
            .iter()
            .find(|(n, _)| *n == format!("blocks.{l}.attn.psi"))
            .unwrap()
            .1
            .to_vec();
        for head in layer {
            let (u, lam) = (
                head.eigvecs.as_ref().unwrap(),
                head.eigvals.as_ref().unwrap(),
            );
            let k = lam.len();
            assert_eq!(u.dim(), (16, k));
            assert_eq!(k, if form == SpectralForm::Lowrank { 8 } else { 16 });
            // λ = sign · clip(ψ², ε, upper), all in [−upper, −ε] (or the positive mirror).
            for (i, &v) in lam.iter().enumerate() {
                let p = psi[head.head * k + i] as f64;
                let want = sign * (p * p).clamp(eps, upper);
                assert!(
                    (v - want).abs() <= 1e-6 * want.abs().max(eps),
                    "{v} vs {want}"
                );
                let mag = sign * v;
                assert!(
                    mag >= eps * (1.0 - 1e-6) && mag <= upper * (1.0 + 1e-6),
                    "{v}"
                );
                clipped_low += usize::from(p * p < eps);
                clipped_high += usize::from(p * p > upper);
            }
            // H U = U diag(λ): the columns of U are eigenvectors with eigenvalues λ.
            let hu = head.h.dot(u);
            let ul = u * lam;
            let err = max_abs(&(&hu - &ul));
            assert!(
                err <= 1e-5 * max_abs(&ul).max(1e-6),
                "{kind} {form} layer {l} head {}: |HU − UΛ| = {err:e}",
                head.head
            );
            // U has full column rank (so these are k independent eigenvectors): UᵀU well
            // conditioned; for the Q-based forms orthonormal.
            let gram = u.t().dot(u);
            if form != SpectralForm::General {
                let off = max_abs(&(&gram - &Array2::<f64>::eye(k)));
                assert!(off < 1e-5, "UᵀU = I up to {off:e}");
                // Symmetric by construction (lowrank and symmetric forms).
                assert!(max_abs(&(&head.h - &head.h.t())) <= 1e-12 * max_abs(&head.h).max(1.0));
            }
            if form == SpectralForm::Lowrank {
                // The rest of the spectrum is 0: H annihilates the orthogonal complement of U.
                let p = Array2::<f64>::eye(16) - u.dot(&u.t());
                assert!(max_abs(&head.h.dot(&p)) < 1e-5);
            }
            // The γ feeding the attention is non-negative (nonneg_ln_gamma).
            assert!(head.ln_gamma.iter().all(|&g| g >= 0.0));
        }
    }
    assert!(
        clipped_low >= 1 && clipped_high >= 1,
        "{clipped_low} {clipped_high}"
    );
    eprintln!(
        "{kind} {form}: loss {:.3} -> {:.3}, ψ² clipped low {clipped_low}, high {clipped_high}",
        losses[0], losses[19]
    );
}

#[test]
fn spectral_minus_lowrank_keeps_its_spectrum() {
    train_and_check(AttentionKind::SpectralMinus, SpectralForm::Lowrank);
}

#[test]
fn spectral_minus_symmetric_keeps_its_spectrum() {
    train_and_check(AttentionKind::SpectralMinus, SpectralForm::Symmetric);
}

#[test]
fn spectral_minus_general_keeps_its_spectrum() {
    train_and_check(AttentionKind::SpectralMinus, SpectralForm::General);
}

#[test]
fn spectral_plus_lowrank_keeps_its_spectrum() {
    train_and_check(AttentionKind::SpectralPlus, SpectralForm::Lowrank);
}
