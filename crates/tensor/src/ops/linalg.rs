//! Differentiable linear algebra for the spectral reparameterisation (theory.md §5): a sign-fixed
//! thin QR and a linear solve. Both factorise in f64 through `eigenformer-linalg` (the same
//! factorisations as the spectral crate's reference code) and return f32 tensors; the small
//! matrices involved (d×d per head) make the f64 detour cheap and keep the orthogonality of Q tight.
//! The backward passes live here.

use crate::error::{Result, TensorError};
use crate::tensor::Tensor;
use eigenformer_linalg::{self as la, LinalgError};
use ndarray::{Array2, ArrayD, Ix2};

/// The f64 copy of a 2-D f32 array that the factorisations work on (exact: f32 ⊂ f64).
fn to_f64(a: &ArrayD<f32>) -> Array2<f64> {
    a.view()
        .into_dimensionality::<Ix2>()
        .expect("2-D checked")
        .mapv(f64::from)
}

/// Reports an error of the shared linear algebra as this crate's error for `op`.
fn linalg_error(op: &'static str, e: LinalgError) -> TensorError {
    match e {
        // The ops check the shapes themselves first, with their own wording.
        LinalgError::Shape { arg, got, expected } => TensorError::InvalidShape {
            op,
            shape: got,
            reason: format!("`{arg}`: expected {expected}"),
        },
        LinalgError::NonFinite { .. } => TensorError::Numerical {
            op,
            reason: "input has non-finite values".into(),
        },
        LinalgError::Singular { .. }
        | LinalgError::NonFiniteSolution
        | LinalgError::LargeResidual { .. } => TensorError::Numerical {
            op,
            reason: e.to_string(),
        },
    }
}

fn to_f32(a: &Array2<f64>) -> ArrayD<f32> {
    a.mapv(|v| v as f32).into_dyn()
}

fn matrix_2d(op: &'static str, t: &Tensor) -> Result<(usize, usize)> {
    let s = t.shape();
    if s.len() != 2 {
        return Err(TensorError::InvalidShape {
            op,
            shape: s,
            reason: "expected a 2-D matrix".into(),
        });
    }
    Ok((s[0], s[1]))
}

/// `copyltu(M) = tril(M) + tril(M, −1)ᵀ`: the symmetric matrix with M's lower triangle.
fn copy_lower_to_upper(m: &Array2<f64>) -> Array2<f64> {
    Array2::from_shape_fn(m.dim(), |(i, j)| if i >= j { m[[i, j]] } else { m[[j, i]] })
}

/// Solve `X Rᵀ = B` for X, i.e. `X = B R⁻ᵀ`, with R upper triangular (forward substitution on rows).
fn right_solve_rt(b: &Array2<f64>, r: &Array2<f64>) -> Array2<f64> {
    let n = r.nrows();
    let mut x = b.clone();
    // X Rᵀ = B  <=>  R Xᵀ = Bᵀ: back substitution on each row of X.
    for mut row in x.rows_mut() {
        for i in (0..n).rev() {
            let mut s = row[i];
            for k in i + 1..n {
                s -= r[[i, k]] * row[k];
            }
            row[i] = s / r[[i, i]];
        }
    }
    x
}

impl Tensor {
    /// Thin QR of an m×n matrix (m ≥ n) with the sign fixed so that `diag(R) > 0`: the factorisation
    /// is then unique and continuous in the input, so gradients through Q and R exist (theory.md §5).
    pub fn qr(&self) -> Result<(Tensor, Tensor)> {
        let (m, n) = matrix_2d("qr", self)?;
        if m < n {
            return Err(TensorError::InvalidShape {
                op: "qr",
                shape: vec![m, n],
                reason: "needs at least as many rows as columns".into(),
            });
        }
        // Non-finite input is refused by the factorisation ("input has non-finite values").
        let (q, r) = la::qr_sign_fixed(to_f64(&self.to_array()).view())
            .map_err(|e| linalg_error("qr", e))?;
        // The backward divides by R_ii (`right_solve_rt`): refuse rank deficiency here.
        for i in 0..n {
            if r[[i, i]] == 0.0 {
                return Err(TensorError::Numerical {
                    op: "qr",
                    reason: format!("the input has rank below {n}: R[{i},{i}] = 0"),
                });
            }
        }
        // Both outputs differentiate A; the gradient is linear in (dQ, dR), so each output's node
        // contributes its own part and backward adds them up.
        let grad_a = move |q: &Array2<f64>, r: &Array2<f64>, dq: &Array2<f64>, dr: &Array2<f64>| {
            let m_mat = r.dot(&dr.t()) - dq.t().dot(q);
            let inner = dq + &q.dot(&copy_lower_to_upper(&m_mat));
            right_solve_rt(&inner, r)
        };
        let grad_a = std::sync::Arc::new(grad_a);
        let (q_saved, r_saved) = (q.clone(), r.clone());
        let g1 = grad_a.clone();
        let q_t = Tensor::from_op(to_f32(&q), "qr.q", vec![self.clone()], move |g, _| {
            let dq = g
                .view()
                .into_dimensionality::<Ix2>()
                .expect("2-D")
                .mapv(f64::from);
            let dr = Array2::zeros((n, n));
            Ok(vec![Some(to_f32(&g1(&q_saved, &r_saved, &dq, &dr)))])
        });
        let (q_saved, r_saved) = (q.clone(), r.clone());
        let r_t = Tensor::from_op(to_f32(&r), "qr.r", vec![self.clone()], move |g, _| {
            let dr = g
                .view()
                .into_dimensionality::<Ix2>()
                .expect("2-D")
                .mapv(f64::from);
            let dq = Array2::zeros((m, n));
            Ok(vec![Some(to_f32(&grad_a(&q_saved, &r_saved, &dq, &dr)))])
        });
        Ok((q_t, r_t))
    }

    /// `X = A⁻¹ B` for a square `A = self` (n×n) and `B` (n×k), by LU with partial pivoting.
    /// Gradients: `dB = A⁻ᵀ dX`, `dA = −dB Xᵀ`.
    pub fn solve(&self, b: &Tensor) -> Result<Tensor> {
        let (n, n2) = matrix_2d("solve", self)?;
        let (nb, k) = matrix_2d("solve", b)?;
        if n != n2 || nb != n {
            return Err(TensorError::ShapeMismatch {
                op: "solve",
                lhs: vec![n, n2],
                rhs: vec![nb, k],
                reason: "A must be square and B must have as many rows as A".into(),
            });
        }
        // The residual test, not the pivot ratio: see `eigenformer_linalg::solve_residual_checked`.
        let a = to_f64(&self.to_array());
        let bd = to_f64(&b.to_array());
        let x = la::solve_residual_checked(a.view(), bd.view())
            .map_err(|e| linalg_error("solve", e))?;
        let x_saved = x.clone();
        Ok(Tensor::from_op(
            to_f32(&x),
            "solve",
            vec![self.clone(), b.clone()],
            move |g, needs| {
                let g64 = g
                    .view()
                    .into_dimensionality::<Ix2>()
                    .expect("2-D")
                    .mapv(f64::from);
                let db = la::solve_residual_checked(a.t(), g64.view())
                    .map_err(|e| linalg_error("solve", e))?;
                let da = needs[0].then(|| to_f32(&(-db.dot(&x_saved.t()))));
                let dbf = needs[1].then(|| to_f32(&db));
                Ok(vec![da, dbf])
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn qr_reconstructs_with_positive_diagonal() {
        let a = Tensor::from_array(array![[2.0f32, -1.0], [1.0, 3.0], [-2.0, 0.5]].into_dyn());
        let (q, r) = a.qr().unwrap();
        let back = q.matmul(&r).unwrap().to_vec();
        for (x, y) in back.iter().zip(a.to_vec()) {
            assert!((x - y).abs() < 1e-5);
        }
        let r = r.to_array();
        assert!(r[[0, 0]] > 0.0 && r[[1, 1]] > 0.0 && r[[1, 0]] == 0.0);
    }

    #[test]
    fn solve_and_singular_error() {
        let a = Tensor::from_array(array![[3.0f32, 1.0], [1.0, 2.0]].into_dyn());
        let b = Tensor::from_array(array![[9.0f32], [8.0]].into_dyn());
        let x = a.solve(&b).unwrap().to_vec();
        assert!((x[0] - 2.0).abs() < 1e-5 && (x[1] - 3.0).abs() < 1e-5);
        let s = Tensor::from_array(array![[1.0f32, 2.0], [2.0, 4.0]].into_dyn());
        let err = s.solve(&b).unwrap_err().to_string();
        assert!(err.contains("singular"), "{err}");
    }

    /// The errors (kinds and messages) these ops reported before the factorisations moved to
    /// `eigenformer-linalg`.
    #[test]
    fn errors_keep_their_messages() {
        let b = Tensor::from_array(array![[1.0f32], [1.0]].into_dyn());
        let s = Tensor::from_array(array![[1.0f32, 2.0], [2.0, 4.0]].into_dyn());
        assert_eq!(
            s.solve(&b).unwrap_err().to_string(),
            "solve: numerical failure: the matrix is singular (the solution is not finite)"
        );
        let nan = Tensor::from_array(array![[1.0f32, 0.0], [f32::NAN, 1.0]].into_dyn());
        assert_eq!(
            nan.qr().unwrap_err().to_string(),
            "qr: numerical failure: input has non-finite values"
        );
        assert_eq!(
            s.qr().unwrap_err(),
            TensorError::Numerical {
                op: "qr",
                reason: "the input has rank below 2: R[1,1] = 0".into()
            }
        );
        let wide = Tensor::from_array(ndarray::Array2::<f32>::zeros((2, 3)).into_dyn());
        assert!(matches!(
            wide.qr(),
            Err(TensorError::InvalidShape { op: "qr", .. })
        ));
        assert!(matches!(
            wide.solve(&b),
            Err(TensorError::ShapeMismatch { op: "solve", .. })
        ));
    }

    /// `solve` judges the answer by its residual, so a badly scaled but well-determined system is
    /// solved (the pivot-ratio test of the spectral crate would refuse it).
    #[test]
    fn badly_scaled_system_is_solved() {
        let a = Tensor::from_array(array![[1.0f32, 0.0], [0.0, 1e-15]].into_dyn());
        let b = Tensor::from_array(array![[2.0f32], [3e-15]].into_dyn());
        let x = a.solve(&b).unwrap().to_vec();
        assert!(
            (x[0] - 2.0).abs() < 1e-6 && (x[1] - 3.0).abs() < 1e-5,
            "{x:?}"
        );
    }
}
