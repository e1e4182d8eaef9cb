//! AdamW (Loshchilov & Hutter): Adam with weight decay decoupled from the gradient.

use super::{export_buffers, flatten_groups, load_buffers, Optimizer, OptimizerState, ParamGroup};
use crate::error::{Result, TensorError};
use crate::tensor::Tensor;
use ndarray::{ArrayD, Zip};

/// Elements below which a tensor is updated on the calling thread.
const PAR_MIN_LEN: usize = 1 << 14;

/// Hyper-parameters of AdamW.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    /// Learning rate.
    pub lr: f32,
    /// Decay of the first moment.
    pub beta1: f32,
    /// Decay of the second moment.
    pub beta2: f32,
    /// Added to the root of the second moment.
    pub eps: f32,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// AdamW over parameter groups, each with its own weight decay.
pub struct AdamW {
    config: AdamWConfig,
    groups: Vec<ParamGroup>,
    params: Vec<Tensor>,
    decay: Vec<f32>,
    m: Vec<Option<ArrayD<f32>>>,
    v: Vec<Option<ArrayD<f32>>>,
    step: u64,
}

impl AdamW {
    /// A new optimiser; fails on invalid hyper-parameters.
    pub fn new(groups: Vec<ParamGroup>, config: AdamWConfig) -> Result<Self> {
        let ok = config.lr >= 0.0
            && (0.0..1.0).contains(&config.beta1)
            && (0.0..1.0).contains(&config.beta2)
            && config.eps > 0.0
            && groups.iter().all(|g| g.weight_decay >= 0.0);
        if !ok {
            return Err(TensorError::InvalidArgument {
                op: "AdamW::new",
                reason: format!("invalid hyper-parameters {config:?} (lr ≥ 0, betas in [0, 1), eps > 0, weight decay ≥ 0)"),
            });
        }
        let (params, decay) = flatten_groups(&groups);
        let n = params.len();
        Ok(AdamW {
            config,
            groups,
            params,
            decay,
            m: vec![None; n],
            v: vec![None; n],
            step: 0,
        })
    }

    /// The parameter groups.
    pub fn groups(&self) -> &[ParamGroup] {
        &self.groups
    }
}

impl Optimizer for AdamW {
    fn step(&mut self) -> Result<()> {
        self.step += 1;
        let AdamWConfig {
            lr,
            beta1,
            beta2,
            eps,
        } = self.config;
        let t = self.step as i32;
        let bias1 = 1.0 - beta1.powi(t);
        let bias2 = 1.0 - beta2.powi(t);
        for (i, p) in self.params.iter().enumerate() {
            let (m, v) = (&mut self.m[i], &mut self.v[i]);
            let shrink = 1.0 - lr * self.decay[i];
            // The gradient is read in place (no copy); small tensors (biases, norms) are updated
            // on the calling thread, where a parallel split would cost more than the update.
            p.with_grad_mut(|g| {
                let Some(g) = g else { return Ok(()) };
                let m = m.get_or_insert_with(|| ArrayD::zeros(g.raw_dim()));
                let v = v.get_or_insert_with(|| ArrayD::zeros(g.raw_dim()));
                p.update_data(|w| {
                    let update = |w: &mut f32, m: &mut f32, v: &mut f32, &g: &f32| {
                        *m = beta1 * *m + (1.0 - beta1) * g;
                        *v = beta2 * *v + (1.0 - beta2) * g * g;
                        let update = (*m / bias1) / ((*v / bias2).sqrt() + eps);
                        *w = *w * shrink - lr * update;
                    };
                    let zip = Zip::from(w).and(m).and(v).and(&*g);
                    if g.len() < PAR_MIN_LEN {
                        zip.for_each(update);
                    } else {
                        zip.par_for_each(update);
                    }
                })
            })?;
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
        export_buffers("m", &self.m, &mut buffers);
        export_buffers("v", &self.v, &mut buffers);
        OptimizerState {
            step: self.step,
            buffers,
        }
    }

    fn load_state(&mut self, state: &OptimizerState) -> Result<()> {
        load_buffers("AdamW::load_state", state, "m", &self.params, &mut self.m)?;
        load_buffers("AdamW::load_state", state, "v", &self.params, &mut self.v)?;
        self.step = state.step;
        Ok(())
    }
}
