//! Reverse-mode automatic differentiation: a define-by-run graph.
//!
//! Every op that has an input requiring a gradient records a [`Node`]: its inputs (shared handles) and
//! a closure that maps the gradient of the output to the gradients of the inputs. The closure owns
//! whatever the op saved for backward (inputs, outputs, masks). [`Tensor::backward`] orders the graph
//! topologically from the loss, runs the closures in reverse, frees each intermediate gradient as soon
//! as it has been consumed, and *accumulates* into the `grad` slot of every parameter it reaches, so
//! gradients of several backward passes add up until [`Tensor::zero_grad`].
//!
//! [`no_grad`] (and [`NoGradGuard`]) switch recording off for the current thread: the evaluation mode.

use crate::error::{Result, TensorError};
use crate::tensor::{Tensor, TensorId};
use ndarray::ArrayD;
use std::cell::Cell;
use std::collections::{HashMap, HashSet};

/// Maps the gradient of an op's output to the gradients of its inputs. `needs[i]` says whether
/// input `i` requires a gradient; the closure may return `None` there to skip the work.
pub trait BackwardFn: Send + Sync {
    /// Gradients of the inputs, one entry per input, in order.
    fn backward(
        &self,
        grad_output: &ArrayD<f32>,
        needs: &[bool],
    ) -> Result<Vec<Option<ArrayD<f32>>>>;
}

impl<F> BackwardFn for F
where
    F: Fn(&ArrayD<f32>, &[bool]) -> Result<Vec<Option<ArrayD<f32>>>> + Send + Sync,
{
    fn backward(
        &self,
        grad_output: &ArrayD<f32>,
        needs: &[bool],
    ) -> Result<Vec<Option<ArrayD<f32>>>> {
        self(grad_output, needs)
    }
}

/// One recorded op of the graph.
pub(crate) struct Node {
    pub(crate) op: &'static str,
    pub(crate) inputs: Vec<Tensor>,
    pub(crate) backward: Box<dyn BackwardFn>,
}

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Whether ops on this thread currently record the graph.
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// While alive, ops on this thread record no graph (evaluation / inference mode).
pub struct NoGradGuard {
    previous: bool,
}

impl NoGradGuard {
    /// Switch recording off until the guard is dropped.
    pub fn new() -> Self {
        let previous = GRAD_ENABLED.with(|g| g.replace(false));
        NoGradGuard { previous }
    }
}

impl Default for NoGradGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.previous));
    }
}

/// Run `f` without recording the graph.
pub fn no_grad<R>(f: impl FnOnce() -> R) -> R {
    let _guard = NoGradGuard::new();
    f()
}

impl Tensor {
    /// Back-propagate from this scalar (one-element) tensor: accumulate d(self)/d(p) into every
    /// parameter p it depends on.
    pub fn backward(&self) -> Result<()> {
        let len = self.len();
        if len != 1 {
            return Err(TensorError::Autodiff(format!(
                "backward() needs a scalar loss, got shape {:?}; use backward_with_grad for others",
                self.shape()
            )));
        }
        let seed = ArrayD::from_elem(self.read().raw_dim(), 1.0f32);
        self.backward_with_grad(seed)
    }

    /// Back-propagate with an explicit gradient of this tensor (same shape).
    pub fn backward_with_grad(&self, grad: ArrayD<f32>) -> Result<()> {
        if grad.shape() != self.shape().as_slice() {
            return Err(TensorError::ShapeMismatch {
                op: "backward",
                lhs: self.shape(),
                rhs: grad.shape().to_vec(),
                reason: "the seed gradient must have the output's shape".into(),
            });
        }
        if !self.requires_grad() {
            return Err(TensorError::Autodiff(
                "backward() on a tensor that does not depend on any parameter".into(),
            ));
        }
        let order = topological_order(self);
        let mut pending: HashMap<TensorId, ArrayD<f32>> = HashMap::new();
        pending.insert(self.id(), grad);
        for tensor in order.iter().rev() {
            let Some(grad) = pending.remove(&tensor.id()) else {
                continue;
            };
            let Some(node) = tensor.inner.node.as_ref() else {
                if tensor.requires_grad() {
                    tensor.accumulate_grad(grad);
                }
                continue;
            };
            let needs: Vec<bool> = node.inputs.iter().map(|t| t.requires_grad()).collect();
            let input_grads = node.backward.backward(&grad, &needs)?;
            drop(grad);
            if input_grads.len() != node.inputs.len() {
                return Err(TensorError::Autodiff(format!(
                    "op {} returned {} gradients for {} inputs",
                    node.op,
                    input_grads.len(),
                    node.inputs.len()
                )));
            }
            for (input, g) in node.inputs.iter().zip(input_grads) {
                let Some(g) = g else { continue };
                if !input.requires_grad() {
                    continue;
                }
                if g.shape() != input.shape().as_slice() {
                    return Err(TensorError::Autodiff(format!(
                        "op {} produced a gradient of shape {:?} for an input of shape {:?}",
                        node.op,
                        g.shape(),
                        input.shape()
                    )));
                }
                match pending.get_mut(&input.id()) {
                    Some(acc) => add_assign(acc, &g),
                    None => {
                        pending.insert(input.id(), g);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Elements below which a gradient sum runs on the calling thread.
const PAR_ADD_MIN: usize = 1 << 15;

/// `acc += g` for two gradients of the same shape, over rayon when large: a residual stream's
/// gradient (batch × tokens × width) is summed from two branches in every block.
pub(crate) fn add_assign(acc: &mut ArrayD<f32>, g: &ArrayD<f32>) {
    if acc.len() < PAR_ADD_MIN {
        *acc += g;
    } else {
        ndarray::Zip::from(acc).and(g).par_for_each(|a, &b| *a += b);
    }
}

/// All tensors that `root` depends on through gradient-requiring edges, inputs before users.
/// Iterative depth-first search, so very deep graphs cannot overflow the stack.
fn topological_order(root: &Tensor) -> Vec<Tensor> {
    let mut order = Vec::new();
    let mut visited: HashSet<TensorId> = HashSet::new();
    // (tensor, whether its inputs have been pushed already)
    let mut stack: Vec<(Tensor, bool)> = vec![(root.clone(), false)];
    while let Some((tensor, expanded)) = stack.pop() {
        if expanded {
            order.push(tensor);
            continue;
        }
        if !visited.insert(tensor.id()) {
            continue;
        }
        stack.push((tensor.clone(), true));
        if let Some(node) = tensor.inner.node.as_ref() {
            for input in &node.inputs {
                if input.requires_grad() && !visited.contains(&input.id()) {
                    stack.push((input.clone(), false));
                }
            }
        }
    }
    order
}
