//! Reading tensors out of a safetensors file: our header check, then the `safetensors` crate,
//! then lookup by name (with or without the task-head prefix), shape check and conversion to f32.

use crate::hf::error::HfError;
use crate::hf::header::check_header;
use ndarray::{ArrayD, IxDyn};
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where the tensors are: a parsed safetensors buffer, or tensors already decoded (f32) by
/// another reader (ONNX initializers, [`crate::onnx`]).
enum Store<'a> {
    Safetensors(SafeTensors<'a>),
    Decoded(&'a HashMap<String, ArrayD<f32>>),
}

/// The tensors of one checkpoint, looked up by their names without prefix.
pub struct TensorSource<'a> {
    file: PathBuf,
    tensors: Store<'a>,
    /// Prefixes to try, in order (the one the file uses first).
    prefixes: [&'a str; 2],
}

impl<'a> TensorSource<'a> {
    /// Check and parse `bytes` (the content of `file`). `prefix` is the family's task-head
    /// prefix (`bert.`): names are tried with it first when some name in the file starts
    /// with it, else without it first.
    pub fn new(bytes: &'a [u8], file: &Path, prefix: &'a str) -> Result<TensorSource<'a>, HfError> {
        let entries = check_header(bytes, file)?;
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| HfError::Safetensors {
            file: file.to_path_buf(),
            reason: e.to_string(),
        })?;
        let prefixed = entries.iter().any(|e| e.name.starts_with(prefix));
        let prefixes = if prefixed { [prefix, ""] } else { ["", prefix] };
        Ok(TensorSource {
            file: file.to_path_buf(),
            tensors: Store::Safetensors(tensors),
            prefixes,
        })
    }

    /// Tensors decoded by another reader, by their names in the safetensors convention.
    pub fn from_decoded(
        tensors: &'a HashMap<String, ArrayD<f32>>,
        file: &Path,
        prefix: &'a str,
    ) -> TensorSource<'a> {
        let prefixed = tensors.keys().any(|n| n.starts_with(prefix));
        let prefixes = if prefixed { [prefix, ""] } else { ["", prefix] };
        TensorSource {
            file: file.to_path_buf(),
            tensors: Store::Decoded(tensors),
            prefixes,
        }
    }

    fn exists(&self, full: &str) -> bool {
        match &self.tensors {
            Store::Safetensors(t) => t.tensor(full).is_ok(),
            Store::Decoded(m) => m.contains_key(full),
        }
    }

    /// The checkpoint file, for error messages.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Whether a tensor `name` (without prefix) exists.
    pub fn contains(&self, name: &str) -> bool {
        self.resolve(name).is_some()
    }

    fn resolve(&self, name: &str) -> Option<String> {
        self.prefixes
            .iter()
            .map(|p| format!("{p}{name}"))
            .find(|full| self.exists(full))
    }

    /// The tensor `name` (without prefix) as f32, checked to have shape `expected`.
    pub fn get(&self, name: &str, expected: &[usize]) -> Result<ArrayD<f32>, HfError> {
        self.get_any(&[name], expected)
    }

    /// The first of `names` that exists (e.g. `LayerNorm.weight` or the older
    /// `LayerNorm.gamma`), checked to have shape `expected`.
    pub fn get_any(&self, names: &[&str], expected: &[usize]) -> Result<ArrayD<f32>, HfError> {
        let Some(full) = names.iter().find_map(|n| self.resolve(n)) else {
            let tried: Vec<String> = names
                .iter()
                .flat_map(|n| self.prefixes.iter().map(move |p| format!("{p}{n}")))
                .collect();
            return Err(HfError::MissingTensor {
                file: self.file.clone(),
                tensor: names.first().copied().unwrap_or_default().to_string(),
                tried: tried.join(", "),
            });
        };
        let tensors = match &self.tensors {
            Store::Safetensors(t) => t,
            Store::Decoded(m) => {
                let a = &m[&full];
                if a.shape() != expected {
                    return Err(HfError::TensorShape {
                        file: self.file.clone(),
                        tensor: full,
                        expected: expected.to_vec(),
                        found: a.shape().to_vec(),
                    });
                }
                return Ok(a.clone());
            }
        };
        let view = tensors.tensor(&full).map_err(|e| HfError::Safetensors {
            file: self.file.clone(),
            reason: e.to_string(),
        })?;
        if view.shape() != expected {
            return Err(HfError::TensorShape {
                file: self.file.clone(),
                tensor: full,
                expected: expected.to_vec(),
                found: view.shape().to_vec(),
            });
        }
        let values = to_f32(view.dtype(), view.data()).ok_or_else(|| HfError::TensorDtype {
            file: self.file.clone(),
            tensor: full.clone(),
            dtype: format!("{:?}", view.dtype()),
        })?;
        ArrayD::from_shape_vec(IxDyn(expected), values).map_err(|e| HfError::TensorEntry {
            file: self.file.clone(),
            tensor: full,
            reason: format!("data does not fill the shape: {e}"),
        })
    }
}

/// Little-endian `bytes` of `dtype` as f32; `None` for dtypes that are not floating point
/// (or exotic). Non-finite values are kept: whether they matter is the caller's business.
fn to_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16))
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        _ => return None,
    })
}

/// IEEE half to single precision (exact: every f16 is an f32).
fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0f32 } else { 1.0 };
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    match exp {
        // Zero and subnormals: man · 2^-24.
        0 => sign * man as f32 * f32::from_bits(0x3380_0000),
        0x1f => {
            let bits = 0x7f80_0000 | (man << 13);
            sign * f32::from_bits(bits)
        }
        _ => {
            let bits = ((exp + 112) << 23) | (man << 13);
            sign * f32::from_bits(bits)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_converts_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert!(f16_to_f32(0x7c00).is_infinite());
        assert!(f16_to_f32(0x7e00).is_nan());
    }
}
