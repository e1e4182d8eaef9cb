//! `.npy` input/output of 1-D and 2-D float arrays.
//!
//! Why: attention matrices, weights and hidden states are exchanged with NumPy/PyTorch tooling as
//! `.npy` files, often in `f32`. Readers accept both `f32` and `f64` files (any byte order, C or
//! Fortran layout) and return `f64`, because all spectral computations run in double precision.
//! Errors name the file and the reason.

use std::path::Path;

use ndarray::{Array, Array1, Array2, ArrayBase, Data, Dimension, Ix1, Ix2};
use ndarray_npy::{ReadNpyError, ReadableElement, WritableElement};

use crate::error::{Result, SpectralError};

fn npy_error(path: &Path, reason: impl ToString) -> SpectralError {
    SpectralError::Npy {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn read_as<T: ReadableElement, D: Dimension>(path: &Path) -> Result<Array<T, D>, ReadNpyError> {
    ndarray_npy::read_npy(path)
}

/// Reads an `f64` or `f32` array of dimension `D`, converting to `f64`.
fn read_float<D: Dimension>(path: &Path) -> Result<Array<f64, D>> {
    match read_as::<f64, D>(path) {
        Ok(a) => Ok(a),
        Err(ReadNpyError::WrongDescriptor(_)) => match read_as::<f32, D>(path) {
            Ok(a) => Ok(a.mapv(f64::from)),
            Err(ReadNpyError::WrongDescriptor(desc)) => Err(npy_error(
                path,
                format!("unsupported dtype {desc}: expected float32 or float64"),
            )),
            Err(e) => Err(npy_error(path, e)),
        },
        Err(e) => Err(npy_error(path, e)),
    }
}

/// Reads a 2-D `float32`/`float64` `.npy` file as `f64`.
pub fn read_npy_2d(path: impl AsRef<Path>) -> Result<Array2<f64>> {
    read_float::<Ix2>(path.as_ref())
}

/// Reads a 1-D `float32`/`float64` `.npy` file as `f64`.
pub fn read_npy_1d(path: impl AsRef<Path>) -> Result<Array1<f64>> {
    read_float::<Ix1>(path.as_ref())
}

/// Writes an array (any dimension; `f32` or `f64` elements) to a `.npy` file in C order.
pub fn write_npy<T, S, D>(path: impl AsRef<Path>, array: &ArrayBase<S, D>) -> Result<()>
where
    T: WritableElement,
    S: Data<Elem = T>,
    D: Dimension,
{
    let path = path.as_ref();
    ndarray_npy::write_npy(path, array).map_err(|e| npy_error(path, e))
}

/// Writes an `f64` array as `float32` (halving the file size for large hidden-state dumps).
pub fn write_npy_f32<S, D>(path: impl AsRef<Path>, array: &ArrayBase<S, D>) -> Result<()>
where
    S: Data<Elem = f64>,
    D: Dimension,
{
    write_npy(path, &array.mapv(|v| v as f32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn roundtrip_f64_and_f32() {
        let dir = tempfile::tempdir().unwrap();
        let a = array![[1.0, 2.5], [-3.0, 4.0], [0.125, 6.0]];
        let p64 = dir.path().join("a64.npy");
        let p32 = dir.path().join("a32.npy");
        write_npy(&p64, &a).unwrap();
        write_npy_f32(&p32, &a).unwrap();
        assert_eq!(read_npy_2d(&p64).unwrap(), a);
        assert_eq!(read_npy_2d(&p32).unwrap(), a);
        let v = array![1.0f32, -2.0, 3.5];
        let pv = dir.path().join("v.npy");
        write_npy(&pv, &v).unwrap();
        assert_eq!(read_npy_1d(&pv).unwrap(), array![1.0, -2.0, 3.5]);
    }

    #[test]
    fn errors_name_file_and_reason() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.npy");
        match read_npy_2d(&missing) {
            Err(SpectralError::Npy { path, .. }) => assert_eq!(path, missing),
            other => panic!("unexpected {other:?}"),
        }
        let p1 = dir.path().join("one.npy");
        write_npy(&p1, &array![1.0, 2.0]).unwrap();
        match read_npy_2d(&p1) {
            Err(SpectralError::Npy { reason, .. }) => assert!(!reason.is_empty()),
            other => panic!("unexpected {other:?}"),
        }
        let pint = dir.path().join("int.npy");
        ndarray_npy::write_npy(&pint, &array![[1i32, 2]]).unwrap();
        match read_npy_2d(&pint) {
            Err(SpectralError::Npy { reason, .. }) => assert!(reason.contains("dtype"), "{reason}"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
