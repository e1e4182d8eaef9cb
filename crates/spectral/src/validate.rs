//! Input validation shared by the analysis functions.
//!
//! The checks are cheap (one pass over the data) compared with any decomposition, so every public
//! entry point runs them and returns a typed [`SpectralError`] rather than letting faer panic on a
//! shape mismatch or silently propagating NaN.

use ndarray::{ArrayView1, ArrayView2};

use crate::error::{Result, SpectralError};

/// Default tolerance of [`check_row_stochastic`] used by the analysis entry points: attention
/// matrices read from `f32` checkpoints have row sums within about `1e-6` of 1.
pub const DEFAULT_STOCHASTIC_TOL: f64 = 1e-5;

/// Fails unless every entry of the matrix is finite.
pub fn check_finite2(arg: &'static str, a: ArrayView2<'_, f64>) -> Result<()> {
    // The common case in one branch-free pass (the audit checks every measured matrix); the
    // indexed search only to name the first bad entry.
    if all_finite(a.iter()) {
        return Ok(());
    }
    match a.indexed_iter().find(|(_, v)| !v.is_finite()) {
        Some(((i, j), _)) => Err(SpectralError::NonFinite {
            arg,
            index: vec![i, j],
        }),
        None => Ok(()),
    }
}

/// Fails unless every entry of the vector is finite.
pub fn check_finite1(arg: &'static str, a: ArrayView1<'_, f64>) -> Result<()> {
    if all_finite(a.iter()) {
        return Ok(());
    }
    match a.indexed_iter().find(|(_, v)| !v.is_finite()) {
        Some((i, _)) => Err(SpectralError::NonFinite {
            arg,
            index: vec![i],
        }),
        None => Ok(()),
    }
}

/// Whether every value is finite, without an early exit (so the loop vectorises).
fn all_finite<'a>(values: impl Iterator<Item = &'a f64>) -> bool {
    values.fold(true, |ok, v| ok & v.is_finite())
}

/// Fails unless every entry of the slice is finite.
pub fn check_finite_slice(arg: &'static str, a: &[f64]) -> Result<()> {
    check_finite1(arg, ArrayView1::from(a))
}

/// Fails unless the matrix is square, non-empty and finite.
pub fn check_square(arg: &'static str, a: ArrayView2<'_, f64>) -> Result<usize> {
    let (r, c) = a.dim();
    if r != c || r == 0 {
        return Err(SpectralError::Shape {
            arg,
            got: vec![r, c],
            expected: "a non-empty square matrix".into(),
        });
    }
    check_finite2(arg, a)?;
    Ok(r)
}

/// Fails unless the matrix is non-empty and finite; returns its shape.
pub fn check_matrix(arg: &'static str, a: ArrayView2<'_, f64>) -> Result<(usize, usize)> {
    let (r, c) = a.dim();
    if r == 0 || c == 0 {
        return Err(SpectralError::Shape {
            arg,
            got: vec![r, c],
            expected: "a non-empty matrix".into(),
        });
    }
    check_finite2(arg, a)?;
    Ok((r, c))
}

/// Checks that `a` is a valid attention matrix: square, finite, entries `≥ −tol` and every row sum
/// within `tol` of 1.
///
/// Why it matters: the DC-mode analysis (theory.md C2) relies on `A 1 = 1`; for a matrix that is not
/// row-stochastic the eigenvalue 1 and the constant eigenvector need not exist, and the regime
/// classification would be meaningless. The error reports the largest row-sum deviation so the user
/// can tell a rounding problem from a wrong input (e.g. a transposed or un-normalised score matrix).
pub fn check_row_stochastic(a: ArrayView2<'_, f64>, tol: f64) -> Result<()> {
    check_row_stochastic_named("a", a, tol)
}

/// [`check_row_stochastic`] with the argument name used in the error.
pub fn check_row_stochastic_named(
    arg: &'static str,
    a: ArrayView2<'_, f64>,
    tol: f64,
) -> Result<()> {
    if !(tol.is_finite() && tol >= 0.0) {
        return Err(SpectralError::InvalidParameter {
            name: "tol",
            reason: format!("must be finite and non-negative, got {tol}"),
        });
    }
    check_square(arg, a)?;
    let max_dev = a
        .rows()
        .into_iter()
        .map(|r| (r.sum() - 1.0).abs())
        .fold(0.0_f64, f64::max);
    let min_entry = a.iter().copied().fold(f64::INFINITY, f64::min);
    if max_dev > tol || min_entry < -tol {
        return Err(SpectralError::NotRowStochastic {
            arg,
            max_row_sum_deviation: max_dev,
            min_entry,
            tol,
        });
    }
    Ok(())
}

/// Checks that `a` is square, finite and lower-triangular: every entry above the diagonal is
/// exactly 0, as a causal mask makes it (masked softmax scores give `exp(−∞) = 0`).
///
/// Why exactly 0: only then is the spectrum exactly the diagonal (theory.md, causal attention),
/// which [`crate::spectrum::causal_attention_spectrum`] reads off without an eigendecomposition. A
/// matrix with small nonzero entries above the diagonal is not causal; analyse it with
/// [`crate::spectrum::attention_spectrum`].
pub fn check_lower_triangular(arg: &'static str, a: ArrayView2<'_, f64>) -> Result<usize> {
    let n = check_square(arg, a)?;
    for i in 0..n {
        for j in (i + 1)..n {
            let value = a[[i, j]];
            if value != 0.0 {
                return Err(SpectralError::NotLowerTriangular {
                    arg,
                    index: vec![i, j],
                    value,
                });
            }
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn row_stochastic_accepts_and_rejects() {
        let a = array![[0.5, 0.5], [0.2, 0.8]];
        assert!(check_row_stochastic(a.view(), 1e-12).is_ok());
        let b = array![[0.5, 0.6], [0.2, 0.8]];
        match check_row_stochastic(b.view(), 1e-6) {
            Err(SpectralError::NotRowStochastic {
                max_row_sum_deviation,
                ..
            }) => {
                assert!((max_row_sum_deviation - 0.1).abs() < 1e-12)
            }
            other => panic!("unexpected {other:?}"),
        }
        let c = array![[1.5, -0.5], [0.0, 1.0]];
        assert!(check_row_stochastic(c.view(), 1e-6).is_err());
    }

    #[test]
    fn lower_triangular_accepts_and_rejects() {
        let l = array![[1.0, 0.0], [0.3, 0.7]];
        assert_eq!(check_lower_triangular("a", l.view()).unwrap(), 2);
        let u = array![[1.0, 1e-300], [0.3, 0.7]];
        match check_lower_triangular("a", u.view()) {
            Err(SpectralError::NotLowerTriangular { index, value, .. }) => {
                assert_eq!(index, vec![0, 1]);
                assert_eq!(value, 1e-300);
            }
            other => panic!("unexpected {other:?}"),
        }
        let r = ndarray::Array2::<f64>::zeros((2, 3));
        assert!(matches!(
            check_lower_triangular("a", r.view()),
            Err(SpectralError::Shape { .. })
        ));
    }

    #[test]
    fn shape_and_finiteness() {
        let a = ndarray::Array2::<f64>::zeros((2, 3));
        assert!(matches!(
            check_square("a", a.view()),
            Err(SpectralError::Shape { .. })
        ));
        let b = array![[1.0, f64::NAN], [0.0, 1.0]];
        match check_square("b", b.view()) {
            Err(SpectralError::NonFinite { index, .. }) => assert_eq!(index, vec![0, 1]),
            other => panic!("unexpected {other:?}"),
        }
    }
}
