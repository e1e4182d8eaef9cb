//! The audit loop: weight spectra once, then every sentence through the model in parallel.

use crate::audit::measure::{measure_sentence, SentenceRecord};
use crate::audit::report::{build_layers, AuditReport, ModelInfo, TextInfo};
use crate::audit::spectra::{head_spectra, HeadSpectra};
use crate::audit::tokenize::TextTokenizer;
use crate::audit::AuditError;
use eigenformer_model::hf::HfEncoder;
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::time::Instant;

/// What to audit.
pub struct AuditInput<'a> {
    /// Name for the report (`minilm`, `mpnet` or the directory).
    pub name: String,
    /// The checkpoint directory (for the report).
    pub dir: String,
    pub model: &'a HfEncoder,
    pub tokenizer: &'a TextTokenizer,
    pub sentences: &'a [String],
    /// Where the sentences came from and how they were chosen (for the report).
    pub text_source: String,
    pub text_selection: String,
    /// Draw a progress bar on stderr.
    pub progress: bool,
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
                Ok(head_spectra(&w_v, &w_o, &gamma)?)
            })
            .collect::<Result<Vec<_>, AuditError>>()?;
        spectra.push(heads);
    }
    Ok((spectra, negative))
}

/// Run the audit; returns the report and warnings for the user (e.g. truncated sentences).
pub fn run_audit(input: &AuditInput<'_>) -> Result<(AuditReport, Vec<String>), AuditError> {
    if input.sentences.is_empty() {
        return Err(AuditError::NoSentences);
    }
    let start = Instant::now();
    let c = input.model.config();
    let max_tokens = c.max_tokens();
    let tokens = input
        .sentences
        .iter()
        .enumerate()
        .map(|(i, s)| input.tokenizer.encode(i, s, max_tokens))
        .collect::<Result<Vec<_>, _>>()?;
    let (spectra, gamma_negative) = weight_spectra(input.model)?;
    let bar = if input.progress {
        let bar = ProgressBar::new(tokens.len() as u64);
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} sentences (eta {eta})",
        ) {
            bar.set_style(style);
        }
        bar.set_prefix(format!("audit {}", input.name));
        bar
    } else {
        ProgressBar::hidden()
    };
    let records = tokens
        .par_iter()
        .map(|t| {
            let r = measure_sentence(input.model, t, &spectra);
            bar.inc(1);
            r
        })
        .collect::<Result<Vec<SentenceRecord>, AuditError>>()?;
    bar.finish_and_clear();

    let mut warnings = Vec::new();
    let truncated = records.iter().filter(|r| r.truncated).count();
    if truncated > 0 {
        warnings.push(format!(
            "{truncated} sentence(s) longer than the model's {max_tokens} tokens were cut to \
             {max_tokens} (first {} tokens and the closing special token)",
            max_tokens.saturating_sub(1)
        ));
    }
    let text = TextInfo {
        source: input.text_source.clone(),
        selection: input.text_selection.clone(),
        sentences: records.len(),
        truncated,
        mean_tokens: records.iter().map(|r| r.tokens as f64).sum::<f64>() / records.len() as f64,
        max_tokens: records.iter().map(|r| r.tokens).max().unwrap_or(0),
    };
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
    };
    let layers = build_layers(&records, &spectra, &gamma_negative, c.width);
    Ok((
        AuditReport {
            model,
            text,
            layers,
            seconds: start.elapsed().as_secs_f64(),
        },
        warnings,
    ))
}
