//! One optimisation step: forward, label-smoothed cross-entropy, backward, gradient clipping and
//! AdamW under a cosine schedule with warm-up (the DeiT recipe of theory.md §7).

use eigenformer_model::{Mode, ViT};
use eigenformer_tensor::optim::{
    all_reduce_gradients, clip_grad_norm, AdamW, AdamWConfig, AllReduceError, CosineSchedule,
    GradientAllReduce, Optimizer, OptimizerState, ParamGroup,
};
use eigenformer_tensor::{Tensor, TensorError};
use ndarray::Array4;
use serde::{Deserialize, Serialize};

/// Why a training step failed.
#[derive(Debug, thiserror::Error)]
pub enum TrainingError {
    /// The loss or the gradient norm became NaN or infinite: training cannot continue.
    #[error("step {step}: the {what} is not finite ({value}); training stopped (lower --lr, or check the data)")]
    NonFinite {
        /// Global step (0-based).
        step: usize,
        /// `"loss"` or `"gradient norm"`.
        what: &'static str,
        /// The value.
        value: f32,
    },
    /// The batch does not fit the model.
    #[error("batch of shape {shape:?} with {labels} labels does not fit the model: {reason}")]
    Batch {
        /// Image batch shape.
        shape: Vec<usize>,
        /// Number of labels.
        labels: usize,
        /// Why.
        reason: String,
    },
    /// A model error.
    #[error(transparent)]
    Model(#[from] eigenformer_model::ModelError),
    /// A tensor error.
    #[error(transparent)]
    Tensor(#[from] TensorError),
    /// Averaging the gradients with the other data-parallel workers failed.
    #[error("step {step}: {source}")]
    AllReduce {
        /// Global step (0-based).
        step: usize,
        /// What the collective reported.
        source: AllReduceError,
    },
}

/// Optimisation hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainHyper {
    /// Peak learning rate.
    pub lr: f32,
    /// Final learning rate of the cosine schedule.
    pub min_lr: f32,
    /// Decoupled weight decay (matrices only, see [`parameter_groups`]).
    pub weight_decay: f32,
    /// Linear warm-up steps.
    pub warmup_steps: usize,
    /// Total optimisation steps (the cosine reaches `min_lr` here).
    pub total_steps: usize,
    /// Label smoothing of the cross-entropy.
    pub label_smoothing: f32,
    /// Global gradient-norm clip (None = no clipping).
    pub clip_grad_norm: Option<f32>,
    /// AdamW betas.
    pub beta1: f32,
    /// AdamW betas.
    pub beta2: f32,
}

impl Default for TrainHyper {
    fn default() -> Self {
        TrainHyper {
            lr: 5e-4,
            min_lr: 1e-5,
            weight_decay: 0.05,
            warmup_steps: 0,
            total_steps: 1,
            label_smoothing: 0.1,
            clip_grad_norm: Some(1.0),
            beta1: 0.9,
            beta2: 0.999,
        }
    }
}

/// Split parameters into decayed and exempt groups. Exempt, as in DeiT: 1-D parameters (LayerNorm
/// weights, biases, FeatScale/AttnScale scales, the spectral ψ), biases, the CLS token and the
/// position embeddings; also the spectral bases Θ and V, because H does not change when they are
/// scaled, so decay would only shrink them and raise their effective learning rate.
pub fn parameter_groups(named: &[(String, Tensor)], weight_decay: f32) -> Vec<ParamGroup> {
    let exempt = |name: &str, t: &Tensor| {
        t.ndim() <= 1
            || name.ends_with("bias")
            || name == "cls_token"
            || name == "pos_embed"
            || name.ends_with(".theta")
            || name.ends_with(".v")
    };
    let (mut decay, mut keep) = (Vec::new(), Vec::new());
    for (name, t) in named {
        if exempt(name, t) {
            keep.push(t.clone());
        } else {
            decay.push(t.clone());
        }
    }
    vec![
        ParamGroup {
            params: decay,
            weight_decay,
        },
        ParamGroup {
            params: keep,
            weight_decay: 0.0,
        },
    ]
}

/// What one step measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Mean training loss of the batch.
    pub loss: f32,
    /// Global gradient norm before clipping.
    pub grad_norm: f32,
    /// Learning rate used.
    pub lr: f32,
}

/// A model with its optimiser and schedule; `step` counts optimisation steps taken.
pub struct Trainer {
    /// The model being trained.
    pub model: ViT,
    optimizer: AdamW,
    schedule: CosineSchedule,
    hyper: TrainHyper,
    /// Optimisation steps taken so far.
    pub step: usize,
    /// Seed of the stochastic parts (drop-path masks) of each step.
    pub seed: u64,
}

impl Trainer {
    /// A trainer for `model`.
    pub fn new(model: ViT, hyper: TrainHyper, seed: u64) -> Result<Self, TrainingError> {
        let groups = parameter_groups(&model.named_parameters(), hyper.weight_decay);
        let optimizer = AdamW::new(
            groups,
            AdamWConfig {
                lr: hyper.lr,
                beta1: hyper.beta1,
                beta2: hyper.beta2,
                eps: 1e-8,
            },
        )?;
        let schedule = CosineSchedule {
            base_lr: hyper.lr,
            min_lr: hyper.min_lr,
            warmup_steps: hyper.warmup_steps,
            total_steps: hyper.total_steps,
        };
        Ok(Trainer {
            model,
            optimizer,
            schedule,
            hyper,
            step: 0,
            seed,
        })
    }

    /// The hyper-parameters.
    pub fn hyper(&self) -> &TrainHyper {
        &self.hyper
    }

    /// One optimisation step on a batch `[B, C, H, W]` with class labels.
    pub fn train_step(
        &mut self,
        images: &Array4<f32>,
        labels: &[usize],
    ) -> Result<StepStats, TrainingError> {
        self.train_step_with(images, labels, None)
    }

    /// One data-parallel optimisation step: this worker's share of the batch, with the gradients
    /// averaged over the group by `reducer` after backward and before clipping, so that equal
    /// shares give every replica the step of one worker on the whole batch (the loss is a mean
    /// over images). `None` is [`Trainer::train_step`]. The returned loss is this share's.
    pub fn train_step_with(
        &mut self,
        images: &Array4<f32>,
        labels: &[usize],
        reducer: Option<&mut dyn GradientAllReduce>,
    ) -> Result<StepStats, TrainingError> {
        if images.shape()[0] != labels.len() || labels.is_empty() {
            return Err(TrainingError::Batch {
                shape: images.shape().to_vec(),
                labels: labels.len(),
                reason: "one label per image is needed (and at least one image)".into(),
            });
        }
        let lr = self.schedule.lr(self.step);
        self.optimizer.set_lr(lr);
        self.optimizer.zero_grad();
        let x = Tensor::from_array(images.clone().into_dyn());
        // A different, reproducible drop-path seed per step.
        let mode = Mode::Train {
            seed: self.seed ^ (self.step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        };
        let logits = self.model.forward(&x, mode)?;
        let loss = logits.cross_entropy(labels, self.hyper.label_smoothing)?;
        let loss_value = loss.item()?;
        if !loss_value.is_finite() {
            return Err(TrainingError::NonFinite {
                step: self.step,
                what: "loss",
                value: loss_value,
            });
        }
        loss.backward()?;
        drop(loss);
        drop(logits);
        let params = self.model.parameters();
        if let Some(reducer) = reducer {
            all_reduce_gradients(reducer, &params).map_err(|source| TrainingError::AllReduce {
                step: self.step,
                source,
            })?;
        }
        let grad_norm = match self.hyper.clip_grad_norm {
            Some(max) => clip_grad_norm(&params, max),
            None => eigenformer_tensor::optim::grad_norm(&params),
        };
        if !grad_norm.is_finite() {
            return Err(TrainingError::NonFinite {
                step: self.step,
                what: "gradient norm",
                value: grad_norm,
            });
        }
        self.optimizer.step()?;
        self.step += 1;
        Ok(StepStats {
            loss: loss_value,
            grad_norm,
            lr,
        })
    }

    /// The optimiser's state, for checkpoints.
    pub fn optimizer_state(&self) -> OptimizerState {
        self.optimizer.state()
    }

    /// Restore the optimiser's state and the step count from a checkpoint.
    pub fn restore(&mut self, state: &OptimizerState, step: usize) -> Result<(), TrainingError> {
        self.optimizer.load_state(state)?;
        self.step = step;
        Ok(())
    }
}
