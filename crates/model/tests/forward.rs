//! Forward shapes, traces, determinism, drop-path modes and the H_h consistency of every variant.

mod common;

use common::{images, tiny, variants};
use eigenformer_model::{AttentionKind, Mode, Pooling, SpectralForm, ViT, ViTConfig, PRESETS};
use eigenformer_tensor::{no_grad, Tensor};
use ndarray::{s, Array2, Ix2, Ix4};

#[test]
fn every_preset_with_tiny_overrides_gives_the_right_shapes() {
    for name in PRESETS {
        let preset = ViTConfig::preset(name).unwrap();
        let c = preset
            .with_overrides(&[
                ("image_size", "8"),
                ("patch_size", "4"),
                ("width", "16"),
                ("depth", "2"),
                ("heads", "2"),
                ("mlp_hidden", "32"),
            ])
            .unwrap();
        assert_eq!((c.channels, c.classes), (preset.channels, preset.classes));
        for (kind, form) in variants() {
            let mut c = c.clone();
            c.attention = kind;
            c.spectral.form = form;
            let model = ViT::new(c.clone(), 7).unwrap();
            let x = images(3, &c, 1);
            let (logits, trace) = no_grad(|| model.forward_with_trace(&x, Mode::Eval)).unwrap();
            assert_eq!(logits.shape(), vec![3, c.classes], "{name} {kind} {form}");
            assert!(logits.to_vec().iter().all(|v| v.is_finite()));
            assert_eq!(trace.hidden.len(), c.depth + 1);
            assert_eq!(trace.attention.len(), c.depth);
            for h in &trace.hidden {
                assert_eq!(h.shape(), &[3, 5, 16]);
            }
            for a in &trace.attention {
                assert_eq!(a.shape(), &[3, 2, 5, 5]);
                let a = a.view().into_dimensionality::<Ix4>().unwrap();
                for row in a.rows() {
                    assert!((row.sum() - 1.0).abs() < 1e-5, "attention rows sum to 1");
                }
            }
            let heads = model.head_h_matrices().unwrap();
            assert_eq!(heads.len(), c.depth);
            assert!(heads.iter().all(|l| l.len() == c.heads));
            assert_eq!(heads[1][1].h.dim(), (16, 16));
            assert_eq!((heads[1][1].layer, heads[1][1].head), (1, 1));
        }
    }
}

#[test]
fn a_full_size_vit_small_runs() {
    let c = ViTConfig::preset("vit-small").unwrap();
    let model = ViT::new(c.clone(), 0).unwrap();
    let logits = no_grad(|| model.forward(&images(2, &c, 3), Mode::Eval)).unwrap();
    assert_eq!(logits.shape(), vec![2, 10]);
    assert_eq!(model.head_h_matrices().unwrap()[5][3].h.dim(), (128, 128));
}

#[test]
fn wrong_input_shapes_are_refused() {
    let c = tiny(AttentionKind::Plain, SpectralForm::Lowrank);
    let model = ViT::new(c, 0).unwrap();
    for shape in [
        vec![2, 3, 8, 8],
        vec![2, 2, 8, 12],
        vec![2, 2, 8],
        vec![0, 2, 8, 8],
    ] {
        let err = model
            .forward(&Tensor::zeros(&shape), Mode::Eval)
            .unwrap_err();
        assert!(
            matches!(err, eigenformer_model::ModelError::InputShape { .. }),
            "{shape:?}: {err}"
        );
    }
}

#[test]
fn seeds_determine_weights_and_drop_path_masks() {
    let mut c = tiny(AttentionKind::SpectralMinus, SpectralForm::Lowrank);
    c.drop_path = 0.5;
    let a = ViT::new(c.clone(), 11).unwrap();
    let b = ViT::new(c.clone(), 11).unwrap();
    let other = ViT::new(c.clone(), 12).unwrap();
    assert_eq!(a.state_dict(), b.state_dict());
    assert_ne!(a.state_dict(), other.state_dict());
    let x = images(8, &c, 2);
    let eval1 = a.forward(&x, Mode::Eval).unwrap().to_vec();
    let eval2 = a.forward(&x, Mode::Eval).unwrap().to_vec();
    assert_eq!(eval1, eval2);
    let t1 = a.forward(&x, Mode::Train { seed: 5 }).unwrap().to_vec();
    let t2 = a.forward(&x, Mode::Train { seed: 5 }).unwrap().to_vec();
    let t3 = a.forward(&x, Mode::Train { seed: 6 }).unwrap().to_vec();
    assert_eq!(t1, t2);
    assert_ne!(t1, t3);
    assert_ne!(t1, eval1);
    // Without drop-path, training and evaluation agree.
    c.drop_path = 0.0;
    let m = ViT::new(c, 11).unwrap();
    assert_eq!(
        m.forward(&x, Mode::Train { seed: 5 }).unwrap().to_vec(),
        m.forward(&x, Mode::Eval).unwrap().to_vec()
    );
    assert_eq!(m.config().drop_path_rate(0), 0.0);
}

#[test]
fn featscale_and_attnscale_start_as_plain_attention() {
    let x = images(2, &tiny(AttentionKind::Plain, SpectralForm::Lowrank), 4);
    let out = |kind| {
        let m = ViT::new(tiny(kind, SpectralForm::Lowrank), 3).unwrap();
        m.forward(&x, Mode::Eval).unwrap().to_vec()
    };
    let plain = out(AttentionKind::Plain);
    assert_eq!(out(AttentionKind::FeatScale), plain);
    assert_eq!(out(AttentionKind::AttnScale), plain);
}

/// `Σ_h A_h X H_h` from the trace and `head_h_matrices`, in f64.
fn attention_from_h(a: &ndarray::ArrayD<f32>, x: &Array2<f64>, hs: &[Array2<f64>]) -> Array2<f64> {
    let a = a.view().into_dimensionality::<Ix4>().unwrap();
    let mut y = Array2::<f64>::zeros(x.dim());
    for (h, hm) in hs.iter().enumerate() {
        let ah: Array2<f64> = a.slice(s![0, h, .., ..]).mapv(f64::from);
        y += &ah.dot(x).dot(hm);
    }
    y
}

#[test]
fn the_attention_output_is_sum_over_heads_of_a_x_h() {
    // With zero biases (the initial state) the attention output of every variant is exactly
    // Σ_h A_h X H_h with A_h from the trace and H_h from head_h_matrices (featscale: before FS).
    for (kind, form) in variants() {
        let mut c = tiny(kind, form);
        c.nonneg_ln_gamma = kind == AttentionKind::SpectralMinus;
        let model = ViT::new(c.clone(), 21).unwrap();
        // Make the LayerNorm γ feeding layer 0 non-trivial (negative entries too).
        let gamma = common::random(&[16], 5, -1.5, 1.5);
        model.blocks[0].norm1.weight.set_data(&gamma).unwrap();
        if let Some(omega) = &model.blocks[0].attn.omega {
            omega
                .set_data(&ndarray::arr1(&[0.7f32, -0.4]).into_dyn())
                .unwrap();
        }
        let x = images(1, &c, 6);
        let (_, trace) = model.forward_with_trace(&x, Mode::Eval).unwrap();
        let block = &model.blocks[0];
        let hidden = Tensor::from_array(trace.hidden[0].clone());
        let normed = block.norm1.forward(&hidden, c.nonneg_ln_gamma).unwrap();
        let (y, a) = block.attn.forward(&normed, true).unwrap();
        assert_eq!(a.as_ref().unwrap(), &trace.attention[0]);
        let heads = model.head_h_matrices().unwrap();
        let hs: Vec<Array2<f64>> = heads[0].iter().map(|h| h.h.clone()).collect();
        let xn = normed
            .to_array()
            .index_axis_move(ndarray::Axis(0), 0)
            .into_dimensionality::<Ix2>()
            .unwrap()
            .mapv(f64::from);
        let expected = attention_from_h(&trace.attention[0], &xn, &hs);
        let got = y
            .to_array()
            .index_axis_move(ndarray::Axis(0), 0)
            .into_dimensionality::<Ix2>()
            .unwrap()
            .mapv(f64::from);
        let err = (&got - &expected)
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()));
        let scale = expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(
            err <= 1e-4 * scale.max(1e-3),
            "{kind} {form}: err {err:e} scale {scale:e}"
        );
        // The reported γ is the one the forward used.
        let g = &heads[0][0].ln_gamma;
        for (i, &v) in gamma.iter().enumerate() {
            let want = if c.nonneg_ln_gamma { v.abs() } else { v };
            assert_eq!(g[i], want as f64);
        }
        // Factor forms multiply to H.
        for head in &heads[0] {
            if let (Some(wv), Some(wo)) = (&head.w_v, &head.w_o) {
                assert_eq!(wv.dim(), (16, 8));
                assert_eq!(wo.dim(), (8, 16));
                let diff = (&wv.dot(wo) - &head.h)
                    .iter()
                    .fold(0.0f64, |m, v| m.max(v.abs()));
                assert!(diff < 1e-9, "{kind} {form}");
            }
        }
    }
}

#[test]
fn the_head_reads_the_cls_token_or_the_mean_patch_token() {
    for pooling in [Pooling::Cls, Pooling::Mean] {
        let mut c = tiny(AttentionKind::Plain, SpectralForm::Lowrank);
        c.pooling = pooling;
        let m = ViT::new(c.clone(), 3).unwrap();
        let x = images(5, &c, 4);
        let (logits, trace) = no_grad(|| m.forward_with_trace(&x, Mode::Eval)).unwrap();
        let last = trace.hidden.last().unwrap();
        let (b, n, d) = (last.shape()[0], last.shape()[1], last.shape()[2]);
        let pooled = Tensor::from_array(match pooling {
            Pooling::Cls => last.slice(s![.., 0, ..]).to_owned().into_dyn(),
            Pooling::Mean => last
                .slice(s![.., 1.., ..])
                .mean_axis(ndarray::Axis(1))
                .unwrap()
                .into_dyn(),
        });
        assert_eq!(pooled.shape(), vec![b, d]);
        let want = no_grad(|| m.head.forward(&m.norm.forward(&pooled, false).unwrap())).unwrap();
        let (got, want) = (logits.to_vec(), want.to_vec());
        for (g, w) in got.iter().zip(&want) {
            assert!(
                (g - w).abs() < 1e-5,
                "{pooling:?}: {g} against {w} (n = {n})"
            );
        }
        // The default is left out of the JSON, so configurations written before the option
        // read and hash the same; a non-default one round-trips.
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json.contains("pooling"), pooling == Pooling::Mean);
        assert_eq!(serde_json::from_str::<ViTConfig>(&json).unwrap(), c);
    }
    assert!("max".parse::<Pooling>().is_err());
    assert_eq!("avg".parse::<Pooling>().unwrap(), Pooling::Mean);
}
