//! Model configuration: [`ViTConfig`], the attention variants [`AttentionKind`] and the options of
//! the spectral reparameterisation [`SpectralOptions`] / [`SpectralForm`], with presets, JSON
//! (serde) round-trips, `key=value` overrides and validation into typed errors.

use crate::error::{ModelError, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What the classifier head reads from the last block's tokens. CLI / JSON names in brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum Pooling {
    /// `cls`: the CLS token (ViT, DeiT).
    #[default]
    #[serde(rename = "cls")]
    Cls,
    /// `mean`: the mean of the patch tokens, CLS excluded (timm's `global_pool="avg"`), then
    /// the final LayerNorm. It reads the tokens' DC component, which is what smoothing keeps.
    #[serde(rename = "mean")]
    Mean,
}

impl Pooling {
    /// The CLI / JSON name.
    pub fn name(self) -> &'static str {
        match self {
            Pooling::Cls => "cls",
            Pooling::Mean => "mean",
        }
    }
    /// Whether this is the default (so configurations written before the option stay the same).
    pub fn is_cls(&self) -> bool {
        *self == Pooling::Cls
    }
}

impl FromStr for Pooling {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cls" => Ok(Pooling::Cls),
            "mean" | "avg" => Ok(Pooling::Mean),
            _ => Err(ModelError::UnknownName {
                what: "pooling",
                value: s.to_string(),
                expected: "cls, mean".into(),
            }),
        }
    }
}

/// How a block's attention output is formed (theory.md §5, §6). CLI / JSON names in brackets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum AttentionKind {
    /// `plain`: Standard multi-head self-attention: per head `A_h X W_V^h W_O^h`.
    #[default]
    #[serde(rename = "plain")]
    Plain,
    /// `featscale`: Plain attention, then `Y + s_dc ⊙ DC[Y] + s_hc ⊙ HC[Y]` (s init 0).
    #[serde(rename = "featscale")]
    FeatScale,
    /// `attnscale`: Plain attention with `A' = A + ω_h (A − 11ᵀ/n)` per head (ω init 0).
    #[serde(rename = "attnscale")]
    AttnScale,
    /// `spectral+`: Value·output path replaced by `H_h` with eigenvalues `+clip(ψ², ε, upper)`.
    #[serde(rename = "spectral+")]
    SpectralPlus,
    /// `spectral-`: Value·output path replaced by `H_h` with eigenvalues `−clip(ψ², ε, upper)`.
    #[serde(rename = "spectral-")]
    SpectralMinus,
}

impl AttentionKind {
    /// Every kind, in a fixed order.
    pub const ALL: [AttentionKind; 5] = [
        AttentionKind::Plain,
        AttentionKind::FeatScale,
        AttentionKind::AttnScale,
        AttentionKind::SpectralPlus,
        AttentionKind::SpectralMinus,
    ];

    /// The CLI / JSON name.
    pub fn name(self) -> &'static str {
        match self {
            AttentionKind::Plain => "plain",
            AttentionKind::FeatScale => "featscale",
            AttentionKind::AttnScale => "attnscale",
            AttentionKind::SpectralPlus => "spectral+",
            AttentionKind::SpectralMinus => "spectral-",
        }
    }

    /// Whether the value·output path is the spectral construction.
    pub fn is_spectral(self) -> bool {
        matches!(
            self,
            AttentionKind::SpectralPlus | AttentionKind::SpectralMinus
        )
    }

    /// The sign of the constructed eigenvalues: +1 for `spectral+`, −1 for `spectral-`, None otherwise.
    pub fn spectral_sign(self) -> Option<f32> {
        match self {
            AttentionKind::SpectralPlus => Some(1.0),
            AttentionKind::SpectralMinus => Some(-1.0),
            _ => None,
        }
    }
}

impl fmt::Display for AttentionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AttentionKind {
    type Err = ModelError;

    /// Accepts the canonical names plus `spectral-plus`/`spectral_plus`/`vit+` and the minus forms.
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        let kind = match lower.as_str() {
            "plain" | "baseline" => AttentionKind::Plain,
            "featscale" => AttentionKind::FeatScale,
            "attnscale" => AttentionKind::AttnScale,
            "spectral+" | "spectral-plus" | "spectral_plus" | "vit+" => AttentionKind::SpectralPlus,
            "spectral-" | "spectral-minus" | "spectral_minus" | "vit-" => {
                AttentionKind::SpectralMinus
            }
            _ => {
                return Err(ModelError::UnknownName {
                    what: "attention kind",
                    value: s.to_string(),
                    expected: "plain, featscale, attnscale, spectral+, spectral-".into(),
                })
            }
        };
        Ok(kind)
    }
}

/// The form of the spectral matrix `H_h` of each head (theory.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SpectralForm {
    /// `H_h = U_h diag(λ_h) U_hᵀ`, `U_h` = Q factor of a d×d_h parameter: d_h controlled
    /// eigenvalues, the other d − d_h are 0; the same FLOPs as plain attention. The default.
    #[default]
    Lowrank,
    /// `H_h = Q(Θ_h) diag(λ_h) Q(Θ_h)ᵀ` with Θ_h d×d: symmetric, d controlled eigenvalues.
    Symmetric,
    /// `H_h = V_h diag(λ_h) V_h⁻¹` with V_h a free d×d matrix (V⁻¹ by a linear solve).
    General,
}

impl SpectralForm {
    /// Every form.
    pub const ALL: [SpectralForm; 3] = [
        SpectralForm::Lowrank,
        SpectralForm::Symmetric,
        SpectralForm::General,
    ];

    /// The CLI / JSON name.
    pub fn name(self) -> &'static str {
        match self {
            SpectralForm::Lowrank => "lowrank",
            SpectralForm::Symmetric => "symmetric",
            SpectralForm::General => "general",
        }
    }
}

impl fmt::Display for SpectralForm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SpectralForm {
    type Err = ModelError;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "lowrank" | "low-rank" | "low_rank" => Ok(SpectralForm::Lowrank),
            "symmetric" | "sym" => Ok(SpectralForm::Symmetric),
            "general" => Ok(SpectralForm::General),
            _ => Err(ModelError::UnknownName {
                what: "spectral form",
                value: s.to_string(),
                expected: "lowrank, symmetric, general".into(),
            }),
        }
    }
}

/// Options of the spectral reparameterisation; ignored by the non-spectral kinds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpectralOptions {
    /// Form of each head's H.
    pub form: SpectralForm,
    /// Lower clip ε of ψ² (default 1e-4): |λ| ≥ ε.
    pub eps: f32,
    /// Upper clip of ψ² (default 1): |λ| ≤ upper.
    pub upper: f32,
    /// Initial |λ| spread uniformly in `[r/2, r]` for `Some(r)` (clipped to `[eps, upper]`):
    /// set to the spectral radius of plain attention's `H_h` at initialisation, so a spectral
    /// model and its plain twin start with update operators of the same size. `None`: |λ| in
    /// `[0.09, 0.9]·upper`, far larger than plain's (about 0.01 at std 0.02).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_radius: Option<f32>,
}

impl Default for SpectralOptions {
    fn default() -> Self {
        SpectralOptions {
            form: SpectralForm::Lowrank,
            eps: 1e-4,
            upper: 1.0,
            init_radius: None,
        }
    }
}

fn default_ln_eps() -> f32 {
    1e-6
}

/// A Vision Transformer's shape and variant. Every field is public: take a preset and override
/// fields directly, or with [`ViTConfig::with_overrides`]; [`ViTConfig::validate`] checks the result
/// (the model constructor validates too).
///
/// JSON: the shape fields are required; `drop_path` (0), `attention` (`plain`), `spectral`
/// (lowrank, 1e-4, 1), `nonneg_ln_gamma` (false) and `ln_eps` (1e-6) default when absent; unknown
/// fields are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViTConfig {
    /// Height = width of the input images (pixels).
    pub image_size: usize,
    /// Input channels.
    pub channels: usize,
    /// Side of the square patches; must divide `image_size`.
    pub patch_size: usize,
    /// Token width d.
    pub width: usize,
    /// Number of blocks.
    pub depth: usize,
    /// Attention heads; must divide `width` (d_h = width / heads).
    pub heads: usize,
    /// Hidden width of the MLP.
    pub mlp_hidden: usize,
    /// Output classes.
    pub classes: usize,
    /// Maximal drop-path rate; block i uses `drop_path · i / (depth − 1)` (0 for the first).
    #[serde(default)]
    pub drop_path: f32,
    /// The attention-output variant.
    #[serde(default)]
    pub attention: AttentionKind,
    /// Options of the spectral variants.
    #[serde(default)]
    pub spectral: SpectralOptions,
    /// Use |γ| for the LayerNorm weight that feeds each attention (norm1), so LayerNorm cannot flip
    /// the sign of H's eigenvalues (theory.md C8). Applies to every attention kind.
    #[serde(default)]
    pub nonneg_ln_gamma: bool,
    /// LayerNorm epsilon (default 1e-6, as in DeiT).
    #[serde(default = "default_ln_eps")]
    pub ln_eps: f32,
    /// What the classifier reads (default the CLS token).
    #[serde(default, skip_serializing_if = "Pooling::is_cls")]
    pub pooling: Pooling,
}

/// Largest model [`ViTConfig::validate`] accepts, in parameters (about 1.07 billion: 4 GiB of f32
/// weights, 16 GiB with the gradients and AdamW's two moments). Why a bound at all: a mistyped
/// `--width 1000000` asks for 10¹³ parameters, and a failed allocation aborts the process with
/// no hint at the flag; ViT-H has 632 million.
pub const MAX_PARAMETERS: u64 = 1 << 30;

/// Largest per-image activation estimate ([`ViTConfig::activation_floats_per_image`])
/// [`ViTConfig::validate`] accepts: 2³⁰ floats (4 GiB) per image, 100× what DeiT-B at 224² needs.
pub const MAX_ACTIVATION_FLOATS_PER_IMAGE: u64 = 1 << 30;

/// The names accepted by [`ViTConfig::preset`].
pub const PRESETS: [&str; 3] = ["deit-ti", "vit-cifar", "vit-small"];

impl ViTConfig {
    #[allow(clippy::too_many_arguments)]
    fn shape(
        image_size: usize,
        channels: usize,
        patch_size: usize,
        width: usize,
        depth: usize,
        heads: usize,
        mlp_hidden: usize,
        classes: usize,
    ) -> ViTConfig {
        ViTConfig {
            image_size,
            channels,
            patch_size,
            width,
            depth,
            heads,
            mlp_hidden,
            classes,
            drop_path: 0.0,
            attention: AttentionKind::Plain,
            spectral: SpectralOptions::default(),
            nonneg_ln_gamma: false,
            ln_eps: default_ln_eps(),
            pooling: Pooling::Cls,
        }
    }

    /// A preset, with plain attention and no drop-path:
    ///
    /// | name | image | patch | width | depth | heads | MLP | classes |
    /// |---|---|---|---|---|---|---|---|
    /// | `deit-ti` (alias `deit-tiny`) | 224×224×3 | 16 | 192 | 12 | 3 | 768 | 1000 |
    /// | `vit-cifar` | 32×32×3 | 4 | 192 | 12 | 3 | 768 | 10 |
    /// | `vit-small` | 28×28×1 | 4 | 128 | 6 | 4 | 256 | 10 |
    pub fn preset(name: &str) -> Result<ViTConfig> {
        let config = match name.trim().to_ascii_lowercase().as_str() {
            "deit-ti" | "deit-tiny" => ViTConfig::shape(224, 3, 16, 192, 12, 3, 768, 1000),
            "vit-cifar" => ViTConfig::shape(32, 3, 4, 192, 12, 3, 768, 10),
            "vit-small" => ViTConfig::shape(28, 1, 4, 128, 6, 4, 256, 10),
            _ => {
                return Err(ModelError::UnknownPreset {
                    name: name.to_string(),
                    known: PRESETS.join(", "),
                })
            }
        };
        Ok(config)
    }

    /// Number of patches N (tokens without CLS). Saturates instead of overflowing on a
    /// configuration [`ViTConfig::validate`] would refuse.
    pub fn num_patches(&self) -> usize {
        let g = self.image_size / self.patch_size.max(1);
        g.saturating_mul(g)
    }

    /// Number of tokens N + 1 (patches and CLS).
    pub fn num_tokens(&self) -> usize {
        self.num_patches().saturating_add(1)
    }

    /// Per-head width d_h = width / heads.
    pub fn head_dim(&self) -> usize {
        self.width / self.heads.max(1)
    }

    /// Length of a flattened patch, `channels · patch²`.
    pub fn patch_dim(&self) -> usize {
        self.channels
            .saturating_mul(self.patch_size)
            .saturating_mul(self.patch_size)
    }

    /// The exact number of parameters of [`crate::ViT::new`]`(self, _)` (the sum of the sizes of
    /// its `named_parameters()`), or `None` when it does not fit in a `u64`. Computed without
    /// building anything, so a configuration can be refused before allocating.
    pub fn parameter_count(&self) -> Option<u64> {
        let [d, m, h, depth] =
            [self.width, self.mlp_hidden, self.heads, self.depth].map(|v| v as u64);
        let tokens = (self.image_size / self.patch_size.max(1)) as u64;
        let tokens = tokens.checked_mul(tokens)?.checked_add(1)?;
        let patch_dim = (self.channels as u64)
            .checked_mul(self.patch_size as u64)?
            .checked_mul(self.patch_size as u64)?;
        let linear = |i: u64, o: u64| i.checked_mul(o)?.checked_add(o);
        let norm = d.checked_mul(2)?;
        let dh = d / h.max(1);
        let attention = if self.attention.is_spectral() {
            let k = match self.spectral.form {
                SpectralForm::Lowrank => dh,
                SpectralForm::Symmetric | SpectralForm::General => d,
            };
            let basis = h.checked_mul(d)?.checked_mul(k)?;
            let psi = h.checked_mul(k)?;
            linear(d, d.checked_mul(2)?)?
                .checked_add(basis)?
                .checked_add(psi)?
                .checked_add(d)?
        } else {
            let omega = if self.attention == AttentionKind::AttnScale {
                h
            } else {
                0
            };
            linear(d, d.checked_mul(3)?)?
                .checked_add(linear(d, d)?)?
                .checked_add(omega)?
        };
        let featscale = if self.attention == AttentionKind::FeatScale {
            d.checked_mul(2)?
        } else {
            0
        };
        let block = attention
            .checked_add(featscale)?
            .checked_add(norm.checked_mul(2)?)?
            .checked_add(linear(d, m)?)?
            .checked_add(linear(m, d)?)?;
        linear(patch_dim, d)?
            .checked_add(d)? // CLS token
            .checked_add(tokens.checked_mul(d)?)? // position embeddings
            .checked_add(block.checked_mul(depth)?)?
            .checked_add(norm)?
            .checked_add(linear(d, self.classes as u64)?)
    }

    /// An estimate (within a small factor) of the floats one image's forward pass keeps for the
    /// backward pass: per block about `12·T·d + 3·T·mlp + 3·heads·T²` for `T` tokens (the
    /// normalised inputs, projections, attention probabilities and MLP activations), plus the
    /// patches and embeddings; `None` when it does not fit in a `u64`. Multiply by the batch size
    /// for a training step.
    pub fn activation_floats_per_image(&self) -> Option<u64> {
        let [d, m, h, depth] =
            [self.width, self.mlp_hidden, self.heads, self.depth].map(|v| v as u64);
        let grid = (self.image_size / self.patch_size.max(1)) as u64;
        let t = grid.checked_mul(grid)?.checked_add(1)?;
        let per_block = t
            .checked_mul(d)?
            .checked_mul(12)?
            .checked_add(t.checked_mul(m)?.checked_mul(3)?)?
            .checked_add(h.checked_mul(t)?.checked_mul(t)?.checked_mul(3)?)?;
        let pixels = (self.channels as u64)
            .checked_mul(self.image_size as u64)?
            .checked_mul(self.image_size as u64)?;
        per_block
            .checked_mul(depth)?
            .checked_add(pixels.checked_mul(2)?)?
            .checked_add(t.checked_mul(d)?.checked_mul(2)?)
    }

    /// Drop-path rate of block `layer` (linear in depth from 0 to `drop_path`).
    pub fn drop_path_rate(&self, layer: usize) -> f32 {
        if self.depth <= 1 {
            0.0
        } else {
            self.drop_path * layer as f32 / (self.depth - 1) as f32
        }
    }

    /// Check every field; the first problem found is returned as [`ModelError::InvalidConfig`].
    pub fn validate(&self) -> Result<()> {
        fn bad(field: &'static str, value: impl fmt::Display, reason: &str) -> Result<()> {
            Err(ModelError::InvalidConfig {
                field,
                value: value.to_string(),
                reason: reason.to_string(),
            })
        }
        for (field, value) in [
            ("image_size", self.image_size),
            ("channels", self.channels),
            ("patch_size", self.patch_size),
            ("width", self.width),
            ("depth", self.depth),
            ("heads", self.heads),
            ("mlp_hidden", self.mlp_hidden),
            ("classes", self.classes),
        ] {
            if value == 0 {
                return bad(field, value, "must be positive");
            }
        }
        if !self.image_size.is_multiple_of(self.patch_size) {
            return bad(
                "patch_size",
                self.patch_size,
                &format!("must divide image_size {}", self.image_size),
            );
        }
        if !self.width.is_multiple_of(self.heads) {
            return bad(
                "heads",
                self.heads,
                &format!("must divide width {}", self.width),
            );
        }
        if !(0.0..1.0).contains(&self.drop_path) {
            return bad("drop_path", self.drop_path, "must be in [0, 1)");
        }
        // Sizes after the checks above, which keep the arithmetic meaningful (no zero divisors).
        let shape = || {
            format!(
                "width {}, depth {}, heads {}, MLP {}, {} tokens",
                self.width,
                self.depth,
                self.heads,
                self.mlp_hidden,
                self.num_tokens()
            )
        };
        let amount = |n: Option<u64>| n.map_or("more than 2^64".to_string(), |n| n.to_string());
        let params = self.parameter_count();
        if params.is_none_or(|n| n > MAX_PARAMETERS) {
            return Err(ModelError::TooLarge {
                what: "the parameter count",
                amount: amount(params),
                limit: MAX_PARAMETERS,
                shape: shape(),
            });
        }
        let acts = self.activation_floats_per_image();
        if acts.is_none_or(|n| n > MAX_ACTIVATION_FLOATS_PER_IMAGE) {
            return Err(ModelError::TooLarge {
                what: "the activations of one image (floats)",
                amount: amount(acts),
                limit: MAX_ACTIVATION_FLOATS_PER_IMAGE,
                shape: shape(),
            });
        }
        if !(self.ln_eps > 0.0 && self.ln_eps.is_finite()) {
            return bad("ln_eps", self.ln_eps, "must be positive and finite");
        }
        let s = &self.spectral;
        if !(s.eps > 0.0 && s.eps.is_finite()) {
            return bad("spectral.eps", s.eps, "must be positive and finite");
        }
        if !(s.upper.is_finite() && s.upper >= s.eps) {
            return bad(
                "spectral.upper",
                s.upper,
                &format!("must be finite and at least spectral.eps = {}", s.eps),
            );
        }
        if let Some(r) = s.init_radius {
            if !(r.is_finite() && r > 0.0) {
                return bad("spectral.init_radius", r, "must be positive and finite");
            }
        }
        Ok(())
    }

    /// The configuration as pretty JSON.
    pub fn to_json(&self) -> Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }

    /// Parse and validate a JSON configuration.
    pub fn from_json(text: &str) -> Result<ViTConfig> {
        let config: ViTConfig = serde_json::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    /// A copy with `key=value` overrides applied and validated. Keys are field names, nested ones
    /// dotted (`spectral.eps`, `spectral.form`); values are JSON (`12`, `0.1`, `true`) or bare
    /// strings (`spectral-`, `general`). Unknown keys are an error.
    pub fn with_overrides<K: AsRef<str>, V: AsRef<str>>(
        &self,
        overrides: &[(K, V)],
    ) -> Result<ViTConfig> {
        let mut value = serde_json::to_value(self)?;
        for (key, raw) in overrides {
            let (key, raw) = (key.as_ref(), raw.as_ref());
            let err = |reason: String| ModelError::InvalidOverride {
                key: key.to_string(),
                value: raw.to_string(),
                reason,
            };
            let mut slot = &mut value;
            for part in key.split('.') {
                slot = slot
                    .as_object_mut()
                    .and_then(|o| o.get_mut(part))
                    .ok_or_else(|| err(format!("no configuration field {part:?}")))?;
            }
            let parsed = serde_json::from_str::<serde_json::Value>(raw)
                .unwrap_or_else(|_| serde_json::Value::String(raw.to_string()));
            // A bare string that looks like a number stays what JSON makes of it; a JSON value of
            // the wrong type is caught by the typed parse below.
            *slot = parsed;
            let _ = serde_json::from_value::<ViTConfig>(value.clone())
                .map_err(|e| err(e.to_string()))?;
        }
        let config: ViTConfig = serde_json::from_value(value)?;
        config.validate()?;
        Ok(config)
    }
}
