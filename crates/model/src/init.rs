//! Seeded initialisation.
//!
//! Every model is built from one `u64` seed through a `ChaCha8Rng`, drawing the parameters in
//! construction order (patch embedding, CLS, positions, blocks 0.., final norm, head), so the same
//! seed and configuration always give bit-identical weights.
//!
//! - linear weights, CLS token, position embeddings and the spectral Θ: truncated normal, std 0.02,
//!   cut at ±2 std (like timm's `trunc_normal_(std=.02)`; the realised std is ≈ 0.88 · 0.02);
//! - biases 0, LayerNorm weight 1 and bias 0;
//! - FeatScale `s_dc`, `s_hc` and AttnScale `ω`: 0 (the variant starts as plain attention);
//! - spectral ψ: `√upper · U(0.3, 0.95)`, so `|λ| = ψ²` starts spread over `(0.09, 0.9)·upper`,
//!   strictly inside the clip range (gradients flow to every ψ from the start);
//! - general-form V: `Q(G) · 0.02·√d` (an orthogonal matrix from a Gaussian G, entries ~ 0.02), so
//!   it starts perfectly conditioned and H starts symmetric.

use ndarray::{ArrayD, IxDyn};
use rand::Rng;

/// One standard normal sample (Box–Muller).
pub fn standard_normal(rng: &mut impl Rng) -> f32 {
    loop {
        let u1: f64 = rng.gen();
        let u2: f64 = rng.gen();
        if u1 > f64::MIN_POSITIVE {
            let r = (-2.0 * u1.ln()).sqrt();
            return (r * (std::f64::consts::TAU * u2).cos()) as f32;
        }
    }
}

/// Normal(0, std²) truncated (by rejection) to ±2 std.
pub fn trunc_normal(shape: &[usize], std: f32, rng: &mut impl Rng) -> ArrayD<f32> {
    ArrayD::from_shape_simple_fn(IxDyn(shape), || loop {
        let z = standard_normal(rng);
        if z.abs() <= 2.0 {
            return z * std;
        }
    })
}

/// Uniform on `[lo, hi)`.
pub fn uniform(shape: &[usize], lo: f32, hi: f32, rng: &mut impl Rng) -> ArrayD<f32> {
    ArrayD::from_shape_simple_fn(IxDyn(shape), || rng.gen_range(lo..hi))
}

/// The std of linear weights.
pub const WEIGHT_STD: f32 = 0.02;
