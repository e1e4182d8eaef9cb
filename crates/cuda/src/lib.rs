//! The CUDA side of Eigenformer's tensors (issue 16, first part): finding a GPU and compiling the
//! kernels of the training step with NVRTC, through `cudarc` with dynamic loading.
//!
//! What is here: [`probe`] opens a device and names what is missing when it cannot (no driver
//! library, no device, a driver error), and [`kernels`] holds the CUDA C source of every
//! elementwise, reduction and optimiser kernel, which [`compile_kernels`] turns into PTX. What
//! is not here yet: device storage inside `eigenformer_tensor::Tensor`, the launches, cuBLAS GEMM
//! and the CPU-parity tests of each op on a GPU (they need a machine with one).
//!
//! Without the `cuda` feature nothing CUDA is linked or loaded and every call returns
//! [`CudaError::NotBuilt`].

pub mod kernels;

#[cfg(feature = "cuda")]
mod backend;

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
