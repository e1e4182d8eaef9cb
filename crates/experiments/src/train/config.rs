//! One training run's configuration, [`TrainConfig`]: the single type behind the flags of
//! `eigenformer train` (clap), the keys of the experiment files and `--config FILE` (serde), the
//! record in `checkpoint.json` / `metrics.json`, and the hash that keys the run cache.
//!
//! Why one type: a flag renamed or added here changes all four at once, so an experiment grid
//! cannot drift from the trainer (an unknown TOML key is refused when the grid is loaded, naming
//! the file and key), and the grid hands its children the configuration as a file instead of a
//! rebuilt command line. Absent keys take the defaults below, the DeiT recipe of theory.md §7
//! (AdamW, weight decay 0.05, label smoothing 0.1, warm-up, cosine schedule).

use clap::Args;
use eigenformer_data::DatasetKind;
use eigenformer_model::{AttentionKind, Pooling, SpectralForm, SpectralOptions, ViTConfig};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Bumped when a change of the training code makes cached runs stale (it is part of every hash).
/// 2: the crash-safe run directory (checkpoints/epoch-N/, manifest) and checksummed results;
/// a run cached by version 1 has neither, so it is trained again under a new hash.
/// 3: the spectral form, clips, initialisation, drop-path, patch size, crop padding, fixed
/// steps per epoch and the validation split became settings (and the diagnostics gained H_eff).
pub const CACHE_VERSION: u32 = 3;

/// Largest training step [`TrainConfig::validate`] accepts: the batch size times one image's
/// activation estimate ([`ViTConfig::activation_floats_per_image`]), 2³³ floats (32 GiB). Why:
/// the model's own bounds are per image, and a batch of them is what a step allocates at once.
pub const MAX_STEP_ACTIVATION_FLOATS: u64 = 1 << 33;

/// A configuration value that cannot be trained.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

fn default_attention() -> String {
    "plain".into()
}
fn default_model() -> String {
    "vit-small".into()
}
fn default_epochs() -> usize {
    10
}
fn default_batch_size() -> usize {
    128
}
fn default_lr() -> f64 {
    5e-4
}
fn default_weight_decay() -> f64 {
    0.05
}
fn default_warmup_epochs() -> f64 {
    1.0
}
fn default_label_smoothing() -> f64 {
    0.1
}
fn default_clip() -> f64 {
    1.0
}
fn default_train_fraction() -> f64 {
    1.0
}
fn default_form() -> String {
    "symmetric".into()
}
fn default_spectral_eps() -> f64 {
    1e-4
}
fn default_spectral_upper() -> f64 {
    1.0
}
fn default_spectral_init() -> String {
    "matched".into()
}

/// The initialisations of the spectral eigenvalues `spectral_init` accepts.
pub const SPECTRAL_INITS: [&str; 2] = ["matched", "uniform"];

/// The configuration of one training run. Field order is the order of the JSON, which the run
/// hash covers: append new fields at the end with a default that reproduces the old behaviour.
#[derive(Args, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Dataset: fashion-mnist, mnist, cifar10, cifar100, cifar10-jpeg.
    #[arg(
        long,
        required_unless_present = "config",
        default_value = "",
        hide_default_value = true
    )]
    pub dataset: String,
    /// Model preset: vit-small (28×28×1), vit-cifar (32×32×3), deit-ti.
    #[arg(long, default_value = "vit-small")]
    #[serde(default = "default_model")]
    pub model: String,
    /// Attention variant: plain, featscale, attnscale, spectral+, spectral-.
    #[arg(long, default_value = "plain", value_parser = parse_attention)]
    #[serde(default = "default_attention")]
    pub attention: String,
    /// Override the preset's depth.
    #[arg(long)]
    #[serde(default)]
    pub depth: Option<usize>,
    /// Override the preset's width (the MLP hidden width scales with it).
    #[arg(long)]
    #[serde(default)]
    pub width: Option<usize>,
    /// Override the preset's number of heads.
    #[arg(long)]
    #[serde(default)]
    pub heads: Option<usize>,
    /// Epochs.
    #[arg(long, default_value_t = default_epochs())]
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// Images per step.
    #[arg(long, default_value_t = default_batch_size())]
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Peak learning rate (AdamW, cosine schedule).
    #[arg(long, default_value_t = default_lr())]
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Decoupled weight decay.
    #[arg(long, default_value_t = default_weight_decay())]
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f64,
    /// Linear warm-up, in epochs (fractions allowed).
    #[arg(long, default_value_t = default_warmup_epochs())]
    #[serde(default = "default_warmup_epochs")]
    pub warmup_epochs: f64,
    /// Label smoothing of the training loss.
    #[arg(long, default_value_t = default_label_smoothing())]
    #[serde(default = "default_label_smoothing")]
    pub label_smoothing: f64,
    /// Global gradient-norm clip (0 = off).
    #[arg(long, default_value_t = default_clip())]
    #[serde(default = "default_clip")]
    pub clip: f64,
    /// Class-balanced fraction of the training set, in (0, 1].
    #[arg(long, default_value_t = default_train_fraction())]
    #[serde(default = "default_train_fraction")]
    pub train_fraction: f64,
    /// Seed (initialisation, shuffling, augmentation, drop-path).
    #[arg(long, default_value_t = 0)]
    #[serde(default)]
    pub seed: u64,
    /// At most this many batches per epoch (smoke tests).
    #[arg(long)]
    #[serde(default)]
    pub max_train_batches: Option<usize>,
    /// Evaluate on the first N test images only.
    #[arg(long)]
    #[serde(default)]
    pub eval_limit: Option<usize>,
    /// Form of the spectral H_h: symmetric (the paper's Q(Θ) diag(λ) Q(Θ)ᵀ), general
    /// (V diag(λ) V⁻¹) or lowrank (our tied d×d_h extension).
    #[arg(long, default_value_t = default_form(), value_parser = parse_form)]
    #[serde(default = "default_form")]
    pub form: String,
    /// Lower clip ε of the spectral |λ|.
    #[arg(long, default_value_t = default_spectral_eps())]
    #[serde(default = "default_spectral_eps")]
    pub spectral_eps: f64,
    /// Upper clip of the spectral |λ|.
    #[arg(long, default_value_t = default_spectral_upper())]
    #[serde(default = "default_spectral_upper")]
    pub spectral_upper: f64,
    /// Initial spectral eigenvalues: `matched` (|λ| spread in [r/2, r] with r the spectral
    /// radius of plain attention's H_h at initialisation, so both start alike) or `uniform`
    /// (|λ| in [0.09, 0.9]·upper).
    #[arg(long, default_value_t = default_spectral_init(), value_parser = parse_spectral_init)]
    #[serde(default = "default_spectral_init")]
    pub spectral_init: String,
    /// Use |γ| in the LayerNorm that feeds each attention, so it cannot flip H's signs (C8).
    #[arg(long)]
    #[serde(default)]
    pub nonneg_gamma: bool,
    /// Maximal drop-path rate (linear in depth).
    #[arg(long, default_value_t = 0.0)]
    #[serde(default)]
    pub drop_path: f64,
    /// Override the preset's patch size.
    #[arg(long)]
    #[serde(default)]
    pub patch_size: Option<usize>,
    /// Random-crop padding of the training augmentation (overrides the dataset's default:
    /// 4 for CIFAR, 0 for the MNISTs).
    #[arg(long)]
    #[serde(default)]
    pub crop_pad: Option<usize>,
    /// Optimiser steps per epoch, drawn from consecutive shuffled passes over the training set
    /// (default: one pass). Fixing it gives every training-set size the same number of steps.
    #[arg(long)]
    #[serde(default)]
    pub epoch_steps: Option<usize>,
    /// Hold out this many class-balanced training images (drawn with the seed) and evaluate on
    /// them instead of the test set: how a learning rate is chosen without the test set.
    #[arg(long)]
    #[serde(default)]
    pub val_images: Option<usize>,
    /// Random horizontal flips in the training augmentation (overrides the dataset's default:
    /// on for CIFAR, off for the MNISTs; a mirrored garment is still the same garment, a
    /// mirrored digit is not).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hflip: Option<bool>,
    /// Probability of random erasing per training image (DeiT's `RandomErasing`: one rectangle of
    /// 2–33 % of the image filled with normal noise; default 0, off).
    #[arg(long)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub random_erase: Option<f64>,
    /// What the classifier reads: `cls` (the CLS token, default) or `mean` (the mean patch
    /// token).
    #[arg(long, value_parser = parse_pooling)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pooling: Option<String>,
}

impl Default for TrainConfig {
    /// Every flag's default, with no dataset (which [`TrainConfig::validate`] then refuses).
    fn default() -> Self {
        TrainConfig {
            dataset: String::new(),
            model: default_model(),
            attention: default_attention(),
            depth: None,
            width: None,
            heads: None,
            epochs: default_epochs(),
            batch_size: default_batch_size(),
            lr: default_lr(),
            weight_decay: default_weight_decay(),
            warmup_epochs: default_warmup_epochs(),
            label_smoothing: default_label_smoothing(),
            clip: default_clip(),
            train_fraction: default_train_fraction(),
            seed: 0,
            max_train_batches: None,
            eval_limit: None,
            form: default_form(),
            spectral_eps: default_spectral_eps(),
            spectral_upper: default_spectral_upper(),
            spectral_init: default_spectral_init(),
            nonneg_gamma: false,
            drop_path: 0.0,
            patch_size: None,
            crop_pad: None,
            epoch_steps: None,
            val_images: None,
            hflip: None,
            random_erase: None,
            pooling: None,
        }
    }
}

fn parse_pooling(text: &str) -> Result<String, String> {
    text.parse::<Pooling>()
        .map(|p| p.name().to_string())
        .map_err(|e| e.to_string())
}

fn parse_form(text: &str) -> Result<String, String> {
    text.parse::<SpectralForm>()
        .map(|f| f.name().to_string())
        .map_err(|e| e.to_string())
}

fn parse_spectral_init(text: &str) -> Result<String, String> {
    if SPECTRAL_INITS.contains(&text) {
        Ok(text.to_string())
    } else {
        Err(format!(
            "unknown spectral_init {text:?} (known: {})",
            SPECTRAL_INITS.join(", ")
        ))
    }
}

fn parse_attention(text: &str) -> Result<String, String> {
    text.parse::<AttentionKind>()
        .map(|_| text.to_string())
        .map_err(|_| {
            format!("unknown attention {text:?} (known: plain, featscale, attnscale, spectral+, spectral-)")
        })
}

impl TrainConfig {
    /// Checks every value, so a bad flag or experiment file fails before any data is loaded or
    /// any training starts. `file` names the source (a file, or `command line`) in the error.
    pub fn validate(&self, file: &str) -> Result<(), ConfigError> {
        let bad = |m: String| {
            Err(ConfigError::Invalid {
                file: file.to_string(),
                message: m,
            })
        };
        if DatasetKind::from_name(&self.dataset).is_none() {
            let known: Vec<_> = DatasetKind::ALL.iter().map(|k| k.name()).collect();
            return bad(format!(
                "unknown dataset {:?} (known: {})",
                self.dataset,
                known.join(", ")
            ));
        }
        if self.attention.parse::<AttentionKind>().is_err() {
            return bad(format!(
                "unknown attention {:?} (known: plain, featscale, attnscale, spectral+, spectral-)",
                self.attention
            ));
        }
        if self.dataset.is_empty() {
            return bad("a dataset is required (--dataset, or `dataset` in the file)".into());
        }
        if self.epochs == 0 || self.batch_size == 0 {
            return bad("epochs and batch_size must be at least 1".into());
        }
        if !(self.train_fraction > 0.0 && self.train_fraction <= 1.0) {
            return bad(format!(
                "train_fraction must be in (0, 1], got {}",
                self.train_fraction
            ));
        }
        for (name, v) in [
            ("lr", self.lr),
            ("weight_decay", self.weight_decay),
            ("warmup_epochs", self.warmup_epochs),
            ("label_smoothing", self.label_smoothing),
            ("clip", self.clip),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("{name} must be finite and non-negative, got {v}"));
            }
        }
        let counts = [
            ("depth", self.depth),
            ("width", self.width),
            ("heads", self.heads),
            ("max_train_batches", self.max_train_batches),
            ("patch_size", self.patch_size),
            ("epoch_steps", self.epoch_steps),
            ("val_images", self.val_images),
        ];
        let zero: Vec<&str> = counts
            .iter()
            .filter(|(_, v)| *v == Some(0))
            .map(|(n, _)| *n)
            .collect();
        if !zero.is_empty() {
            return bad(format!("{} must be at least 1", zero.join(", ")));
        }
        if let Err(e) = parse_form(&self.form) {
            return bad(e);
        }
        if let Err(e) = parse_spectral_init(&self.spectral_init) {
            return bad(e);
        }
        if !(self.spectral_eps.is_finite()
            && self.spectral_eps > 0.0
            && self.spectral_upper.is_finite()
            && self.spectral_upper >= self.spectral_eps)
        {
            return bad(format!(
                "need 0 < spectral_eps ≤ spectral_upper, got spectral_eps {} and spectral_upper {}",
                self.spectral_eps, self.spectral_upper
            ));
        }
        if !(self.drop_path.is_finite() && (0.0..1.0).contains(&self.drop_path)) {
            return bad(format!(
                "drop_path must be in [0, 1), got {}",
                self.drop_path
            ));
        }
        if self
            .random_erase
            .is_some_and(|p| !(p.is_finite() && (0.0..=1.0).contains(&p)))
        {
            return bad(format!(
                "random_erase must be a probability in [0, 1], got {}",
                self.random_erase.unwrap_or_default()
            ));
        }
        if let Some(Err(e)) = self.pooling.as_deref().map(str::parse::<Pooling>) {
            return bad(e.to_string());
        }
        if self.crop_pad.is_some_and(|p| p > 64) {
            return bad("crop_pad must be at most 64 pixels".into());
        }
        if self.eval_limit == Some(0) {
            return bad(
                "eval_limit must be at least 1 (leave it out for the whole test set)".into(),
            );
        }
        // The model's size, so an absurd --width or --heads is a clear error here rather than an
        // allocation failure (an abort) when the model is built.
        let model = match self.vit_config() {
            Ok(m) => m,
            Err(e) => return bad(e.to_string()),
        };
        let step = model
            .activation_floats_per_image()
            .and_then(|n| n.checked_mul(self.batch_size as u64));
        if step.is_none_or(|n| n > MAX_STEP_ACTIVATION_FLOATS) {
            return bad(format!(
                "a training step of batch_size {} would keep about {} activation floats, more \
                 than the limit of {MAX_STEP_ACTIVATION_FLOATS}; lower batch_size",
                self.batch_size,
                step.map_or("more than 2^64".into(), |n| n.to_string())
            ));
        }
        Ok(())
    }

    /// The model this run trains: the `model` preset with `depth`, `width` (the MLP's hidden
    /// width scales with it) and `heads` overridden, `attention` set and the dataset's number of
    /// classes, validated (which bounds its size). The preset's image shape is not checked
    /// against the dataset here.
    pub fn vit_config(&self) -> Result<ViTConfig, eigenformer_model::ModelError> {
        let mut cfg = ViTConfig::preset(&self.model)?;
        cfg.attention = self.attention_kind();
        if let Some(d) = self.depth {
            cfg.depth = d;
        }
        if let Some(w) = self.width {
            // Widened in u128 so that an absurd width is refused by the size bound below
            // instead of overflowing here.
            let hidden = cfg.mlp_hidden as u128 * w as u128 / cfg.width.max(1) as u128;
            cfg.mlp_hidden = usize::try_from(hidden).unwrap_or(usize::MAX);
            cfg.width = w;
        }
        if let Some(h) = self.heads {
            cfg.heads = h;
        }
        if let Some(p) = self.patch_size {
            cfg.patch_size = p;
        }
        cfg.spectral = SpectralOptions {
            form: self.form.parse().unwrap_or_default(),
            eps: self.spectral_eps as f32,
            upper: self.spectral_upper as f32,
            ..cfg.spectral
        };
        cfg.nonneg_ln_gamma = self.nonneg_gamma;
        cfg.drop_path = self.drop_path as f32;
        if let Some(p) = &self.pooling {
            cfg.pooling = p.parse()?;
        }
        if let Some(kind) = DatasetKind::from_name(&self.dataset) {
            cfg.classes = kind.classes();
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// The hash of the full configuration (16 hex digits of a sha256 over [`CACHE_VERSION`] and
    /// the spec's JSON, whose field order is fixed): equal specs give equal hashes, and a change of
    /// any field gives another.
    pub fn hash(&self) -> String {
        let mut h = eigenformer_io::Sha256Stream::default();
        h.update(format!("eigenformer-run-v{CACHE_VERSION}\n").as_bytes());
        // Serialising a struct of plain fields cannot fail; an empty string would still hash.
        h.update(serde_json::to_string(self).unwrap_or_default().as_bytes());
        h.hex()[..16].to_string()
    }

    /// A short human label: `spectral+ depth=4 fraction=0.25 seed=1`.
    pub fn label(&self) -> String {
        let mut s = self.attention.clone();
        if let Some(d) = self.depth {
            s.push_str(&format!(" depth={d}"));
        }
        if self.train_fraction < 1.0 {
            s.push_str(&format!(" fraction={}", self.train_fraction));
        }
        if self.attention_kind().is_spectral() {
            if self.form != default_form() {
                s.push_str(&format!(" form={}", self.form));
            }
            if self.spectral_upper != default_spectral_upper() {
                s.push_str(&format!(" upper={}", self.spectral_upper));
            }
            if self.spectral_eps != default_spectral_eps() {
                s.push_str(&format!(" eps={}", self.spectral_eps));
            }
        }
        if self.nonneg_gamma {
            s.push_str(" nonneg-gamma");
        }
        if self.val_images.is_some() {
            s.push_str(&format!(" lr={} (validation)", self.lr));
        }
        s.push_str(&format!(" seed={}", self.seed));
        s
    }

    /// Training images per epoch (the dataset's training split, the fraction and the batch cap),
    /// for progress and cost estimates; the class-balanced subset may differ by a few images.
    pub fn images_per_epoch(&self) -> usize {
        let full = match DatasetKind::from_name(&self.dataset) {
            Some(DatasetKind::Cifar10 | DatasetKind::Cifar100 | DatasetKind::Cifar10Jpeg) => 50_000,
            _ => 60_000,
        };
        let full = full - self.val_images.unwrap_or(0).min(full);
        let subset = (full as f64 * self.train_fraction).round() as usize;
        if let Some(steps) = self.epoch_steps {
            return steps * self.batch_size;
        }
        match self.max_train_batches {
            Some(m) => subset.min(m * self.batch_size),
            None => subset,
        }
    }

    /// Training image-steps of the whole run (images per epoch × epochs).
    pub fn image_steps(&self) -> usize {
        self.images_per_epoch() * self.epochs
    }

    /// The attention variant (validated by [`TrainConfig::validate`]; plain if it does not parse).
    pub fn attention_kind(&self) -> AttentionKind {
        self.attention.parse().unwrap_or(AttentionKind::Plain)
    }

    /// The gradient-norm clip, `None` when off (0).
    pub fn clip_norm(&self) -> Option<f32> {
        (self.clip > 0.0).then_some(self.clip as f32)
    }

    /// Differences that make a checkpoint of `self` unusable for a run of `other` (empty = same):
    /// every field but `eval_limit`, which only changes the evaluation.
    pub fn mismatches(&self, other: &TrainConfig) -> Vec<String> {
        let (a, b) = (fields(self), fields(other));
        // Over the keys of both: an option left out of one side's JSON (a `None` that is not
        // serialised) differs from a value on the other.
        let null = serde_json::Value::Null;
        let extra = b.keys().filter(|k| !a.contains_key(*k));
        a.keys()
            .chain(extra)
            .filter(|k| k.as_str() != "eval_limit")
            .filter_map(|k| {
                let (v, w) = (a.get(k).unwrap_or(&null), b.get(k).unwrap_or(&null));
                (v != w).then(|| format!("{}: checkpoint {v}, now {w}", k.replace('_', "-")))
            })
            .collect()
    }
}

/// The fields of a configuration as JSON values, in declaration order.
fn fields(c: &TrainConfig) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::to_value(c) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[arg(long)]
        config: Option<std::path::PathBuf>,
        #[command(flatten)]
        train: TrainConfig,
    }

    #[test]
    fn flags_and_file_give_the_same_configuration() {
        let from_flags =
            Cli::parse_from(["t", "--dataset", "mnist", "--lr", "0.002", "--depth", "3"]).train;
        let from_file: TrainConfig =
            toml::from_str("dataset = \"mnist\"\nlr = 0.002\ndepth = 3\n").unwrap();
        assert_eq!(from_flags, from_file);
        assert_eq!(from_flags.hash(), from_file.hash());
        from_flags.validate("command line").unwrap();
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let err =
            toml::from_str::<TrainConfig>("dataset = \"mnist\"\nlearning_rate = 1\n").unwrap_err();
        assert!(err.to_string().contains("learning_rate"), "{err}");
        let mut c: TrainConfig = toml::from_str("dataset = \"mnist\"\n").unwrap();
        c.train_fraction = 0.0;
        assert!(c
            .validate("f.toml")
            .unwrap_err()
            .to_string()
            .starts_with("f.toml: train_fraction"));
        assert!(Cli::try_parse_from(["t", "--attention", "nope", "--dataset", "mnist"]).is_err());
        assert!(
            Cli::try_parse_from(["t"]).is_err(),
            "a dataset is required without --config"
        );
        assert!(Cli::try_parse_from(["t", "--config", "c.json"]).is_ok());
    }

    /// Issue 14, items 8 and 12: sizes that would abort on allocation, a negative clip, zero
    /// batches and a zero evaluation limit are refused with the value and the limit.
    #[test]
    fn absurd_sizes_and_zero_or_negative_values_are_refused() {
        let parse = |args: &[&str]| {
            let mut all = vec!["t", "--dataset", "fashion-mnist"];
            all.extend_from_slice(args);
            Cli::try_parse_from(all).map(|c| c.train.validate("command line"))
        };
        let refused = |args: &[&str], needle: &str| match parse(args) {
            Ok(Err(e)) => assert!(e.to_string().contains(needle), "{args:?}: {e}"),
            Ok(Ok(())) => panic!("{args:?} accepted"),
            Err(e) => assert!(e.to_string().contains(needle), "{args:?}: {e}"),
        };
        refused(
            &["--width", "1000000", "--heads", "1"],
            "more than the limit of",
        );
        refused(
            &["--width", "18446744073709551615", "--heads", "1"],
            "model too large",
        );
        refused(
            &["--heads", "100000", "--width", "100000"],
            "model too large",
        );
        refused(&["--batch-size", "100000000"], "lower batch_size");
        refused(&["--clip=-1"], "clip must be finite and non-negative");
        refused(&["--clip", "-1"], "-1");
        refused(
            &["--max-train-batches", "0"],
            "max_train_batches must be at least 1",
        );
        refused(&["--eval-limit", "0"], "eval_limit must be at least 1");
        refused(&["--batch-size", "0"], "batch_size must be at least 1");
        assert!(matches!(
            parse(&["--width", "64", "--heads", "2"]),
            Ok(Ok(()))
        ));
        // The experiment profiles' largest model (the gpu profile's) is accepted.
        let full: TrainConfig =
            toml::from_str("dataset = \"cifar10\"\nmodel = \"deit-ti\"\nbatch_size = 256\n")
                .unwrap();
        full.validate("f.toml").unwrap();
    }

    #[test]
    fn mismatches_name_the_differing_flags_and_ignore_eval_limit() {
        let a: TrainConfig = toml::from_str("dataset = \"mnist\"\n").unwrap();
        let mut b = a.clone();
        b.eval_limit = Some(10);
        assert!(a.mismatches(&b).is_empty());
        b.batch_size = 7;
        let m = a.mismatches(&b);
        assert_eq!(m.len(), 1);
        assert!(
            m[0].starts_with("batch-size: checkpoint 128, now 7"),
            "{m:?}"
        );
        // Options that are left out of the JSON when unset still count, on either side.
        let mut c = a.clone();
        c.random_erase = Some(0.25);
        assert_eq!(
            a.mismatches(&c),
            ["random-erase: checkpoint null, now 0.25"]
        );
        assert_eq!(
            c.mismatches(&a),
            ["random-erase: checkpoint 0.25, now null"]
        );
    }

    #[test]
    fn augmentation_and_pooling_options_are_checked_and_leave_old_hashes_alone() {
        let a: TrainConfig = toml::from_str("dataset = \"fashion-mnist\"\n").unwrap();
        let before = a.hash();
        let b: TrainConfig = toml::from_str(
            "dataset = \"fashion-mnist\"\nrandom_erase = 0.25\npooling = \"mean\"\n",
        )
        .unwrap();
        b.validate("f.toml").unwrap();
        assert_ne!(b.hash(), before);
        assert_eq!(a.hash(), before);
        assert!(!serde_json::to_string(&a).unwrap().contains("pooling"));
        let vit = b.vit_config().unwrap();
        assert_eq!(vit.pooling, eigenformer_model::Pooling::Mean);
        let mut bad = a.clone();
        bad.random_erase = Some(1.5);
        assert!(bad
            .validate("f.toml")
            .unwrap_err()
            .to_string()
            .contains("random_erase"));
        bad.random_erase = None;
        bad.pooling = Some("max".into());
        assert!(bad
            .validate("f.toml")
            .unwrap_err()
            .to_string()
            .contains("max"));
        assert!(Cli::try_parse_from(["t", "--dataset", "mnist", "--pooling", "max"]).is_err());
    }
}
