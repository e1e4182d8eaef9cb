//! Multi-head attention `softmax(scale · Q_h K_hᵀ) · V_h` as one op, image by image.
//!
//! The composition [`Tensor::head_scores`] → [`Tensor::softmax`] → [`Tensor::head_mix`] gives the
//! same values, but as three ops it streams the `[B, h, N, N]` scores and probabilities through
//! memory several times, and its backward zero-fills two fused-projection gradients (one from the
//! scores, one from the mix) and then adds them. Here each (image, head) block is computed while
//! it is in cache: the scores, their softmax and the mix in the forward pass; `dP`, the softmax
//! backward and the three products `dQ`, `dK`, `dV` in the backward pass, which writes every
//! column of one gradient once (no zero fill, no sum). On the `vit-small` training step (2 threads)
//! attention went from about 71 to 57 ms per step, and peak memory from 393 to 352 MiB.
//!
//! The fused projection `[B, N, W]` holds q, k and v as parts 0, 1 and 2 (the layout described in
//! the `attention` module). AttnScale, which changes the probabilities between the softmax and the
//! mix, uses the separate ops.

use super::attention::{check_fused, head_cols, head_cols_mut, view3};
use crate::error::{Result, TensorError};
use crate::kernels::gemm::matmul_into_uninit_seq;
use crate::kernels::softmax::{softmax_backward_row_in_place, softmax_row_in_place};
use crate::tensor::Tensor;
use ndarray::{s, Array2, Array3, Array4, ArrayD, Axis, Ix3, Ix4};
use rayon::prelude::*;

/// Parts of the fused projection: queries, keys, values.
const Q: usize = 0;
const K: usize = 1;
const V: usize = 2;

impl Tensor {
    /// Multi-head attention on a fused projection `[B, N, W]` (q, k, v = parts 0, 1, 2 of `heads`
    /// heads of width `head_dim`): returns the heads' outputs `softmax(scale·Q_h K_hᵀ)·V_h` merged
    /// into `[B, N, heads·head_dim]` (head `h` in columns `h·e..(h+1)·e`), and the attention
    /// probabilities `[B, h, N, N]` as a constant tensor (for diagnostics; no gradient flows
    /// through it).
    pub fn head_attention(
        &self,
        heads: usize,
        head_dim: usize,
        scale: f32,
    ) -> Result<(Tensor, Tensor)> {
        let shape = self.shape();
        check_fused("head_attention", &shape, heads, head_dim, V)?;
        let (b, n, w) = (shape[0], shape[1], shape[2]);
        let e = head_dim;
        let fused = self.shared();
        let mut probs = Array4::<f32>::uninit((b, heads, n, n));
        let mut out = Array3::<f32>::uninit((b, n, heads * e));
        {
            let f = fused.as_standard_layout();
            let f3 = view3(&f);
            probs
                .axis_iter_mut(Axis(0))
                .into_par_iter()
                .zip(out.axis_iter_mut(Axis(0)).into_par_iter())
                .zip(f3.axis_iter(Axis(0)).into_par_iter())
                .for_each(|((mut pb, mut ob), fb)| {
                    for head in 0..heads {
                        let mut p = pb.index_axis_mut(Axis(0), head);
                        matmul_into_uninit_seq(
                            p.view_mut(),
                            head_cols(fb, Q, head, heads, e),
                            head_cols(fb, K, head, heads, e),
                            false,
                            true,
                            scale,
                        );
                        // SAFETY: the product above wrote every element of this block.
                        let mut p = unsafe { p.assume_init() };
                        for mut row in p.rows_mut() {
                            softmax_row_in_place(row.as_slice_mut().expect("contiguous row"));
                        }
                        matmul_into_uninit_seq(
                            ob.slice_mut(s![.., head * e..(head + 1) * e]),
                            p.view(),
                            head_cols(fb, V, head, heads, e),
                            false,
                            false,
                            1.0,
                        );
                    }
                });
        }
        // SAFETY: every (image, head) block of `probs` and every head's columns of `out` were
        // written above.
        let (probs, out) = unsafe { (probs.assume_init(), out.assume_init()) };
        let probs = probs.into_dyn().into_shared();
        let saved = probs.clone();
        let backward = move |g: &ArrayD<f32>, _needs: &[bool]| {
            let g = g.as_standard_layout();
            let g3 = g.view().into_dimensionality::<Ix3>().map_err(|e| {
                TensorError::Autodiff(format!("head_attention backward: gradient rank: {e}"))
            })?;
            let p4 = saved
                .view()
                .into_dimensionality::<Ix4>()
                .expect("saved probabilities are [B, h, N, N]");
            let f = fused.as_standard_layout();
            let f3 = view3(&f);
            let mut d = Array3::<f32>::uninit((b, n, w));
            d.axis_iter_mut(Axis(0))
                .into_par_iter()
                .zip(g3.axis_iter(Axis(0)).into_par_iter())
                .zip(p4.axis_iter(Axis(0)).into_par_iter())
                .zip(f3.axis_iter(Axis(0)).into_par_iter())
                .for_each_init(
                    || Array2::<f32>::uninit((n, n)),
                    |scratch, (((mut db, gb), pb), fb)| {
                        for head in 0..heads {
                            let p = pb.index_axis(Axis(0), head);
                            let gh = gb.slice(s![.., head * e..(head + 1) * e]);
                            // dP = G_h·V_hᵀ, then dS = scale·P ⊙ (dP − rowsum(dP ⊙ P)).
                            matmul_into_uninit_seq(
                                scratch.view_mut(),
                                gh,
                                head_cols(fb, V, head, heads, e),
                                false,
                                true,
                                1.0,
                            );
                            // SAFETY: the product above wrote every element of the scratch block.
                            let mut ds = unsafe { scratch.view_mut().assume_init() };
                            for (mut dsr, pr) in ds.rows_mut().into_iter().zip(p.rows()) {
                                softmax_backward_row_in_place(
                                    pr.as_slice().expect("contiguous row"),
                                    dsr.as_slice_mut().expect("contiguous row"),
                                    scale,
                                );
                            }
                            // dQ_h = dS·K_h, dK_h = dSᵀ·Q_h, dV_h = Pᵀ·G_h.
                            let products = [
                                (Q, ds.view(), false, head_cols(fb, K, head, heads, e)),
                                (K, ds.view(), true, head_cols(fb, Q, head, heads, e)),
                                (V, p, true, gh),
                            ];
                            for (part, lhs, trans, rhs) in products {
                                matmul_into_uninit_seq(
                                    head_cols_mut(db.view_mut(), part, head, heads, e),
                                    lhs,
                                    rhs,
                                    trans,
                                    false,
                                    1.0,
                                );
                            }
                        }
                        // Columns past the three parts do not reach the output.
                        for v in db.slice_mut(s![.., 3 * heads * e..]) {
                            v.write(0.0);
                        }
                    },
                );
            // SAFETY: each image's q, k and v columns of every head were written by the products
            // above and the remaining columns set to zero.
            Ok(vec![Some(unsafe { d.assume_init() }.into_dyn())])
        };
        let out = Tensor::from_op(
            out.into_dyn(),
            "head_attention",
            vec![self.clone()],
            backward,
        );
        Ok((out, Tensor::from_shared(probs)))
    }
}

// Tests: with the separate ops in `super::attention` (they check one against the other).
