//! LU factorisation with partial pivoting of a small dense matrix, for repeated solves with one
//! right-hand side.
//!
//! Why not faer: the audit's inverse iteration for the DC eigenvector of every (head, input)
//! attention matrix (`spectrum::real_eigenvector`) factors a matrix of a few dozen rows and
//! solves three times; at that size faer's setup and the copies to and from its matrices cost
//! more than the arithmetic.

use ndarray::ArrayView2;

/// `P A = L U` in one row-major buffer (L below the diagonal with a unit diagonal, U on and above
/// it) and the row permutation.
pub struct SmallLu {
    n: usize,
    lu: Vec<f64>,
    /// `perm[i]`: the row of A that ended in row i.
    perm: Vec<usize>,
}

impl SmallLu {
    /// Factor the square matrix `a`; `None` when a pivot is exactly zero (A singular in floating
    /// point), so no solve would be finite.
    pub fn factor(a: ArrayView2<'_, f64>) -> Option<SmallLu> {
        let n = a.nrows();
        debug_assert_eq!(n, a.ncols());
        // `iter` walks the logical row-major order whatever the memory layout.
        let mut lu: Vec<f64> = a.iter().copied().collect();
        let mut perm: Vec<usize> = (0..n).collect();
        for k in 0..n {
            let pivot_row =
                (k..n).max_by(|&i, &j| lu[i * n + k].abs().total_cmp(&lu[j * n + k].abs()))?;
            if lu[pivot_row * n + k] == 0.0 {
                return None;
            }
            if pivot_row != k {
                for j in 0..n {
                    lu.swap(k * n + j, pivot_row * n + j);
                }
                perm.swap(k, pivot_row);
            }
            let (top, bottom) = lu.split_at_mut((k + 1) * n);
            let pivot = &top[k * n..(k + 1) * n];
            for row in bottom.chunks_exact_mut(n) {
                let factor = row[k] / pivot[k];
                row[k] = factor;
                for (x, p) in row[k + 1..].iter_mut().zip(&pivot[k + 1..]) {
                    *x -= factor * p;
                }
            }
        }
        Some(SmallLu { n, lu, perm })
    }

    /// `A⁻¹ b`.
    pub fn solve(&self, b: &[f64]) -> Vec<f64> {
        let n = self.n;
        let mut x: Vec<f64> = self.perm.iter().map(|&i| b[i]).collect();
        for i in 0..n {
            let row = &self.lu[i * n..i * n + i];
            let s: f64 = row.iter().zip(&x[..i]).map(|(l, y)| l * y).sum();
            x[i] -= s;
        }
        for i in (0..n).rev() {
            let row = &self.lu[i * n..(i + 1) * n];
            let s: f64 = row[i + 1..]
                .iter()
                .zip(&x[i + 1..])
                .map(|(u, y)| u * y)
                .sum();
            x[i] = (x[i] - s) / row[i];
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn solves_agree_with_the_matrix_product() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for n in [1, 2, 5, 27, 64] {
            let a = Array2::from_shape_fn((n, n), |_| rng.gen_range(-1.0..1.0));
            let b: Vec<f64> = (0..n).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let x = SmallLu::factor(a.view())
                .expect("a random matrix is regular")
                .solve(&b);
            let ax = a.dot(&ndarray::Array1::from(x));
            for (l, r) in ax.iter().zip(&b) {
                assert!((l - r).abs() < 1e-9, "n={n}: {l} against {r}");
            }
        }
    }

    #[test]
    fn pivoting_handles_a_zero_leading_entry_and_a_singular_matrix_is_refused() {
        let a = array![[0.0, 2.0], [3.0, 1.0]];
        let x = SmallLu::factor(a.view()).unwrap().solve(&[4.0, 5.0]);
        assert!(
            (x[0] - 1.0).abs() < 1e-15 && (x[1] - 2.0).abs() < 1e-15,
            "{x:?}"
        );
        assert!(SmallLu::factor(array![[1.0, 2.0], [2.0, 4.0]].view()).is_none());
        let t = array![[1.0, 2.0], [0.0, 4.0]];
        let x = SmallLu::factor(t.t()).unwrap().solve(&[1.0, 6.0]);
        assert!(
            (x[0] - 1.0).abs() < 1e-15 && (x[1] - 1.0).abs() < 1e-15,
            "{x:?}"
        );
    }
}
