//! Linear solves `A X = B` by LU with partial pivoting, with a test that refuses a (numerically)
//! singular `A` instead of returning a meaningless `X`.
//!
//! Two tests exist because the two callers ask different questions:
//!
//! * [`solve`] (spectral analysis) tests *a priori* on the LU pivots: `min|U_ii| / max|U_ii|` below
//!   [`RCOND_MIN`] means the pivots span more than 14 decades, and the solution would be dominated
//!   by rounding error. It is cheap and refuses before solving.
//! * [`solve_residual_checked`] (the differentiable `Tensor::solve` and its backward) tests *a
//!   posteriori*: it accepts any finite `X` whose residual is small relative to the data. That also
//!   accepts a badly scaled but well-determined system such as `diag(1, 1e-15)`, which the pivot
//!   ratio would refuse; training can legitimately produce such matrices, and the optimiser should
//!   not fail on them.
//!
//! Both factorise and solve the same way, so where both accept, `X` is bit-for-bit the same.

use faer::linalg::solvers::Solve;
use ndarray::{Array2, ArrayView2};

use crate::convert::{from_faer, to_faer};
use crate::error::{LinalgError, Result};
use crate::validate::check_finite;

/// [`solve`] refuses `A` when `min|U_ii| / max|U_ii|` of its LU factorisation is below this.
pub const RCOND_MIN: f64 = 1e-14;

/// [`solve_residual_checked`] refuses `X` when `max|A X − B| > RESIDUAL_RTOL · (max|A|·max|X| +
/// max|B|)`: far above rounding (~1e-16 relative), far below a wrong answer.
pub const RESIDUAL_RTOL: f64 = 1e-6;

fn max_abs(a: ArrayView2<'_, f64>) -> f64 {
    a.iter().fold(0.0_f64, |m, v| m.max(v.abs()))
}

/// `a` square and `b` with as many rows: the shapes faer's LU solve needs (it panics otherwise).
fn check_system(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>, non_empty: bool) -> Result<usize> {
    let (n, c) = a.dim();
    if n != c || (non_empty && n == 0) {
        return Err(LinalgError::Shape {
            arg: "a",
            got: vec![n, c],
            expected: if non_empty {
                "a non-empty square matrix".into()
            } else {
                "a square matrix".into()
            },
        });
    }
    if b.nrows() != n {
        return Err(LinalgError::Shape {
            arg: "b",
            got: vec![b.nrows(), b.ncols()],
            expected: format!("{n} rows to match `a`"),
        });
    }
    Ok(n)
}

/// Solves `A X = B` for a square, non-empty, finite `A` (LU with partial pivoting), refusing a
/// numerically singular `A` by its pivot ratio.
///
/// # Errors
///
/// * [`LinalgError::Shape`] if `A` is not square or empty, or `B` has a different number of rows;
/// * [`LinalgError::NonFinite`] if `A` or `B` has a NaN or ±∞ entry;
/// * [`LinalgError::Singular`] when `min|U_ii| / max|U_ii| <` [`RCOND_MIN`] (or is NaN), i.e. when
///   the solution would be dominated by rounding error.
pub fn solve(a: ArrayView2<'_, f64>, b: ArrayView2<'_, f64>) -> Result<Array2<f64>> {
    let n = check_system(a, b, true)?;
    check_finite("a", a)?;
    check_finite("b", b)?;
    let lu = to_faer(a).partial_piv_lu();
    let u = lu.U();
    let (mut lo, mut hi) = (f64::INFINITY, 0.0_f64);
    for i in 0..n {
        let p = u[(i, i)].abs();
        lo = lo.min(p);
        hi = hi.max(p);
    }
    let rcond = if hi > 0.0 { lo / hi } else { 0.0 };
    if rcond.is_nan() || rcond < RCOND_MIN {
        return Err(LinalgError::Singular { rcond });
    }
    Ok(from_faer(lu.solve(to_faer(b).as_ref()).as_ref()))
}

/// Solves `A X = B` for a square `A` (LU with partial pivoting), refusing the answer when it is not
/// finite or does not satisfy the system to [`RESIDUAL_RTOL`] relative accuracy.
///
/// The inputs are not checked for NaN or ±∞ beforehand: such entries normally make `X` non-finite
/// and are reported as [`LinalgError::NonFiniteSolution`], which is what `Tensor::solve` has always
/// reported for them.
///
/// # Errors
///
/// * [`LinalgError::Shape`] if `A` is not square or `B` has a different number of rows;
/// * [`LinalgError::NonFiniteSolution`] if `X` has a NaN or ±∞ entry (exactly singular `A`);
/// * [`LinalgError::LargeResidual`] if `max|A X − B| > RESIDUAL_RTOL · (max|A|·max|X| + max|B|)`
///   (singular to working precision).
pub fn solve_residual_checked(
    a: ArrayView2<'_, f64>,
    b: ArrayView2<'_, f64>,
) -> Result<Array2<f64>> {
    check_system(a, b, false)?;
    let lu = to_faer(a).partial_piv_lu();
    let x = from_faer(lu.solve(to_faer(b).as_ref()).as_ref());
    if x.iter().any(|v| !v.is_finite()) {
        return Err(LinalgError::NonFiniteSolution);
    }
    // A nearly singular matrix gives a finite but meaningless answer: check the residual.
    let residual = max_abs((a.dot(&x) - b).view());
    let scale = max_abs(a) * max_abs(x.view()) + max_abs(b);
    if residual > RESIDUAL_RTOL * scale.max(f64::MIN_POSITIVE) {
        return Err(LinalgError::LargeResidual { residual });
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    fn test_system(n: usize, k: usize) -> (Array2<f64>, Array2<f64>) {
        let a = Array2::from_shape_fn((n, n), |(i, j)| {
            ((i * 5 + j * 11 + 1) % 13) as f64 / 13.0 - 0.5 + if i == j { 3.0 } else { 0.0 }
        });
        let b = Array2::from_shape_fn((n, k), |(i, j)| (i as f64 - j as f64) * 0.25 + 1.0);
        (a, b)
    }

    fn residual(a: &Array2<f64>, x: &Array2<f64>, b: &Array2<f64>) -> f64 {
        max_abs((a.dot(x) - b).view())
    }

    #[test]
    fn solutions_have_small_residuals() {
        let a = array![[2.0, 1.0], [1.0, 3.0]];
        let b = array![[1.0], [2.0]];
        let x = solve(a.view(), b.view()).unwrap();
        assert!(residual(&a, &x, &b) < 1e-12);
        for (n, k) in [(1, 1), (5, 2), (16, 16), (40, 3)] {
            let (a, b) = test_system(n, k);
            let x = solve(a.view(), b.view()).unwrap();
            assert_eq!(x.dim(), (n, k));
            assert!(residual(&a, &x, &b) < 1e-12, "{n}×{k}");
            // Both tests accept a well-conditioned system, with the same answer.
            assert_eq!(solve_residual_checked(a.view(), b.view()).unwrap(), x);
        }
    }

    #[test]
    fn reads_transposed_views() {
        let (a, b) = test_system(6, 2);
        let x = solve(a.t(), b.view()).unwrap();
        assert!(residual(&a.t().to_owned(), &x, &b) < 1e-12);
        let y = solve_residual_checked(a.t(), b.view()).unwrap();
        assert_eq!(x, y);
    }

    #[test]
    fn singular_matrix_is_refused() {
        let s = array![[1.0, 2.0], [2.0, 4.0]];
        let b = array![[1.0], [2.0]];
        match solve(s.view(), b.view()) {
            Err(LinalgError::Singular { rcond }) => assert!(rcond < RCOND_MIN),
            other => panic!("unexpected {other:?}"),
        }
        let zero = Array2::<f64>::zeros((3, 3));
        let b3 = Array2::<f64>::ones((3, 1));
        assert_eq!(
            solve(zero.view(), b3.view()),
            Err(LinalgError::Singular { rcond: 0.0 })
        );
        assert_eq!(
            solve_residual_checked(zero.view(), b3.view()),
            Err(LinalgError::NonFiniteSolution)
        );
        let err = solve_residual_checked(s.view(), b.view()).unwrap_err();
        assert!(
            matches!(
                err,
                LinalgError::NonFiniteSolution | LinalgError::LargeResidual { .. }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("singular"), "{err}");
    }

    /// Wilkinson's matrix (1 on the diagonal, −1 below it, 1 in the last column) is perfectly
    /// conditioned, yet partial pivoting grows its last column to 2ⁿ⁻¹: for n = 64 the rounding in
    /// X is far above the tolerance, and only the a-posteriori test notices.
    #[test]
    fn pivot_growth_is_caught_by_the_residual() {
        let n = 64;
        let a = Array2::from_shape_fn((n, n), |(i, j)| match () {
            _ if j == n - 1 || i == j => 1.0,
            _ if i > j => -1.0,
            _ => 0.0,
        });
        let b = Array2::from_shape_fn((n, 1), |(i, _)| ((i * 37) % 11) as f64 - 5.0);
        let err = solve_residual_checked(a.view(), b.view()).unwrap_err();
        assert!(matches!(err, LinalgError::LargeResidual { .. }), "{err:?}");
        assert!(err.to_string().contains("singular to working precision"));
    }

    /// The difference between the two tests: a badly scaled but exactly solvable system.
    #[test]
    fn badly_scaled_system_only_passes_the_residual_test() {
        let a = array![[1.0, 0.0], [0.0, 1e-15]];
        let b = array![[1.0], [1e-15]];
        assert!(matches!(
            solve(a.view(), b.view()),
            Err(LinalgError::Singular { .. })
        ));
        let x = solve_residual_checked(a.view(), b.view()).unwrap();
        assert!((x[[0, 0]] - 1.0).abs() < 1e-12 && (x[[1, 0]] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn shape_errors() {
        let (a, b) = test_system(3, 2);
        let rect = Array2::<f64>::zeros((2, 3));
        for f in [solve, solve_residual_checked] {
            assert!(matches!(
                f(rect.view(), b.view()),
                Err(LinalgError::Shape { arg: "a", ref got, .. }) if got == &vec![2, 3]
            ));
            assert_eq!(
                f(a.view(), b.slice(ndarray::s![..2, ..])),
                Err(LinalgError::Shape {
                    arg: "b",
                    got: vec![2, 2],
                    expected: "3 rows to match `a`".into()
                })
            );
        }
        let empty = Array2::<f64>::zeros((0, 0));
        let b0 = Array2::<f64>::zeros((0, 1));
        assert!(matches!(
            solve(empty.view(), b0.view()),
            Err(LinalgError::Shape { arg: "a", .. })
        ));
        assert_eq!(
            solve_residual_checked(empty.view(), b0.view())
                .unwrap()
                .dim(),
            (0, 1)
        );
    }

    #[test]
    fn non_finite_input() {
        let (a, b) = test_system(3, 1);
        let mut bad = b.clone();
        bad[[2, 0]] = f64::INFINITY;
        assert_eq!(
            solve(a.view(), bad.view()),
            Err(LinalgError::NonFinite {
                arg: "b",
                index: vec![2, 0]
            })
        );
        assert_eq!(
            solve_residual_checked(a.view(), bad.view()),
            Err(LinalgError::NonFiniteSolution)
        );
        let mut bad = a.clone();
        bad[[0, 1]] = f64::NAN;
        assert_eq!(
            solve(bad.view(), b.view()),
            Err(LinalgError::NonFinite {
                arg: "a",
                index: vec![0, 1]
            })
        );
    }
}
