//! Eigenvalues of small dense real matrices: Householder reduction to upper Hessenberg form, then
//! the Francis double-shift QR iteration with deflation (the algorithm of EISPACK's `hqr`), in
//! one row-major buffer.
//!
//! Why not faer here: an audit computes the spectrum of every head's attention matrix on every
//! input (tens of thousands of matrices of a few dozen rows), and at that size a profile of faer's
//! general eigensolver shows much of its time around the arithmetic (a scaled, vectorised norm
//! for every 3-element reflector, allocations, dispatch). This loop does the same arithmetic in
//! about half the time up to 96 rows (docs/benchmarks.md). [`crate::linalg::eigenvalues`] uses it up to
//! [`SMALL_EIGEN_MAX`] rows and falls back to faer when it does not converge.

use ndarray::ArrayView2;
use num_complex::Complex64;

/// Largest order sent to [`small_eigenvalues`] by [`crate::linalg::eigenvalues`]: about where
/// faer's blocked, multishift solver becomes the faster one (docs/benchmarks.md).
pub const SMALL_EIGEN_MAX: usize = 128;

/// Double-shift sweeps allowed per eigenvalue (or pair) before giving up: the iteration usually
/// deflates within a few, and exceptional shifts are taken after 10 and 20.
const MAX_SWEEPS_PER_EIGENVALUE: usize = 30;

/// The eigenvalues of the square, finite matrix `a` in no particular order (conjugate pairs
/// adjacent), or `None` when the QR iteration did not converge.
pub fn small_eigenvalues(a: ArrayView2<'_, f64>) -> Option<Vec<Complex64>> {
    let n = a.nrows();
    debug_assert_eq!(n, a.ncols());
    // `iter` walks the logical row-major order whatever the memory layout.
    let mut h: Vec<f64> = a.iter().copied().collect();
    reduce_to_hessenberg(&mut h, n);
    hessenberg_eigenvalues(&mut h, n)
}

/// Overwrite the row-major `n × n` matrix `h` with an upper Hessenberg matrix similar to it
/// (`Qᵀ A Q`, Q a product of Householder reflectors); the entries below the subdiagonal are set
/// to zero.
fn reduce_to_hessenberg(h: &mut [f64], n: usize) {
    let mut v = vec![0.0; n];
    let mut sums = vec![0.0; n];
    for k in 0..n.saturating_sub(2) {
        // The reflector that maps h[k+1.., k] onto a multiple of the first unit vector.
        let len = n - k - 1;
        let column = |i: usize| h[(k + 1 + i) * n + k];
        let scale: f64 = (0..len).map(|i| column(i).abs()).sum();
        if scale == 0.0 {
            continue;
        }
        let mut norm2 = 0.0;
        for (i, vi) in v[..len].iter_mut().enumerate() {
            *vi = column(i) / scale;
            norm2 += *vi * *vi;
        }
        let alpha = -norm2.sqrt().copysign(v[0]);
        v[0] -= alpha;
        // ‖v‖² with v = x/scale − alpha·e₁, where ‖x/scale‖² = norm2 and alpha = ∓√norm2.
        let vnorm2 = 2.0 * (norm2 - alpha * (v[0] + alpha));
        if vnorm2 == 0.0 {
            continue;
        }
        let beta = 2.0 / vnorm2;
        // From the left: rows k+1.., columns k+1.. (column k is written below: alpha·scale,
        // zeros under it), row by row so that the loops run along contiguous memory: first
        // s = vᵀ H, then H −= beta·v sᵀ.
        let s = &mut sums[..len];
        s.fill(0.0);
        for (i, vi) in v[..len].iter().enumerate() {
            let row = &h[(k + 1 + i) * n + k + 1..(k + 2 + i) * n];
            for (sj, x) in s.iter_mut().zip(row) {
                *sj += vi * x;
            }
        }
        for (i, vi) in v[..len].iter().enumerate() {
            let f = beta * vi;
            let row = &mut h[(k + 1 + i) * n + k + 1..(k + 2 + i) * n];
            for (x, sj) in row.iter_mut().zip(s.iter()) {
                *x -= f * sj;
            }
        }
        // From the right: every row, columns k+1...
        for i in 0..n {
            let row = &mut h[i * n + k + 1..i * n + n];
            let s: f64 = row.iter().zip(&v[..len]).map(|(x, y)| x * y).sum();
            let f = beta * s;
            for (x, y) in row.iter_mut().zip(&v[..len]) {
                *x -= f * y;
            }
        }
        h[(k + 1) * n + k] = alpha * scale;
        for i in k + 2..n {
            h[i * n + k] = 0.0;
        }
    }
}

/// The eigenvalues of the row-major upper Hessenberg matrix `h` (destroyed), by implicit
/// double-shift QR sweeps on the active block, deflating at negligible subdiagonal entries.
fn hessenberg_eigenvalues(h: &mut [f64], n: usize) -> Option<Vec<Complex64>> {
    let at = |i: usize, j: usize| i * n + j;
    let mut values = vec![Complex64::new(0.0, 0.0); n];
    // For the deflation test of an entry between two zero diagonal entries.
    let norm: f64 = (0..n)
        .flat_map(|i| (i.saturating_sub(1)..n).map(move |j| (i, j)))
        .map(|(i, j)| h[at(i, j)].abs())
        .sum();
    // The active block is rows/columns l..=last; `shift` is the sum of the exceptional shifts
    // applied to the diagonal so far.
    let mut last = n as isize - 1;
    let mut shift = 0.0;
    let mut sweeps = 0;
    while last >= 0 {
        let nn = last as usize;
        // The start l of the unreduced block ending at nn.
        let mut l = nn;
        while l > 0 {
            let mut s = h[at(l - 1, l - 1)].abs() + h[at(l, l)].abs();
            if s == 0.0 {
                s = norm;
            }
            if h[at(l, l - 1)].abs() + s == s {
                h[at(l, l - 1)] = 0.0;
                break;
            }
            l -= 1;
        }
        let x = h[at(nn, nn)];
        if l == nn {
            // One real eigenvalue deflated.
            values[nn] = Complex64::new(x + shift, 0.0);
            last -= 1;
            sweeps = 0;
            continue;
        }
        let y = h[at(nn - 1, nn - 1)];
        let w = h[at(nn, nn - 1)] * h[at(nn - 1, nn)];
        if l == nn - 1 {
            // A 2 × 2 block deflated: its two eigenvalues, real or a conjugate pair.
            let p = 0.5 * (y - x);
            let q = p * p + w;
            let z = q.abs().sqrt();
            let x = x + shift;
            if q >= 0.0 {
                let z = p + z.copysign(p);
                let first = x + z;
                let second = if z != 0.0 { x - w / z } else { first };
                values[nn - 1] = Complex64::new(first, 0.0);
                values[nn] = Complex64::new(second, 0.0);
            } else {
                values[nn - 1] = Complex64::new(x + p, z);
                values[nn] = Complex64::new(x + p, -z);
            }
            last -= 2;
            sweeps = 0;
            continue;
        }
        if sweeps == MAX_SWEEPS_PER_EIGENVALUE {
            return None;
        }
        // The two shifts: the eigenvalues of the trailing 2 × 2 block (through their sum x + y
        // and product x·y − w), or an exceptional pair after 10 and 20 sweeps without deflation.
        let (mut x, mut y, mut w) = (x, y, w);
        if sweeps == 10 || sweeps == 20 {
            shift += x;
            for i in 0..=nn {
                h[at(i, i)] -= x;
            }
            let s = h[at(nn, nn - 1)].abs() + h[at(nn - 1, nn - 2)].abs();
            x = 0.75 * s;
            y = x;
            w = -0.4375 * s * s;
        }
        sweeps += 1;
        // Look for two consecutive small subdiagonal entries, from the bottom: the sweep starts
        // at m, where the first column of the double-shift polynomial is (p, q, r).
        let mut m = nn - 2;
        let (mut p, mut q, mut r);
        loop {
            let z = h[at(m, m)];
            let rr = x - z;
            let ss = y - z;
            p = (rr * ss - w) / h[at(m + 1, m)] + h[at(m, m + 1)];
            q = h[at(m + 1, m + 1)] - z - rr - ss;
            r = h[at(m + 2, m + 1)];
            let s = p.abs() + q.abs() + r.abs();
            p /= s;
            q /= s;
            r /= s;
            if m == l {
                break;
            }
            let u = h[at(m, m - 1)].abs() * (q.abs() + r.abs());
            let v = p.abs() * (h[at(m - 1, m - 1)].abs() + z.abs() + h[at(m + 1, m + 1)].abs());
            if u + v == v {
                break;
            }
            m -= 1;
        }
        for i in m + 2..=nn {
            h[at(i, i - 2)] = 0.0;
            if i != m + 2 {
                h[at(i, i - 3)] = 0.0;
            }
        }
        // Chase the bulge down the block with 3-element (at the end 2-element) reflectors.
        for k in m..nn {
            let not_last = k != nn - 1;
            let mut scale = 0.0;
            if k != m {
                p = h[at(k, k - 1)];
                q = h[at(k + 1, k - 1)];
                r = if not_last { h[at(k + 2, k - 1)] } else { 0.0 };
                scale = p.abs() + q.abs() + r.abs();
                if scale != 0.0 {
                    p /= scale;
                    q /= scale;
                    r /= scale;
                }
            }
            let s = (p * p + q * q + r * r).sqrt().copysign(p);
            if s == 0.0 {
                continue;
            }
            if k == m {
                if l != m {
                    h[at(k, k - 1)] = -h[at(k, k - 1)];
                }
            } else {
                h[at(k, k - 1)] = -s * scale;
            }
            p += s;
            let (vx, vy, vz) = (p / s, q / s, r / s);
            q /= p;
            r /= p;
            // Rows k, k+1 (and k+2) from the left, columns k..=nn.
            let (upper, lower) = h.split_at_mut((k + 1) * n);
            let row_k = &mut upper[k * n + k..k * n + nn + 1];
            let (middle, bottom) = lower.split_at_mut(n);
            let row_k1 = &mut middle[k..=nn];
            if not_last {
                let row_k2 = &mut bottom[k..=nn];
                for ((a0, a1), a2) in row_k
                    .iter_mut()
                    .zip(row_k1.iter_mut())
                    .zip(row_k2.iter_mut())
                {
                    let t = *a0 + q * *a1 + r * *a2;
                    *a2 -= t * vz;
                    *a1 -= t * vy;
                    *a0 -= t * vx;
                }
            } else {
                for (a0, a1) in row_k.iter_mut().zip(row_k1.iter_mut()) {
                    let t = *a0 + q * *a1;
                    *a1 -= t * vy;
                    *a0 -= t * vx;
                }
            }
            // Columns k, k+1 (and k+2) from the right, rows l..=min(nn, k+3).
            let rows = h.chunks_exact_mut(n).take(nn.min(k + 3) + 1).skip(l);
            if not_last {
                for row in rows {
                    let c = &mut row[k..k + 3];
                    let t = vx * c[0] + vy * c[1] + vz * c[2];
                    c[2] -= t * r;
                    c[1] -= t * q;
                    c[0] -= t;
                }
            } else {
                for row in rows {
                    let c = &mut row[k..k + 2];
                    let t = vx * c[0] + vy * c[1];
                    c[1] -= t * q;
                    c[0] -= t;
                }
            }
        }
    }
    Some(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// faer's eigenvalues of `a`, the reference.
    fn reference(a: &Array2<f64>) -> Vec<Complex64> {
        crate::linalg::to_faer(a.view()).eigenvalues().unwrap()
    }

    /// Every eigenvalue of `ours` is within `tol` of a distinct one of `theirs` (a greedy matching
    /// in the order of `ours`), so the two agree as multisets.
    fn assert_same_spectrum(ours: &[Complex64], theirs: &[Complex64], tol: f64, what: &str) {
        assert_eq!(ours.len(), theirs.len(), "{what}");
        let mut left: Vec<Complex64> = theirs.to_vec();
        for z in ours {
            let (k, d) = left
                .iter()
                .enumerate()
                .map(|(k, w)| (k, (z - w).norm()))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap();
            assert!(
                d <= tol,
                "{what}: {z} is {d:e} from the nearest reference eigenvalue"
            );
            left.swap_remove(k);
        }
    }

    #[test]
    fn attention_matrices_match_faer_at_every_score_scale() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for n in [1, 2, 3, 5, 17, 27, 40, 64, 100, 128] {
            for scale in [0.1, 1.0, 4.0, 20.0] {
                let a = crate::random::softmax_attention(n, scale, &mut rng);
                let ours = small_eigenvalues(a.view()).expect("converges");
                assert_same_spectrum(&ours, &reference(&a), 1e-7, &format!("n={n} scale={scale}"));
                // A row-stochastic matrix has the eigenvalue 1.
                assert!(
                    ours.iter().any(|z| (z - 1.0).norm() < 1e-9),
                    "n={n} scale={scale}"
                );
            }
        }
    }

    #[test]
    fn general_matrices_with_complex_pairs_match_faer() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for n in [2, 4, 9, 32, 33, 64, 128] {
            for _ in 0..5 {
                let a = Array2::from_shape_fn((n, n), |_| rng.gen_range(-1.0..1.0));
                let ours = small_eigenvalues(a.view()).expect("converges");
                assert!(
                    n < 9 || ours.iter().any(|z| z.im != 0.0),
                    "a random {n} × {n} matrix"
                );
                assert_same_spectrum(&ours, &reference(&a), 1e-8, &format!("n={n}"));
                let trace: f64 = (0..n).map(|i| a[[i, i]]).sum();
                let sum: Complex64 = ours.iter().sum();
                assert!((sum.re - trace).abs() < 1e-9 * n as f64 && sum.im.abs() < 1e-9);
            }
        }
    }

    #[test]
    fn structured_matrices_give_their_exact_spectra() {
        // A rotation block, a triangular matrix, the identity, zero, a permutation and a one-hot
        // attention (every row on one token), which a softmax at a very low temperature gives.
        let cases: Vec<(Array2<f64>, Vec<Complex64>)> = vec![
            (
                array![[0.0, -2.0, 0.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.5]],
                vec![
                    Complex64::new(0.0, 2.0),
                    Complex64::new(0.0, -2.0),
                    Complex64::new(0.5, 0.0),
                ],
            ),
            (
                array![[3.0, 1.0, 4.0], [0.0, -1.0, 5.0], [0.0, 0.0, 2.0]],
                vec![3.0.into(), (-1.0).into(), 2.0.into()],
            ),
            (Array2::eye(6), vec![1.0.into(); 6]),
            (Array2::zeros((5, 5)), vec![0.0.into(); 5]),
            (
                array![[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]],
                vec![
                    1.0.into(),
                    Complex64::new(-0.5, 0.75f64.sqrt()),
                    Complex64::new(-0.5, -0.75f64.sqrt()),
                ],
            ),
            (
                array![
                    [1.0, 0.0, 0.0, 0.0],
                    [1.0, 0.0, 0.0, 0.0],
                    [0.0, 1.0, 0.0, 0.0],
                    [1.0, 0.0, 0.0, 0.0]
                ],
                vec![1.0.into(), 0.0.into(), 0.0.into(), 0.0.into()],
            ),
        ];
        for (a, expected) in cases {
            let ours = small_eigenvalues(a.view()).expect("converges");
            // The nilpotent part of the one-hot case is a defective eigenvalue: rounding moves its
            // eigenvalues by up to about the square root of the unit roundoff.
            assert_same_spectrum(&ours, &expected, 1e-7, &format!("{a}"));
        }
    }

    #[test]
    fn a_view_that_is_not_row_major_is_read_correctly() {
        let a = array![[1.0, 2.0], [0.0, 3.0]];
        let t = a.t();
        let ours = small_eigenvalues(t).unwrap();
        assert_same_spectrum(&ours, &[1.0.into(), 3.0.into()], 1e-12, "transposed view");
    }
}
