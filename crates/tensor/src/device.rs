//! Where a tensor's data lives.

use crate::error::{Result, TensorError};
use serde::{Deserialize, Serialize};

/// A compute device. `Cpu` always works. `Cuda` is a valid value (so command lines and configs can
/// name it), but no CUDA backend exists yet: every use of it fails at once with
/// [`TensorError::CudaUnavailable`], before any work is done, instead of later inside an op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Device {
    /// Host memory, computed with rayon-parallel kernels.
    #[default]
    Cpu,
    /// A CUDA GPU by ordinal.
    Cuda(usize),
}

impl Device {
    /// Check that this device can be used by this build; `op` names the caller in the error.
    pub fn ensure_available(self, op: &'static str) -> Result<()> {
        match self {
            Device::Cpu => Ok(()),
            #[cfg(not(feature = "cuda"))]
            Device::Cuda(_) => Err(TensorError::CudaUnavailable { op }),
            // With the feature: say what is missing on this machine (driver, device) first; a
            // machine that has both still lacks the tensor ops' CUDA storage (issue 16).
            #[cfg(feature = "cuda")]
            Device::Cuda(ordinal) => Err(match eigenformer_cuda::probe(ordinal) {
                Err(e) => TensorError::Cuda {
                    op,
                    message: e.to_string(),
                },
                Ok(gpu) => TensorError::Cuda {
                    op,
                    message: format!(
                        "found {} (cuda:{ordinal}), but the tensors have no CUDA storage yet: \
                         only the kernels' compilation and the device probe exist",
                        gpu.name
                    ),
                },
            }),
        }
    }

    /// Parse `cpu`, `cuda` or `cuda:N`.
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim().to_ascii_lowercase();
        if t == "cpu" {
            return Ok(Device::Cpu);
        }
        if t == "cuda" {
            return Ok(Device::Cuda(0));
        }
        if let Some(n) = t.strip_prefix("cuda:") {
            if let Ok(i) = n.parse() {
                return Ok(Device::Cuda(i));
            }
        }
        Err(TensorError::InvalidArgument {
            op: "Device::parse",
            reason: format!("unknown device {text:?}; expected cpu, cuda or cuda:N"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_always_available() {
        assert!(Device::Cpu.ensure_available("test").is_ok());
    }

    #[test]
    fn cuda_is_refused_at_once_with_a_clear_error() {
        let err = Device::Cuda(0).ensure_available("to_device").unwrap_err();
        let text = err.to_string();
        if cfg!(feature = "cuda") {
            // Names what this machine lacks (the driver, a device), or that tensors have no
            // CUDA storage yet.
            assert!(
                text.contains("libcuda.so")
                    || text.contains("CUDA device 0")
                    || text.contains("no CUDA storage"),
                "{text}"
            );
        } else {
            assert!(text.contains("without CUDA support"), "{text}");
        }
    }

    #[test]
    fn parse_devices() {
        assert_eq!(Device::parse("cpu").unwrap(), Device::Cpu);
        assert_eq!(Device::parse("CUDA:1").unwrap(), Device::Cuda(1));
        assert!(Device::parse("tpu").is_err());
    }
}
