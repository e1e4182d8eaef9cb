//! Neural-network ops: softmax, log-softmax, cross-entropy with label smoothing, layer norm, GELU
//! (erf and tanh forms), dropout and drop-path. Row-wise ops work over the last axis and run rows in
//! parallel with rayon.

use crate::error::{Result, TensorError};
use crate::kernels::{self, GeluKind};
use crate::tensor::Tensor;
use ndarray::{Array2, ArrayD, ArrayView2, ArrayViewD, CowArray, Ix2, IxDyn};
use rand::Rng;

/// `a` as `[rows, last axis]`: borrowed when `a` is in standard layout (the usual case), copied
/// otherwise.
fn rows_view<'a>(a: ArrayViewD<'a, f32>) -> CowArray<'a, f32, Ix2> {
    let d = a.shape().last().copied().unwrap_or(1);
    let rows = a.len().checked_div(d).unwrap_or(0);
    if a.is_standard_layout() {
        CowArray::from(
            a.into_shape_with_order((rows, d))
                .expect("standard layout reshapes"),
        )
    } else {
        CowArray::from(
            a.as_standard_layout()
                .into_owned()
                .into_shape_with_order((rows, d))
                .expect("standard layout reshapes"),
        )
    }
}

fn need_rank1(op: &'static str, t: &Tensor) -> Result<()> {
    if t.ndim() == 0 {
        return Err(TensorError::InvalidShape {
            op,
            shape: vec![],
            reason: "needs at least one axis".into(),
        });
    }
    Ok(())
}

impl Tensor {
    /// Softmax over the last axis (numerically stable).
    pub fn softmax(&self) -> Result<Tensor> {
        self.rowwise_softmax("softmax", kernels::softmax, kernels::softmax_backward)
    }

    /// Log-softmax over the last axis (numerically stable).
    pub fn log_softmax(&self) -> Result<Tensor> {
        self.rowwise_softmax(
            "log_softmax",
            kernels::log_softmax,
            kernels::log_softmax_backward,
        )
    }

    /// A row-wise op over the last axis whose backward needs only its output and the gradient.
    fn rowwise_softmax(
        &self,
        op: &'static str,
        forward: fn(ArrayView2<'_, f32>) -> Array2<f32>,
        backward: fn(ArrayView2<'_, f32>, ArrayView2<'_, f32>) -> Array2<f32>,
    ) -> Result<Tensor> {
        need_rank1(op, self)?;
        let shape = self.shape();
        let x = self.shared();
        let y = forward(rows_view(x.view()).view())
            .into_shape_with_order(IxDyn(&shape))
            .expect("same count")
            .into_shared();
        drop(x);
        let saved = y.clone();
        Ok(Tensor::from_op(y, op, vec![self.clone()], move |g, _| {
            let dx = backward(rows_view(saved.view()).view(), rows_view(g.view()).view())
                .into_shape_with_order(IxDyn(saved.shape()))
                .expect("same count");
            Ok(vec![Some(dx)])
        }))
    }

    /// Mean cross-entropy of `[N, C]` logits against class indices, with label smoothing `eps`:
    /// the target distribution is `(1 − eps)·onehot + eps/C`.
    pub fn cross_entropy(&self, targets: &[usize], label_smoothing: f32) -> Result<Tensor> {
        let shape = self.shape();
        if shape.len() != 2 || shape[0] != targets.len() || shape[0] == 0 {
            return Err(TensorError::ShapeMismatch {
                op: "cross_entropy",
                lhs: shape,
                rhs: vec![targets.len()],
                reason: "logits must be [N, C] with N equal to the number of targets (N > 0)"
                    .into(),
            });
        }
        let classes = shape[1];
        if let Some(&bad) = targets.iter().find(|&&t| t >= classes) {
            return Err(TensorError::InvalidArgument {
                op: "cross_entropy",
                reason: format!("target class {bad} is out of range for {classes} classes"),
            });
        }
        if !(0.0..1.0).contains(&label_smoothing) {
            return Err(TensorError::InvalidArgument {
                op: "cross_entropy",
                reason: format!("label smoothing {label_smoothing} must be in [0, 1)"),
            });
        }
        let n = shape[0];
        let off = label_smoothing / classes as f32;
        let on = 1.0 - label_smoothing + off;
        let mut target = Array2::<f32>::from_elem((n, classes), off);
        for (i, &t) in targets.iter().enumerate() {
            target[[i, t]] = on;
        }
        let logp = self.log_softmax()?;
        let target = Tensor::from_array(target.into_dyn());
        Ok(logp.mul(&target)?.sum_all().mul_scalar(-1.0 / n as f32))
    }

    /// Layer normalisation over the last axis: `(x − μ)/√(σ² + eps) · γ + β`, with `γ` and `β` of
    /// the last axis' length.
    pub fn layer_norm(&self, gamma: &Tensor, beta: &Tensor, eps: f32) -> Result<Tensor> {
        need_rank1("layer_norm", self)?;
        let shape = self.shape();
        let d = *shape.last().expect("rank checked");
        for (name, p) in [("gamma", gamma), ("beta", beta)] {
            if p.shape() != [d] {
                return Err(TensorError::ShapeMismatch {
                    op: "layer_norm",
                    lhs: shape.clone(),
                    rhs: p.shape(),
                    reason: format!("{name} must be 1-D of the last axis' length {d}"),
                });
            }
        }
        let x = self.shared();
        let gamma1 = gamma
            .shared()
            .into_shape_with_order(d)
            .expect("1-D checked");
        let beta1 = beta.shared().into_shape_with_order(d).expect("1-D checked");
        let out = kernels::layernorm(rows_view(x.view()).view(), gamma1.view(), beta1.view(), eps);
        let y = out
            .y
            .into_shape_with_order(IxDyn(&shape))
            .expect("same count");
        let (mean, rstd) = (out.mean, out.rstd);
        Ok(Tensor::from_op(
            y,
            "layer_norm",
            vec![self.clone(), gamma.clone(), beta.clone()],
            move |g, _| {
                let (dx, dgamma, dbeta) = kernels::layernorm_backward(
                    rows_view(x.view()).view(),
                    gamma1.view(),
                    mean.view(),
                    rstd.view(),
                    rows_view(g.view()).view(),
                );
                let dx = dx.into_shape_with_order(IxDyn(&shape)).expect("same count");
                Ok(vec![
                    Some(dx),
                    Some(dgamma.into_dyn()),
                    Some(dbeta.into_dyn()),
                ])
            },
        ))
    }

    /// GELU with the exact erf form: `x·Φ(x) = ½x(1 + erf(x/√2))`.
    pub fn gelu(&self) -> Tensor {
        self.gelu_kind(GeluKind::Erf)
    }

    /// GELU with the tanh approximation: `½x(1 + tanh(√(2/π)(x + 0.044715x³)))`.
    pub fn gelu_tanh(&self) -> Tensor {
        self.gelu_kind(GeluKind::Tanh)
    }

    fn gelu_kind(&self, kind: GeluKind) -> Tensor {
        let x = self.shared();
        let y = kernels::gelu(x.view(), kind);
        let op = match kind {
            GeluKind::Erf => "gelu",
            GeluKind::Tanh => "gelu_tanh",
        };
        Tensor::from_op(y, op, vec![self.clone()], move |g, _| {
            Ok(vec![Some(kernels::gelu_backward(x.view(), g.view(), kind))])
        })
    }

    /// Inverted dropout: zero each element with probability `p` and scale the rest by `1/(1 − p)`,
    /// drawing the mask from `rng` (seed it for reproducible runs). Identity when `p = 0`.
    pub fn dropout(&self, p: f32, rng: &mut impl Rng) -> Result<Tensor> {
        if !(0.0..1.0).contains(&p) {
            return Err(TensorError::InvalidArgument {
                op: "dropout",
                reason: format!("probability {p} must be in [0, 1)"),
            });
        }
        if p == 0.0 {
            return Ok(self.clone());
        }
        let scale = 1.0 / (1.0 - p);
        let mask = ArrayD::from_shape_simple_fn(IxDyn(&self.shape()), || {
            if rng.gen::<f32>() < p {
                0.0
            } else {
                scale
            }
        });
        self.mul(&Tensor::from_array(mask))
    }

    /// Drop-path (stochastic depth) on a residual branch `[B, ...]`: drop whole samples with
    /// probability `p`, scaling kept ones by `1/(1 − p)`.
    pub fn drop_path(&self, p: f32, rng: &mut impl Rng) -> Result<Tensor> {
        if !(0.0..1.0).contains(&p) {
            return Err(TensorError::InvalidArgument {
                op: "drop_path",
                reason: format!("probability {p} must be in [0, 1)"),
            });
        }
        if p == 0.0 {
            return Ok(self.clone());
        }
        need_rank1("drop_path", self)?;
        let shape = self.shape();
        let mut mask_shape = vec![1; shape.len()];
        mask_shape[0] = shape[0];
        let scale = 1.0 / (1.0 - p);
        let mask = ArrayD::from_shape_simple_fn(IxDyn(&mask_shape), || {
            if rng.gen::<f32>() < p {
                0.0
            } else {
                scale
            }
        });
        self.mul(&Tensor::from_array(mask))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn softmax_is_stable_for_huge_logits() {
        let x = Tensor::from_array(array![[1000.0f32, 1000.0], [-1e30, 0.0]].into_dyn());
        let y = x.softmax().unwrap().to_vec();
        assert_eq!(y, vec![0.5, 0.5, 0.0, 1.0]);
    }

    #[test]
    fn cross_entropy_matches_hand_computation() {
        let x = Tensor::from_array(array![[0.0f32, 0.0]].into_dyn());
        let l = x.cross_entropy(&[1], 0.0).unwrap().item().unwrap();
        assert!((l - std::f32::consts::LN_2).abs() < 1e-6);
        assert!(x.cross_entropy(&[2], 0.0).is_err());
        assert!(x.cross_entropy(&[0, 1], 0.0).is_err());
    }

    #[test]
    fn layer_norm_normalises_rows() {
        let x = Tensor::from_array(array![[1.0f32, 2.0, 3.0, 4.0]].into_dyn());
        let y = x
            .layer_norm(&Tensor::ones(&[4]), &Tensor::zeros(&[4]), 0.0)
            .unwrap()
            .to_vec();
        let mean: f32 = y.iter().sum::<f32>() / 4.0;
        let var: f32 = y.iter().map(|v| v * v).sum::<f32>() / 4.0;
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5);
        assert!(x
            .layer_norm(&Tensor::ones(&[3]), &Tensor::zeros(&[4]), 1e-5)
            .is_err());
    }

    #[test]
    fn gelu_values() {
        let x = Tensor::from_array(array![-1.0f32, 0.0, 1.0].into_dyn());
        let y = x.gelu().to_vec();
        assert!((y[2] - 0.841_344_7).abs() < 1e-6 && y[1] == 0.0);
        assert!((y[0] + 0.158_655_3).abs() < 1e-6);
    }

    #[test]
    fn dropout_is_reproducible_under_a_seed() {
        use rand::SeedableRng;
        let x = Tensor::ones(&[64]);
        let a = x
            .dropout(0.5, &mut rand_chacha::ChaCha8Rng::seed_from_u64(7))
            .unwrap();
        let b = x
            .dropout(0.5, &mut rand_chacha::ChaCha8Rng::seed_from_u64(7))
            .unwrap();
        assert_eq!(a.to_vec(), b.to_vec());
        assert!(a.to_vec().iter().all(|&v| v == 0.0 || v == 2.0));
    }
}
