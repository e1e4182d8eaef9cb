//! Dense linear algebra on faer with ndarray (`f64`) in and out.
//!
//! Why a wrapper: the rest of the project works with `ndarray` token matrices, while faer offers the
//! fast, pure-Rust eigen/SVD/QR kernels. This module converts at the boundary, validates the input
//! (shape, finiteness) and fixes a **deterministic order** for complex spectra so that results are
//! reproducible and comparable across runs and against NumPy.
//!
//! # Eigenvalue order
//!
//! General (complex) spectra are sorted by [`spectral_order`]: descending modulus, then descending
//! real part, then descending imaginary part. A complex-conjugate pair therefore appears as
//! `(re + i·im, re − i·im)` with the positive imaginary part first. Symmetric spectra and singular
//! values are sorted in descending order.

use std::cmp::Ordering;

use eigenformer_linalg::LinalgError;
use faer::Side;
use ndarray::{Array2, ArrayView2};
use num_complex::Complex64;

use crate::error::{Result, SpectralError};
use crate::validate::{check_matrix, check_square};

/// The faer ⇄ ndarray copies, shared with `eigenformer-tensor` through `eigenformer-linalg`.
pub use eigenformer_linalg::{from_faer, to_faer};

/// Maps an error of the shared linear algebra into this crate's error, with this crate's wording.
fn from_linalg(e: LinalgError) -> SpectralError {
    match e {
        LinalgError::Shape { arg, got, expected } => SpectralError::Shape { arg, got, expected },
        LinalgError::NonFinite { arg, index } => SpectralError::NonFinite { arg, index },
        LinalgError::Singular { rcond } => SpectralError::Singular { arg: "a", rcond },
        // Only `eigenformer_linalg::solve_residual_checked` reports these, and this crate uses the
        // pivot-ratio test instead; should that change, they still say that `a` is singular.
        LinalgError::NonFiniteSolution | LinalgError::LargeResidual { .. } => {
            SpectralError::Singular {
                arg: "a",
                rcond: f64::NAN,
            }
        }
    }
}

/// The crate's total order on eigenvalues: descending modulus, then descending real part, then
/// descending imaginary part (use with `sort_by`).
pub fn spectral_order(a: &Complex64, b: &Complex64) -> Ordering {
    modulus(b)
        .total_cmp(&modulus(a))
        .then_with(|| b.re.total_cmp(&a.re))
        .then_with(|| b.im.total_cmp(&a.im))
}

/// `|z|` as `√(re² + im²)`, with `hypot` only where the squares would overflow or underflow:
/// sorting the audit's many small spectra spent much of its time in `hypot`'s care.
pub fn modulus(z: &Complex64) -> f64 {
    let squared = z.re * z.re + z.im * z.im;
    if squared.is_finite() && squared >= f64::MIN_POSITIVE {
        squared.sqrt()
    } else {
        z.norm()
    }
}

/// Sorts eigenvalues in place by [`spectral_order`].
pub fn sort_spectrum(values: &mut [Complex64]) {
    values.sort_by(spectral_order);
}

/// Eigenvalues of a general real square matrix, sorted by [`spectral_order`].
///
/// Up to [`crate::hessenberg_qr::SMALL_EIGEN_MAX`] rows through [`crate::hessenberg_qr`] (faer
/// should it not converge), above that through faer.
pub fn eigenvalues(a: ArrayView2<'_, f64>) -> Result<Vec<Complex64>> {
    let n = check_square("a", a)?;
    if n <= crate::hessenberg_qr::SMALL_EIGEN_MAX {
        if let Some(mut values) = crate::hessenberg_qr::small_eigenvalues(a) {
            sort_spectrum(&mut values);
            return Ok(values);
        }
    }
    let mut values = to_faer(a)
        .eigenvalues()
        .map_err(|_| SpectralError::NoConvergence {
            what: "eigenvalue decomposition",
        })?;
    sort_spectrum(&mut values);
    Ok(values)
}

/// Eigendecomposition `A V = V diag(values)` of a general real matrix.
#[derive(Debug, Clone)]
pub struct Eigen {
    /// Eigenvalues sorted by [`spectral_order`].
    pub values: Vec<Complex64>,
    /// Right eigenvectors as columns (same order as `values`), as returned by faer (unit 2-norm).
    pub vectors: Array2<Complex64>,
}

/// Eigenvalues and right eigenvectors of a general real square matrix.
pub fn eigen(a: ArrayView2<'_, f64>) -> Result<Eigen> {
    let n = check_square("a", a)?;
    let evd = to_faer(a)
        .eigen()
        .map_err(|_| SpectralError::NoConvergence {
            what: "eigendecomposition",
        })?;
    let s = evd.S();
    let u = evd.U();
    let raw: Vec<Complex64> = (0..n).map(|i| s[i]).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| spectral_order(&raw[i], &raw[j]));
    let values = order.iter().map(|&k| raw[k]).collect();
    let vectors = Array2::from_shape_fn((n, n), |(i, j)| u[(i, order[j])]);
    Ok(Eigen { values, vectors })
}

/// Symmetric eigendecomposition `A = Q diag(values) Qᵀ`.
#[derive(Debug, Clone)]
pub struct SymmetricEigen {
    /// Eigenvalues in descending order.
    pub values: Vec<f64>,
    /// Orthonormal eigenvectors as columns, same order as `values`.
    pub vectors: Array2<f64>,
}

/// Relative tolerance for the symmetry check of [`symmetric_eigen`].
const SYMMETRY_RTOL: f64 = 1e-10;

fn check_symmetric(arg: &'static str, a: ArrayView2<'_, f64>) -> Result<usize> {
    let n = check_square(arg, a)?;
    let scale = a
        .iter()
        .fold(0.0_f64, |m, v| m.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    let mut max_asym = 0.0_f64;
    for i in 0..n {
        for j in 0..i {
            max_asym = max_asym.max((a[[i, j]] - a[[j, i]]).abs());
        }
    }
    if max_asym > SYMMETRY_RTOL * scale {
        return Err(SpectralError::NotSymmetric {
            arg,
            max_asymmetry: max_asym,
        });
    }
    Ok(n)
}

/// Eigendecomposition of a symmetric matrix (checked to be symmetric to `1e-10` relative).
pub fn symmetric_eigen(a: ArrayView2<'_, f64>) -> Result<SymmetricEigen> {
    let n = check_symmetric("a", a)?;
    let evd =
        to_faer(a)
            .self_adjoint_eigen(Side::Lower)
            .map_err(|_| SpectralError::NoConvergence {
                what: "symmetric eigendecomposition",
            })?;
    let s = evd.S();
    let u = evd.U();
    // faer returns ascending order: reverse it.
    let values = (0..n).rev().map(|i| s[i]).collect();
    let vectors = Array2::from_shape_fn((n, n), |(i, j)| u[(i, n - 1 - j)]);
    Ok(SymmetricEigen { values, vectors })
}

/// Eigenvalues of a symmetric matrix in descending order.
pub fn symmetric_eigenvalues(a: ArrayView2<'_, f64>) -> Result<Vec<f64>> {
    check_symmetric("a", a)?;
    let mut v = to_faer(a)
        .self_adjoint_eigenvalues(Side::Lower)
        .map_err(|_| SpectralError::NoConvergence {
            what: "symmetric eigenvalues",
        })?;
    v.reverse();
    Ok(v)
}

/// Singular values of any real matrix, descending.
pub fn singular_values(a: ArrayView2<'_, f64>) -> Result<Vec<f64>> {
    check_matrix("a", a)?;
    to_faer(a)
        .singular_values()
        .map_err(|_| SpectralError::NoConvergence {
            what: "singular value decomposition",
        })
}

/// Thin singular value decomposition `A = U diag(s) Vᵀ`.
#[derive(Debug, Clone)]
pub struct Svd {
    /// Left singular vectors, `m × k` with `k = min(m, n)`.
    pub u: Array2<f64>,
    /// Singular values, descending, length `k`.
    pub s: Vec<f64>,
    /// Right singular vectors transposed, `k × n`.
    pub vt: Array2<f64>,
}

/// Thin SVD of any real matrix.
pub fn svd(a: ArrayView2<'_, f64>) -> Result<Svd> {
    check_matrix("a", a)?;
    let f = to_faer(a)
        .thin_svd()
        .map_err(|_| SpectralError::NoConvergence {
            what: "singular value decomposition",
        })?;
    let k = a.nrows().min(a.ncols());
    let s = f.S();
    Ok(Svd {
        u: from_faer(f.U()),
        s: (0..k).map(|i| s[i]).collect(),
        vt: from_faer(f.V().transpose()),
    })
}

/// Thin QR decomposition `A = Q R` of an `m × k` matrix (`m ≥ k`) with the sign convention
/// `diag(R) ≥ 0`.
///
/// Why the sign fix: Householder QR determines each column of Q only up to sign; flipping it so
/// that `R_ii ≥ 0` makes `A ↦ Q` a continuous (indeed smooth, for full-rank A) function, which the
/// spectral reparameterisation (theory.md §5) needs so that training does not see sign jumps.
/// Returns `(Q, R)` with `Q` `m × k` having orthonormal columns and `R` `k × k` upper triangular.
///
/// This is [`eigenformer_linalg::qr_sign_fixed`], the same factorisation as the differentiable
/// `Tensor::qr`, with this crate's input checks (non-empty, finite) and errors.
pub fn qr_sign_fixed(a: ArrayView2<'_, f64>) -> Result<(Array2<f64>, Array2<f64>)> {
    check_matrix("a", a)?;
    eigenformer_linalg::qr_sign_fixed(a).map_err(from_linalg)
}

/// Solves `A X = B` for square invertible `A` (LU with partial pivoting).
///
/// Returns [`SpectralError::Singular`] when `min|U_ii| / max|U_ii| < 1e-14`, i.e. when the solution
/// would be dominated by rounding error.
///
/// This is [`eigenformer_linalg::solve`] with this crate's input checks (non-empty, finite) and
/// errors.
pub fn solve(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
    check_square("a", a)?;
    check_matrix("b", b)?;
    eigenformer_linalg::solve(a, b).map_err(from_linalg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn eigenvalues_of_rotation_are_ordered_conjugates() {
        let a = array![[0.0, -2.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.5]];
        let v = eigenvalues(a.view()).unwrap();
        assert!((v[0] - Complex64::new(0.0, 2.0)).norm() < 1e-12);
        assert!((v[1] - Complex64::new(0.0, -2.0)).norm() < 1e-12);
        assert!((v[2] - Complex64::new(0.5, 0.0)).norm() < 1e-12);
    }

    #[test]
    fn eigen_vectors_satisfy_definition() {
        let a = array![[1.0, 2.0, 0.3], [-1.0, 0.5, 0.0], [0.2, 0.1, -0.7]];
        let e = eigen(a.view()).unwrap();
        let ac = a.mapv(|x| Complex64::new(x, 0.0));
        for k in 0..3 {
            let v = e.vectors.column(k);
            let av = ac.dot(&v);
            for i in 0..3 {
                assert!((av[i] - e.values[k] * v[i]).norm() < 1e-10);
            }
        }
    }

    #[test]
    fn symmetric_and_svd() {
        let a = array![[2.0, 1.0], [1.0, 2.0]];
        let e = symmetric_eigen(a.view()).unwrap();
        assert!((e.values[0] - 3.0).abs() < 1e-12 && (e.values[1] - 1.0).abs() < 1e-12);
        assert_eq!(symmetric_eigenvalues(a.view()).unwrap().len(), 2);
        let ns = array![[1.0, 2.0], [0.0, 1.0]];
        assert!(matches!(
            symmetric_eigen(ns.view()),
            Err(SpectralError::NotSymmetric { .. })
        ));
        let b = array![[3.0, 0.0, 0.0], [0.0, -4.0, 0.0]];
        let s = singular_values(b.view()).unwrap();
        assert!((s[0] - 4.0).abs() < 1e-12 && (s[1] - 3.0).abs() < 1e-12);
        let f = svd(b.view()).unwrap();
        let rec =
            f.u.dot(&Array2::from_diag(&ndarray::Array1::from(f.s.clone())))
                .dot(&f.vt);
        assert!((rec - &b).iter().all(|x| x.abs() < 1e-12));
    }

    #[test]
    fn qr_is_sign_fixed_and_reconstructs() {
        let a = array![[-1.0, 2.0], [0.5, -3.0], [2.0, 1.0]];
        let (q, r) = qr_sign_fixed(a.view()).unwrap();
        assert_eq!(q.dim(), (3, 2));
        assert!(r[[0, 0]] > 0.0 && r[[1, 1]] > 0.0 && r[[1, 0]] == 0.0);
        assert!((q.dot(&r) - &a).iter().all(|x| x.abs() < 1e-12));
        let qtq = q.t().dot(&q);
        assert!((qtq - Array2::<f64>::eye(2))
            .iter()
            .all(|x| x.abs() < 1e-12));
    }

    #[test]
    fn solve_and_singular() {
        let a = array![[2.0, 1.0], [1.0, 3.0]];
        let b = array![[1.0], [2.0]];
        let x = solve(a.view(), b.view()).unwrap();
        assert!((a.dot(&x) - &b).iter().all(|v| v.abs() < 1e-12));
        let s = array![[1.0, 2.0], [2.0, 4.0]];
        assert!(matches!(
            solve(s.view(), b.view()),
            Err(SpectralError::Singular { arg: "a", .. })
        ));
    }

    /// The errors (kinds and messages) this crate reported before the QR and solve moved to
    /// `eigenformer-linalg`.
    #[test]
    fn qr_and_solve_errors_keep_their_messages() {
        let wide = Array2::<f64>::zeros((2, 3));
        assert_eq!(
            qr_sign_fixed(wide.view()).unwrap_err().to_string(),
            "argument `a` has shape [2, 3], expected at least as many rows as columns"
        );
        let empty = Array2::<f64>::zeros((3, 0));
        assert_eq!(
            qr_sign_fixed(empty.view()).unwrap_err().to_string(),
            "argument `a` has shape [3, 0], expected a non-empty matrix"
        );
        let nan = array![[1.0, 0.0], [f64::NAN, 1.0], [0.0, 0.0]];
        assert_eq!(
            qr_sign_fixed(nan.view()).unwrap_err().to_string(),
            "argument `a` contains a non-finite value at index [1, 0]"
        );
        let a = Array2::<f64>::eye(3);
        let b = Array2::<f64>::ones((2, 1));
        assert_eq!(
            solve(a.view(), b.view()).unwrap_err().to_string(),
            "argument `b` has shape [2, 1], expected 3 rows to match `a`"
        );
        assert_eq!(
            solve(wide.view(), b.view()).unwrap_err().to_string(),
            "argument `a` has shape [2, 3], expected a non-empty square matrix"
        );
        let mut b3 = Array2::<f64>::ones((3, 1));
        b3[[2, 0]] = f64::INFINITY;
        assert_eq!(
            solve(a.view(), b3.view()).unwrap_err().to_string(),
            "argument `b` contains a non-finite value at index [2, 0]"
        );
        let zero = Array2::<f64>::zeros((3, 3));
        assert_eq!(
            solve(zero.view(), Array2::<f64>::ones((3, 1)).view())
                .unwrap_err()
                .to_string(),
            "matrix `a` is numerically singular (reciprocal pivot ratio 0e0)"
        );
    }
}
