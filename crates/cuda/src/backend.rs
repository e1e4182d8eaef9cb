//! The `cudarc` calls behind [`crate::probe`] and [`crate::compile_kernels`]. cudarc panics when
//! a library it loads dynamically is absent, so each entry point checks for the library first.

use crate::kernels::Module;
use crate::{CompiledModule, CudaError, GpuInfo};
use cudarc::driver::CudaContext;
use std::sync::Arc;

/// Open the context of device `ordinal`, after checking that the driver library exists (cudarc
/// would panic on its first call otherwise).
pub fn open(ordinal: usize) -> Result<Arc<CudaContext>, CudaError> {
    // SAFETY: only tries to load the library; no CUDA call is made.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(CudaError::NoDriver);
    }
    CudaContext::new(ordinal).map_err(|e| driver_error(ordinal, e))
}

/// A driver error of device `ordinal` as a [`CudaError`].
pub fn driver_error(ordinal: usize, e: cudarc::driver::DriverError) -> CudaError {
    CudaError::Driver {
        ordinal,
        message: e.to_string(),
    }
}

pub fn probe(ordinal: usize) -> Result<GpuInfo, CudaError> {
    let ctx = open(ordinal)?;
    let driver = |e| driver_error(ordinal, e);
    Ok(GpuInfo {
        ordinal,
        name: ctx.name().map_err(driver)?,
        total_memory: ctx.total_mem().map_err(driver)?,
    })
}

pub fn compile(modules: &[Module]) -> Result<Vec<CompiledModule>, CudaError> {
    // SAFETY: only tries to load the library; no NVRTC call is made.
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err(CudaError::NoNvrtc);
    }
    modules
        .iter()
        .map(|m| {
            let ptx = cudarc::nvrtc::compile_ptx(m.source).map_err(|e| CudaError::Compile {
                kernel: m.name,
                log: e.to_string(),
            })?;
            Ok(CompiledModule {
                name: m.name,
                ptx: ptx.to_src(),
            })
        })
        .collect()
}
