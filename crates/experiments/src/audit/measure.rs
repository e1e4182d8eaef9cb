//! The input-dependent part of the audit, one sentence at a time: the smoothing metrics of every
//! hidden state (theory.md §4) and, for every head, the dominating pair and regime of
//! `X + A X H` with the attention A the head actually applied to this sentence (C1).
//!
//! Two quantities need the whole corpus first: the centred token cosine subtracts the
//! corpus-mean token of the layer, and pre-LN models' `H_eff = P_d diag(γ) H / σ_l` divides by
//! the layer's measured scale σ_l. So a sentence's first pass ([`measure_sentence`]) also
//! returns the sums both need and keeps what the second pass ([`finish_sentence`]) uses: the
//! attention spectra, and the hidden states while they fit a memory budget (the others are
//! recomputed, one more forward pass each).

use crate::audit::spectra::HeadSpectra;
use crate::audit::tokenize::Tokens;
use crate::audit::AuditError;
use eigenformer_model::hf::{HfConfig, HfEncoder, NormKind};
use eigenformer_spectral::{
    attention_spectrum, causal_attention_spectrum, mean_pairwise_cosine, smoothing_metrics,
    AttentionSpectrum, ModePair, Regime, SpectrumOptions, UpdateSpectrum,
};
use ndarray::{Array1, Array2, Axis};
use std::sync::atomic::{AtomicUsize, Ordering};

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
    /// Mean pairwise cosine of the tokens minus the corpus-mean token of this layer (set by
    /// [`finish_sentence`]; `NaN` before).
    pub mean_cosine_centred: f64,
    /// The same without the special tokens.
    pub mean_cosine_centred_no_special: Option<f64>,
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
    /// Pre-LN: regime with `H_eff = P_d diag(γ) H / σ_l` (set by [`finish_sentence`]).
    pub regime_sigma: Option<Regime>,
    /// Pre-LN: the first dominating pair with `H_eff`.
    pub dominating_sigma: Option<ModePair>,
    /// `log|μ_DC| − log max|μ_non-DC|` with `H` (see [`dc_log_gap`]).
    pub dc_log_gap: f64,
    /// Pre-LN: the same with `H_eff` (set by [`finish_sentence`]).
    pub dc_log_gap_sigma: Option<f64>,
}

/// The graded DC predictor of one (head, input): `log|μ_DC| − log max|μ_non-DC|`, with μ_DC the
/// DC pair of largest modulus (`a = 1`, the `h` maximising `|1 + h|`) and the maximum over every
/// pair of a non-DC mode of A. Positive when the DC mode outgrows every other mode (smoothing
/// per layer), negative when some non-DC mode does; `NaN` without a non-DC mode (one token) or
/// with a zero modulus.
pub fn dc_log_gap(u: &UpdateSpectrum) -> f64 {
    match u.best_non_dc {
        Some(n) if u.best_dc.modulus > 0.0 && n.modulus > 0.0 => {
            u.best_dc.modulus.ln() - n.modulus.ln()
        }
        _ => f64::NAN,
    }
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
    /// `layers + 1` sums over the tokens of the token vectors (for the corpus-mean token).
    pub token_sums: Vec<Array1<f64>>,
    /// Per layer, the sum over tokens of each token's normalisation scale of the block input:
    /// `√(var + ε)` over its channels (LayerNorm) or `√(mean(x²) + ε)` (RMSNorm), i.e. what the
    /// norm divides by. Pre-LN only (empty for post-LN models).
    pub scale_sums: Vec<f64>,
    /// Pre-LN: `[layer][head]` attention spectra, kept for the `H_eff` analysis.
    pub attention: Vec<Vec<AttentionSpectrum>>,
    /// The hidden states, kept for the centred cosine when they fitted the memory budget.
    pub kept_states: Option<Vec<Array2<f32>>>,
}

/// Bytes of hidden states the audit keeps between its two passes (see the module
/// documentation): MPNet on 500 sentences needs about 0.6 GB; beyond the budget a sentence is
/// run through the model a second time instead.
pub const KEEP_STATES_BYTES: usize = 1 << 30;

/// What the measurements need to know of the model: the architecture facts of [`HfConfig`]
/// that change how a trace is read (the in-memory audit of the Python package fills it from
/// a PyTorch model's configuration).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeasureConfig {
    /// Post-LN blocks (BERT, MPNet): no σ_l, no `H_eff`.
    pub post_ln: bool,
    /// Causal attention (decoders): each A is lower triangular.
    pub causal: bool,
    /// The norm feeding each block (for σ_l).
    pub norm: NormKind,
    /// Its ε.
    pub layer_norm_eps: f64,
}

impl From<&HfConfig> for MeasureConfig {
    fn from(c: &HfConfig) -> Self {
        MeasureConfig {
            post_ln: c.post_ln,
            causal: c.causal,
            norm: c.norm,
            layer_norm_eps: c.layer_norm_eps,
        }
    }
}

/// The per-token scale a block's input norm divides by (see [`SentenceRecord::scale_sums`]),
/// summed over the tokens of `x` (`f32` from our forward pass, `f64` from the Python package).
pub fn norm_scale_sum<T: Copy + Into<f64>>(x: &Array2<T>, norm: NormKind, eps: f64) -> f64 {
    x.outer_iter()
        .map(|row| {
            let d = row.len().max(1) as f64;
            let mean_sq = row.iter().map(|&v| v.into().powi(2)).sum::<f64>() / d;
            let second = match norm {
                NormKind::RmsNorm => mean_sq,
                NormKind::LayerNorm => {
                    let mean = row.iter().map(|&v| v.into()).sum::<f64>() / d;
                    (mean_sq - mean * mean).max(0.0)
                }
            };
            (second + eps).sqrt()
        })
        .sum()
}

/// Run the model on one input: the image when there is one, else the token ids.
pub fn forward_input(
    model: &HfEncoder,
    tokens: &Tokens,
) -> Result<eigenformer_model::hf::EncoderTrace, AuditError> {
    Ok(match &tokens.pixels {
        Some(px) => model.forward_pixels(px.view())?,
        None => model.forward(&tokens.ids)?,
    })
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
        mean_cosine_centred: f64::NAN,
        mean_cosine_centred_no_special: None,
    })
}

/// What the second pass needs from the whole corpus.
pub struct CorpusStats {
    /// `layers + 1` corpus-mean token vectors.
    pub mean_token: Vec<Array1<f64>>,
    /// Pre-LN: `[layer][head]` the spectra with `σ_l` applied ([`HeadSpectra::h_sigma`]).
    pub spectra: Vec<Vec<HeadSpectra>>,
}

/// Run `model` on one tokenised sentence and measure it (first pass). `spectra[l][h]` are the
/// heads' weight spectra ([`crate::audit::spectra::head_spectra`]); `keep_budget` is the number
/// of bytes of hidden states still allowed to be kept (decremented when this sentence keeps
/// its states).
pub fn measure_sentence(
    model: &HfEncoder,
    tokens: &Tokens,
    spectra: &[Vec<HeadSpectra>],
    keep_budget: &AtomicUsize,
) -> Result<SentenceRecord, AuditError> {
    let trace = forward_input(model, tokens)?;
    measure_trace(model, tokens, trace, spectra, keep_budget)
}

/// Text inputs per packed forward pass in [`measure_sentences`]: enough that each layer's
/// weights are streamed once for a few hundred tokens, few enough that the chunks still spread
/// over the threads.
pub const PACKED_SENTENCES: usize = 16;

/// [`measure_sentence`] on a chunk of inputs (the audit passes chunks of [`PACKED_SENTENCES`]):
/// text in one packed forward pass (the same traces, up to the summation order of the
/// products), images one by one. The records come back in input order.
pub fn measure_sentences(
    model: &HfEncoder,
    chunk: &[Tokens],
    spectra: &[Vec<HeadSpectra>],
    keep_budget: &AtomicUsize,
) -> Result<Vec<SentenceRecord>, AuditError> {
    if chunk.iter().any(|t| t.pixels.is_some()) {
        return chunk
            .iter()
            .map(|t| measure_sentence(model, t, spectra, keep_budget))
            .collect();
    }
    let ids: Vec<&[u32]> = chunk.iter().map(|t| t.ids.as_slice()).collect();
    let traces = model.forward_batch(&ids)?;
    chunk
        .iter()
        .zip(traces)
        .map(|(t, trace)| measure_trace(model, t, trace, spectra, keep_budget))
        .collect()
}

/// The measurements of [`measure_sentence`] from the input's forward trace.
fn measure_trace(
    model: &HfEncoder,
    tokens: &Tokens,
    trace: eigenformer_model::hf::EncoderTrace,
    spectra: &[Vec<HeadSpectra>],
    keep_budget: &AtomicUsize,
) -> Result<SentenceRecord, AuditError> {
    let mut record = measure_states(
        &MeasureConfig::from(model.config()),
        tokens,
        &trace.hidden_states,
        &trace.attentions,
        spectra,
    )?;
    let bytes: usize = trace.hidden_states.iter().map(|x| x.len() * 4).sum();
    let fits = keep_budget
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
            left.checked_sub(bytes)
        })
        .is_ok();
    record.kept_states = fits.then_some(trace.hidden_states);
    Ok(record)
}

/// The first-pass measurements of one input from its hidden states (`layers + 1` matrices
/// `[tokens, width]`, index 0 the embedding output, the residual stream before any final norm)
/// and attentions (`[layer][head]`, row-stochastic `[tokens, tokens]`), wherever they were
/// computed: our forward pass (`f32`) or a PyTorch model's (the Python package, `f64`). The
/// record keeps no hidden states ([`SentenceRecord::kept_states`] is `None`).
pub fn measure_states<T: Copy + Into<f64>>(
    config: &MeasureConfig,
    tokens: &Tokens,
    hidden_states: &[Array2<T>],
    attentions: &[Vec<Array2<T>>],
    spectra: &[Vec<HeadSpectra>],
) -> Result<SentenceRecord, AuditError> {
    let mut states = Vec::with_capacity(hidden_states.len());
    let mut token_sums = Vec::with_capacity(hidden_states.len());
    for x in hidden_states {
        let x = x.mapv(Into::<f64>::into);
        states.push(state_metrics(&x, &tokens.special)?);
        token_sums.push(x.sum_axis(Axis(0)));
    }
    let pre_ln = !config.post_ln;
    let scale_sums = if pre_ln {
        hidden_states[..hidden_states.len().saturating_sub(1)]
            .iter()
            .map(|x| norm_scale_sum(x, config.norm, config.layer_norm_eps))
            .collect()
    } else {
        Vec::new()
    };
    let opts = SpectrumOptions {
        stochastic_tol: MEASURED_STOCHASTIC_TOL,
        ..SpectrumOptions::default()
    };
    let mut heads = Vec::with_capacity(attentions.len());
    let mut attention = Vec::new();
    for (layer, (atts, specs)) in attentions.iter().zip(spectra).enumerate() {
        let mut row = Vec::with_capacity(atts.len());
        let mut kept = Vec::new();
        for (head, (a, s)) in atts.iter().zip(specs).enumerate() {
            let a: Array2<f64> = a.mapv(Into::<f64>::into);
            // A causal A is lower triangular: its spectrum is exactly its diagonal (theory.md,
            // causal attention), which a general eigensolver would only approximate.
            let att = if config.causal {
                causal_attention_spectrum(a.view(), opts.stochastic_tol)
            } else {
                attention_spectrum(a.view(), opts.stochastic_tol)
            }
            .map_err(|source| AuditError::Attention {
                layer,
                head,
                source,
            })?;
            let plain = UpdateSpectrum::from_eigenvalues(
                att.eigenvalues.clone(),
                att.dc_index,
                s.analysis_eigenvalues(false),
                &opts,
            )?;
            let eff = UpdateSpectrum::from_eigenvalues(
                att.eigenvalues.clone(),
                att.dc_index,
                s.analysis_eigenvalues(true),
                &opts,
            )?;
            row.push(HeadPrediction {
                regime: plain.regime,
                dominating: plain.dominating.first().copied().unwrap_or(plain.best_dc),
                regime_eff: eff.regime,
                dominating_eff: eff.dominating.first().copied().unwrap_or(eff.best_dc),
                regime_sigma: None,
                dominating_sigma: None,
                dc_log_gap: dc_log_gap(&plain),
                dc_log_gap_sigma: None,
            });
            if pre_ln {
                kept.push(att);
            }
        }
        heads.push(row);
        if pre_ln {
            attention.push(kept);
        }
    }
    Ok(SentenceRecord {
        tokens: tokens.ids.len(),
        truncated: tokens.truncated,
        states,
        heads,
        token_sums,
        scale_sums,
        attention,
        kept_states: None,
    })
}

/// The second pass over one sentence, with the corpus statistics: the centred token cosines
/// and (pre-LN) the regimes with `H_eff`. Frees what the first pass kept.
pub fn finish_sentence(
    model: &HfEncoder,
    tokens: &Tokens,
    record: &mut SentenceRecord,
    corpus: &CorpusStats,
) -> Result<(), AuditError> {
    let states = match record.kept_states.take() {
        Some(states) => states,
        None => forward_input(model, tokens)?.hidden_states,
    };
    finish_states(&states, tokens, record, corpus)
}

/// [`finish_sentence`] with the input's hidden states given (see [`measure_states`]).
pub fn finish_states<T: Copy + Into<f64>>(
    states: &[Array2<T>],
    tokens: &Tokens,
    record: &mut SentenceRecord,
    corpus: &CorpusStats,
) -> Result<(), AuditError> {
    for ((x, mean), m) in states
        .iter()
        .zip(&corpus.mean_token)
        .zip(record.states.iter_mut())
    {
        let centred = x.mapv(Into::<f64>::into) - mean.view().insert_axis(Axis(0));
        m.mean_cosine_centred = mean_pairwise_cosine(centred.view(), &[])?;
        m.mean_cosine_centred_no_special = if m.mean_cosine_no_special.is_some() {
            Some(mean_pairwise_cosine(centred.view(), &tokens.special)?)
        } else {
            None
        };
    }
    let opts = SpectrumOptions {
        stochastic_tol: MEASURED_STOCHASTIC_TOL,
        ..SpectrumOptions::default()
    };
    let attention = std::mem::take(&mut record.attention);
    for ((atts, specs), preds) in attention
        .into_iter()
        .zip(&corpus.spectra)
        .zip(record.heads.iter_mut())
    {
        for ((att, s), p) in atts.into_iter().zip(specs).zip(preds.iter_mut()) {
            let Some(h) = s.analysis_eigenvalues_sigma() else {
                continue;
            };
            let u = UpdateSpectrum::from_eigenvalues(att.eigenvalues, att.dc_index, h, &opts)?;
            p.regime_sigma = Some(u.regime);
            p.dominating_sigma = Some(u.dominating.first().copied().unwrap_or(u.best_dc));
            p.dc_log_gap_sigma = Some(dc_log_gap(&u));
        }
    }
    Ok(())
}
