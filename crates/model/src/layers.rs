//! Small building blocks: [`Linear`], [`LayerNorm`], [`Mlp`].
//!
//! Layout convention: tokens are rows and `y = x W + b`, so a linear weight is stored `[in, out]`
//! (the transpose of PyTorch's `[out, in]`; a loader of PyTorch checkpoints transposes).

use crate::error::Result;
use crate::init::{trunc_normal, WEIGHT_STD};
use eigenformer_tensor::Tensor;
use ndarray::{ArrayD, IxDyn};
use rand::Rng;

/// `y = x W + b` over the last axis; `W` is `[in, out]`.
#[derive(Debug, Clone)]
pub struct Linear {
    /// `[in, out]`.
    pub weight: Tensor,
    /// `[out]`.
    pub bias: Tensor,
}

impl Linear {
    /// Truncated-normal (std 0.02) weight, zero bias.
    pub fn new(input: usize, output: usize, rng: &mut impl Rng) -> Linear {
        Linear {
            weight: Tensor::parameter(trunc_normal(&[input, output], WEIGHT_STD, rng)),
            bias: Tensor::parameter(ArrayD::zeros(IxDyn(&[output]))),
        }
    }

    /// Apply to `[.., in]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.linear(&self.weight, Some(&self.bias))?)
    }

    /// `(prefix.weight, prefix.bias)`.
    pub fn named(&self, prefix: &str, out: &mut Vec<(String, Tensor)>) {
        out.push((format!("{prefix}.weight"), self.weight.clone()));
        out.push((format!("{prefix}.bias"), self.bias.clone()));
    }
}

/// LayerNorm over the last axis with weight γ and bias β.
#[derive(Debug, Clone)]
pub struct LayerNorm {
    /// γ, `[d]`, init 1.
    pub weight: Tensor,
    /// β, `[d]`, init 0.
    pub bias: Tensor,
    /// Added to the variance.
    pub eps: f32,
}

impl LayerNorm {
    /// γ = 1, β = 0.
    pub fn new(width: usize, eps: f32) -> LayerNorm {
        LayerNorm {
            weight: Tensor::parameter(ArrayD::ones(IxDyn(&[width]))),
            bias: Tensor::parameter(ArrayD::zeros(IxDyn(&[width]))),
            eps,
        }
    }

    /// Normalise `x`; with `nonneg_gamma` the weight used is |γ|.
    pub fn forward(&self, x: &Tensor, nonneg_gamma: bool) -> Result<Tensor> {
        if nonneg_gamma {
            Ok(x.layer_norm(&self.weight.abs(), &self.bias, self.eps)?)
        } else {
            Ok(x.layer_norm(&self.weight, &self.bias, self.eps)?)
        }
    }

    /// `(prefix.weight, prefix.bias)`.
    pub fn named(&self, prefix: &str, out: &mut Vec<(String, Tensor)>) {
        out.push((format!("{prefix}.weight"), self.weight.clone()));
        out.push((format!("{prefix}.bias"), self.bias.clone()));
    }
}

/// `fc2(GELU(fc1(x)))` with the exact (erf) GELU.
#[derive(Debug, Clone)]
pub struct Mlp {
    /// `[width, hidden]`.
    pub fc1: Linear,
    /// `[hidden, width]`.
    pub fc2: Linear,
}

impl Mlp {
    /// Seeded MLP.
    pub fn new(width: usize, hidden: usize, rng: &mut impl Rng) -> Mlp {
        let fc1 = Linear::new(width, hidden, rng);
        let fc2 = Linear::new(hidden, width, rng);
        Mlp { fc1, fc2 }
    }

    /// Apply to `[.., width]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.fc2.forward(&self.fc1.forward(x)?.gelu())
    }

    /// `prefix.fc1.*`, `prefix.fc2.*`.
    pub fn named(&self, prefix: &str, out: &mut Vec<(String, Tensor)>) {
        self.fc1.named(&format!("{prefix}.fc1"), out);
        self.fc2.named(&format!("{prefix}.fc2"), out);
    }
}
