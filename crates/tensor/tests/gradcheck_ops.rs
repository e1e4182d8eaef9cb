//! Finite-difference gradient checks of every differentiable op, and of compositions: one attention
//! head, one pre-LN Transformer block, and QR followed by `V diag(λ) Vᵀ`.

// The checks pass the same parameter to several functions: `&[x.clone()]` reads better here than
// `std::slice::from_ref(&x)`.
#![allow(clippy::cloned_ref_to_slice_refs)]

use eigenformer_tensor::{check_gradients, GradCheckConfig, Result, Tensor};
use ndarray::{ArrayD, IxDyn};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn param(shape: &[usize], seed: u64, lo: f32, hi: f32) -> Tensor {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Tensor::parameter(ArrayD::from_shape_simple_fn(IxDyn(shape), || {
        rng.gen_range(lo..hi)
    }))
}

fn check(f: impl Fn(&[Tensor]) -> Result<Tensor>, inputs: &[Tensor]) {
    let report =
        check_gradients(f, inputs, GradCheckConfig::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(report.checked > 0);
}

#[test]
fn the_checker_catches_a_wrong_gradient() {
    // y = x − stop(x) + stop(x)²: its value is x² (numeric derivative 2x) but autodiff sees only
    // the first term (analytic derivative 1). The checker must report the disagreement.
    let x = param(&[4], 1, 2.0, 3.0);
    let result = check_gradients(
        |t| {
            let detached = t[0].detach().square();
            t[0].sub(&t[0].detach())?.add(&detached)
        },
        &[x],
        GradCheckConfig::default(),
    );
    assert!(result.is_err(), "a mismatched gradient must be reported");
}

#[test]
fn binary_ops_with_broadcasting() {
    let a = param(&[2, 3, 4], 1, -1.0, 1.0);
    let b = param(&[3, 1], 2, 0.5, 1.5);
    check(|t| t[0].add(&t[1]), &[a.clone(), b.clone()]);
    check(|t| t[0].sub(&t[1]), &[a.clone(), b.clone()]);
    check(|t| t[0].mul(&t[1]), &[a.clone(), b.clone()]);
    check(|t| t[0].div(&t[1]), &[a.clone(), b.clone()]);
    check(|t| t[1].div(&t[0].add_scalar(3.0)), &[a, b]);
}

#[test]
fn unary_ops() {
    let x = param(&[3, 5], 3, -2.0, 2.0);
    let pos = param(&[3, 5], 4, 0.5, 2.0);
    check(|t| Ok(t[0].add_scalar(0.7)), &[x.clone()]);
    check(|t| Ok(t[0].mul_scalar(-1.3)), &[x.clone()]);
    check(|t| Ok(t[0].neg()), &[x.clone()]);
    check(|t| Ok(t[0].exp()), &[x.clone()]);
    check(|t| Ok(t[0].ln()), &[pos.clone()]);
    check(|t| Ok(t[0].sqrt()), &[pos.clone()]);
    check(|t| Ok(t[0].powf(1.7)), &[pos.clone()]);
    check(|t| Ok(t[0].square()), &[x.clone()]);
    check(|t| Ok(t[0].tanh()), &[x.clone()]);
    check(|t| Ok(t[0].sigmoid()), &[x.clone()]);
    check(|t| Ok(t[0].gelu()), &[x.clone()]);
    check(|t| Ok(t[0].gelu_tanh()), &[x.clone()]);
    // Kinked functions, evaluated away from their kinks.
    let away = Tensor::parameter(ndarray::array![[-1.5f32, -0.4, 0.3, 0.9, 1.7]].into_dyn());
    check(|t| Ok(t[0].relu()), &[away.clone()]);
    check(|t| Ok(t[0].abs()), &[away.clone()]);
    check(|t| Ok(t[0].clamp(-0.5, 1.0)), &[away]);
}

#[test]
fn reductions() {
    let x = param(&[2, 3, 4], 5, -1.0, 1.0);
    check(|t| Ok(t[0].sum_all()), &[x.clone()]);
    check(|t| Ok(t[0].mean_all()), &[x.clone()]);
    check(|t| t[0].sum_axes(&[0, 2], false), &[x.clone()]);
    check(|t| t[0].sum_axes(&[1], true), &[x.clone()]);
    check(|t| t[0].mean_axes(&[2], false), &[x.clone()]);
    // Distinct values so the arg-max is stable under the finite-difference step.
    let d = Tensor::parameter(
        ArrayD::from_shape_vec(
            IxDyn(&[3, 4]),
            (0..12).map(|i| ((i * 7) % 12) as f32 * 0.3).collect(),
        )
        .unwrap(),
    );
    check(|t| t[0].max_axis(1, false), &[d.clone()]);
    check(|t| t[0].max_axis(0, true), &[d]);
}

#[test]
fn shape_ops() {
    let x = param(&[2, 3, 4], 6, -1.0, 1.0);
    let y = param(&[2, 2, 4], 7, -1.0, 1.0);
    check(|t| t[0].reshape(&[6, 4]), &[x.clone()]);
    check(|t| t[0].permute(&[2, 0, 1]), &[x.clone()]);
    check(|t| t[0].transpose(0, 2), &[x.clone()]);
    check(
        |t| Tensor::concat(&[t[0].clone(), t[1].clone()], 1),
        &[x.clone(), y],
    );
    check(|t| t[0].slice(1, 1, 3), &[x]);
    let table = param(&[5, 3], 8, -1.0, 1.0);
    check(|t| t[0].gather_rows(&[4, 0, 4, 2]), &[table]);
    let img = param(&[2, 3, 4, 4], 9, -1.0, 1.0);
    check(|t| t[0].patchify(2), &[img]);
}

#[test]
fn matmul_all_layouts_and_transposes() {
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
        let a = if ta {
            param(&[4, 3], 10, -1.0, 1.0)
        } else {
            param(&[3, 4], 10, -1.0, 1.0)
        };
        let b = if tb {
            param(&[5, 4], 11, -1.0, 1.0)
        } else {
            param(&[4, 5], 11, -1.0, 1.0)
        };
        check(|t| t[0].matmul_t(&t[1], ta, tb), &[a, b]);
        let ba = if ta {
            param(&[2, 4, 3], 12, -1.0, 1.0)
        } else {
            param(&[2, 3, 4], 12, -1.0, 1.0)
        };
        let bb = if tb {
            param(&[2, 5, 4], 13, -1.0, 1.0)
        } else {
            param(&[2, 4, 5], 13, -1.0, 1.0)
        };
        check(|t| t[0].matmul_t(&t[1], ta, tb), &[ba, bb]);
    }
    // Linear layer: [B, N, k] · [k, n] and · [n, k]ᵀ.
    let x = param(&[2, 3, 4], 14, -1.0, 1.0);
    let w = param(&[4, 5], 15, -1.0, 1.0);
    let wt = param(&[5, 4], 16, -1.0, 1.0);
    check(|t| t[0].matmul(&t[1]), &[x.clone(), w]);
    check(|t| t[0].matmul_t(&t[1], false, true), &[x, wt]);
}

#[test]
fn softmax_family_and_losses() {
    let x = param(&[3, 6], 17, -2.0, 2.0);
    check(|t| t[0].softmax(), &[x.clone()]);
    check(|t| t[0].log_softmax(), &[x.clone()]);
    check(|t| t[0].cross_entropy(&[0, 5, 2], 0.0), &[x.clone()]);
    check(|t| t[0].cross_entropy(&[1, 1, 4], 0.1), &[x]);
    let x4 = param(&[2, 2, 3, 3], 18, -2.0, 2.0);
    check(|t| t[0].softmax(), &[x4]);
}

#[test]
fn layer_norm_all_inputs() {
    let x = param(&[2, 3, 6], 19, -2.0, 2.0);
    let g = param(&[6], 20, 0.5, 1.5);
    let b = param(&[6], 21, -0.5, 0.5);
    check(|t| t[0].layer_norm(&t[1], &t[2], 1e-5), &[x, g, b]);
}

#[test]
fn dropout_and_drop_path_with_a_fixed_mask() {
    let x = param(&[4, 5], 22, -1.0, 1.0);
    check(
        |t| t[0].dropout(0.3, &mut ChaCha8Rng::seed_from_u64(1)),
        &[x.clone()],
    );
    check(
        |t| t[0].drop_path(0.5, &mut ChaCha8Rng::seed_from_u64(2)),
        &[x],
    );
}

#[test]
fn qr_and_solve() {
    let a = param(&[5, 3], 23, -1.0, 1.0);
    check(|t| Ok(t[0].qr()?.0), &[a.clone()]);
    check(|t| Ok(t[0].qr()?.1), &[a.clone()]);
    check(
        |t| {
            let (q, r) = t[0].qr()?;
            q.sum_axes(&[0], false)?.add(&r.sum_axes(&[1], false)?)
        },
        &[a],
    );
    let square = param(&[4, 4], 24, -1.0, 1.0);
    check(|t| Ok(t[0].qr()?.0), &[square]);
    // A well-conditioned system: identity plus a small random matrix.
    let m = param(&[4, 4], 25, -0.3, 0.3);
    let rhs = param(&[4, 2], 26, -1.0, 1.0);
    check(
        |t| {
            let eye = Tensor::from_array(ArrayD::from_shape_fn(IxDyn(&[4, 4]), |i| {
                if i[0] == i[1] {
                    2.0
                } else {
                    0.0
                }
            }));
            eye.add(&t[0])?.solve(&t[1])
        },
        &[m, rhs],
    );
}

/// One attention head: softmax(X Wq (X Wk)ᵀ / √d) X Wv.
fn attention_head(x: &Tensor, wq: &Tensor, wk: &Tensor, wv: &Tensor) -> Result<Tensor> {
    let d = wq.shape()[1] as f32;
    let q = x.matmul(wq)?;
    let k = x.matmul(wk)?;
    let v = x.matmul(wv)?;
    let scores = q.matmul_t(&k, false, true)?.mul_scalar(1.0 / d.sqrt());
    scores.softmax()?.matmul(&v)
}

#[test]
fn composition_attention_head() {
    let x = param(&[2, 5, 4], 27, -1.0, 1.0);
    let wq = param(&[4, 3], 28, -1.0, 1.0);
    let wk = param(&[4, 3], 29, -1.0, 1.0);
    let wv = param(&[4, 3], 30, -1.0, 1.0);
    check(
        |t| attention_head(&t[0], &t[1], &t[2], &t[3]),
        &[x, wq, wk, wv],
    );
}

#[test]
fn composition_pre_ln_transformer_block() {
    // x + Attn(LN(x)) W_O, then + MLP(LN(·)) with GELU.
    let x = param(&[2, 4, 6], 31, -1.0, 1.0);
    let params = vec![
        x,
        param(&[6], 32, 0.5, 1.5),      // ln1 gamma
        param(&[6], 33, -0.2, 0.2),     // ln1 beta
        param(&[6, 6], 34, -0.5, 0.5),  // wq
        param(&[6, 6], 35, -0.5, 0.5),  // wk
        param(&[6, 6], 36, -0.5, 0.5),  // wv
        param(&[6, 6], 37, -0.5, 0.5),  // wo
        param(&[6], 38, 0.5, 1.5),      // ln2 gamma
        param(&[6], 39, -0.2, 0.2),     // ln2 beta
        param(&[6, 12], 40, -0.5, 0.5), // w1
        param(&[12], 41, -0.2, 0.2),    // b1
        param(&[12, 6], 42, -0.5, 0.5), // w2
    ];
    check(
        |t| {
            let h = t[0].layer_norm(&t[1], &t[2], 1e-5)?;
            let x1 = t[0].add(&attention_head(&h, &t[3], &t[4], &t[5])?.matmul(&t[6])?)?;
            let h2 = x1.layer_norm(&t[7], &t[8], 1e-5)?;
            let m = h2.matmul(&t[9])?.add(&t[10])?.gelu().matmul(&t[11])?;
            x1.add(&m)
        },
        &params,
    );
}

#[test]
fn composition_qr_then_v_diag_lambda_vt() {
    // H = V diag(λ) Vᵀ with V = Q(Θ) and λ = −clip(ψ², ε, 1) (theory.md §5).
    let theta = param(&[4, 4], 43, -1.0, 1.0);
    let psi = Tensor::parameter(ndarray::array![0.3f32, -0.6, 0.8, 0.5].into_dyn());
    check(
        |t| {
            let (v, _) = t[0].qr()?;
            let lambda = t[1].square().clamp(1e-4, 1.0).neg();
            v.mul(&lambda)?.matmul_t(&v, false, true)
        },
        &[theta, psi],
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, .. ProptestConfig::default() })]

    #[test]
    fn prop_matmul_gradients(m in 1usize..5, k in 1usize..5, n in 1usize..5, seed in 0u64..1000) {
        let a = param(&[m, k], seed, -1.0, 1.0);
        let b = param(&[k, n], seed + 1, -1.0, 1.0);
        check(|t| t[0].matmul(&t[1]), &[a, b]);
    }

    #[test]
    fn prop_broadcast_mul_gradients(rows in 1usize..4, cols in 1usize..5, seed in 0u64..1000) {
        let a = param(&[rows, cols], seed, -1.0, 1.0);
        let b = param(&[cols], seed + 1, -1.0, 1.0);
        check(|t| t[0].mul(&t[1]), &[a, b]);
    }

    #[test]
    fn prop_softmax_gradients(rows in 1usize..4, cols in 1usize..7, seed in 0u64..1000) {
        let a = param(&[rows, cols], seed, -3.0, 3.0);
        check(|t| t[0].softmax(), &[a]);
    }
}
