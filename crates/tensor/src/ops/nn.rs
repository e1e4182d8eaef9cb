//! Neural-network ops: softmax, log-softmax, cross-entropy with label smoothing, layer norm, GELU
//! (erf and tanh forms), dropout and drop-path. Row-wise ops work over the last axis and run rows in
//! parallel with rayon.

use crate::error::{Result, TensorError};
use crate::tensor::Tensor;
use ndarray::{Array1, Array2, ArrayD, ArrayView2, Axis, IxDyn, Zip};
use rand::Rng;

fn rows_view(a: &ArrayD<f32>) -> ArrayView2<'_, f32> {
    let d = a.shape().last().copied().unwrap_or(1);
    let rows = if d == 0 { 0 } else { a.len() / d };
    a.view()
        .into_shape_with_order((rows, d))
        .expect("standard layout")
}

fn standard(a: ArrayD<f32>) -> ArrayD<f32> {
    if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
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

/// Stable softmax of each row: subtract the row maximum before exponentiating.
fn softmax_rows(x: ArrayView2<'_, f32>) -> Array2<f32> {
    let mut y = Array2::<f32>::zeros(x.raw_dim());
    Zip::from(y.rows_mut())
        .and(x.rows())
        .par_for_each(|mut yr, xr| {
            let m = xr.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let mut s = 0.0f32;
            for (o, &v) in yr.iter_mut().zip(xr) {
                *o = (v - m).exp();
                s += *o;
            }
            let inv = 1.0 / s;
            yr.mapv_inplace(|v| v * inv);
        });
    y
}

/// Stable log-softmax of each row: `x − m − ln Σ exp(x − m)`.
fn log_softmax_rows(x: ArrayView2<'_, f32>) -> Array2<f32> {
    let mut y = Array2::<f32>::zeros(x.raw_dim());
    Zip::from(y.rows_mut())
        .and(x.rows())
        .par_for_each(|mut yr, xr| {
            let m = xr.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            let lse = m + xr.fold(0.0f32, |s, &v| s + (v - m).exp()).ln();
            for (o, &v) in yr.iter_mut().zip(xr) {
                *o = v - lse;
            }
        });
    y
}

impl Tensor {
    /// Softmax over the last axis (numerically stable).
    pub fn softmax(&self) -> Result<Tensor> {
        need_rank1("softmax", self)?;
        let shape = self.shape();
        let x = standard(self.to_array());
        let y = softmax_rows(rows_view(&x))
            .into_shape_with_order(IxDyn(&shape))
            .expect("same count");
        let saved = y.clone();
        Ok(Tensor::from_op(
            y,
            "softmax",
            vec![self.clone()],
            move |g, _| {
                // dx = y ⊙ (g − Σ g⊙y) per row
                let g = standard(g.clone());
                let (yv, gv) = (rows_view(&saved), rows_view(&g));
                let mut dx = Array2::<f32>::zeros(yv.raw_dim());
                Zip::from(dx.rows_mut())
                    .and(yv.rows())
                    .and(gv.rows())
                    .par_for_each(|mut d, y, g| {
                        let dot: f32 = y.iter().zip(g).map(|(a, b)| a * b).sum();
                        for ((o, &yi), &gi) in d.iter_mut().zip(y).zip(g) {
                            *o = yi * (gi - dot);
                        }
                    });
                Ok(vec![Some(
                    dx.into_shape_with_order(IxDyn(saved.shape()))
                        .expect("same count"),
                )])
            },
        ))
    }

    /// Log-softmax over the last axis (numerically stable).
    pub fn log_softmax(&self) -> Result<Tensor> {
        need_rank1("log_softmax", self)?;
        let shape = self.shape();
        let x = standard(self.to_array());
        let y = log_softmax_rows(rows_view(&x))
            .into_shape_with_order(IxDyn(&shape))
            .expect("same count");
        let saved = y.clone();
        Ok(Tensor::from_op(
            y,
            "log_softmax",
            vec![self.clone()],
            move |g, _| {
                // dx = g − softmax ⊙ Σ g per row
                let g = standard(g.clone());
                let (yv, gv) = (rows_view(&saved), rows_view(&g));
                let mut dx = Array2::<f32>::zeros(yv.raw_dim());
                Zip::from(dx.rows_mut())
                    .and(yv.rows())
                    .and(gv.rows())
                    .par_for_each(|mut d, y, g| {
                        let s: f32 = g.sum();
                        for ((o, &yi), &gi) in d.iter_mut().zip(y).zip(g) {
                            *o = gi - yi.exp() * s;
                        }
                    });
                Ok(vec![Some(
                    dx.into_shape_with_order(IxDyn(saved.shape()))
                        .expect("same count"),
                )])
            },
        ))
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
        let x = standard(self.to_array());
        let xv = rows_view(&x);
        let rows = xv.nrows();
        let mut xhat = Array2::<f32>::zeros((rows, d));
        let mut rstd = Array1::<f32>::zeros(rows);
        Zip::from(xhat.rows_mut())
            .and(&mut rstd)
            .and(xv.rows())
            .par_for_each(|mut h, r, xr| {
                let mean = xr.sum() / d as f32;
                let var = xr.fold(0.0f32, |s, &v| s + (v - mean) * (v - mean)) / d as f32;
                *r = 1.0 / (var + eps).sqrt();
                for (o, &v) in h.iter_mut().zip(xr) {
                    *o = (v - mean) * *r;
                }
            });
        let (gd, bd) = (gamma.to_array(), beta.to_array());
        let g1 = gd.view().into_shape_with_order(d).expect("1-D");
        let b1 = bd.view().into_shape_with_order(d).expect("1-D");
        let mut y = xhat.clone();
        Zip::from(y.rows_mut()).par_for_each(|mut r| {
            Zip::from(&mut r)
                .and(&g1)
                .and(&b1)
                .for_each(|o, &g, &b| *o = *o * g + b);
        });
        let y = y.into_shape_with_order(IxDyn(&shape)).expect("same count");
        let gamma_saved = gd.clone();
        Ok(Tensor::from_op(
            y,
            "layer_norm",
            vec![self.clone(), gamma.clone(), beta.clone()],
            move |g, needs| {
                let g = standard(g.clone());
                let gv = rows_view(&g);
                let gam = gamma_saved.view().into_shape_with_order(d).expect("1-D");
                let dx = needs[0].then(|| {
                    let mut dx = Array2::<f32>::zeros((rows, d));
                    Zip::from(dx.rows_mut())
                        .and(xhat.rows())
                        .and(gv.rows())
                        .and(&rstd)
                        .par_for_each(|mut o, h, gr, &r| {
                            let mut mean_dh = 0.0f32;
                            let mut mean_dh_h = 0.0f32;
                            for ((&gi, &hi), &gm) in gr.iter().zip(h).zip(&gam) {
                                let dh = gi * gm;
                                mean_dh += dh;
                                mean_dh_h += dh * hi;
                            }
                            mean_dh /= d as f32;
                            mean_dh_h /= d as f32;
                            for (((oi, &gi), &hi), &gm) in o.iter_mut().zip(gr).zip(h).zip(&gam) {
                                *oi = r * (gi * gm - mean_dh - hi * mean_dh_h);
                            }
                        });
                    dx.into_shape_with_order(IxDyn(&shape)).expect("same count")
                });
                let dgamma = needs[1].then(|| (&gv * &xhat).sum_axis(Axis(0)).into_dyn());
                let dbeta = needs[2].then(|| gv.sum_axis(Axis(0)).into_dyn());
                Ok(vec![dx, dgamma, dbeta])
            },
        ))
    }

    /// GELU with the exact erf form: `x·Φ(x) = ½x(1 + erf(x/√2))`.
    pub fn gelu(&self) -> Tensor {
        const INV_SQRT2: f32 = std::f32::consts::FRAC_1_SQRT_2;
        const INV_SQRT_2PI: f32 = 0.398_942_3;
        self.unary_op(
            "gelu",
            |x| 0.5 * x * (1.0 + libm::erff(x * INV_SQRT2)),
            |x, _| {
                0.5 * (1.0 + libm::erff(x * INV_SQRT2)) + x * INV_SQRT_2PI * (-0.5 * x * x).exp()
            },
        )
    }

    /// GELU with the tanh approximation: `½x(1 + tanh(√(2/π)(x + 0.044715x³)))`.
    pub fn gelu_tanh(&self) -> Tensor {
        const C: f32 = 0.797_884_6; // sqrt(2/pi)
        self.unary_op(
            "gelu_tanh",
            |x| 0.5 * x * (1.0 + (C * (x + 0.044715 * x * x * x)).tanh()),
            |x, _| {
                let u = C * (x + 0.044715 * x * x * x);
                let t = u.tanh();
                0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * C * (1.0 + 3.0 * 0.044715 * x * x)
            },
        )
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
