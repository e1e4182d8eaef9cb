//! The affine map of a linear layer, `x·W + b` (or `x·Wᵀ + b` for PyTorch's `[out, in]`
//! weights), as one op: one GEMM with the bias added in place, and in the backward pass two GEMMs
//! and a column sum. As separate `matmul` and `add` ops it would allocate and traverse the
//! `[rows, out]` activation and its gradient twice more.

use super::broadcast::sum_leading_rows;
use crate::error::{Result, TensorError};
use crate::kernels::gemm;
use crate::tensor::Tensor;
use ndarray::{ArrayD, Ix1, Ix2, IxDyn};

impl Tensor {
    /// `self · weight + bias` over the last axis: `self` is `[.., in]`, `weight` `[in, out]`,
    /// `bias` `[out]` (or `None`); the result is `[.., out]`.
    pub fn linear(&self, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        self.affine(weight, bias, false)
    }

    /// [`Tensor::linear`] with the weight in PyTorch's `[out, in]` layout: `self · weightᵀ + bias`,
    /// through a transposed product, so a checkpoint's weights are used without a copy.
    pub fn linear_t(&self, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        self.affine(weight, bias, true)
    }

    /// The one implementation of [`Tensor::linear`] (`weight` `[in, out]`) and
    /// [`Tensor::linear_t`] (`weight` `[out, in]`, `trans_w`).
    fn affine(&self, weight: &Tensor, bias: Option<&Tensor>, trans_w: bool) -> Result<Tensor> {
        let op = if trans_w { "linear_t" } else { "linear" };
        let xs = self.shape();
        let ws = weight.shape();
        let mismatch = |rhs: Vec<usize>, reason: String| TensorError::ShapeMismatch {
            op,
            lhs: xs.clone(),
            rhs,
            reason,
        };
        let (input_axis, layout) = if trans_w {
            (1, "[out, in]")
        } else {
            (0, "[in, out]")
        };
        if xs.is_empty() || ws.len() != 2 || xs[xs.len() - 1] != ws[input_axis] {
            return Err(mismatch(
                ws.clone(),
                format!("need x [.., in] and weight {layout}"),
            ));
        }
        let (input, output) = (ws[input_axis], ws[1 - input_axis]);
        if let Some(b) = bias {
            if b.shape() != [output] {
                return Err(mismatch(
                    b.shape(),
                    format!("bias must be [{output}], the weight's output width"),
                ));
            }
        }
        let rows = xs[..xs.len() - 1].iter().product::<usize>();
        let mut out_shape = xs[..xs.len() - 1].to_vec();
        out_shape.push(output);

        let x = self.shared_standard();
        let w = weight.shared();
        let x2 = x
            .view()
            .into_shape_with_order((rows, input))
            .expect("standard layout reshapes");
        let w2 = w.view().into_dimensionality::<Ix2>().expect("rank checked");
        // The bias is added to each row block of the product right after the block is computed.
        let y = match bias {
            Some(b) => {
                let b = b.shared();
                let b1 = b.view().into_dimensionality::<Ix1>().expect("rank checked");
                gemm::matmul_then(x2, w2, false, trans_w, &|_, mut block| block += &b1)
            }
            None => gemm::matmul(x2, w2, false, trans_w),
        };
        let y = y
            .into_shape_with_order(IxDyn(&out_shape))
            .expect("element count");

        let mut inputs = vec![self.clone(), weight.clone()];
        inputs.extend(bias.cloned());
        let backward = move |g: &ArrayD<f32>, needs: &[bool]| {
            let g = g.as_standard_layout();
            let g2 = g
                .view()
                .into_shape_with_order((rows, output))
                .map_err(|e| TensorError::Autodiff(format!("{op} backward: {e}")))?;
            let x2 = x
                .view()
                .into_shape_with_order((rows, input))
                .expect("standard layout reshapes");
            let w2 = w.view().into_dimensionality::<Ix2>().expect("rank checked");
            // The three gradients are independent; joined, their tasks share the threads without a
            // barrier between them.
            let has_bias = needs.len() > 2;
            let (gx, (gw, gb)) = rayon::join(
                || {
                    needs[0].then(|| {
                        // g Wᵀ for W [in, out], g W for W [out, in].
                        gemm::matmul(g2, w2, false, !trans_w)
                            .into_shape_with_order(IxDyn(&xs))
                            .expect("element count")
                    })
                },
                || {
                    // xᵀ g is [in, out]; the [out, in] weight's gradient is gᵀ x.
                    let gw = needs[1].then(|| {
                        if trans_w {
                            gemm::matmul(g2, x2, true, false).into_dyn()
                        } else {
                            gemm::matmul(x2, g2, true, false).into_dyn()
                        }
                    });
                    let gb =
                        (has_bias && needs[2]).then(|| sum_leading_rows(g2.into_dyn(), &[output]));
                    (gw, gb)
                },
            );
            let mut grads = vec![gx, gw];
            if has_bias {
                grads.push(gb);
            }
            Ok(grads)
        };
        Ok(Tensor::from_op(y, op, inputs, backward))
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
        ArrayD::from_shape_simple_fn(IxDyn(shape), || rng.gen_range(-1.0f32..1.0))
    }

    #[test]
    fn equals_matmul_plus_bias() {
        let x = Tensor::from_array(random(&[2, 3, 4], 1));
        let w = Tensor::from_array(random(&[4, 5], 2));
        let b = Tensor::from_array(random(&[5], 3));
        let got = x.linear(&w, Some(&b)).unwrap();
        let want = x.matmul(&w).unwrap().add(&b).unwrap();
        assert_eq!(got.shape(), vec![2, 3, 5]);
        for (g, w) in got.to_vec().iter().zip(want.to_vec()) {
            assert!((g - w).abs() < 1e-6);
        }
        let no_bias = x.linear(&w, None).unwrap();
        assert_eq!(no_bias.to_vec(), x.matmul(&w).unwrap().to_vec());
    }

    #[test]
    fn gradients_match_finite_differences() {
        let x = Tensor::parameter(random(&[2, 3, 4], 4));
        let w = Tensor::parameter(random(&[4, 5], 5));
        let b = Tensor::parameter(random(&[5], 6));
        let report = check_gradients(
            |t| t[0].linear(&t[1], Some(&t[2])),
            &[x, w, b],
            GradCheckConfig::default(),
        )
        .unwrap();
        assert!(report.checked > 0);
    }

    #[test]
    fn transposed_weight_equals_linear_with_the_transpose() {
        let x = Tensor::from_array(random(&[2, 3, 4], 7));
        let w = random(&[5, 4], 8);
        let b = Tensor::from_array(random(&[5], 9));
        let wt = Tensor::from_array(w.t().as_standard_layout().to_owned());
        let got = x.linear_t(&Tensor::from_array(w), Some(&b)).unwrap();
        let want = x.linear(&wt, Some(&b)).unwrap();
        assert_eq!(got.shape(), vec![2, 3, 5]);
        for (g, w) in got.to_vec().iter().zip(want.to_vec()) {
            assert!((g - w).abs() < 1e-6);
        }
    }

    #[test]
    fn transposed_gradients_match_finite_differences() {
        let x = Tensor::parameter(random(&[2, 3, 4], 10));
        let w = Tensor::parameter(random(&[5, 4], 11));
        let b = Tensor::parameter(random(&[5], 12));
        let report = check_gradients(
            |t| t[0].linear_t(&t[1], Some(&t[2])),
            &[x, w, b],
            GradCheckConfig::default(),
        )
        .unwrap();
        assert!(report.checked > 0);
    }

    #[test]
    fn bad_shapes_are_typed_errors() {
        let x0 = Tensor::zeros(&[2, 4]);
        assert!(x0.linear_t(&Tensor::zeros(&[5, 3]), None).is_err());
        assert!(x0.linear_t(&Tensor::zeros(&[4, 5]), None).is_err());
        assert!(x0
            .linear_t(&Tensor::zeros(&[5, 4]), Some(&Tensor::zeros(&[4])))
            .is_err());
        let x = Tensor::zeros(&[2, 4]);
        assert!(x.linear(&Tensor::zeros(&[3, 5]), None).is_err());
        assert!(x
            .linear(&Tensor::zeros(&[4, 5]), Some(&Tensor::zeros(&[4])))
            .is_err());
    }
}
