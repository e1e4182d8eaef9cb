//! Optimisers and schedules against hand-computed references (in f64), convergence on a quadratic,
//! weight-decay exemption, clipping, and state export/restore.

use eigenformer_tensor::optim::{
    clip_grad_norm, decay_groups, AdamW, AdamWConfig, CosineSchedule, Optimizer, ParamGroup, Sgd,
    SgdConfig,
};
use eigenformer_tensor::Tensor;
use ndarray::{array, ArrayD};

fn quadratic_loss(w: &Tensor, target: &Tensor) -> Tensor {
    w.sub(target).unwrap().square().sum_all()
}

#[test]
fn adamw_first_steps_match_the_reference_formula() {
    let w = Tensor::parameter(array![1.0f32, -2.0].into_dyn());
    let groups = vec![ParamGroup {
        params: vec![w.clone()],
        weight_decay: 0.1,
    }];
    let cfg = AdamWConfig {
        lr: 0.01,
        ..AdamWConfig::default()
    };
    let mut opt = AdamW::new(groups, cfg).unwrap();
    // Reference in f64: gradient of Σ w² is 2w.
    let (mut rw, mut m, mut v) = ([1.0f64, -2.0], [0.0f64; 2], [0.0f64; 2]);
    for t in 1..=3 {
        opt.zero_grad();
        w.square().sum_all().backward().unwrap();
        opt.step().unwrap();
        for i in 0..2 {
            let g = 2.0 * rw[i];
            m[i] = 0.9 * m[i] + 0.1 * g;
            v[i] = 0.999 * v[i] + 0.001 * g * g;
            let mhat = m[i] / (1.0 - 0.9f64.powi(t));
            let vhat = v[i] / (1.0 - 0.999f64.powi(t));
            rw[i] = rw[i] * (1.0 - 0.01 * 0.1) - 0.01 * mhat / (vhat.sqrt() + 1e-8);
        }
    }
    for (a, b) in w.to_vec().iter().zip(rw) {
        assert!((*a as f64 - b).abs() < 1e-6, "{a} vs {b}");
    }
}

#[test]
fn adamw_converges_on_a_quadratic() {
    let w = Tensor::parameter(ArrayD::zeros(ndarray::IxDyn(&[5])));
    let target = Tensor::from_array(array![1.0f32, -1.0, 0.5, 2.0, -0.3].into_dyn());
    let mut opt = AdamW::new(
        vec![ParamGroup {
            params: vec![w.clone()],
            weight_decay: 0.0,
        }],
        AdamWConfig {
            lr: 0.05,
            ..AdamWConfig::default()
        },
    )
    .unwrap();
    for _ in 0..500 {
        opt.zero_grad();
        quadratic_loss(&w, &target).backward().unwrap();
        opt.step().unwrap();
    }
    assert!(quadratic_loss(&w, &target).item().unwrap() < 1e-4);
}

#[test]
fn one_dimensional_parameters_and_biases_are_exempt_from_decay() {
    let named = vec![
        (
            "block.weight".to_string(),
            Tensor::parameter(ArrayD::ones(ndarray::IxDyn(&[2, 2]))),
        ),
        (
            "norm.weight".to_string(),
            Tensor::parameter(ArrayD::ones(ndarray::IxDyn(&[2]))),
        ),
        (
            "proj.bias".to_string(),
            Tensor::parameter(ArrayD::ones(ndarray::IxDyn(&[1, 2]))),
        ),
    ];
    let groups = decay_groups(&named, 0.05);
    assert_eq!(groups[0].params.len(), 1);
    assert_eq!(groups[1].params.len(), 2);
    // With zero gradients, only decayed parameters move.
    let mut opt = AdamW::new(
        groups,
        AdamWConfig {
            lr: 1.0,
            ..AdamWConfig::default()
        },
    )
    .unwrap();
    for (_, p) in &named {
        // Seed a zero gradient explicitly (a parameter times 0 still has a gradient of 0).
        p.zero_grad();
        p.sum_all().mul_scalar(0.0).backward().unwrap();
    }
    opt.step().unwrap();
    assert!(named[0].1.to_vec().iter().all(|&v| (v - 0.95).abs() < 1e-6));
    assert!(named[1].1.to_vec().iter().all(|&v| v == 1.0));
    assert!(named[2].1.to_vec().iter().all(|&v| v == 1.0));
}

#[test]
fn sgd_momentum_matches_the_reference() {
    let w = Tensor::parameter(array![1.0f32].into_dyn());
    let mut opt = Sgd::new(
        vec![ParamGroup {
            params: vec![w.clone()],
            weight_decay: 0.0,
        }],
        SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            nesterov: false,
        },
    )
    .unwrap();
    let (mut rw, mut buf) = (1.0f64, 0.0f64);
    for _ in 0..4 {
        opt.zero_grad();
        w.square().sum_all().backward().unwrap();
        opt.step().unwrap();
        buf = 0.9 * buf + 2.0 * rw;
        rw -= 0.1 * buf;
    }
    assert!((w.to_vec()[0] as f64 - rw).abs() < 1e-6);
}

#[test]
fn clipping_scales_to_the_maximum_norm() {
    let a = Tensor::parameter(array![3.0f32].into_dyn());
    let b = Tensor::parameter(array![4.0f32].into_dyn());
    // Gradients 2a = 6 and 2b = 8: global norm 10.
    a.square()
        .add(&b.square())
        .unwrap()
        .sum_all()
        .backward()
        .unwrap();
    let norm = clip_grad_norm(&[a.clone(), b.clone()], 1.0);
    assert!((norm - 10.0).abs() < 1e-5);
    let (ga, gb) = (a.grad().unwrap()[[0]], b.grad().unwrap()[[0]]);
    assert!(((ga * ga + gb * gb).sqrt() - 1.0).abs() < 1e-4);
    assert!((ga / gb - 0.75).abs() < 1e-5);
}

#[test]
fn cosine_schedule_warms_up_then_decays() {
    let s = CosineSchedule {
        base_lr: 1.0,
        min_lr: 0.0,
        warmup_steps: 10,
        total_steps: 110,
    };
    assert!((s.lr(0) - 0.1).abs() < 1e-6);
    assert!((s.lr(9) - 1.0).abs() < 1e-6);
    assert!((s.lr(10) - 1.0).abs() < 1e-6);
    assert!((s.lr(60) - 0.5).abs() < 1e-5);
    assert!(s.lr(110).abs() < 1e-6);
    assert!(s.lr(500).abs() < 1e-6);
    for step in 10..110 {
        assert!(s.lr(step + 1) <= s.lr(step));
    }
}

#[test]
fn restored_state_continues_the_same_trajectory() {
    let target = Tensor::from_array(array![1.0f32, 0.0, -1.0].into_dyn());
    let make = |w: &Tensor| {
        AdamW::new(
            vec![ParamGroup {
                params: vec![w.clone()],
                weight_decay: 0.01,
            }],
            AdamWConfig {
                lr: 0.1,
                ..AdamWConfig::default()
            },
        )
        .unwrap()
    };
    let run = |restart_at: Option<usize>| {
        let mut w = Tensor::parameter(array![0.5f32, -1.5, 2.0].into_dyn());
        let mut opt = make(&w);
        for step in 0..10 {
            if Some(step) == restart_at {
                // A restart: a fresh parameter and optimiser built from the saved weights and state.
                let state = opt.state();
                w = Tensor::parameter(w.to_array());
                opt = make(&w);
                opt.load_state(&state).unwrap();
            }
            opt.zero_grad();
            quadratic_loss(&w, &target).backward().unwrap();
            opt.step().unwrap();
        }
        w.to_vec()
    };
    assert_eq!(run(None), run(Some(4)));
}

#[test]
fn invalid_hyper_parameters_are_rejected() {
    let groups = vec![ParamGroup {
        params: vec![],
        weight_decay: 0.0,
    }];
    assert!(AdamW::new(
        groups.clone(),
        AdamWConfig {
            beta1: 1.5,
            ..AdamWConfig::default()
        }
    )
    .is_err());
    assert!(Sgd::new(
        groups,
        SgdConfig {
            momentum: -0.1,
            ..SgdConfig::default()
        }
    )
    .is_err());
}
