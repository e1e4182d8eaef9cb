//! Seeded, class-balanced subsets (`--train-fraction`).

use super::DataError;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// The indices (ascending) of a class-balanced subset of about `fraction · labels.len()`
/// examples: every class contributes the same number `k = round(fraction · N / classes)`
/// (at least 1, at most the size of the smallest present class), drawn without replacement by a
/// `ChaCha8Rng` seeded with `seed`, so the same `(labels, fraction, seed)` always gives the same
/// subset. Classes with no example contribute nothing. `fraction == 1` returns every index.
/// Errors if `fraction` is not in `(0, 1]` or a label is `>= classes`.
pub fn class_balanced_subset(
    labels: &[u8],
    classes: usize,
    fraction: f64,
    seed: u64,
) -> Result<Vec<usize>, DataError> {
    if !(fraction > 0.0 && fraction <= 1.0) {
        return Err(DataError::Invalid(format!(
            "--train-fraction must be in (0, 1], got {fraction}"
        )));
    }
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &l) in labels.iter().enumerate() {
        match by_class.get_mut(l as usize) {
            Some(v) => v.push(i),
            None => {
                return Err(DataError::Invalid(format!(
                    "label {l} of example {i} is not below the {classes} classes"
                )))
            }
        }
    }
    if fraction == 1.0 {
        return Ok((0..labels.len()).collect());
    }
    let present: Vec<&mut Vec<usize>> = by_class.iter_mut().filter(|v| !v.is_empty()).collect();
    if present.is_empty() {
        return Ok(Vec::new());
    }
    let smallest = present.iter().map(|v| v.len()).min().unwrap_or(0);
    let k = ((fraction * labels.len() as f64) / present.len() as f64).round() as usize;
    let k = k.clamp(1, smallest);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(k * present.len());
    for members in present {
        let (chosen, _) = members.partial_shuffle(&mut rng, k);
        out.extend_from_slice(chosen);
    }
    out.sort_unstable();
    Ok(out)
}
