//! Copies between ndarray and faer matrices.
//!
//! Why copies and not views: faer and ndarray describe strided memory differently (ndarray allows
//! negative strides, faer's kernels want one unit stride), and every caller here factorises the
//! matrix right after converting it, which costs far more than the O(mn) copy. A copy also leaves
//! the caller's array untouched whatever layout it has (standard, transposed, sliced).

use faer::{Mat, MatRef};
use ndarray::{Array2, ArrayView2};

/// Copies an ndarray matrix (any layout, e.g. a transposed view `a.t()`) into a faer matrix.
pub fn to_faer(a: ArrayView2<'_, f64>) -> Mat<f64> {
    Mat::from_fn(a.nrows(), a.ncols(), |i, j| a[[i, j]])
}

/// Copies a faer matrix (or view) into a standard-layout ndarray matrix.
pub fn from_faer(m: MatRef<'_, f64>) -> Array2<f64> {
    Array2::from_shape_fn((m.nrows(), m.ncols()), |(i, j)| m[(i, j)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn round_trip_keeps_values_and_layout() {
        let a = array![[1.0, -2.0, 3.5], [4.0, 0.0, -6.25]];
        assert_eq!(from_faer(to_faer(a.view()).as_ref()), a);
        // A transposed view is read as the transpose, not as the memory underneath.
        let t = to_faer(a.t());
        assert_eq!((t.nrows(), t.ncols()), (3, 2));
        assert_eq!(from_faer(t.as_ref()), a.t());
    }

    #[test]
    fn empty_matrices_convert() {
        let a = Array2::<f64>::zeros((3, 0));
        let m = to_faer(a.view());
        assert_eq!((m.nrows(), m.ncols()), (3, 0));
        assert_eq!(from_faer(m.as_ref()).dim(), (3, 0));
    }
}
