//! Gradient-norm clipping.

use crate::tensor::Tensor;

/// The global L2 norm of the gradients of `params` (accumulated in f64).
pub fn grad_norm(params: &[Tensor]) -> f32 {
    // Read in place (no copy of each gradient); squares summed in f64.
    let total: f64 = params
        .iter()
        .map(|p| {
            p.with_grad_mut(|g| {
                g.map_or(0.0, |g| {
                    g.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>()
                })
            })
        })
        .sum();
    total.sqrt() as f32
}

/// Scale all gradients so that their global L2 norm is at most `max_norm`; returns the norm
/// before clipping (non-finite if a gradient is: the caller decides to stop, nothing is scaled).
pub fn clip_grad_norm(params: &[Tensor], max_norm: f32) -> f32 {
    let norm = grad_norm(params);
    if norm.is_finite() && norm > max_norm {
        let scale = max_norm / (norm + 1e-6);
        for p in params {
            p.with_grad_mut(|g| {
                if let Some(g) = g {
                    g.mapv_inplace(|v| v * scale);
                }
            });
        }
    }
    norm
}
