//! Simulation of deep attention-only stacks `X ← X + Σ_h A_h X H_h` (theory.md §1–§3).
//!
//! Why simulate when [`crate::spectrum`] predicts the limit? To check the prediction (the property
//! tests do), to see the transient at finite depth, and for the pre-LN block, which is nonlinear and
//! whose spectral prediction (C8) is only about its linear part. Each layer's state is measured with
//! [`crate::metrics::smoothing_metrics`].

use ndarray::{Array1, Array2, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::error::{Result, SpectralError};
use crate::metrics::{smoothing_metrics, SmoothingMetrics};
use crate::validate::{
    check_finite1, check_matrix, check_row_stochastic_named, check_square, DEFAULT_STOCHASTIC_TOL,
};

/// One attention head with a fixed attention matrix A (`n × n`, row-stochastic) and `H = W_V W_O`
/// (`d × d`).
#[derive(Debug, Clone, Copy)]
pub struct DynamicsHead<'a> {
    /// Attention matrix.
    pub a: ArrayView2<'a, f64>,
    /// Value-output product.
    pub h: ArrayView2<'a, f64>,
}

/// LayerNorm over the feature dimension of each token: `(x − mean(x)) / sqrt(var(x) + eps) ⊙ γ + β`
/// with the biased variance (as in PyTorch).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerNormParams {
    /// Weight γ (length d).
    pub gamma: Array1<f64>,
    /// Bias β (length d).
    pub beta: Array1<f64>,
    /// Variance epsilon (default `1e-5`).
    pub eps: f64,
}

impl LayerNormParams {
    /// LayerNorm with the given weight and bias and `eps = 1e-5`.
    pub fn new(gamma: Array1<f64>, beta: Array1<f64>) -> Self {
        Self {
            gamma,
            beta,
            eps: 1e-5,
        }
    }

    /// `γ = 1`, `β = 0` for width d.
    pub fn identity(d: usize) -> Self {
        Self::new(Array1::ones(d), Array1::zeros(d))
    }

    fn validate(&self, d: usize) -> Result<()> {
        for (arg, v) in [("gamma", &self.gamma), ("beta", &self.beta)] {
            if v.len() != d {
                return Err(SpectralError::Shape {
                    arg,
                    got: vec![v.len()],
                    expected: format!("length {d} (the width)"),
                });
            }
            check_finite1(arg, v.view())?;
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(SpectralError::InvalidParameter {
                name: "eps",
                reason: format!("must be finite and positive, got {}", self.eps),
            });
        }
        Ok(())
    }
}

/// Applies LayerNorm to every token (row) of X.
pub fn layer_norm(x: ArrayView2<'_, f64>, ln: &LayerNormParams) -> Result<Array2<f64>> {
    let (_, d) = check_matrix("x", x)?;
    ln.validate(d)?;
    Ok(layer_norm_unchecked(x, ln))
}

fn layer_norm_unchecked(x: ArrayView2<'_, f64>, ln: &LayerNormParams) -> Array2<f64> {
    let d = x.ncols() as f64;
    let mut out = x.to_owned();
    for mut row in out.axis_iter_mut(Axis(0)) {
        let mean = row.sum() / d;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / d;
        let inv = 1.0 / (var + ln.eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(ln.gamma.iter()).zip(ln.beta.iter()) {
            *v = (*v - mean) * inv * g + b;
        }
    }
    out
}

/// Settings of [`simulate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DynamicsConfig {
    /// Number of layers L.
    pub layers: usize,
    /// Rescale X to unit Frobenius norm after every layer (and at the start). The linear update
    /// commutes with scaling, so this only prevents overflow/underflow; the per-layer growth factor
    /// is still recorded.
    pub normalise: bool,
    /// Pre-LN block `X + Σ_h A_h·LN(X)·H_h` instead of `X + Σ_h A_h X H_h`.
    pub layer_norm: Option<LayerNormParams>,
    /// Token indices left out of `mean_cosine_excluding` (e.g. CLS/SEP).
    pub exclude_tokens: Vec<usize>,
    /// Tolerance of the row-stochastic check on each A.
    pub stochastic_tol: f64,
}

impl Default for DynamicsConfig {
    fn default() -> Self {
        Self {
            layers: 12,
            normalise: true,
            layer_norm: None,
            exclude_tokens: Vec::new(),
            stochastic_tol: DEFAULT_STOCHASTIC_TOL,
        }
    }
}

/// Measurements of one layer's state.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Layer index (0 = the input state).
    pub layer: usize,
    /// §4 metrics of the state (after renormalisation when enabled).
    pub metrics: SmoothingMetrics,
    /// `‖X_l‖_F / ‖X_{l−1}‖_F` before renormalisation (`None` at layer 0). For the linear update it
    /// tends to the dominating `|μ|`.
    pub growth: Option<f64>,
    /// Cosine between consecutive states `⟨X_l, X_{l−1}⟩_F / (‖X_l‖‖X_{l−1}‖)` (`None` at layer 0):
    /// near −1 in the alternating-smoothing regime.
    pub step_alignment: Option<f64>,
}

/// The result of [`simulate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    /// One record per layer, starting with the input (layer 0).
    pub records: Vec<LayerRecord>,
    /// The last finite state.
    pub final_state: Array2<f64>,
    /// First layer whose state was non-finite or zero (the simulation stopped there).
    pub stopped_at: Option<usize>,
}

/// One layer `X + Σ_h A_h·f(X)·H_h` with `f = LN` or the identity (inputs assumed validated).
fn layer_step(
    x: &Array2<f64>,
    heads: &[DynamicsHead<'_>],
    ln: Option<&LayerNormParams>,
) -> Array2<f64> {
    let normed;
    let input = match ln {
        Some(p) => {
            normed = layer_norm_unchecked(x.view(), p);
            &normed
        }
        None => x,
    };
    let mut next = x.clone();
    for head in heads {
        next += &head.a.dot(input).dot(&head.h);
    }
    next
}

fn validate_heads(heads: &[DynamicsHead<'_>], n: usize, d: usize, tol: f64) -> Result<()> {
    if heads.is_empty() {
        return Err(SpectralError::InvalidParameter {
            name: "heads",
            reason: "no heads given".into(),
        });
    }
    for head in heads {
        check_row_stochastic_named("a", head.a, tol)?;
        if head.a.nrows() != n {
            return Err(SpectralError::Shape {
                arg: "a",
                got: vec![head.a.nrows(), head.a.ncols()],
                expected: format!("[{n}, {n}] (n = tokens of x0)"),
            });
        }
        let dh = check_square("h", head.h)?;
        if dh != d {
            return Err(SpectralError::Shape {
                arg: "h",
                got: vec![dh, dh],
                expected: format!("[{d}, {d}] (d = width of x0)"),
            });
        }
    }
    Ok(())
}

fn frob(x: &Array2<f64>) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// Iterates `X ← X + Σ_h A_h X H_h` (or the pre-LN block) for `cfg.layers` layers from `x0`
/// (`n × d`, rows = tokens) and records [`LayerRecord`]s for layers `0..=L`.
///
/// Stops early (setting `stopped_at`) if the state overflows or becomes exactly zero.
pub fn simulate(
    x0: ArrayView2<'_, f64>,
    heads: &[DynamicsHead<'_>],
    cfg: &DynamicsConfig,
) -> Result<Trajectory> {
    let (n, d) = check_matrix("x0", x0)?;
    validate_heads(heads, n, d, cfg.stochastic_tol)?;
    if let Some(ln) = &cfg.layer_norm {
        ln.validate(d)?;
    }
    if let Some(&bad) = cfg.exclude_tokens.iter().find(|&&i| i >= n) {
        return Err(SpectralError::InvalidParameter {
            name: "exclude_tokens",
            reason: format!("token index {bad} out of range for {n} tokens"),
        });
    }
    let mut x = x0.to_owned();
    if cfg.normalise {
        let norm = frob(&x);
        if norm == 0.0 {
            return Err(SpectralError::InvalidParameter {
                name: "x0",
                reason: "zero matrix cannot be normalised".into(),
            });
        }
        x /= norm;
    }
    let mut records = vec![LayerRecord {
        layer: 0,
        metrics: smoothing_metrics(x.view(), &cfg.exclude_tokens)?,
        growth: None,
        step_alignment: None,
    }];
    let mut stopped_at = None;
    for layer in 1..=cfg.layers {
        let mut next = layer_step(&x, heads, cfg.layer_norm.as_ref());
        let prev_norm = frob(&x);
        let norm = frob(&next);
        if !norm.is_finite() || norm == 0.0 {
            stopped_at = Some(layer);
            break;
        }
        let alignment = (&next * &x).sum() / (norm * prev_norm);
        if cfg.normalise {
            next /= norm;
        }
        x = next;
        records.push(LayerRecord {
            layer,
            metrics: smoothing_metrics(x.view(), &cfg.exclude_tokens)?,
            growth: Some(norm / prev_norm),
            step_alignment: Some(alignment),
        });
    }
    Ok(Trajectory {
        records,
        final_state: x,
        stopped_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn layer_norm_standardises_rows() {
        let x = array![[1.0, 2.0, 3.0], [-1.0, 0.0, 4.0]];
        let ln = LayerNormParams {
            eps: 0.0_f64.max(1e-12),
            ..LayerNormParams::identity(3)
        };
        let y = layer_norm(x.view(), &ln).unwrap();
        for r in y.rows() {
            assert!(r.sum().abs() < 1e-9);
            assert!((r.dot(&r) / 3.0 - 1.0).abs() < 1e-9);
        }
        let bad = LayerNormParams::identity(2);
        assert!(layer_norm(x.view(), &bad).is_err());
    }

    #[test]
    fn smoothing_head_converges_to_equal_tokens() {
        let a = array![[0.6, 0.4], [0.3, 0.7]];
        let h = array![[0.5, 0.0], [0.0, 0.2]];
        let x0 = array![[1.0, -1.0], [0.5, 2.0]];
        let cfg = DynamicsConfig {
            layers: 200,
            ..Default::default()
        };
        let t = simulate(
            x0.view(),
            &[DynamicsHead {
                a: a.view(),
                h: h.view(),
            }],
            &cfg,
        )
        .unwrap();
        let last = t.records.last().unwrap();
        assert_eq!(t.records.len(), 201);
        assert!(last.metrics.mean_cosine > 1.0 - 1e-9);
        assert!((last.growth.unwrap() - 1.5).abs() < 1e-6);
    }

    #[test]
    fn shared_attention_heads_add_up() {
        let a = array![[0.6, 0.4], [0.3, 0.7]];
        let h1 = array![[0.5, 0.1], [0.0, 0.2]];
        let h2 = array![[-0.2, 0.3], [0.1, 0.4]];
        let sum = &h1 + &h2;
        let x0 = array![[1.0, -1.0], [0.5, 2.0]];
        let cfg = DynamicsConfig {
            layers: 5,
            normalise: false,
            ..Default::default()
        };
        let two = [
            DynamicsHead {
                a: a.view(),
                h: h1.view(),
            },
            DynamicsHead {
                a: a.view(),
                h: h2.view(),
            },
        ];
        let one = [DynamicsHead {
            a: a.view(),
            h: sum.view(),
        }];
        let t2 = simulate(x0.view(), &two, &cfg).unwrap();
        let t1 = simulate(x0.view(), &one, &cfg).unwrap();
        assert!((&t2.final_state - &t1.final_state)
            .iter()
            .all(|v| v.abs() < 1e-12));
        let ln = LayerNormParams::identity(2);
        let cfg_ln = DynamicsConfig {
            layer_norm: Some(ln),
            ..cfg
        };
        let t = simulate(x0.view(), &two, &cfg_ln).unwrap();
        assert_eq!(t.records.len(), 6);
        assert!(t.records[0].metrics.mean_cosine_excluding.is_none());
    }

    #[test]
    fn rejects_bad_inputs() {
        let a = array![[0.6, 0.5], [0.3, 0.7]];
        let h = array![[0.5, 0.0], [0.0, 0.2]];
        let x0 = array![[1.0, -1.0], [0.5, 2.0]];
        let cfg = DynamicsConfig::default();
        let r = simulate(
            x0.view(),
            &[DynamicsHead {
                a: a.view(),
                h: h.view(),
            }],
            &cfg,
        );
        assert!(matches!(r, Err(SpectralError::NotRowStochastic { .. })));
        assert!(simulate(x0.view(), &[], &cfg).is_err());
    }
}
