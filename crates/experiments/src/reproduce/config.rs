//! One training run's full configuration ([`TrainSpec`]) and its hash, the key of the run cache.
//!
//! Every flag of `eigenformer train` that changes the trained model is a field here and is passed
//! explicitly to the child, so the result never depends on the command's defaults: the hash of a
//! spec identifies its result. Fields absent from an experiment file take the defaults below,
//! which are the DeiT recipe of theory.md §7 (AdamW, weight decay 0.05, label smoothing 0.1,
//! warm-up, cosine schedule).

use super::error::{ReproError, Result};
use eigenformer_data::DatasetKind;
use eigenformer_model::AttentionKind;
use serde::{Deserialize, Serialize};

/// Bumped when a change of the training code makes cached runs stale (it is part of every hash).
pub const CACHE_VERSION: u32 = 1;

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

/// The configuration of one `eigenformer train` run (one point of an experiment's grid).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    /// `--dataset`.
    pub dataset: String,
    /// `--model` preset.
    #[serde(default = "default_model")]
    pub model: String,
    /// `--attention`: the variant (plain, featscale, attnscale, spectral+, spectral-).
    pub attention: String,
    /// `--depth` (absent: the preset's).
    #[serde(default)]
    pub depth: Option<usize>,
    /// `--width` (absent: the preset's).
    #[serde(default)]
    pub width: Option<usize>,
    /// `--heads` (absent: the preset's).
    #[serde(default)]
    pub heads: Option<usize>,
    /// `--epochs`.
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// `--batch-size`.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// `--lr` (peak).
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// `--weight-decay`.
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f64,
    /// `--warmup-epochs`.
    #[serde(default = "default_warmup_epochs")]
    pub warmup_epochs: f64,
    /// `--label-smoothing`.
    #[serde(default = "default_label_smoothing")]
    pub label_smoothing: f64,
    /// `--clip` (0 = off).
    #[serde(default = "default_clip")]
    pub clip: f64,
    /// `--train-fraction`.
    #[serde(default = "default_train_fraction")]
    pub train_fraction: f64,
    /// `--seed`.
    pub seed: u64,
    /// `--max-train-batches` (smoke runs).
    #[serde(default)]
    pub max_train_batches: Option<usize>,
    /// `--eval-limit`: test images of the clean evaluation.
    #[serde(default)]
    pub eval_limit: Option<usize>,
}

impl TrainSpec {
    /// Checks the values `eigenformer train` would reject, so a bad experiment file fails before
    /// any training starts. `file` names the experiment file in the error.
    pub fn validate(&self, file: &str) -> Result<()> {
        let bad = |m: String| Err(ReproError::spec(file, m));
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
        if [self.depth, self.width, self.heads, self.max_train_batches].contains(&Some(0)) {
            return bad("depth, width, heads and max_train_batches must be at least 1".into());
        }
        Ok(())
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

    /// The arguments of `eigenformer train` for this spec (without `--out`/`--resume`).
    pub fn train_args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "train".into(),
            "--dataset".into(),
            self.dataset.clone(),
            "--model".into(),
            self.model.clone(),
            "--attention".into(),
            self.attention.clone(),
        ];
        for (flag, v) in [
            ("--depth", self.depth),
            ("--width", self.width),
            ("--heads", self.heads),
        ] {
            if let Some(v) = v {
                a.extend([flag.to_string(), v.to_string()]);
            }
        }
        a.extend([
            "--epochs".into(),
            self.epochs.to_string(),
            "--batch-size".into(),
            self.batch_size.to_string(),
            "--lr".into(),
            self.lr.to_string(),
            "--weight-decay".into(),
            self.weight_decay.to_string(),
            "--warmup-epochs".into(),
            self.warmup_epochs.to_string(),
            "--label-smoothing".into(),
            self.label_smoothing.to_string(),
            "--clip".into(),
            self.clip.to_string(),
            "--train-fraction".into(),
            self.train_fraction.to_string(),
            "--seed".into(),
            self.seed.to_string(),
        ]);
        if let Some(m) = self.max_train_batches {
            a.extend(["--max-train-batches".into(), m.to_string()]);
        }
        if let Some(n) = self.eval_limit {
            a.extend(["--eval-limit".into(), n.to_string()]);
        }
        a
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
        s.push_str(&format!(" seed={}", self.seed));
        s
    }

    /// Training images per epoch (the dataset's training split, the fraction and the batch cap),
    /// for progress and cost estimates; the class-balanced subset may differ by a few images.
    pub fn images_per_epoch(&self) -> usize {
        let full = match DatasetKind::from_name(&self.dataset) {
            Some(DatasetKind::Cifar10 | DatasetKind::Cifar100) => 50_000,
            _ => 60_000,
        };
        let subset = (full as f64 * self.train_fraction).round() as usize;
        match self.max_train_batches {
            Some(m) => subset.min(m * self.batch_size),
            None => subset,
        }
    }

    /// Training image-steps of the whole run (images per epoch × epochs).
    pub fn image_steps(&self) -> usize {
        self.images_per_epoch() * self.epochs
    }
}
