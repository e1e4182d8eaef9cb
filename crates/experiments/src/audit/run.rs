//! The audit loop: weight spectra once, then every input through the model in parallel, twice
//! where the corpus statistics are needed (see [`crate::audit::measure`]).

use crate::audit::measure::{
    finish_sentence, measure_sentences, CorpusStats, SentenceRecord, PACKED_SENTENCES,
};
use crate::audit::report::{
    build_layers, AuditReport, LayerInputs, ModelInfo, TextInfo, AUDIT_SCHEMA_VERSION,
};
use crate::audit::spectra::{audit_head_spectra, HeadSpectra};
use crate::audit::tokenize::{TextTokenizer, Tokens};
use crate::audit::AuditError;
use eigenformer_model::hf::{HfEncoder, NormKind};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::Array1;
use rayon::prelude::*;
use std::sync::atomic::AtomicUsize;
use std::time::Instant;

/// What the model reads.
pub enum AuditText<'a> {
    /// Sentences, tokenised with the tokenizer (cut to the model's length, visibly).
    Sentences {
        tokenizer: &'a TextTokenizer,
        sentences: &'a [String],
    },
    /// Token ids given as they are (`--token-ids`): already checked against the vocabulary
    /// and the model's length ([`crate::audit::tokenize::ids_as_tokens`]).
    Tokens(&'a [Tokens]),
}

/// What to audit.
pub struct AuditInput<'a> {
    /// Name for the report (`minilm`, `mpnet`, a hub name or the directory).
    pub name: String,
    /// The checkpoint directory (for the report).
    pub dir: String,
    pub model: &'a HfEncoder,
    pub text: AuditText<'a>,
    /// Where the sentences came from and how they were chosen (for the report).
    pub text_source: String,
    pub text_selection: String,
    /// Draw a progress bar on stderr.
    pub progress: bool,
    /// Bytes of hidden states kept between the two passes ([`crate::audit::measure::KEEP_STATES_BYTES`] by default).
    pub keep_states_bytes: usize,
}

fn weight_spectra(model: &HfEncoder) -> Result<(Vec<Vec<HeadSpectra>>, Vec<usize>), AuditError> {
    let c = model.config();
    let mut spectra = Vec::with_capacity(c.layers);
    let mut negative = Vec::with_capacity(c.layers);
    for layer in 0..c.layers {
        let gamma = model.attention_input_ln_gamma(layer)?;
        negative.push(gamma.iter().filter(|g| **g < 0.0).count());
        let heads = (0..c.heads)
            .into_par_iter()
            .map(|head| {
                let (w_v, w_o) = model.head_value_output(layer, head)?;
                Ok(audit_head_spectra(&w_v, &w_o, &gamma, c.post_ln, c.norm)?)
            })
            .collect::<Result<Vec<_>, AuditError>>()?;
        spectra.push(heads);
    }
    Ok((spectra, negative))
}

fn progress_bar(show: bool, len: usize, prefix: String) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} inputs (eta {eta})",
    ) {
        bar.set_style(style);
    }
    bar.set_prefix(prefix);
    bar
}

/// The corpus statistics of the first pass: the mean token per hidden state, σ_l per layer
/// (pre-LN) and the spectra with σ_l applied.
pub fn corpus_stats(
    records: &[SentenceRecord],
    spectra: &[Vec<HeadSpectra>],
) -> (CorpusStats, Vec<f64>) {
    let tokens: usize = records.iter().map(|r| r.tokens).sum();
    let count = tokens.max(1) as f64;
    let states = records.first().map_or(0, |r| r.token_sums.len());
    let mean_token = (0..states)
        .map(|i| {
            let mut sum: Option<Array1<f64>> = None;
            for r in records {
                if let Some(v) = r.token_sums.get(i) {
                    match &mut sum {
                        Some(s) => *s += v,
                        None => sum = Some(v.clone()),
                    }
                }
            }
            sum.map(|s| s / count).unwrap_or_default()
        })
        .collect();
    let layers = records.first().map_or(0, |r| r.scale_sums.len());
    let sigma: Vec<f64> = (0..layers)
        .map(|l| {
            records
                .iter()
                .filter_map(|r| r.scale_sums.get(l))
                .sum::<f64>()
                / count
        })
        .collect();
    let scaled = spectra
        .iter()
        .enumerate()
        .map(|(l, heads)| {
            heads
                .iter()
                .map(|s| match sigma.get(l) {
                    Some(&sg) => s.clone().with_sigma(sg),
                    None => s.clone(),
                })
                .collect()
        })
        .collect();
    (
        CorpusStats {
            mean_token,
            spectra: scaled,
        },
        sigma,
    )
}

/// Run the audit; returns the report and warnings for the user (e.g. truncated sentences).
pub fn run_audit(input: &AuditInput<'_>) -> Result<(AuditReport, Vec<String>), AuditError> {
    let start = Instant::now();
    let c = input.model.config();
    let max_tokens = c.max_tokens();
    let all: Vec<Tokens> = match &input.text {
        AuditText::Sentences {
            tokenizer,
            sentences,
        } => sentences
            .iter()
            .enumerate()
            .map(|(i, s)| tokenizer.encode(i, s, max_tokens))
            .collect::<Result<Vec<_>, _>>()?,
        AuditText::Tokens(t) => t.to_vec(),
    };
    // A pairwise cosine needs two tokens: a one-token input (a one-word sentence for a
    // tokenizer without special tokens) is left out, and counted.
    let given = all.len();
    let tokens: Vec<Tokens> = all.into_iter().filter(|t| t.ids.len() >= 2).collect();
    let skipped = given - tokens.len();
    if tokens.is_empty() {
        return Err(AuditError::NoSentences);
    }
    let (spectra, gamma_negative) = weight_spectra(input.model)?;
    let budget = AtomicUsize::new(input.keep_states_bytes);
    let bar = progress_bar(
        input.progress,
        2 * tokens.len(),
        format!("audit {}", input.name),
    );
    let mut records: Vec<SentenceRecord> = tokens
        .par_chunks(PACKED_SENTENCES)
        .map(|chunk| {
            let r = measure_sentences(input.model, chunk, &spectra, &budget);
            bar.inc(chunk.len() as u64);
            r
        })
        .collect::<Result<Vec<Vec<SentenceRecord>>, AuditError>>()?
        .into_iter()
        .flatten()
        .collect();
    let (corpus, sigma) = corpus_stats(&records, &spectra);
    records
        .par_iter_mut()
        .zip(tokens.par_iter())
        .map(|(r, t)| {
            let done = finish_sentence(input.model, t, r, &corpus);
            bar.inc(1);
            done
        })
        .collect::<Result<Vec<()>, AuditError>>()?;
    bar.finish_and_clear();

    let model = ModelInfo {
        name: input.name.clone(),
        dir: input.dir.clone(),
        model_type: c.model_type.clone(),
        layers: c.layers,
        heads: c.heads,
        width: c.width,
        head_dim: c.head_dim,
        post_ln: c.post_ln,
        max_tokens,
        causal: c.causal,
        kv_heads: c.kv_heads,
        norm: match c.norm {
            NormKind::LayerNorm => "layernorm".into(),
            NormKind::RmsNorm => "rmsnorm".into(),
        },
        effective_spectrum: if c.post_ln { "h" } else { "h_sigma" }.into(),
    };
    let kv_group: Vec<usize> = (0..c.heads).map(|h| input.model.kv_group(h)).collect();
    Ok(assemble_report(
        &records,
        &corpus,
        &ReportParts {
            model,
            text_source: input.text_source.clone(),
            text_selection: input.text_selection.clone(),
            skipped,
            gamma_negative: &gamma_negative,
            sigma: &sigma,
            kv_group: &kv_group,
            start,
        },
    ))
}

/// What [`assemble_report`] needs besides the records and the corpus statistics.
pub struct ReportParts<'a> {
    /// The model's part of the report.
    pub model: ModelInfo,
    /// Where the inputs came from and how they were chosen.
    pub text_source: String,
    pub text_selection: String,
    /// Inputs left out (fewer than two tokens).
    pub skipped: usize,
    /// Per layer, the negative entries of the γ feeding its attention.
    pub gamma_negative: &'a [usize],
    /// Pre-LN: σ_l per layer (empty for post-LN models).
    pub sigma: &'a [f64],
    /// Per query head, its key/value head.
    pub kv_group: &'a [usize],
    /// When the measurement started (for the report's seconds).
    pub start: Instant,
}

/// The report and the user's warnings (truncated inputs, inputs left out) from the measured
/// records after both passes.
pub fn assemble_report(
    records: &[SentenceRecord],
    corpus: &CorpusStats,
    parts: &ReportParts<'_>,
) -> (AuditReport, Vec<String>) {
    let max_tokens = parts.model.max_tokens;
    let skipped = parts.skipped;
    let mut warnings = Vec::new();
    let truncated = records.iter().filter(|r| r.truncated).count();
    if truncated > 0 {
        warnings.push(format!(
            "{truncated} sentence(s) longer than the model's {max_tokens} tokens were cut to \
             {max_tokens} (first {} tokens and the closing special token, or the first \
             {max_tokens} where the sequence has no closing special token)",
            max_tokens.saturating_sub(1)
        ));
    }
    if skipped > 0 {
        warnings.push(format!(
            "{skipped} input(s) with fewer than 2 tokens were left out (no pairwise cosine)"
        ));
    }
    let text = TextInfo {
        source: parts.text_source.clone(),
        selection: parts.text_selection.clone(),
        sentences: records.len(),
        truncated,
        mean_tokens: records.iter().map(|r| r.tokens as f64).sum::<f64>() / records.len() as f64,
        max_tokens: records.iter().map(|r| r.tokens).max().unwrap_or(0),
        skipped,
    };
    let layers = build_layers(
        records,
        &LayerInputs {
            spectra: &corpus.spectra,
            gamma_negative: parts.gamma_negative,
            sigma: parts.sigma,
            kv_group: parts.kv_group,
            width: parts.model.width,
        },
    );
    (
        AuditReport {
            schema_version: AUDIT_SCHEMA_VERSION,
            model: parts.model.clone(),
            text,
            layers,
            seconds: parts.start.elapsed().as_secs_f64(),
        },
        warnings,
    )
}
