//! The sign-fixed thin QR decomposition.

use ndarray::{Array2, ArrayView2};

use crate::convert::{from_faer, to_faer};
use crate::error::{LinalgError, Result};
use crate::validate::check_finite;

/// Thin QR decomposition `A = Q R` of an `m × k` matrix (`m ≥ k`) with the sign convention
/// `diag(R) ≥ 0`.
///
/// Returns `(Q, R)`: `Q` is `m × k` with orthonormal columns, `R` is `k × k` upper triangular (its
/// strict lower triangle is exactly zero).
///
/// Why the sign fix: Householder QR determines each column of Q only up to sign, and the sign it
/// picks follows the sign of a leading entry, so it jumps when that entry crosses zero. Flipping
/// column `i` of Q together with row `i` of R whenever `R_ii < 0` gives the one factorisation with
/// `diag(R) > 0` (for full column rank), which is a smooth function of A. The spectral
/// reparameterisation (theory.md §5) needs that: Q is a trained parameterisation, and both its value
/// and its gradient must not jump between steps. It also makes the tensor crate's differentiable QR
/// and the spectral crate's reference QR agree column for column.
///
/// Rank-deficient input is not refused: a zero `R_ii` is left as it is and Q is then still
/// orthonormal but no longer unique. Callers that divide by `R_ii` (the QR backward) check for it.
///
/// # Errors
///
/// [`LinalgError::Shape`] if `m < k`, [`LinalgError::NonFinite`] if `A` has a NaN or ±∞ entry.
pub fn qr_sign_fixed(a: ArrayView2<'_, f64>) -> Result<(Array2<f64>, Array2<f64>)> {
    let (m, k) = a.dim();
    if m < k {
        return Err(LinalgError::Shape {
            arg: "a",
            got: vec![m, k],
            expected: "at least as many rows as columns".into(),
        });
    }
    check_finite("a", a)?;
    let f = to_faer(a).qr();
    let mut q = from_faer(f.compute_thin_Q().as_ref());
    // For m ≥ k, faer's thin R is k × k and built from zeros below the diagonal.
    let mut r = from_faer(f.thin_R());
    for i in 0..k {
        if r[[i, i]] < 0.0 {
            r.row_mut(i).mapv_inplace(|v| -v);
            q.column_mut(i).mapv_inplace(|v| -v);
        }
    }
    Ok((q, r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    fn max_abs(a: &Array2<f64>) -> f64 {
        a.iter().fold(0.0_f64, |m, v| m.max(v.abs()))
    }

    /// A reproducible, well-conditioned test matrix without pulling in a random number crate.
    fn test_matrix(m: usize, k: usize) -> Array2<f64> {
        Array2::from_shape_fn((m, k), |(i, j)| {
            let x = ((i * 7 + j * 13 + 3) % 17) as f64 / 17.0 - 0.5;
            x + if i == j { 2.0 } else { 0.0 }
        })
    }

    fn assert_valid_qr(a: &Array2<f64>, q: &Array2<f64>, r: &Array2<f64>) {
        let (m, k) = a.dim();
        assert_eq!(q.dim(), (m, k));
        assert_eq!(r.dim(), (k, k));
        assert!(
            max_abs(&(q.dot(r) - a)) < 1e-12 * max_abs(a).max(1.0),
            "Q R ≠ A"
        );
        assert!(
            max_abs(&(q.t().dot(q) - Array2::<f64>::eye(k))) < 1e-12,
            "QᵀQ ≠ I"
        );
        for i in 0..k {
            assert!(r[[i, i]] >= 0.0, "R[{i},{i}] = {} < 0", r[[i, i]]);
            for j in 0..i {
                assert_eq!(r[[i, j]], 0.0, "R[{i},{j}] below the diagonal");
            }
        }
    }

    #[test]
    fn reconstructs_orthonormal_nonnegative_diagonal() {
        let a = array![[-1.0, 2.0], [0.5, -3.0], [2.0, 1.0]];
        let (q, r) = qr_sign_fixed(a.view()).unwrap();
        assert_valid_qr(&a, &q, &r);
        assert!(r[[0, 0]] > 0.0 && r[[1, 1]] > 0.0);
        for (m, k) in [(1, 1), (4, 4), (9, 3), (12, 7)] {
            let a = test_matrix(m, k);
            let (q, r) = qr_sign_fixed(a.view()).unwrap();
            assert_valid_qr(&a, &q, &r);
        }
    }

    #[test]
    fn reads_transposed_and_sliced_views() {
        let a = test_matrix(4, 6);
        let (q, r) = qr_sign_fixed(a.t()).unwrap();
        assert_valid_qr(&a.t().to_owned(), &q, &r);
        let s = a.slice(ndarray::s![.., ..;2]).to_owned();
        let (q, r) = qr_sign_fixed(a.slice(ndarray::s![.., ..;2])).unwrap();
        assert_valid_qr(&s, &q, &r);
    }

    /// Householder picks R₀₀ = −sign(a₀₀)·‖a₀‖, so its raw sign flips when a₀₀ crosses zero; the
    /// sign-fixed factors must not.
    #[test]
    fn continuous_when_a_leading_entry_changes_sign() {
        let at = |t: f64| {
            array![
                [t, 1.0, 0.5],
                [1.0, 2.0, -1.0],
                [1.0, 0.0, 3.0],
                [0.5, -1.0, 1.0]
            ]
        };
        // The raw factorisation does jump here (otherwise this test would test nothing).
        let raw_r00 = |t: f64| to_faer(at(t).view()).qr().thin_R()[(0, 0)];
        assert!(
            raw_r00(-1e-9) * raw_r00(1e-9) < 0.0,
            "faer's sign convention changed"
        );
        let (qm, rm) = qr_sign_fixed(at(-1e-9).view()).unwrap();
        let (qp, rp) = qr_sign_fixed(at(1e-9).view()).unwrap();
        assert!(
            max_abs(&(&qp - &qm)) < 1e-8,
            "Q jumps: {}",
            max_abs(&(&qp - &qm))
        );
        assert!(
            max_abs(&(&rp - &rm)) < 1e-8,
            "R jumps: {}",
            max_abs(&(&rp - &rm))
        );
    }

    /// `A D = (Q D)(D R D)` for `D = diag(±1)`, and `D R D` still has a non-negative diagonal, so by
    /// uniqueness flipping the sign of a column of A flips the same column of Q and nothing else.
    #[test]
    fn flipping_a_column_of_a_flips_that_column_of_q() {
        let a = test_matrix(6, 3);
        let (q, r) = qr_sign_fixed(a.view()).unwrap();
        let mut b = a.clone();
        b.column_mut(1).mapv_inplace(|v| -v);
        let (qb, rb) = qr_sign_fixed(b.view()).unwrap();
        let d = Array2::from_diag(&ndarray::arr1(&[1.0, -1.0, 1.0]));
        assert!(max_abs(&(qb - q.dot(&d))) < 1e-12);
        assert!(max_abs(&(rb - d.dot(&r).dot(&d))) < 1e-12);
    }

    #[test]
    fn rank_deficient_input_keeps_a_valid_factorisation() {
        let a = array![[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]];
        let (q, r) = qr_sign_fixed(a.view()).unwrap();
        assert!(max_abs(&(q.dot(&r) - &a)) < 1e-12);
        assert!(max_abs(&(q.t().dot(&q) - Array2::<f64>::eye(2))) < 1e-12);
        assert!(r[[1, 1]].abs() < 1e-12);
    }

    #[test]
    fn empty_input() {
        let a = Array2::<f64>::zeros((3, 0));
        let (q, r) = qr_sign_fixed(a.view()).unwrap();
        assert_eq!((q.dim(), r.dim()), ((3, 0), (0, 0)));
    }

    #[test]
    fn wide_and_non_finite_input_are_refused() {
        let wide = Array2::<f64>::zeros((2, 3));
        assert_eq!(
            qr_sign_fixed(wide.view()).unwrap_err(),
            LinalgError::Shape {
                arg: "a",
                got: vec![2, 3],
                expected: "at least as many rows as columns".into()
            }
        );
        let nan = array![[1.0, 0.0], [0.0, f64::NAN], [1.0, 1.0]];
        assert_eq!(
            qr_sign_fixed(nan.view()).unwrap_err(),
            LinalgError::NonFinite {
                arg: "a",
                index: vec![1, 1]
            }
        );
    }
}
