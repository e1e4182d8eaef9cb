//! Noise: Gaussian, shot (Poisson) and impulse (salt-and-pepper). Every value of every channel
//! gets its own draw, as in the reference (NumPy / scikit-image draw over the whole `H×W×C`
//! array). These three are exact re-implementations; only the random numbers differ.

use super::{Image, Severity};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};

/// `clip(x + N(0, σ²))` with σ = .04, .06, .08, .09, .10.
pub fn gaussian_noise(image: &Image, severity: Severity, rng: &mut ChaCha8Rng) -> Image {
    let sigma = severity.pick(&[0.04, 0.06, 0.08, 0.09, 0.10]);
    let data = image
        .data()
        .iter()
        .map(|&v| {
            let z: f64 = StandardNormal.sample(rng);
            v + sigma * z
        })
        .collect();
    image.with_data(data).clipped()
}

/// Photon (shot) noise: `clip(Poisson(x·c)/c)` with c = 500, 250, 100, 75, 50 photons at full
/// brightness. A black pixel (`λ = 0`) stays black.
pub fn shot_noise(image: &Image, severity: Severity, rng: &mut ChaCha8Rng) -> Image {
    let c: f64 = severity.pick(&[500.0, 250.0, 100.0, 75.0, 50.0]);
    let data = image
        .data()
        .iter()
        .map(|&v| {
            let lambda = v * c;
            match Poisson::new(lambda) {
                Ok(p) => {
                    let k: f64 = p.sample(rng);
                    k / c
                }
                // λ = 0 (or not finite): Poisson(0) is always 0.
                Err(_) => 0.0,
            }
        })
        .collect();
    image.with_data(data).clipped()
}

/// Salt-and-pepper noise as scikit-image's `random_noise(mode='s&p', amount=p)`: each value is
/// replaced with probability p = .01, .02, .03, .05, .07, by 1 or 0 with equal odds.
pub fn impulse_noise(image: &Image, severity: Severity, rng: &mut ChaCha8Rng) -> Image {
    let amount = severity.pick(&[0.01, 0.02, 0.03, 0.05, 0.07]);
    let data = image
        .data()
        .iter()
        .map(|&v| {
            let flipped = rng.gen_bool(amount);
            let salted = rng.gen_bool(0.5);
            match (flipped, salted) {
                (true, true) => 1.0,
                (true, false) => 0.0,
                _ => v,
            }
        })
        .collect();
    image.with_data(data).clipped()
}
