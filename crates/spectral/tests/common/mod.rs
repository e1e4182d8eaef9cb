//! Random instance generators and comparison helpers shared by the claim tests.
//!
//! Instances are drawn from a seeded ChaCha generator whose seed proptest chooses, so failures are
//! reproducible from the printed seed.

#![allow(dead_code)]

pub use eigenformer_spectral::random::{
    dense_update, normal_matrix, normal_vector, random_basis, real, real_spectrum_attention,
    rotation_block, softmax_attention,
};
use eigenformer_spectral::{linalg, Complex64};
use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Whether two multisets of complex numbers agree within `tol` (greedy nearest matching).
pub fn multiset_close(expected: &[Complex64], actual: &[Complex64], tol: f64) -> bool {
    if expected.len() != actual.len() {
        return false;
    }
    let mut used = vec![false; actual.len()];
    for e in expected {
        let best = actual
            .iter()
            .enumerate()
            .filter(|(k, _)| !used[*k])
            .min_by(|(_, x), (_, y)| (*x - e).norm().total_cmp(&(*y - e).norm()));
        match best {
            Some((k, x)) if (x - e).norm() <= tol => used[k] = true,
            _ => return false,
        }
    }
    true
}

/// [`eigenformer_spectral::random::condition_number`] for test inputs that are always valid.
pub fn condition_number(m: &Array2<f64>) -> f64 {
    eigenformer_spectral::random::condition_number(m).expect("finite test matrix")
}

/// [`eigenformer_spectral::random::similar`] for test bases that are always invertible.
pub fn similar(v: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
    eigenformer_spectral::random::similar(v, b).expect("invertible test basis")
}

/// Causal (decoder) attention: row i is the softmax of `scale · N(0,1)` scores over the tokens
/// `j ≤ i` and exactly 0 above the diagonal (a masked softmax). Lower-triangular, row-stochastic,
/// positive on and below the diagonal; `A_11 = 1`.
pub fn causal_softmax_attention(n: usize, scale: f64, rng: &mut impl Rng) -> Array2<f64> {
    let scores = normal_matrix(n, n, rng) * scale;
    let mut a = Array2::zeros((n, n));
    for i in 0..n {
        let m = (0..=i)
            .map(|j| scores[[i, j]])
            .fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = (0..=i).map(|j| (scores[[i, j]] - m).exp()).collect();
        let s: f64 = e.iter().sum();
        for (j, v) in e.iter().enumerate() {
            a[[i, j]] = v / s;
        }
    }
    a
}

/// The centring projection `I − 11ᵀ/m` (`P` over tokens with m = n, `P_d` over channels with m = d).
pub fn centring(m: usize) -> Array2<f64> {
    Array2::eye(m) - Array2::from_elem((m, m), 1.0 / m as f64)
}

/// A random orthonormal basis (`d × (d − 1)`) of the centred subspace `1^⊥` of `R^d`: the QR
/// factor of `[1 | random]` without its first column.
pub fn centred_basis(d: usize, rng: &mut impl Rng) -> Array2<f64> {
    let mut m = normal_matrix(d, d, rng);
    m.column_mut(0).fill(1.0);
    let (q, _) = linalg::qr_sign_fixed(m.view()).expect("finite test matrix");
    q.slice(ndarray::s![.., 1..]).to_owned()
}

/// `Q diag(λ) Qᵀ` (symmetric, spectrum λ ∪ zeros for orthonormal columns Q).
pub fn q_diag_qt(q: &Array2<f64>, lambda: &[f64]) -> Array2<f64> {
    let mut ql = q.clone();
    for (mut col, l) in ql.columns_mut().into_iter().zip(lambda) {
        col.mapv_inplace(|v| v * l);
    }
    ql.dot(&q.t())
}

/// `n × d` tokens that all have the same standard deviation `s` over their channels but different
/// means: centred normal rows rescaled to std exactly `s`, plus `offset · N(0,1)` times `1ᵀ` per
/// token (so that `X P_d ≠ X`).
pub fn shared_sigma_tokens(
    n: usize,
    d: usize,
    s: f64,
    offset: f64,
    rng: &mut impl Rng,
) -> Array2<f64> {
    let mut x = normal_matrix(n, d, rng);
    for mut row in x.rows_mut() {
        let mean = row.sum() / d as f64;
        row.mapv_inplace(|v| v - mean);
        let sd = (row.dot(&row) / d as f64).sqrt();
        let shift = offset * rng.sample::<f64, _>(rand_distr::StandardNormal);
        row.mapv_inplace(|v| v * s / sd + shift);
    }
    x
}

/// Each token's LayerNorm scale `σ_i = sqrt(var_i + eps)` (biased variance over the channels).
pub fn token_sigma(x: &Array2<f64>, eps: f64) -> Array1<f64> {
    let d = x.ncols() as f64;
    Array1::from_iter(x.rows().into_iter().map(|row| {
        let mean = row.sum() / d;
        (row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / d + eps).sqrt()
    }))
}

/// The corrected C8 effective matrix `H_eff = P_d diag(γ) H / σ_l`.
pub fn pre_ln_effective_h(h: &Array2<f64>, gamma: &Array1<f64>, sigma_l: f64) -> Array2<f64> {
    let d = h.nrows();
    let mut gh = h.clone();
    for (mut row, g) in gh.rows_mut().into_iter().zip(gamma) {
        row.mapv_inplace(|v| v * g);
    }
    centring(d).dot(&gh) / sigma_l
}

/// `1 cᵀ`: the constant (DC) `n × d` matrix with every row c.
pub fn dc_rows(n: usize, c: &Array1<f64>) -> Array2<f64> {
    c.broadcast((n, c.len())).expect("1-D row").to_owned()
}

/// `max |x − y|` over the entries.
pub fn max_abs_diff(x: &Array2<f64>, y: &Array2<f64>) -> f64 {
    (x - y).iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// `max |x|` over the entries.
pub fn max_abs(x: &Array2<f64>) -> f64 {
    x.iter().fold(0.0f64, |m, v| m.max(v.abs()))
}

/// Spectral norm `‖M‖₂ = σ_max(M)`.
pub fn spectral_norm(m: &Array2<f64>) -> f64 {
    linalg::singular_values(m.view()).expect("finite test matrix")[0]
}

/// The `n × n` matrix of pairwise token cosines `cos(x_i, x_j)`.
pub fn token_cosines(x: &Array2<f64>) -> Array2<f64> {
    let n = x.nrows();
    let norms: Vec<f64> = x.rows().into_iter().map(|r| r.dot(&r).sqrt()).collect();
    Array2::from_shape_fn((n, n), |(i, j)| {
        x.row(i).dot(&x.row(j)) / (norms[i] * norms[j])
    })
}
