//! Stochastic gradient descent with (heavy-ball or Nesterov) momentum.

use super::{export_buffers, flatten_groups, load_buffers, Optimizer, OptimizerState, ParamGroup};
use crate::error::{Result, TensorError};
use crate::tensor::Tensor;
use ndarray::{ArrayD, Zip};

/// Hyper-parameters of SGD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    /// Learning rate.
    pub lr: f32,
    /// Momentum coefficient (0 = plain SGD).
    pub momentum: f32,
    /// Use Nesterov's look-ahead form.
    pub nesterov: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 0.1,
            momentum: 0.9,
            nesterov: false,
        }
    }
}

/// SGD with momentum, `buf ← μ·buf + g`, `w ← w − lr·buf` (PyTorch's convention); a group's weight
/// decay is an L2 term added to the gradient.
pub struct Sgd {
    config: SgdConfig,
    params: Vec<Tensor>,
    decay: Vec<f32>,
    momentum: Vec<Option<ArrayD<f32>>>,
    step: u64,
}

impl Sgd {
    /// A new optimiser; fails on invalid hyper-parameters.
    pub fn new(groups: Vec<ParamGroup>, config: SgdConfig) -> Result<Self> {
        if config.lr < 0.0 || !(0.0..1.0).contains(&config.momentum) {
            return Err(TensorError::InvalidArgument {
                op: "Sgd::new",
                reason: format!("invalid hyper-parameters {config:?} (lr ≥ 0, momentum in [0, 1))"),
            });
        }
        let (params, decay) = flatten_groups(&groups);
        let n = params.len();
        Ok(Sgd {
            config,
            params,
            decay,
            momentum: vec![None; n],
            step: 0,
        })
    }
}

impl Optimizer for Sgd {
    fn step(&mut self) -> Result<()> {
        self.step += 1;
        let SgdConfig {
            lr,
            momentum,
            nesterov,
        } = self.config;
        for (i, p) in self.params.iter().enumerate() {
            let Some(mut g) = p.grad() else { continue };
            let wd = self.decay[i];
            if wd != 0.0 {
                let w = p.to_array();
                g.zip_mut_with(&w, |g, &w| *g += wd * w);
            }
            let direction = if momentum > 0.0 {
                let buf = self.momentum[i].get_or_insert_with(|| ArrayD::zeros(g.raw_dim()));
                Zip::from(&mut *buf)
                    .and(&g)
                    .for_each(|b, &g| *b = momentum * *b + g);
                if nesterov {
                    let mut d = g.clone();
                    d.zip_mut_with(buf, |d, &b| *d += momentum * b);
                    d
                } else {
                    buf.clone()
                }
            } else {
                g
            };
            p.update_data(|w| w.zip_mut_with(&direction, |w, &d| *w -= lr * d))?;
        }
        Ok(())
    }

    fn zero_grad(&self) {
        self.params.iter().for_each(Tensor::zero_grad);
    }

    fn lr(&self) -> f32 {
        self.config.lr
    }

    fn set_lr(&mut self, lr: f32) {
        self.config.lr = lr;
    }

    fn state(&self) -> OptimizerState {
        let mut buffers = Vec::new();
        export_buffers("momentum", &self.momentum, &mut buffers);
        OptimizerState {
            step: self.step,
            buffers,
        }
    }

    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        load_buffers(
            "Sgd::load_state",
            state,
            "momentum",
            &self.params,
            &mut self.momentum,
        )?;
        self.step = state.step;
        Ok(())
    }
}
