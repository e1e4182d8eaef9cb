//! One GPU ready for work: [`Gpu`] owns the device's context and stream, a cuBLAS handle and
//! every kernel of [`crate::kernels::MODULES`]; [`GpuTensor`] is an f32 buffer on it with a
//! shape. The kernel launches are in `launch.rs`; the GEMMs are here.
//!
//! Why one type owns all of it: a kernel, a buffer and a cuBLAS call must share one context and
//! one stream to be ordered without explicit synchronisation, and compiling the kernels (NVRTC,
//! about a second) should happen once per process, not per op.

use crate::backend::{self, driver_error};
use crate::kernels::MODULES;
use crate::plan::{self, invalid};
use crate::{CudaError, GpuInfo};
use cudarc::cublas::{sys as blas_sys, CudaBlas, Gemm, GemmConfig, StridedBatchedConfig};
use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, DriverError};
use cudarc::nvrtc::Ptx;
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use std::collections::HashMap;
use std::sync::Arc;

/// An f32 tensor in device memory: a contiguous row-major buffer and its shape. The buffer's
/// length is always the product of the shape (every constructor checks it), which is what lets
/// the launches trust it.
#[derive(Debug)]
pub struct GpuTensor {
    pub(crate) data: CudaSlice<f32>,
    pub(crate) shape: Vec<usize>,
}

impl GpuTensor {
    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether it has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The same buffer under another shape of the same element count (no copy: the data is
    /// contiguous row-major).
    pub fn reshape(self, shape: &[usize]) -> Result<Self, CudaError> {
        let n = plan::count("reshape", shape)?;
        if n != self.len() {
            return Err(invalid(
                "reshape",
                format!(
                    "{:?} has {} elements, {shape:?} would have {n}",
                    self.shape,
                    self.len()
                ),
            ));
        }
        Ok(Self {
            data: self.data,
            shape: shape.to_vec(),
        })
    }
}

/// A keep-mask drawn on the host (dropout, drop-path), one byte per entry on the device. Why
/// bytes: a quarter of the memory an f32 mask takes, and the CPU's random draws stay the only
/// source of randomness, so a seed gives the same masks on both devices.
#[derive(Debug)]
pub struct GpuMask {
    pub(crate) data: CudaSlice<u8>,
}

impl GpuMask {
    /// The number of entries.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether it has no entries.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// One CUDA device with its stream, cuBLAS handle and compiled kernels.
pub struct Gpu {
    pub(crate) ordinal: usize,
    name: String,
    total_memory: usize,
    // Kept so that the context outlives every module, buffer and handle made from it.
    _ctx: Arc<CudaContext>,
    pub(crate) stream: Arc<CudaStream>,
    blas: CudaBlas,
    functions: HashMap<&'static str, CudaFunction>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu")
            .field("ordinal", &self.ordinal)
            .field("name", &self.name)
            .field("kernels", &self.functions.len())
            .finish_non_exhaustive()
    }
}

impl Gpu {
    /// Open device `ordinal`: its context and stream, the kernels compiled with NVRTC and loaded,
    /// and a cuBLAS handle in plain f32 arithmetic (no TF32, so that results match the CPU).
    /// Each library is checked for before its first use, so a machine without one gets
    /// [`CudaError::NoDriver`], [`CudaError::NoNvrtc`] or [`CudaError::NoCublas`], never a
    /// panic.
    pub fn new(ordinal: usize) -> Result<Self, CudaError> {
        let ctx = backend::open(ordinal)?;
        let driver = |e| driver_error(ordinal, e);
        let name = ctx.name().map_err(driver)?;
        let total_memory = ctx.total_mem().map_err(driver)?;
        let stream = ctx.default_stream();
        let mut functions = HashMap::new();
        for (module, compiled) in MODULES.iter().zip(backend::compile(MODULES)?) {
            let load = |e: DriverError| CudaError::Load {
                module: module.name,
                message: e.to_string(),
            };
            let loaded = ctx.load_module(Ptx::from_src(compiled.ptx)).map_err(load)?;
            for &entry in module.entries {
                functions.insert(entry, loaded.load_function(entry).map_err(load)?);
            }
        }
        // SAFETY: only tries to load the library; no cuBLAS call is made.
        if !unsafe { blas_sys::is_culib_present() } {
            return Err(CudaError::NoCublas);
        }
        let blas = CudaBlas::new(stream.clone()).map_err(cublas_error)?;
        // SAFETY: the handle is valid (just created) and owned by `blas`.
        unsafe {
            blas_sys::cublasSetMathMode(*blas.handle(), blas_sys::cublasMath_t::CUBLAS_DEFAULT_MATH)
        }
        .result()
        .map_err(cublas_error)?;
        Ok(Self {
            ordinal,
            name,
            total_memory,
            _ctx: ctx,
            stream,
            blas,
            functions,
        })
    }

    /// The device as [`crate::probe`] describes it.
    pub fn info(&self) -> GpuInfo {
        GpuInfo {
            ordinal: self.ordinal,
            name: self.name.clone(),
            total_memory: self.total_memory,
        }
    }

    /// Wait until every launch and copy queued so far has finished, and report an error any of
    /// them raised (kernel faults surface here, not at the launch).
    pub fn synchronize(&self) -> Result<(), CudaError> {
        self.stream.synchronize().map_err(|e| self.driver(e))
    }

    pub(crate) fn driver(&self, e: DriverError) -> CudaError {
        driver_error(self.ordinal, e)
    }

    pub(crate) fn function(&self, name: &'static str) -> Result<&CudaFunction, CudaError> {
        self.functions
            .get(name)
            .ok_or_else(|| invalid("launch", format!("no kernel named {name} was loaded")))
    }

    /// A tensor of `shape` filled with zeros.
    pub fn zeros(&self, shape: &[usize]) -> Result<GpuTensor, CudaError> {
        let n = plan::count("zeros", shape)?;
        Ok(GpuTensor {
            data: self.stream.alloc_zeros(n).map_err(|e| self.driver(e))?,
            shape: shape.to_vec(),
        })
    }

    /// A tensor of `shape` whose every element the caller's kernel will write. Zeroed all the
    /// same: one memset is cheap next to the kernel, and no read of uninitialised memory can
    /// then leak through a kernel bug.
    pub(crate) fn output(&self, shape: &[usize]) -> Result<GpuTensor, CudaError> {
        self.zeros(shape)
    }

    /// Copy host values (row-major, `shape`'s element count) to the device.
    pub fn upload(&self, data: &[f32], shape: &[usize]) -> Result<GpuTensor, CudaError> {
        let n = plan::count("upload", shape)?;
        if n != data.len() {
            return Err(invalid(
                "upload",
                format!("{} values for shape {shape:?} ({n} elements)", data.len()),
            ));
        }
        Ok(GpuTensor {
            data: self.stream.clone_htod(data).map_err(|e| self.driver(e))?,
            shape: shape.to_vec(),
        })
    }

    /// Copy an ndarray (any layout; copied to row-major first if it is not) to the device.
    pub fn upload_array(&self, array: ArrayViewD<'_, f32>) -> Result<GpuTensor, CudaError> {
        let standard = array.as_standard_layout();
        let values = standard
            .as_slice()
            .ok_or_else(|| invalid("upload_array", "the array is not contiguous"))?;
        self.upload(values, array.shape())
    }

    /// Copy a tensor back to the host, row-major. Waits for the work queued before it.
    pub fn download(&self, tensor: &GpuTensor) -> Result<Vec<f32>, CudaError> {
        let values = self
            .stream
            .clone_dtoh(&tensor.data)
            .map_err(|e| self.driver(e))?;
        self.synchronize()?;
        Ok(values)
    }

    /// Copy a tensor back to the host as an ndarray of its shape.
    pub fn download_array(&self, tensor: &GpuTensor) -> Result<ArrayD<f32>, CudaError> {
        ArrayD::from_shape_vec(IxDyn(&tensor.shape), self.download(tensor)?)
            .map_err(|e| invalid("download_array", e.to_string()))
    }

    /// A host keep-mask (`true` = kept) on the device, for [`Gpu::dropout_mask`] and
    /// [`Gpu::drop_path_mask`].
    pub fn upload_mask(&self, keep: &[bool]) -> Result<GpuMask, CudaError> {
        plan::int("upload_mask", "the mask length", keep.len())?;
        let bytes: Vec<u8> = keep.iter().map(|&k| u8::from(k)).collect();
        Ok(GpuMask {
            data: self.stream.clone_htod(&bytes).map_err(|e| self.driver(e))?,
        })
    }

    /// Host indices (already checked against their bound) on the device as `int`s.
    pub(crate) fn upload_indices(&self, ids: &[i32]) -> Result<CudaSlice<i32>, CudaError> {
        self.stream.clone_htod(ids).map_err(|e| self.driver(e))
    }

    /// Row-major `C = op(A)·op(B)` of two matrices through cuBLAS `sgemm`, where `op`
    /// transposes when `trans_a` / `trans_b` is set: `A` is `[m, k]` (or `[k, m]` transposed),
    /// `B` `[k, n]` (or `[n, k]`), `C` `[m, n]`. The transposes cost nothing: they are cuBLAS'
    /// operand flags, which is how the backward passes of a linear layer (`dyᵀ·x`, `dy·W`) avoid
    /// copies.
    pub fn matmul(
        &self,
        a: &GpuTensor,
        b: &GpuTensor,
        trans_a: bool,
        trans_b: bool,
    ) -> Result<GpuTensor, CudaError> {
        let g = plan::gemm("matmul", &a.shape, &b.shape, trans_a, trans_b, false)?;
        let mut c = self.output(&g.out_shape)?;
        if g.m == 0 || g.n == 0 || g.k == 0 {
            return Ok(c); // an empty sum is zero, and cuBLAS refuses zero sizes
        }
        let cfg = gemm_config(&g)?;
        // SAFETY: the plan checked every size against the operands' shapes, and each buffer's
        // length is its shape's product, so cuBLAS reads and writes inside the three buffers.
        unsafe { self.blas.gemm(cfg, &b.data, &a.data, &mut c.data) }.map_err(cublas_error)?;
        Ok(c)
    }

    /// Row-major batched `C[i] = op(A[i])·op(B[i])` through cuBLAS `sgemm_strided_batched`:
    /// `A` is `[batch, m, k]` and `B` `[batch, k, n]` (last two axes swapped where transposed);
    /// either may be a plain matrix, then shared by every product (stride 0). This is
    /// attention's `Q·Kᵀ` and `P·V` over batch × heads.
    pub fn matmul_batched(
        &self,
        a: &GpuTensor,
        b: &GpuTensor,
        trans_a: bool,
        trans_b: bool,
    ) -> Result<GpuTensor, CudaError> {
        let g = plan::gemm("matmul_batched", &a.shape, &b.shape, trans_a, trans_b, true)?;
        let mut c = self.output(&g.out_shape)?;
        if g.batch == 0 || g.m == 0 || g.n == 0 || g.k == 0 {
            return Ok(c);
        }
        let cfg = StridedBatchedConfig {
            gemm: gemm_config(&g)?,
            batch_size: plan::int("matmul_batched", "the batch", g.batch)?,
            stride_a: g.stride_first,
            stride_b: g.stride_second,
            stride_c: g.stride_c,
        };
        // SAFETY: as in `matmul`; the strides step through whole matrices of each buffer (or
        // stay on a shared one), for `batch` products.
        unsafe {
            self.blas
                .gemm_strided_batched(cfg, &b.data, &a.data, &mut c.data)
        }
        .map_err(cublas_error)?;
        Ok(c)
    }
}

fn cublas_error(e: cudarc::cublas::result::CublasError) -> CudaError {
    CudaError::Cublas(e.to_string())
}

/// The column-major call of a plan (see [`plan::Gemm`]): cuBLAS' first operand is B, its
/// second A, and its `m × n` output is `Cᵀ`, i.e. row-major `C`.
fn gemm_config(g: &plan::Gemm) -> Result<GemmConfig<f32>, CudaError> {
    let op = |t: bool| {
        if t {
            blas_sys::cublasOperation_t::CUBLAS_OP_T
        } else {
            blas_sys::cublasOperation_t::CUBLAS_OP_N
        }
    };
    Ok(GemmConfig {
        transa: op(g.trans_first),
        transb: op(g.trans_second),
        m: plan::int("gemm", "n", g.n)?,
        n: plan::int("gemm", "m", g.m)?,
        k: plan::int("gemm", "k", g.k)?,
        alpha: 1.0,
        lda: g.ld_first,
        ldb: g.ld_second,
        beta: 0.0,
        ldc: g.ldc,
    })
}

/// What [`Gpu::layer_norm`] returns: the output and the per-row statistics its backward pass
/// needs.
#[derive(Debug)]
pub struct LayerNormOutput {
    /// The normalised, scaled and shifted output, the input's shape.
    pub y: GpuTensor,
    /// Each row's mean, `[rows]`.
    pub mean: GpuTensor,
    /// Each row's `1/√(σ² + eps)`, `[rows]`.
    pub rstd: GpuTensor,
}

/// What [`Gpu::layer_norm_backward`] returns.
#[derive(Debug)]
pub struct LayerNormGrads {
    /// The input's gradient.
    pub dx: GpuTensor,
    /// The gradient of `γ`, `[cols]`.
    pub dgamma: GpuTensor,
    /// The gradient of `β`, `[cols]`.
    pub dbeta: GpuTensor,
}

/// What [`Gpu::cross_entropy`] returns.
#[derive(Debug)]
pub struct CrossEntropyOutput {
    /// Each row's loss, `[rows]`; the CPU's loss is their mean.
    pub row_losses: GpuTensor,
    /// The gradient of the mean loss with respect to the logits (an upstream gradient of 1).
    pub grad: GpuTensor,
}

/// AdamW's hyper-parameters for one parameter group ([`Gpu::adamw_step`]), as in
/// `eigenformer_tensor::optim::AdamW`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamW {
    /// The learning rate of this step.
    pub lr: f32,
    /// The moments' decay rates.
    pub beta1: f32,
    pub beta2: f32,
    /// Added to `√v̂`.
    pub eps: f32,
    /// Decoupled weight decay (0 for exempt groups: biases, norms).
    pub weight_decay: f32,
}
