//! The audit's result (`audit.json`) and how per-sentence records are folded into it.
//!
//! Layout: `layers[i]` describes hidden state i (0 = the embedding output, i ≥ 1 = the output of
//! encoder layer i); its `heads` are the heads of the encoder layer that produced it (empty for
//! i = 0), so each row of the report puts a layer's smoothing next to the spectra that caused it.
//!
//! The schema is versioned ([`AUDIT_SCHEMA_VERSION`], documented in docs/cli.md). Fields added
//! after version 1 carry `#[serde(default)]`, so that older files still read.

use crate::audit::measure::{HeadPrediction, SentenceRecord};
use crate::audit::spectra::{negative_real_fraction, spectral_radius, HeadSpectra};
use eigenformer_spectral::{Complex64, Regime};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The version of the `audit.json` layout, written as its `schema_version`: 1 is the first
/// versioned layout (the files before it had no `schema_version`; everything they held is
/// still there under the same names); 2 adds the graded DC predictor per head
/// (`mean_dc_log_gap`, `mean_dc_log_gap_sigma`).
pub const AUDIT_SCHEMA_VERSION: u32 = 2;

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
    /// Decoders: causal attention, analysed through its exact diagonal spectrum.
    #[serde(default)]
    pub causal: bool,
    /// Key/value heads (fewer than `heads` with grouped-query attention).
    #[serde(default)]
    pub kv_heads: usize,
    /// The block-input norm: `layernorm` or `rmsnorm`.
    #[serde(default)]
    pub norm: String,
    /// Which head spectrum acts on the residual stream according to the theory: `h` for post-LN
    /// models (C8′: the effective matrix is similar to H), `h_sigma` (`H_eff = P_d diag(γ) H / σ_l`)
    /// for pre-LN models (C8).
    #[serde(default)]
    pub effective_spectrum: String,
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
    /// Inputs left out because they had fewer than two tokens (no pairwise cosine).
    #[serde(default)]
    pub skipped: usize,
}

/// One head of one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadReport {
    pub head: usize,
    /// The key/value head whose `W_V` this head's `H_h` uses (grouped-query attention; `head`
    /// otherwise).
    #[serde(default)]
    pub kv_head: usize,
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
    /// Pre-LN: eigenvalues of `H_eff = P_d diag(γ) H_h / σ_l` (RMSNorm: `diag(γ) H_h / σ_l`), the
    /// d_h nonzero ones; `null` for post-LN models.
    #[serde(default)]
    pub eigenvalues_h_sigma: Option<Vec<Complex64>>,
    #[serde(default)]
    pub negative_real_fraction_sigma: Option<f64>,
    #[serde(default)]
    pub spectral_radius_sigma: Option<f64>,
    /// Regime of `X + A X H_eff` over the sentences.
    #[serde(default)]
    pub regime_counts_sigma: Option<BTreeMap<String, usize>>,
    #[serde(default)]
    pub mean_dominant_modulus_sigma: Option<f64>,
    /// Mean over inputs of the graded DC predictor `log|μ_DC| − log max|μ_non-DC|` with `H_h`
    /// (schema version 2; `null` in older files).
    #[serde(default)]
    pub mean_dc_log_gap: Option<f64>,
    /// Pre-LN: the same with `H_eff` (`null` for post-LN models and older files).
    #[serde(default)]
    pub mean_dc_log_gap_sigma: Option<f64>,
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
    /// Mean over sentences of the mean pairwise cosine after subtracting the corpus-mean token
    /// of this layer (the mean over every token of every sentence): what remains when the
    /// direction all tokens share is taken out.
    #[serde(default)]
    pub mean_cosine_centred: f64,
    /// The same without special tokens.
    #[serde(default)]
    pub mean_cosine_centred_no_special: Option<f64>,
    /// Pre-LN: σ_l of the layer whose heads are listed here, i.e. the mean over every token of
    /// the corpus of the scale its input norm divides by (`√(var + ε)` over the channels of
    /// hidden state i − 1; RMSNorm: `√(mean(x²) + ε)`); `null` for index 0 and post-LN models.
    #[serde(default)]
    pub sigma: Option<f64>,
    /// Negative entries of the γ feeding this layer's attention (`null` for index 0).
    pub gamma_negative: Option<usize>,
    pub heads: Vec<HeadReport>,
}

/// The whole audit (`audit.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditReport {
    /// [`AUDIT_SCHEMA_VERSION`] (0 when read from a file written before versioning).
    #[serde(default)]
    pub schema_version: u32,
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

fn head_report(
    head: usize,
    kv_head: usize,
    s: &HeadSpectra,
    d: usize,
    preds: &[HeadPrediction],
) -> HeadReport {
    let mut regime_counts = empty_regime_counts();
    let mut regime_counts_eff = empty_regime_counts();
    let mut regime_counts_sigma = empty_regime_counts();
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
        if let Some(r) = p.regime_sigma {
            *regime_counts_sigma.entry(r.name().into()).or_default() += 1;
        }
    }
    let sigma = s.h_sigma.as_ref().map(|h| &h.small);
    let (dominating_h_sentences, dominating_h) = h_counts
        .values()
        .copied()
        .max_by_key(|(count, _)| *count)
        .unwrap_or((0, Complex64::new(f64::NAN, f64::NAN)));
    HeadReport {
        head,
        kv_head,
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
        eigenvalues_h_sigma: sigma.cloned(),
        negative_real_fraction_sigma: sigma.map(|v| negative_real_fraction(v)),
        spectral_radius_sigma: sigma.map(|v| spectral_radius(v)),
        regime_counts_sigma: sigma.map(|_| regime_counts_sigma),
        mean_dominant_modulus_sigma: sigma.map(|_| {
            finite_mean(
                preds
                    .iter()
                    .filter_map(|p| p.dominating_sigma.map(|m| m.modulus)),
            )
        }),
        mean_dc_log_gap: Some(finite_mean(preds.iter().map(|p| p.dc_log_gap)))
            .filter(|v| v.is_finite()),
        mean_dc_log_gap_sigma: sigma
            .map(|_| finite_mean(preds.iter().filter_map(|p| p.dc_log_gap_sigma)))
            .filter(|v| v.is_finite()),
    }
}

/// What [`build_layers`] needs besides the records: `spectra[l][h]`, `gamma_negative[l]`,
/// `sigma[l]` (pre-LN; empty otherwise) and `kv_group[h]` describe encoder layer l; `width` is d.
#[derive(Clone, Copy)]
pub struct LayerInputs<'a> {
    pub spectra: &'a [Vec<HeadSpectra>],
    pub gamma_negative: &'a [usize],
    pub sigma: &'a [f64],
    pub kv_group: &'a [usize],
    pub width: usize,
}

/// Fold the per-sentence records into the per-layer report.
pub fn build_layers(records: &[SentenceRecord], inputs: &LayerInputs<'_>) -> Vec<LayerReport> {
    let LayerInputs {
        spectra,
        gamma_negative,
        sigma,
        kv_group,
        width,
    } = *inputs;
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
            let centred_no_special: Vec<f64> = records
                .iter()
                .filter_map(|r| {
                    r.states
                        .get(i)
                        .and_then(|s| s.mean_cosine_centred_no_special)
                })
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
                                let kv = kv_group.get(h).copied().unwrap_or(h);
                                head_report(h, kv, s, width, &preds)
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
                mean_cosine_centred: at(&|r| r.states[i].mean_cosine_centred),
                mean_cosine_centred_no_special: (!centred_no_special.is_empty())
                    .then(|| finite_mean(centred_no_special)),
                sigma: i.checked_sub(1).and_then(|l| sigma.get(l).copied()),
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

    /// Mean over heads of the fraction of `H_eff` eigenvalues with negative real part (pre-LN);
    /// `NaN` without them.
    pub fn mean_negative_fraction_sigma(&self) -> f64 {
        finite_mean(
            self.heads
                .iter()
                .filter_map(|h| h.negative_real_fraction_sigma),
        )
    }

    /// Regime counts with `H_eff` summed over heads (empty without them).
    pub fn regime_totals_sigma(&self) -> BTreeMap<String, usize> {
        let mut total = BTreeMap::new();
        for counts in self
            .heads
            .iter()
            .filter_map(|h| h.regime_counts_sigma.as_ref())
        {
            for (k, v) in counts {
                *total.entry(k.clone()).or_default() += v;
            }
        }
        total
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
    /// The graded DC predictor of hidden state `i`'s layer: the mean over heads (and inputs) of
    /// `log|μ_DC| − log max|μ_non-DC|` with the spectrum that acts on the residual stream, `H_h`
    /// for post-LN models (C8′) and `H_eff` with σ_l for pre-LN ones (C8). `None` for the
    /// embedding output, without heads, or when the audit predates the field.
    pub fn layer_dc_log_gap(&self, i: usize) -> Option<f64> {
        let layer = self.layers.get(i)?;
        let values: Vec<f64> = layer
            .heads
            .iter()
            .map(|h| {
                if self.model.post_ln {
                    h.mean_dc_log_gap
                } else {
                    h.mean_dc_log_gap_sigma
                }
            })
            .collect::<Option<Vec<f64>>>()?;
        let mean = finite_mean(values);
        mean.is_finite().then_some(mean)
    }

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
