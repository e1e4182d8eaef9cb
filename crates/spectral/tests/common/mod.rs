//! Random instance generators and comparison helpers shared by the claim tests.
//!
//! Instances are drawn from a seeded ChaCha generator whose seed proptest chooses, so failures are
//! reproducible from the printed seed.

#![allow(dead_code)]

pub use eigenformer_spectral::random::{
    dense_update, normal_matrix, normal_vector, random_basis, real, real_spectrum_attention,
    rotation_block, softmax_attention,
};
use eigenformer_spectral::Complex64;
use ndarray::Array2;
use rand::SeedableRng;
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
