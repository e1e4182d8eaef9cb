//! Optimisers and learning-rate schedules: SGD with momentum, AdamW with decoupled weight decay and
//! parameter groups, gradient-norm clipping, and a cosine schedule with linear warm-up.
//!
//! Optimisers read the gradients that backward accumulated in each parameter and update the
//! parameter's data in place. Their state (moments, step count) can be exported and restored, so a
//! training run resumed from a checkpoint continues exactly as if it had not stopped.

mod adamw;
mod allreduce;
mod clip;
mod schedule;
mod sgd;

pub use adamw::{AdamW, AdamWConfig};
pub use allreduce::{all_reduce_gradients, AllReduceError, GradientAllReduce, LocalAllReduce};
pub use clip::{clip_grad_norm, grad_norm};
pub use schedule::CosineSchedule;
pub use sgd::{Sgd, SgdConfig};

use crate::error::{Result, TensorError};
use crate::tensor::Tensor;
use ndarray::ArrayD;

/// Parameters that share a weight-decay setting.
#[derive(Debug, Clone)]
pub struct ParamGroup {
    /// The parameters of the group.
    pub params: Vec<Tensor>,
    /// Decoupled weight decay (AdamW) or L2 penalty (SGD) for this group.
    pub weight_decay: f32,
}

/// Split named parameters into two groups: those that decay (`weight_decay`) and those exempt from
/// decay (weight decay 0): every 1-D parameter (LayerNorm weights, biases, per-channel scales) and
/// every parameter whose name ends in `bias`, as in the DeiT recipe.
pub fn decay_groups(named: &[(String, Tensor)], weight_decay: f32) -> Vec<ParamGroup> {
    let (mut decay, mut exempt) = (Vec::new(), Vec::new());
    for (name, p) in named {
        if p.ndim() <= 1 || name.ends_with("bias") {
            exempt.push(p.clone());
        } else {
            decay.push(p.clone());
        }
    }
    vec![
        ParamGroup {
            params: decay,
            weight_decay,
        },
        ParamGroup {
            params: exempt,
            weight_decay: 0.0,
        },
    ]
}

/// The state of an optimiser: its step count and named buffers, for checkpoints.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OptimizerState {
    /// Number of steps taken.
    pub step: u64,
    /// Buffers by name (for example `m.3` and `v.3` for the moments of parameter 3).
    pub buffers: Vec<(String, ArrayD<f32>)>,
}

/// What every optimiser offers.
pub trait Optimizer {
    /// Update every parameter that has a gradient.
    fn step(&mut self) -> Result<()>;
    /// Forget the gradients of all parameters.
    fn zero_grad(&self);
    /// The current learning rate.
    fn lr(&self) -> f32;
    /// Set the learning rate (schedules call this before each step).
    fn set_lr(&mut self, lr: f32);
    /// Export the state.
    fn state(&self) -> OptimizerState;
    /// Restore a state exported by [`Optimizer::state`] of an optimiser over the same parameters.
    fn load_state(&mut self, state: &OptimizerState) -> Result<()>;
}

/// All parameters of all groups, in order, each with its group's weight decay.
fn flatten_groups(groups: &[ParamGroup]) -> (Vec<Tensor>, Vec<f32>) {
    groups
        .iter()
        .flat_map(|g| g.params.iter().map(move |p| (p.clone(), g.weight_decay)))
        .unzip()
}

/// Restore per-parameter buffers named `{prefix}.{index}` into `slots`.
fn load_buffers(
    op: &'static str,
    state: &OptimizerState,
    prefix: &str,
    params: &[Tensor],
    slots: &mut [Option<ArrayD<f32>>],
) -> Result<()> {
    for (i, slot) in slots.iter_mut().enumerate() {
        let name = format!("{prefix}.{i}");
        *slot = match state.buffers.iter().find(|(n, _)| *n == name) {
            Some((_, buf)) => {
                if buf.shape() != params[i].shape().as_slice() {
                    return Err(TensorError::ShapeMismatch {
                        op,
                        lhs: params[i].shape(),
                        rhs: buf.shape().to_vec(),
                        reason: format!("buffer {name} does not fit its parameter"),
                    });
                }
                Some(buf.clone())
            }
            None => None,
        };
    }
    Ok(())
}

fn export_buffers(
    prefix: &str,
    slots: &[Option<ArrayD<f32>>],
    out: &mut Vec<(String, ArrayD<f32>)>,
) {
    for (i, slot) in slots.iter().enumerate() {
        if let Some(buf) = slot {
            out.push((format!("{prefix}.{i}"), buf.clone()));
        }
    }
}
