//! Finite-difference gradient checking.
//!
//! [`check_gradients`] compares the analytic gradient that autodiff produces with central
//! differences `(L(x + h) − L(x − h)) / 2h`, evaluated and accumulated in f64. The scalar `L` is a
//! fixed random projection `Σ y ⊙ R` of the function's output `y`, so every output element (not
//! just their sum, whose gradient can hide errors, as for softmax) contributes with its own weight.

use crate::autograd::no_grad;
use crate::error::{Result, TensorError};
use crate::tensor::Tensor;
use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Settings of a gradient check.
#[derive(Debug, Clone, Copy)]
pub struct GradCheckConfig {
    /// Finite-difference step (absolute). The forward runs in f32, so steps much below 1e-3 drown
    /// in rounding; 1e-2 balances truncation and rounding error for O(1) inputs.
    pub step: f64,
    /// Absolute tolerance.
    pub atol: f64,
    /// Relative tolerance (of the larger of the two magnitudes).
    pub rtol: f64,
    /// Seed of the random output projection.
    pub seed: u64,
}

impl Default for GradCheckConfig {
    fn default() -> Self {
        GradCheckConfig {
            step: 1e-2,
            atol: 2e-3,
            rtol: 2e-2,
            seed: 0x5eed,
        }
    }
}

/// The worst disagreement found by a gradient check.
#[derive(Debug, Clone, PartialEq)]
pub struct GradCheckReport {
    /// Number of partial derivatives compared.
    pub checked: usize,
    /// Largest `|numeric − analytic|`.
    pub max_abs_error: f64,
    /// Largest error relative to the tolerance (≤ 1 means pass).
    pub worst_ratio: f64,
    /// Where the worst ratio occurred: (input index, flat element index, numeric, analytic).
    pub worst: Option<(usize, usize, f64, f64)>,
}

fn projected_loss(y: &ndarray::ArrayRef<f32, ndarray::IxDyn>, r: &ArrayD<f32>) -> f64 {
    y.iter()
        .zip(r.iter())
        .map(|(&a, &b)| a as f64 * b as f64)
        .sum()
}

/// Check the gradients of `f` with respect to every input (each must be a parameter). Returns the
/// report, or an error describing the first derivative outside the tolerance.
pub fn check_gradients(
    f: impl Fn(&[Tensor]) -> Result<Tensor>,
    inputs: &[Tensor],
    config: GradCheckConfig,
) -> Result<GradCheckReport> {
    if let Some(i) = inputs.iter().position(|t| !t.is_parameter()) {
        return Err(TensorError::InvalidArgument {
            op: "check_gradients",
            reason: format!("input {i} is not a parameter"),
        });
    }
    for t in inputs {
        t.zero_grad();
    }
    let y = f(inputs)?;
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let proj = ArrayD::from_shape_simple_fn(IxDyn(&y.shape()), || rng.gen_range(-1.0f32..1.0));
    let loss = y.mul(&Tensor::from_array(proj.clone()))?.sum_all();
    loss.backward()?;

    let mut report = GradCheckReport {
        checked: 0,
        max_abs_error: 0.0,
        worst_ratio: 0.0,
        worst: None,
    };
    for (which, input) in inputs.iter().enumerate() {
        let analytic = input
            .grad()
            .unwrap_or_else(|| ArrayD::zeros(IxDyn(&input.shape())));
        let original = input.to_array();
        for (flat, &x0) in original.iter().enumerate() {
            let eval = |x: f64| -> Result<f64> {
                input.update_data(|d| {
                    if let Some(v) = d.iter_mut().nth(flat) {
                        *v = x as f32;
                    }
                })?;
                let y = no_grad(|| f(inputs))?;
                let value = projected_loss(&y.read(), &proj);
                Ok(value)
            };
            let x0 = x0 as f64;
            let plus = eval(x0 + config.step)?;
            let minus = eval(x0 - config.step)?;
            input.set_data(&original)?;
            let numeric = (plus - minus) / (2.0 * config.step);
            let ana = analytic.iter().nth(flat).copied().unwrap_or(0.0) as f64;
            let err = (numeric - ana).abs();
            let tol = config.atol + config.rtol * numeric.abs().max(ana.abs());
            let ratio = err / tol;
            report.checked += 1;
            report.max_abs_error = report.max_abs_error.max(err);
            if ratio > report.worst_ratio || report.worst.is_none() {
                report.worst_ratio = ratio;
                report.worst = Some((which, flat, numeric, ana));
            }
            if !numeric.is_finite() || !ana.is_finite() || ratio > 1.0 {
                return Err(TensorError::Autodiff(format!(
                    "gradient check failed for input {which} element {flat}: numeric {numeric:.6e}, analytic {ana:.6e} (|diff| {err:.3e} > tol {tol:.3e})"
                )));
            }
        }
    }
    for t in inputs {
        t.zero_grad();
    }
    Ok(report)
}
