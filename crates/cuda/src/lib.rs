//! The CUDA side of Eigenformer's tensors (issue 16, first part): finding a GPU and compiling the
//! kernels of the training step with NVRTC, through `cudarc` with dynamic loading.
//!
//! What is here: [`probe`] opens a device and names what is missing when it cannot (no driver
//! library, no device, a driver error); [`kernels`] holds the CUDA C source of every
//! elementwise, reduction, layout and optimiser kernel, which [`compile_kernels`] turns into
//! PTX; and, with the `cuda` feature, `Gpu` (one device: its stream, a cuBLAS handle and every
//! kernel loaded) and `GpuTensor` (an f32 device buffer with a shape), with one checked launch
//! per kernel and row-major GEMMs through cuBLAS. What is not here yet: device storage inside
//! `eigenformer_tensor::Tensor` (the autodiff graph on the GPU) and `--device` on the commands;
//! see docs/cuda.md.
//!
//! Without the `cuda` feature nothing CUDA is linked or loaded and every call returns
//! [`CudaError::NotBuilt`].

pub mod kernels;

// Shape checks and launch geometry: pure functions, so that they are tested on any machine.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
mod plan;

#[cfg(feature = "cuda")]
mod backend;
#[cfg(feature = "cuda")]
mod gpu;
#[cfg(feature = "cuda")]
mod launch;

#[cfg(feature = "cuda")]
pub use gpu::{
    AdamW, CrossEntropyOutput, Gpu, GpuMask, GpuTensor, LayerNormGrads, LayerNormOutput,
};

use thiserror::Error;

/// Why the CUDA backend cannot be used.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CudaError {
    /// This build has no CUDA support.
    #[error("this build of eigenformer has no CUDA support: rebuild with `--features cuda`")]
    NotBuilt,
    /// The driver library could not be loaded.
    #[error("no CUDA driver (libcuda.so) found: install the NVIDIA driver, or add its directory to LD_LIBRARY_PATH")]
    NoDriver,
    /// The run-time compiler library could not be loaded.
    #[error("no NVRTC (libnvrtc.so) found: install the CUDA toolkit or the `nvidia-cuda-nvrtc` wheel, and add its lib directory to LD_LIBRARY_PATH")]
    NoNvrtc,
    /// The driver refused (no such device, an initialisation error).
    #[error("CUDA device {ordinal}: {message}")]
    Driver { ordinal: usize, message: String },
    /// A kernel did not compile.
    #[error("NVRTC could not compile the `{kernel}` kernels: {log}")]
    Compile { kernel: &'static str, log: String },
    /// The driver would not load compiled PTX (most often: an NVRTC newer than the driver).
    #[error("the CUDA driver could not load the `{module}` kernels ({message}); if the PTX version is unsupported, use an NVRTC no newer than the driver (nvidia-smi shows its CUDA version)")]
    Load {
        module: &'static str,
        message: String,
    },
    /// The cuBLAS library could not be loaded.
    #[error("no cuBLAS (libcublas.so) found: install the CUDA toolkit or the `nvidia-cublas` wheel, and add its lib directory to LD_LIBRARY_PATH")]
    NoCublas,
    /// cuBLAS refused a call.
    #[error("cuBLAS: {0}")]
    Cublas(String),
    /// The arguments of an op do not fit (shapes, lengths, ranges); checked before any launch,
    /// because a kernel given a wrong length reads or writes out of bounds.
    #[error("{op}: {reason}")]
    Invalid { op: &'static str, reason: String },
}

/// A GPU that could be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuInfo {
    /// The device ordinal (`cuda:N`).
    pub ordinal: usize,
    /// The device's name as the driver reports it.
    pub name: String,
    /// Its memory, bytes.
    pub total_memory: usize,
}

/// Open device `ordinal` and describe it, or say what is missing.
pub fn probe(ordinal: usize) -> Result<GpuInfo, CudaError> {
    #[cfg(feature = "cuda")]
    {
        backend::probe(ordinal)
    }
    #[cfg(not(feature = "cuda"))]
    {
        let _ = ordinal;
        Err(CudaError::NotBuilt)
    }
}

/// One compiled kernel module: its name and PTX text.
#[derive(Debug, Clone)]
pub struct CompiledModule {
    /// The module's name ([`kernels::Module::name`]).
    pub name: &'static str,
    /// The PTX NVRTC produced.
    pub ptx: String,
}

/// Compile every kernel module of [`kernels::MODULES`] with NVRTC (no GPU needed, only the
/// NVRTC library).
pub fn compile_kernels() -> Result<Vec<CompiledModule>, CudaError> {
    #[cfg(feature = "cuda")]
    {
        backend::compile(kernels::MODULES)
    }
    #[cfg(not(feature = "cuda"))]
    {
        Err(CudaError::NotBuilt)
    }
}
