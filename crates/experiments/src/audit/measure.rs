//! The input-dependent part of the audit, one sentence at a time: the smoothing metrics of every
//! hidden state (theory.md §4) and, for every head, the dominating pair and regime of
//! `X + A X H` with the attention A the head actually applied to this sentence (C1).

use crate::audit::spectra::HeadSpectra;
use crate::audit::tokenize::Tokens;
use crate::audit::AuditError;
use eigenformer_model::hf::HfEncoder;
use eigenformer_spectral::{
    attention_spectrum, mean_pairwise_cosine, smoothing_metrics, ModePair, Regime, SpectrumOptions,
    UpdateSpectrum,
};
use ndarray::Array2;

/// The §4 metrics of one hidden state of one sentence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StateMetrics {
    /// Mean pairwise token cosine over all tokens.
    pub mean_cosine: f64,
    /// The same without the special tokens (`None` when fewer than two other tokens remain).
    pub mean_cosine_no_special: Option<f64>,
    /// `‖HC‖_F / ‖DC‖_F`.
    pub hc_dc: f64,
    /// `σ₂/σ₁`.
    pub sigma_ratio: f64,
    /// `exp(entropy(σ²/Σσ²))`.
    pub effective_rank: f64,
}

/// One head's prediction for one sentence, with `H` and with `diag(γ) H`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadPrediction {
    /// Regime with `H`.
    pub regime: Regime,
    /// The first dominating pair with `H`.
    pub dominating: ModePair,
    /// Regime with `diag(γ) H`.
    pub regime_eff: Regime,
    /// The first dominating pair with `diag(γ) H`.
    pub dominating_eff: ModePair,
}

/// Everything measured on one sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct SentenceRecord {
    /// Number of tokens (special ones included).
    pub tokens: usize,
    /// Whether the sentence was cut to the model's length.
    pub truncated: bool,
    /// `layers + 1` entries: index 0 the embedding output.
    pub states: Vec<StateMetrics>,
    /// `[layer][head]`, layer 0 the first encoder layer.
    pub heads: Vec<Vec<HeadPrediction>>,
}

/// Tolerance for the row sums of measured attention: the forward runs in f32, so a row of n
/// softmax weights sums to 1 only within about `n · 6e-8`.
pub const MEASURED_STOCHASTIC_TOL: f64 = 1e-4;

fn state_metrics(x: &Array2<f64>, special: &[usize]) -> Result<StateMetrics, AuditError> {
    let m = smoothing_metrics(x.view(), &[])?;
    let others = x.nrows() - special.iter().filter(|&&i| i < x.nrows()).count();
    let mean_cosine_no_special = if others >= 2 {
        Some(mean_pairwise_cosine(x.view(), special)?)
    } else {
        None
    };
    Ok(StateMetrics {
        mean_cosine: m.mean_cosine,
        mean_cosine_no_special,
        hc_dc: m.hc_dc_ratio,
        sigma_ratio: m.sigma_ratio,
        effective_rank: m.effective_rank,
    })
}

/// Run `model` on one tokenised sentence and measure it. `spectra[l][h]` are the heads' weight
/// spectra ([`crate::audit::spectra::head_spectra`]).
pub fn measure_sentence(
    model: &HfEncoder,
    tokens: &Tokens,
    spectra: &[Vec<HeadSpectra>],
) -> Result<SentenceRecord, AuditError> {
    let trace = model.forward(&tokens.ids)?;
    let states = trace
        .hidden_states
        .iter()
        .map(|x| state_metrics(&x.mapv(f64::from), &tokens.special))
        .collect::<Result<Vec<_>, _>>()?;
    let opts = SpectrumOptions {
        stochastic_tol: MEASURED_STOCHASTIC_TOL,
        ..SpectrumOptions::default()
    };
    let mut heads = Vec::with_capacity(trace.attentions.len());
    for (layer, (atts, specs)) in trace.attentions.iter().zip(spectra).enumerate() {
        let mut row = Vec::with_capacity(atts.len());
        for (head, (a, s)) in atts.iter().zip(specs).enumerate() {
            let a = a.mapv(f64::from);
            let att = attention_spectrum(a.view(), opts.stochastic_tol).map_err(|source| {
                AuditError::Attention {
                    layer,
                    head,
                    source,
                }
            })?;
            let plain = UpdateSpectrum::from_eigenvalues(
                att.eigenvalues.clone(),
                att.dc_index,
                s.analysis_eigenvalues(false),
                &opts,
            )?;
            let eff = UpdateSpectrum::from_eigenvalues(
                att.eigenvalues,
                att.dc_index,
                s.analysis_eigenvalues(true),
                &opts,
            )?;
            row.push(HeadPrediction {
                regime: plain.regime,
                dominating: plain.dominating.first().copied().unwrap_or(plain.best_dc),
                regime_eff: eff.regime,
                dominating_eff: eff.dominating.first().copied().unwrap_or(eff.best_dc),
            });
        }
        heads.push(row);
    }
    Ok(SentenceRecord {
        tokens: tokens.ids.len(),
        truncated: tokens.truncated,
        states,
        heads,
    })
}
