//! The audit's result (`audit.json`) and how per-sentence records are folded into it.
//!
//! Layout: `layers[i]` describes hidden state i (0 = the embedding output, i ≥ 1 = the output of
//! encoder layer i); its `heads` are the heads of the encoder layer that produced it (empty for
//! i = 0), so each row of the report puts a layer's smoothing next to the spectra that caused it.

use crate::audit::measure::{HeadPrediction, SentenceRecord};
use crate::audit::spectra::{negative_real_fraction, spectral_radius, HeadSpectra};
use eigenformer_spectral::{Complex64, Regime};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The model audited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// `minilm`, `mpnet` or the directory given.
    pub name: String,
    /// The checkpoint directory.
    pub dir: String,
    /// `model_type` from `config.json`.
    pub model_type: String,
    pub layers: usize,
    pub heads: usize,
    pub width: usize,
    pub head_dim: usize,
    pub post_ln: bool,
    /// The longest input the model takes (longer sentences were cut).
    pub max_tokens: usize,
}

/// The text audited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextInfo {
    /// Where the sentences came from.
    pub source: String,
    /// How they were chosen.
    pub selection: String,
    pub sentences: usize,
    /// Sentences cut to the model's maximum length.
    pub truncated: usize,
    pub mean_tokens: f64,
    pub max_tokens: usize,
}

/// One head of one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadReport {
    pub head: usize,
    /// Eigenvalues of `W_O^h W_V^h` (d_h×d_h) as `[re, im]`: the nonzero spectrum of `H_h` (C9).
    pub eigenvalues_h: Vec<Complex64>,
    /// The same for `diag(γ) H_h`.
    pub eigenvalues_h_eff: Vec<Complex64>,
    /// How many zeros complete each spectrum to the width d (`d − d_h`).
    pub zero_eigenvalues: usize,
    /// Fraction of `eigenvalues_h` with negative real part.
    pub negative_real_fraction: f64,
    /// Fraction of `eigenvalues_h_eff` with negative real part.
    pub negative_real_fraction_eff: f64,
    /// `max |h|` of `H_h`.
    pub spectral_radius: f64,
    /// `max |h|` of `diag(γ) H_h`.
    pub spectral_radius_eff: f64,
    /// Regime of `X + A X H_h` over the sentences (A measured on each): name → count.
    pub regime_counts: BTreeMap<String, usize>,
    /// The same with `diag(γ) H_h`.
    pub regime_counts_eff: BTreeMap<String, usize>,
    /// Mean over sentences of the dominating `|μ|` (with `H_h`).
    pub mean_dominant_modulus: f64,
    /// Mean over sentences of the dominating `|μ|` (with `diag(γ) H_h`).
    pub mean_dominant_modulus_eff: f64,
    /// The H-eigenvalue most often in the dominating pair (with `H_h`), and in how many sentences.
    pub dominating_h: Complex64,
    pub dominating_h_sentences: usize,
    /// Fraction of sentences in which the dominating pair (with `H_h`) is the DC mode of A.
    pub dc_dominates_fraction: f64,
}

/// One hidden state and the heads of the layer that produced it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerReport {
    /// 0 = embedding output, i = output of encoder layer i.
    pub index: usize,
    /// Mean over sentences of the mean pairwise token cosine.
    pub mean_cosine: f64,
    /// The same without special tokens (`null` if no sentence has two other tokens).
    pub mean_cosine_no_special: Option<f64>,
    /// Mean over sentences of `‖HC‖_F/‖DC‖_F`.
    pub hc_dc: f64,
    /// Mean over sentences of `σ₂/σ₁`.
    pub sigma2_over_sigma1: f64,
    /// Mean over sentences of the effective rank.
    pub effective_rank: f64,
    /// Negative entries of the γ feeding this layer's attention (`null` for index 0).
    pub gamma_negative: Option<usize>,
    pub heads: Vec<HeadReport>,
}

/// The whole audit (`audit.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditReport {
    pub model: ModelInfo,
    pub text: TextInfo,
    pub layers: Vec<LayerReport>,
    /// Wall-clock seconds of the measurement (forward passes and analyses).
    pub seconds: f64,
}

/// Every regime name with a zero count, so each head lists the same keys.
pub fn empty_regime_counts() -> BTreeMap<String, usize> {
    [
        Regime::Smoothing,
        Regime::AlternatingSmoothing,
        Regime::Sharpening,
        Regime::Balanced,
    ]
    .iter()
    .map(|r| (r.name().to_string(), 0))
    .collect()
}

/// Mean of the finite values (`NaN` when there are none): a degenerate sentence (e.g. a zero
/// mean token, HC/DC = ∞) must not turn a layer's average into ∞.
pub fn finite_mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (sum, n) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}

fn head_report(head: usize, s: &HeadSpectra, d: usize, preds: &[HeadPrediction]) -> HeadReport {
    let mut regime_counts = empty_regime_counts();
    let mut regime_counts_eff = empty_regime_counts();
    let mut h_counts: BTreeMap<usize, (usize, Complex64)> = BTreeMap::new();
    let mut dc = 0usize;
    for p in preds {
        *regime_counts.entry(p.regime.name().into()).or_default() += 1;
        *regime_counts_eff
            .entry(p.regime_eff.name().into())
            .or_default() += 1;
        h_counts
            .entry(p.dominating.h_index)
            .or_insert((0, p.dominating.h))
            .0 += 1;
        dc += usize::from(p.dominating.is_dc);
    }
    let (dominating_h_sentences, dominating_h) = h_counts
        .values()
        .copied()
        .max_by_key(|(count, _)| *count)
        .unwrap_or((0, Complex64::new(f64::NAN, f64::NAN)));
    HeadReport {
        head,
        eigenvalues_h: s.h.small.clone(),
        eigenvalues_h_eff: s.h_eff.small.clone(),
        zero_eigenvalues: d.saturating_sub(s.h.small.len()),
        negative_real_fraction: negative_real_fraction(&s.h.small),
        negative_real_fraction_eff: negative_real_fraction(&s.h_eff.small),
        spectral_radius: spectral_radius(&s.h.small),
        spectral_radius_eff: spectral_radius(&s.h_eff.small),
        regime_counts,
        regime_counts_eff,
        mean_dominant_modulus: finite_mean(preds.iter().map(|p| p.dominating.modulus)),
        mean_dominant_modulus_eff: finite_mean(preds.iter().map(|p| p.dominating_eff.modulus)),
        dominating_h,
        dominating_h_sentences,
        dc_dominates_fraction: if preds.is_empty() {
            f64::NAN
        } else {
            dc as f64 / preds.len() as f64
        },
    }
}

/// Fold the per-sentence records into the per-layer report. `spectra[l][h]` and
/// `gamma_negative[l]` describe encoder layer l; `width` is d.
pub fn build_layers(
    records: &[SentenceRecord],
    spectra: &[Vec<HeadSpectra>],
    gamma_negative: &[usize],
    width: usize,
) -> Vec<LayerReport> {
    let states = records.first().map_or(0, |r| r.states.len());
    (0..states)
        .map(|i| {
            let at = |f: &dyn Fn(&SentenceRecord) -> f64| {
                finite_mean(records.iter().filter(|r| i < r.states.len()).map(f))
            };
            let no_special: Vec<f64> = records
                .iter()
                .filter_map(|r| r.states.get(i).and_then(|s| s.mean_cosine_no_special))
                .collect();
            let heads = if i == 0 {
                Vec::new()
            } else {
                spectra
                    .get(i - 1)
                    .map(|layer| {
                        layer
                            .iter()
                            .enumerate()
                            .map(|(h, s)| {
                                let preds: Vec<HeadPrediction> = records
                                    .iter()
                                    .filter_map(|r| r.heads.get(i - 1).and_then(|l| l.get(h)))
                                    .copied()
                                    .collect();
                                head_report(h, s, width, &preds)
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            LayerReport {
                index: i,
                mean_cosine: at(&|r| r.states[i].mean_cosine),
                mean_cosine_no_special: (!no_special.is_empty()).then(|| finite_mean(no_special)),
                hc_dc: at(&|r| r.states[i].hc_dc),
                sigma2_over_sigma1: at(&|r| r.states[i].sigma_ratio),
                effective_rank: at(&|r| r.states[i].effective_rank),
                gamma_negative: i
                    .checked_sub(1)
                    .and_then(|l| gamma_negative.get(l).copied()),
                heads,
            }
        })
        .collect()
}

impl LayerReport {
    /// Mean over heads of the fraction of eigenvalues with negative real part (`eff`: of
    /// `diag(γ) H_h`); `NaN` without heads.
    pub fn mean_negative_fraction(&self, eff: bool) -> f64 {
        finite_mean(self.heads.iter().map(|h| {
            if eff {
                h.negative_real_fraction_eff
            } else {
                h.negative_real_fraction
            }
        }))
    }

    /// Regime counts summed over heads (`eff`: with `diag(γ) H_h`).
    pub fn regime_totals(&self, eff: bool) -> BTreeMap<String, usize> {
        let mut total = empty_regime_counts();
        for h in &self.heads {
            let counts = if eff {
                &h.regime_counts_eff
            } else {
                &h.regime_counts
            };
            for (k, v) in counts {
                *total.entry(k.clone()).or_default() += v;
            }
        }
        total
    }
}

impl AuditReport {
    /// Fraction of (head, sentence) pairs over all layers whose regime is smoothing or
    /// alternating smoothing, i.e. the DC mode dominates (`eff`: with `diag(γ) H_h`).
    pub fn dc_regime_fraction(&self, eff: bool) -> f64 {
        let (mut dc, mut all) = (0usize, 0usize);
        for layer in &self.layers {
            for (k, v) in layer.regime_totals(eff) {
                all += v;
                if k == Regime::Smoothing.name() || k == Regime::AlternatingSmoothing.name() {
                    dc += v;
                }
            }
        }
        if all == 0 {
            f64::NAN
        } else {
            dc as f64 / all as f64
        }
    }

    /// Mean over all heads of the negative-real-part fraction (`eff`: of `diag(γ) H_h`).
    pub fn mean_negative_fraction(&self, eff: bool) -> f64 {
        finite_mean(self.layers.iter().flat_map(|l| {
            l.heads.iter().map(move |h| {
                if eff {
                    h.negative_real_fraction_eff
                } else {
                    h.negative_real_fraction
                }
            })
        }))
    }
}
