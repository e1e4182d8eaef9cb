//! What can be checked without a GPU: every kernel module compiles with NVRTC and defines its
//! entry points, and opening a device on a machine without one is a clear error, never a
//! panic. (The CPU-parity tests of each op, which need a GPU, are in tests/parity.rs.)
//!
//! NVRTC is found through the loader (`LD_LIBRARY_PATH`; the `nvidia-cuda-nvrtc` wheel has one).
//! Without it the compile test prints why it skips; `EIGENFORMER_REQUIRE_NVRTC=1` (CI) turns
//! the skip into a failure.

use eigenformer_cuda::{compile_kernels, kernels, probe, CudaError};

#[test]
fn every_kernel_module_compiles_with_nvrtc() {
    match compile_kernels() {
        Ok(modules) => {
            assert_eq!(modules.len(), kernels::MODULES.len());
            for (compiled, module) in modules.iter().zip(kernels::MODULES) {
                assert_eq!(compiled.name, module.name);
                for entry in module.entries {
                    assert!(
                        compiled.ptx.contains(&format!(".entry {entry}(")),
                        "module {} has no entry point {entry}",
                        module.name
                    );
                }
            }
        }
        Err(CudaError::NotBuilt) => {
            eprintln!("skipped: built without the `cuda` feature");
        }
        Err(CudaError::NoNvrtc) if std::env::var_os("EIGENFORMER_REQUIRE_NVRTC").is_none() => {
            eprintln!("skipped: {}", CudaError::NoNvrtc);
        }
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn opening_a_device_names_what_is_missing() {
    match probe(0) {
        Ok(gpu) => {
            eprintln!(
                "GPU {}: {} ({} bytes)",
                gpu.ordinal, gpu.name, gpu.total_memory
            );
            assert!(gpu.total_memory > 0);
        }
        Err(e @ CudaError::NoDriver) => assert!(e.to_string().contains("libcuda.so"), "{e}"),
        Err(e @ CudaError::NotBuilt) => assert!(e.to_string().contains("--features cuda"), "{e}"),
        Err(CudaError::Driver { message, .. }) => assert!(!message.is_empty()),
        Err(e) => panic!("unexpected: {e}"),
    }
    // An ordinal no machine has is an error, not a panic.
    assert!(probe(1 << 20).is_err());
}
