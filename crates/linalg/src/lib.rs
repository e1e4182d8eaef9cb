//! # eigenformer-linalg
//!
//! The dense `f64` linear algebra that both the autodiff tensors and the spectral analysis need, in
//! one place: faer ⇄ ndarray conversions, a sign-fixed thin QR and two checked linear solves.
//!
//! Why a crate of its own: `eigenformer-tensor` (the differentiable QR and solve of the spectral
//! reparameterisation, theory.md §5) and `eigenformer-spectral` (the reference construction and the
//! analysis) must factorise matrices the same way, or a model trained with one and analysed with the
//! other would disagree in the last bits, or worse, in the sign of a column of Q. Neither of them may
//! depend on the other, so the shared code sits below both.
//!
//! Everything is `f64` with `ndarray` in and out; faer does the factorisations. The matrices in this
//! project are small (d×d per head, d ≤ a few hundred), so the copies at the boundary are cheap next
//! to the factorisations.
//!
//! **Layering:** the bottom layer. It depends on faer, ndarray and thiserror only, on none of the
//! other `eigenformer-*` crates.
//!
//! Errors are a small [`LinalgError`]; each caller maps it into its own error type (`TensorError`,
//! `SpectralError`) so that their messages stay theirs.
//!
//! ```
//! use eigenformer_linalg::{qr_sign_fixed, solve};
//! use ndarray::array;
//!
//! let a = array![[2.0, 1.0], [1.0, 3.0], [0.0, -1.0]];
//! let (q, r) = qr_sign_fixed(a.view())?;
//! assert!(r[[0, 0]] >= 0.0 && r[[1, 1]] >= 0.0);
//! assert!((q.dot(&r) - &a).iter().all(|e| e.abs() < 1e-12));
//!
//! let x = solve(r.view(), array![[1.0], [2.0]].view())?;
//! assert!((r.dot(&x) - array![[1.0], [2.0]]).iter().all(|e| e.abs() < 1e-12));
//! # Ok::<(), eigenformer_linalg::LinalgError>(())
//! ```

mod convert;
mod error;
mod qr;
mod solve;
mod validate;

pub use convert::{from_faer, to_faer};
pub use error::{LinalgError, Result};
pub use qr::qr_sign_fixed;
pub use solve::{solve, solve_residual_checked, RCOND_MIN, RESIDUAL_RTOL};

/// Run faer's factorisations on the calling thread. Why: the matrices here are small (the
/// spectral forms' d×d bases, a head's H), and faer's default of spreading each factorisation
/// over the rayon pool costs more in thread wake-ups than it saves; the callers already run
/// their own work in parallel (rayon over heads, images and GEMM blocks).
pub fn use_sequential_factorisations() {
    faer::set_global_parallelism(faer::Par::Seq);
}
