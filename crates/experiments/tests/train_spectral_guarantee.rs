//! The spectral⁻ guarantee survives training, checked with the spectral crate's eigen-solver (an
//! independent check of the construction the model crate's own tests verify through HU = UΛ): after
//! AdamW steps at a large learning rate, every head's realised H has its eigenvalues in
//! [−upper, −ε] (the low-rank form: d_h of them, the rest 0), and with a non-negative LayerNorm
//! weight the effective diag(γ)H of the symmetric forms keeps non-positive real eigenvalues (C8).

use eigenformer_experiments::train::{TrainHyper, Trainer};
use eigenformer_model::{AttentionKind, SpectralForm, ViT};

mod train_support;
use eigenformer_spectral::{layernorm_effective_h, linalg};
use ndarray::Array4;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn trained_heads(form: SpectralForm) -> (ViT, f32) {
    let mut cfg = train_support::tiny_vit(12, 2, 3, AttentionKind::SpectralMinus);
    cfg.spectral.form = form;
    cfg.nonneg_ln_gamma = true;
    cfg.validate().unwrap();
    let eps = cfg.spectral.eps;
    let model = ViT::new(cfg, 7).unwrap();
    let hyper = TrainHyper {
        lr: 0.05,
        total_steps: 15,
        clip_grad_norm: None,
        ..TrainHyper::default()
    };
    let mut trainer = Trainer::new(model, hyper, 1).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let images = Array4::from_shape_simple_fn((16, 1, 8, 8), || rng.gen_range(-1.0f32..1.0));
    let labels: Vec<usize> = (0..16).map(|i| i % 3).collect();
    for _ in 0..15 {
        trainer.train_step(&images, &labels).unwrap();
    }
    (trainer.model, eps)
}

#[test]
fn spectral_minus_heads_keep_their_spectrum_after_training() {
    for form in [
        SpectralForm::Lowrank,
        SpectralForm::Symmetric,
        SpectralForm::General,
    ] {
        let (model, eps) = trained_heads(form);
        let d = model.config().width;
        let d_h = d / model.config().heads;
        for layer in model.head_h_matrices().unwrap() {
            for head in layer {
                let eig = linalg::eigenvalues(head.h.view()).unwrap();
                let scale = eig.iter().map(|z| z.norm()).fold(1.0, f64::max);
                let tol = 1e-5 * scale;
                let nonzero: Vec<_> = eig.iter().filter(|z| z.norm() > 1e-6).collect();
                let expected = if form == SpectralForm::Lowrank {
                    d_h
                } else {
                    d
                };
                assert_eq!(
                    nonzero.len(),
                    expected,
                    "{form:?} layer {} head {}: {eig:?}",
                    head.layer,
                    head.head
                );
                for z in nonzero {
                    assert!(z.im.abs() <= tol, "{form:?}: complex eigenvalue {z}");
                    assert!(
                        z.re <= -(eps as f64) + tol && z.re >= -1.0 - tol,
                        "{form:?} layer {} head {}: eigenvalue {z} outside [-1, -eps]",
                        head.layer,
                        head.head
                    );
                }
                if form != SpectralForm::General {
                    // diag(γ) H with γ ≥ 0 and H symmetric negative semi-definite is similar to
                    // D^½ H D^½: its eigenvalues are real and ≤ 0.
                    assert!(head.ln_gamma.iter().all(|&g| g >= 0.0));
                    let eff = layernorm_effective_h(head.h.view(), head.ln_gamma.view()).unwrap();
                    for z in linalg::eigenvalues(eff.view()).unwrap() {
                        assert!(
                            z.re <= tol && z.im.abs() <= 1e-4 * scale,
                            "{form:?}: diag(γ)H eigenvalue {z}"
                        );
                    }
                }
            }
        }
    }
}
