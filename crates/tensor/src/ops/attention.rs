//! The two products of multi-head attention, computed head by head *in place* in the layouts a
//! Transformer already has, so that no split-heads / merge-heads copies (reshape + permute + slice,
//! and their transposes in the backward pass) are needed:
//!
//! * [`Tensor::head_scores`]: `scale · Q_h K_hᵀ` for every image and head, `[B, h, N, N]`, reading
//!   `Q_h` and `K_h` straight out of the fused projection `[B, N, parts·h·e]`;
//! * [`Tensor::head_mix`]: `A_h V_h` for every image and head, reading `V_h` out of the fused
//!   projection and writing head `h` into columns `h·e..(h+1)·e` of the merged `[B, N, h·e]` output
//!   (the layout the output projection consumes).
//!
//! **Fused layout.** Columns of the fused projection are grouped by part, then by head: part `p`
//! (e.g. 0 = q, 1 = k, 2 = v) of head `j` is columns `(p·h + j)·e .. (p·h + j + 1)·e`. A head's
//! operand is then an `N × e` matrix with row stride `parts·h·e`, which the GEMM reads as it is.
//!
//! Images run in parallel over rayon; each (image, head) product is a sequential GEMM.

use crate::error::{Result, TensorError};
use crate::kernels::gemm::{matmul_into_seq, matmul_into_uninit_seq};
use crate::tensor::Tensor;
use ndarray::{
    s, Array3, Array4, ArrayD, ArrayRef, ArrayView2, ArrayView3, ArrayViewMut2, Axis, Ix3, Ix4,
    IxDyn,
};
use rayon::prelude::*;

/// Head `head`'s part `part` of one image's fused projection `[N, W]`: an `N × e` view.
pub(super) fn head_cols<'a>(
    fused: ArrayView2<'a, f32>,
    part: usize,
    head: usize,
    heads: usize,
    e: usize,
) -> ArrayView2<'a, f32> {
    let c0 = (part * heads + head) * e;
    fused.slice_move(s![.., c0..c0 + e])
}

/// The mutable counterpart of [`head_cols`].
pub(super) fn head_cols_mut<'a, A>(
    fused: ArrayViewMut2<'a, A>,
    part: usize,
    head: usize,
    heads: usize,
    e: usize,
) -> ArrayViewMut2<'a, A> {
    let c0 = (part * heads + head) * e;
    fused.slice_move(s![.., c0..c0 + e])
}

/// Check that `shape` is a fused projection `[B, N, W]` holding part `max_part` of `heads` heads of
/// width `head_dim`.
pub(super) fn check_fused(
    op: &'static str,
    shape: &[usize],
    heads: usize,
    head_dim: usize,
    max_part: usize,
) -> Result<()> {
    let width_needed = (max_part + 1) * heads * head_dim;
    if shape.len() != 3 || heads == 0 || head_dim == 0 || shape[2] < width_needed {
        return Err(TensorError::InvalidShape {
            op,
            shape: shape.to_vec(),
            reason: format!(
                "need a fused projection [B, N, W] with W ≥ {width_needed} \
                 (part {max_part} of {heads} heads of width {head_dim})"
            ),
        });
    }
    Ok(())
}

pub(super) fn view3(a: &ArrayRef<f32, IxDyn>) -> ArrayView3<'_, f32> {
    a.view().into_dimensionality::<Ix3>().expect("rank checked")
}

impl Tensor {
    /// Attention scores `scale · Q_h K_hᵀ`, `[B, h, N, N]`, where `Q_h` and `K_h` are parts
    /// `q_part` and `k_part` of head `h` in this fused projection `[B, N, W]` (see the module
    /// documentation for the column layout).
    pub fn head_scores(
        &self,
        heads: usize,
        head_dim: usize,
        q_part: usize,
        k_part: usize,
        scale: f32,
    ) -> Result<Tensor> {
        let shape = self.shape();
        check_fused("head_scores", &shape, heads, head_dim, q_part.max(k_part))?;
        let (b, n, w) = (shape[0], shape[1], shape[2]);
        let e = head_dim;
        let fused = self.shared();
        let f = fused.as_standard_layout();
        let f3 = view3(&f);
        let mut out = Array4::<f32>::uninit((b, heads, n, n));
        out.axis_iter_mut(Axis(0))
            .into_par_iter()
            .zip(f3.axis_iter(Axis(0)).into_par_iter())
            .for_each(|(mut ob, fb)| {
                for head in 0..heads {
                    matmul_into_uninit_seq(
                        ob.index_axis_mut(Axis(0), head),
                        head_cols(fb, q_part, head, heads, e),
                        head_cols(fb, k_part, head, heads, e),
                        false,
                        true,
                        scale,
                    );
                }
            });
        drop(f);
        // SAFETY: every (image, head) block of `out` was written by the loop above.
        let out = unsafe { out.assume_init() };
        let backward = move |g: &ArrayD<f32>, _needs: &[bool]| {
            let g = g.as_standard_layout();
            let g4 = g.view().into_dimensionality::<Ix4>().map_err(|e| {
                TensorError::Autodiff(format!("head_scores backward: gradient rank: {e}"))
            })?;
            let f = fused.as_standard_layout();
            let f3 = view3(&f);
            let mut d = Array3::<f32>::zeros((b, n, w));
            d.axis_iter_mut(Axis(0))
                .into_par_iter()
                .zip(g4.axis_iter(Axis(0)).into_par_iter())
                .zip(f3.axis_iter(Axis(0)).into_par_iter())
                .for_each(|((mut db, gb), fb)| {
                    for head in 0..heads {
                        let gs = gb.index_axis(Axis(0), head);
                        // dQ = scale·G·K and dK = scale·Gᵀ·Q (accumulated: q and k may coincide).
                        matmul_into_seq(
                            head_cols_mut(db.view_mut(), q_part, head, heads, e),
                            gs,
                            head_cols(fb, k_part, head, heads, e),
                            false,
                            false,
                            scale,
                            1.0,
                        );
                        matmul_into_seq(
                            head_cols_mut(db.view_mut(), k_part, head, heads, e),
                            gs,
                            head_cols(fb, q_part, head, heads, e),
                            true,
                            false,
                            scale,
                            1.0,
                        );
                    }
                });
            Ok(vec![Some(d.into_dyn())])
        };
        Ok(Tensor::from_op(
            out.into_dyn(),
            "head_scores",
            vec![self.clone()],
            backward,
        ))
    }

    /// `A_h V_h` for every image and head, merged into `[B, N, h·e]` (head `h` in columns
    /// `h·e..(h+1)·e`). `self` is the attention `[B, h, N, N]`; `V_h` is part `v_part` of head `h`
    /// in the fused projection `fused` `[B, N, W]`, heads of width `head_dim`.
    pub fn head_mix(&self, fused: &Tensor, head_dim: usize, v_part: usize) -> Result<Tensor> {
        let ps = self.shape();
        let fs = fused.shape();
        if ps.len() != 4 || ps[2] != ps[3] {
            return Err(TensorError::InvalidShape {
                op: "head_mix",
                shape: ps,
                reason: "attention must be [B, h, N, N]".into(),
            });
        }
        let (b, heads, n) = (ps[0], ps[1], ps[2]);
        check_fused("head_mix", &fs, heads, head_dim, v_part)?;
        if fs[0] != b || fs[1] != n {
            return Err(TensorError::ShapeMismatch {
                op: "head_mix",
                lhs: ps,
                rhs: fs,
                reason: "attention [B, h, N, N] and fused projection [B, N, W] disagree on B or N"
                    .into(),
            });
        }
        let (e, w) = (head_dim, fs[2]);
        let probs = self.shared();
        let values = fused.shared();
        let mut out = Array3::<f32>::uninit((b, n, heads * e));
        {
            let p = probs.as_standard_layout();
            let p4 = p.view().into_dimensionality::<Ix4>().expect("rank checked");
            let f = values.as_standard_layout();
            let f3 = view3(&f);
            out.axis_iter_mut(Axis(0))
                .into_par_iter()
                .zip(p4.axis_iter(Axis(0)).into_par_iter())
                .zip(f3.axis_iter(Axis(0)).into_par_iter())
                .for_each(|((mut ob, pb), fb)| {
                    for head in 0..heads {
                        matmul_into_uninit_seq(
                            ob.slice_mut(s![.., head * e..(head + 1) * e]),
                            pb.index_axis(Axis(0), head),
                            head_cols(fb, v_part, head, heads, e),
                            false,
                            false,
                            1.0,
                        );
                    }
                });
        }
        // SAFETY: the heads' column blocks cover every column of every image's output.
        let out = unsafe { out.assume_init() };
        let backward = move |g: &ArrayD<f32>, needs: &[bool]| {
            let g = g.as_standard_layout();
            let g3 = g.view().into_dimensionality::<Ix3>().map_err(|e| {
                TensorError::Autodiff(format!("head_mix backward: gradient rank: {e}"))
            })?;
            let p = probs.as_standard_layout();
            let p4 = p.view().into_dimensionality::<Ix4>().expect("rank checked");
            let f = values.as_standard_layout();
            let f3 = view3(&f);
            // dA_h = G_h·V_hᵀ
            let d_probs = needs[0].then(|| {
                let mut d = Array4::<f32>::uninit((b, heads, n, n));
                d.axis_iter_mut(Axis(0))
                    .into_par_iter()
                    .zip(g3.axis_iter(Axis(0)).into_par_iter())
                    .zip(f3.axis_iter(Axis(0)).into_par_iter())
                    .for_each(|((mut db, gb), fb)| {
                        for head in 0..heads {
                            matmul_into_uninit_seq(
                                db.index_axis_mut(Axis(0), head),
                                gb.slice(s![.., head * e..(head + 1) * e]),
                                head_cols(fb, v_part, head, heads, e),
                                false,
                                true,
                                1.0,
                            );
                        }
                    });
                // SAFETY: every (image, head) block was written above.
                unsafe { d.assume_init() }.into_dyn()
            });
            // dV_h = A_hᵀ·G_h, into the value columns of a zero fused gradient.
            let d_fused = needs[1].then(|| {
                let mut d = Array3::<f32>::zeros((b, n, w));
                d.axis_iter_mut(Axis(0))
                    .into_par_iter()
                    .zip(g3.axis_iter(Axis(0)).into_par_iter())
                    .zip(p4.axis_iter(Axis(0)).into_par_iter())
                    .for_each(|((mut db, gb), pb)| {
                        for head in 0..heads {
                            matmul_into_seq(
                                head_cols_mut(db.view_mut(), v_part, head, heads, e),
                                pb.index_axis(Axis(0), head),
                                gb.slice(s![.., head * e..(head + 1) * e]),
                                true,
                                false,
                                1.0,
                                0.0,
                            );
                        }
                    });
                d.into_dyn()
            });
            Ok(vec![d_probs, d_fused])
        };
        Ok(Tensor::from_op(
            out.into_dyn(),
            "head_mix",
            vec![self.clone(), fused.clone()],
            backward,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradients, GradCheckConfig};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn random(shape: &[usize], seed: u64) -> ArrayD<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        ArrayD::from_shape_simple_fn(ndarray::IxDyn(shape), || rng.gen_range(-1.0f32..1.0))
    }

    /// The same products through the generic ops: reshape, permute, slice, batched matmul.
    fn reference(fused: &Tensor, heads: usize, e: usize, scale: f32) -> (Tensor, Tensor) {
        let s = fused.shape();
        let (b, n) = (s[0], s[1]);
        let parts = s[2] / (heads * e);
        let x = fused
            .reshape(&[b, n, parts, heads, e])
            .unwrap()
            .permute(&[2, 0, 3, 1, 4])
            .unwrap();
        let part = |p: usize| {
            x.slice(0, p, p + 1)
                .unwrap()
                .reshape(&[b, heads, n, e])
                .unwrap()
        };
        let scores = part(0)
            .matmul_t(&part(1), false, true)
            .unwrap()
            .mul_scalar(scale);
        let mixed = scores
            .softmax()
            .unwrap()
            .matmul(&part(2))
            .unwrap()
            .permute(&[0, 2, 1, 3])
            .unwrap()
            .reshape(&[b, n, heads * e])
            .unwrap();
        (scores, mixed)
    }

    #[test]
    fn match_the_generic_ops() {
        let (b, n, heads, e) = (3, 5, 2, 4);
        let fused = Tensor::from_array(random(&[b, n, 3 * heads * e], 1));
        let scale = 0.5;
        let scores = fused.head_scores(heads, e, 0, 1, scale).unwrap();
        let mixed = scores.softmax().unwrap().head_mix(&fused, e, 2).unwrap();
        let (want_scores, want_mixed) = reference(&fused, heads, e, scale);
        for (got, want) in [(scores, want_scores), (mixed, want_mixed)] {
            assert_eq!(got.shape(), want.shape());
            for (x, y) in got.to_vec().iter().zip(want.to_vec()) {
                assert!((x - y).abs() < 1e-5, "{x} vs {y}");
            }
        }
    }

    /// Both routes: the separate ops composed, and the fused `head_attention`.
    #[test]
    fn gradients_match_finite_differences() {
        let (b, n, heads, e) = (2, 4, 2, 3);
        type Route = fn(&Tensor, usize, usize) -> Result<Tensor>;
        let composed: Route = |f, heads, e| {
            let a = f.head_scores(heads, e, 0, 1, 0.7)?.softmax()?;
            a.head_mix(f, e, 2)
        };
        let fused_op: Route = |f, heads, e| Ok(f.head_attention(heads, e, 0.7)?.0);
        for (seed, route) in [(2, composed), (3, fused_op)] {
            let fused = Tensor::parameter(random(&[b, n, 3 * heads * e], seed));
            let report = check_gradients(
                |inputs| route(&inputs[0], heads, e),
                &[fused],
                GradCheckConfig::default(),
            )
            .unwrap();
            assert!(report.worst_ratio <= 1.0, "{report:?}");
        }
    }

    fn assert_close(got: &[f32], want: &[f32], tol: f32) {
        assert_eq!(got.len(), want.len());
        for (x, y) in got.iter().zip(want) {
            assert!((x - y).abs() <= tol * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    /// The fused op's values and gradients equal those of head_scores → softmax → head_mix,
    /// including a fused projection wider than q, k, v (its extra columns get a zero gradient).
    #[test]
    fn fused_attention_matches_the_composed_ops() {
        let (b, n, heads, e) = (3, 7, 2, 5);
        for extra in [0, 3] {
            let w = 3 * heads * e + extra;
            let data = random(&[b, n, w], 1);
            let upstream = random(&[b, n, heads * e], 2);
            let scale = 0.6;

            let fused = Tensor::parameter(data.clone());
            let (out, probs) = fused.head_attention(heads, e, scale).unwrap();
            assert!(!probs.requires_grad());
            out.backward_with_grad(upstream.clone()).unwrap();

            let fused_ref = Tensor::parameter(data);
            let probs_ref = fused_ref
                .head_scores(heads, e, 0, 1, scale)
                .unwrap()
                .softmax()
                .unwrap();
            let out_ref = probs_ref.head_mix(&fused_ref, e, 2).unwrap();
            out_ref.backward_with_grad(upstream).unwrap();

            assert_close(&out.to_vec(), &out_ref.to_vec(), 1e-5);
            assert_close(&probs.to_vec(), &probs_ref.to_vec(), 1e-6);
            let grad = fused.grad().unwrap();
            let grad_ref = fused_ref.grad().unwrap();
            assert_close(grad.as_slice().unwrap(), grad_ref.as_slice().unwrap(), 1e-5);
            if extra > 0 {
                let tail = grad.slice(s![.., .., 3 * heads * e..]);
                assert!(tail.iter().all(|&v| v == 0.0));
            }
        }
    }

    #[test]
    fn bad_shapes_are_typed_errors() {
        let fused = Tensor::zeros(&[2, 3, 10]);
        assert!(fused.head_scores(2, 4, 0, 1, 1.0).is_err());
        let probs = Tensor::zeros(&[2, 2, 3, 3]);
        assert!(probs.head_mix(&Tensor::zeros(&[2, 4, 24]), 4, 2).is_err());
        // Narrower than three parts of 2 heads × 4; not [B, N, W]; no heads.
        assert!(Tensor::zeros(&[2, 3, 20])
            .head_attention(2, 4, 1.0)
            .is_err());
        assert!(Tensor::zeros(&[2, 24]).head_attention(2, 4, 1.0).is_err());
        assert!(Tensor::zeros(&[2, 3, 24])
            .head_attention(0, 4, 1.0)
            .is_err());
    }
}
