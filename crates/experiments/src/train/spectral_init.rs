//! The `matched` initialisation of the spectral eigenvalues (issue: fair comparisons): the
//! spectral models start with |λ| at the spectral radius that plain attention's `H_h = W_V W_O`
//! has at initialisation, instead of a fixed range 50× larger, so that a difference after
//! training is not just a difference of starting scale.

use super::config::TrainConfig;
use anyhow::{Context, Result};
use eigenformer_model::{AttentionKind, ViT, ViTConfig};
use eigenformer_spectral::linalg::eigenvalues;

/// Mean over every head of every layer of the spectral radius max|eig(H_h)| of `model`.
pub fn mean_spectral_radius(model: &ViT) -> Result<f64> {
    let heads = model
        .head_h_matrices()
        .context("the H matrices of the heads")?;
    let (mut sum, mut count) = (0.0, 0usize);
    for head in heads.iter().flatten() {
        let radius = eigenvalues(head.h.view())?
            .iter()
            .map(|z| z.norm())
            .fold(0.0, f64::max);
        sum += radius;
        count += 1;
    }
    Ok(sum / count.max(1) as f64)
}

/// The initial spectral radius of the plain twin of `cfg` (same shape, plain attention, same
/// seed).
pub fn plain_initial_radius(cfg: &ViTConfig, seed: u64) -> Result<f64> {
    let twin = ViTConfig {
        attention: AttentionKind::Plain,
        ..cfg.clone()
    };
    mean_spectral_radius(&ViT::new(twin, seed)?)
}

/// `cfg` with `spectral.init_radius` set as `run.spectral_init` asks (`matched`: the plain twin's
/// initial radius; `uniform`: unset). Non-spectral models are returned unchanged.
pub fn apply(cfg: ViTConfig, run: &TrainConfig) -> Result<ViTConfig> {
    if !cfg.attention.is_spectral() || run.spectral_init != "matched" {
        return Ok(cfg);
    }
    let r = plain_initial_radius(&cfg, run.seed)?;
    let mut out = cfg;
    out.spectral.init_radius = Some(r as f32);
    out.validate()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(attention: &str, init: &str) -> TrainConfig {
        let text = format!(
            "dataset = \"fashion-mnist\"\nattention = \"{attention}\"\nspectral_init = \"{init}\"\n\
             depth = 2\nwidth = 32\nheads = 2\n"
        );
        toml::from_str(&text).unwrap()
    }

    /// The matched spectral model starts with a mean radius within [r/2, r] of its plain twin's
    /// r, while the uniform one starts far above it.
    #[test]
    fn matched_init_starts_at_the_plain_radius() {
        for attention in ["spectral+", "spectral-"] {
            let matched = run(attention, "matched");
            let cfg = apply(matched.vit_config().unwrap(), &matched).unwrap();
            let r = plain_initial_radius(&cfg, 0).unwrap();
            assert!(r > 1e-4 && r < 0.1, "plain radius {r}");
            let got = mean_spectral_radius(&ViT::new(cfg, 0).unwrap()).unwrap();
            assert!(
                got <= r * 1.0001 && got >= 0.5 * r,
                "{attention}: {got} vs {r}"
            );
            let uniform = run(attention, "uniform");
            let cfg = apply(uniform.vit_config().unwrap(), &uniform).unwrap();
            assert_eq!(cfg.spectral.init_radius, None);
            let big = mean_spectral_radius(&ViT::new(cfg, 0).unwrap()).unwrap();
            assert!(big > 10.0 * r, "uniform {big} vs plain {r}");
        }
        let plain = run("plain", "matched");
        let cfg = apply(plain.vit_config().unwrap(), &plain).unwrap();
        assert_eq!(cfg.spectral.init_radius, None);
    }
}
