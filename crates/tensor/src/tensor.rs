//! The [`Tensor`] type: an f32 n-d array, optionally a node of the autodiff graph.
//!
//! A tensor is a cheap handle (`Arc`) to its data, so cloning it shares the data and graph node. The
//! data itself is a reference-counted array ([`ArcArray`]): an op that needs an input again in its
//! backward pass keeps a second reference instead of a copy, and a reshape of contiguous data shares
//! the buffer. The data of a *parameter* can be replaced in place by an optimiser
//! ([`Tensor::update_data`], copy-on-write if a graph still holds the old values); the data of every
//! other tensor is written once, when the op that makes it runs.

use crate::autograd::{is_grad_enabled, Node};
use crate::device::Device;
use crate::error::{Result, TensorError};
use ndarray::{ArcArray, ArrayD, IxDyn};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The shared, immutable-once-written data of a tensor.
pub type SharedArray = ArcArray<f32, IxDyn>;

/// A unique, process-wide identity of a tensor (its graph node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(u64);

pub(crate) struct Inner {
    pub(crate) id: TensorId,
    pub(crate) data: RwLock<SharedArray>,
    /// Accumulated gradient; only leaves that require a gradient get one.
    pub(crate) grad: Mutex<Option<ArrayD<f32>>>,
    pub(crate) requires_grad: bool,
    pub(crate) node: Option<Node>,
    pub(crate) device: Device,
}

/// An f32 n-dimensional tensor with reverse-mode autodiff.
#[derive(Clone)]
pub struct Tensor {
    pub(crate) inner: Arc<Inner>,
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tensor")
            .field("id", &self.inner.id)
            .field("shape", &self.shape())
            .field("requires_grad", &self.inner.requires_grad)
            .field("op", &self.inner.node.as_ref().map(|n| n.op))
            .finish()
    }
}

impl Tensor {
    fn build(data: SharedArray, requires_grad: bool, node: Option<Node>) -> Tensor {
        Tensor {
            inner: Arc::new(Inner {
                id: TensorId(NEXT_ID.fetch_add(1, Ordering::Relaxed)),
                data: RwLock::new(data),
                grad: Mutex::new(None),
                requires_grad,
                node,
                device: Device::Cpu,
            }),
        }
    }

    /// A constant tensor (no gradient) holding `data`.
    pub fn from_array(data: ArrayD<f32>) -> Tensor {
        Tensor::build(data.into_shared(), false, None)
    }

    /// A constant tensor sharing `data` (no copy).
    pub fn from_shared(data: SharedArray) -> Tensor {
        Tensor::build(data, false, None)
    }

    /// A constant tensor from a flat vector and a shape.
    pub fn from_vec(values: Vec<f32>, shape: &[usize]) -> Result<Tensor> {
        let n: usize = shape.iter().product();
        if n != values.len() {
            return Err(TensorError::InvalidShape {
                op: "from_vec",
                shape: shape.to_vec(),
                reason: format!("shape holds {n} elements but {} were given", values.len()),
            });
        }
        let data = ArrayD::from_shape_vec(IxDyn(shape), values).map_err(|e| {
            TensorError::InvalidShape {
                op: "from_vec",
                shape: shape.to_vec(),
                reason: e.to_string(),
            }
        })?;
        Ok(Tensor::from_array(data))
    }

    /// A trainable leaf: backward accumulates its gradient, readable with [`Tensor::grad`].
    pub fn parameter(data: ArrayD<f32>) -> Tensor {
        Tensor::build(data.into_shared(), true, None)
    }

    /// A rank-0 constant.
    pub fn scalar(value: f32) -> Tensor {
        Tensor::from_array(ArrayD::from_elem(IxDyn(&[]), value))
    }

    /// A constant of zeros.
    pub fn zeros(shape: &[usize]) -> Tensor {
        Tensor::from_array(ArrayD::zeros(IxDyn(shape)))
    }

    /// A constant of ones.
    pub fn ones(shape: &[usize]) -> Tensor {
        Tensor::from_array(ArrayD::ones(IxDyn(shape)))
    }

    /// A constant filled with `value`.
    pub fn full(shape: &[usize], value: f32) -> Tensor {
        Tensor::from_array(ArrayD::from_elem(IxDyn(shape), value))
    }

    /// The result of an op: records `backward` in the graph when gradients are enabled and any
    /// input needs a gradient; otherwise a constant.
    pub(crate) fn from_op(
        data: impl Into<SharedArray>,
        op: &'static str,
        inputs: Vec<Tensor>,
        backward: impl Fn(&ArrayD<f32>, &[bool]) -> Result<Vec<Option<ArrayD<f32>>>>
            + Send
            + Sync
            + 'static,
    ) -> Tensor {
        let data = data.into();
        let needs = is_grad_enabled() && inputs.iter().any(|t| t.requires_grad());
        if needs {
            Tensor::build(
                data,
                true,
                Some(Node {
                    op,
                    inputs,
                    backward: Box::new(backward),
                }),
            )
        } else {
            Tensor::from_shared(data)
        }
    }

    /// The unique id of this tensor.
    pub fn id(&self) -> TensorId {
        self.inner.id
    }

    /// Whether a gradient flows into this tensor (a parameter, or computed from one).
    pub fn requires_grad(&self) -> bool {
        self.inner.requires_grad
    }

    /// Whether this tensor is a trainable leaf (a parameter).
    pub fn is_parameter(&self) -> bool {
        self.inner.requires_grad && self.inner.node.is_none()
    }

    /// The device the data lives on.
    pub fn device(&self) -> Device {
        self.inner.device
    }

    /// Move to `device`. Only the CPU exists: a CUDA device is refused by
    /// [`Device::ensure_available`] with [`TensorError::CudaUnavailable`].
    pub fn to_device(&self, device: Device) -> Result<Tensor> {
        device.ensure_available("to_device")?;
        Ok(self.clone())
    }

    /// The shape.
    pub fn shape(&self) -> Vec<usize> {
        self.read().shape().to_vec()
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.read().ndim()
    }

    /// Total number of elements.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Read access to the data without copying.
    pub fn read(&self) -> RwLockReadGuard<'_, SharedArray> {
        // A poisoned lock only means another thread panicked while writing; the array itself is
        // always a complete value, so keep going with it.
        self.inner.data.read().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the data.
    pub fn to_array(&self) -> ArrayD<f32> {
        self.read().to_owned()
    }

    /// The data, shared (no copy): what an op keeps for its backward pass.
    pub fn shared(&self) -> SharedArray {
        self.read().clone()
    }

    /// The data in standard (row-major contiguous) layout: shared when it already is (always, for
    /// op results), copied otherwise. For ops whose kernels need contiguous rows.
    pub(crate) fn shared_standard(&self) -> SharedArray {
        let a = self.shared();
        if a.is_standard_layout() {
            a
        } else {
            a.as_standard_layout().into_owned().into_shared()
        }
    }

    /// The data as a flat row-major vector.
    pub fn to_vec(&self) -> Vec<f32> {
        self.read().iter().copied().collect()
    }

    /// The single value of a one-element tensor.
    pub fn item(&self) -> Result<f32> {
        let data = self.read();
        if data.len() != 1 {
            return Err(TensorError::InvalidShape {
                op: "item",
                shape: data.shape().to_vec(),
                reason: "item() needs exactly one element".into(),
            });
        }
        Ok(data.iter().copied().next().unwrap_or(f32::NAN))
    }

    /// A constant copy cut from the graph (no gradient flows through it).
    pub fn detach(&self) -> Tensor {
        Tensor::from_shared(self.shared())
    }

    /// The accumulated gradient of a parameter (None before any backward, or for constants).
    pub fn grad(&self) -> Option<ArrayD<f32>> {
        self.inner
            .grad
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Apply `f` to the accumulated gradient in place (used by gradient clipping).
    pub fn with_grad_mut<R>(&self, f: impl FnOnce(Option<&mut ArrayD<f32>>) -> R) -> R {
        let mut guard = self.inner.grad.lock().unwrap_or_else(|e| e.into_inner());
        f(guard.as_mut())
    }

    /// Forget the accumulated gradient.
    pub fn zero_grad(&self) {
        *self.inner.grad.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    pub(crate) fn accumulate_grad(&self, g: ArrayD<f32>) {
        let mut guard = self.inner.grad.lock().unwrap_or_else(|e| e.into_inner());
        match guard.as_mut() {
            Some(acc) => crate::autograd::add_assign(acc, &g),
            None => *guard = Some(g),
        }
    }

    /// Replace the data of a parameter in place (optimisers, checkpoint loading). The new data must
    /// have the same shape, so the graphs built on this parameter stay consistent.
    pub fn update_data(&self, f: impl FnOnce(&mut ArrayD<f32>)) -> Result<()> {
        let mut guard = self.inner.data.write().unwrap_or_else(|e| e.into_inner());
        let shape = guard.shape().to_vec();
        // Take the buffer out (no copy unless a recorded graph still shares it), update, put back.
        let empty = ArrayD::<f32>::zeros(IxDyn(&[0])).into_shared();
        let mut owned = std::mem::replace(&mut *guard, empty).into_owned();
        f(&mut owned);
        let new_shape = owned.shape().to_vec();
        *guard = owned.into_shared();
        if new_shape != shape {
            return Err(TensorError::ShapeMismatch {
                op: "update_data",
                lhs: shape,
                rhs: new_shape,
                reason: "a parameter's shape cannot change".into(),
            });
        }
        Ok(())
    }

    /// Overwrite the data of a parameter with `values` of the same shape.
    pub fn set_data(&self, values: &ArrayD<f32>) -> Result<()> {
        let shape = self.shape();
        if values.shape() != shape.as_slice() {
            return Err(TensorError::ShapeMismatch {
                op: "set_data",
                lhs: shape,
                rhs: values.shape().to_vec(),
                reason: "the new data must have the parameter's shape".into(),
            });
        }
        self.update_data(|d| d.assign(values))
    }

    /// Name of the op that produced this tensor, if any.
    pub fn op_name(&self) -> Option<&'static str> {
        self.inner.node.as_ref().map(|n| n.op)
    }
}
