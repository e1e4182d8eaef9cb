//! The audit of a model that ran elsewhere, given as arrays: its weights (`W_V^h`, `W_O^h` and
//! the γ feeding each attention) and, per input, its hidden states and attention matrices.
//! This is the Python package's in-memory audit of a PyTorch model: Python runs the model and
//! extracts the arrays, and the report is built here by the same steps as `eigenformer audit`
//! ([`crate::audit::spectra`], [`crate::audit::measure`], [`crate::audit::report`]), so the
//! two agree field for field on the same inputs.
//!
//! Usage: [`ArrayAudit::new`] with the model's description and weights (the weight spectra are
//! computed then), [`ArrayAudit::add`] once per input (the first pass; the hidden states are
//! kept for the second), [`ArrayAudit::finish`] (the corpus statistics, the second pass and the
//! report).

use crate::audit::measure::{finish_states, measure_states, MeasureConfig, SentenceRecord};
use crate::audit::report::{AuditReport, ModelInfo};
use crate::audit::run::{assemble_report, corpus_stats, ReportParts};
use crate::audit::spectra::{audit_head_spectra, HeadSpectra};
use crate::audit::tokenize::Tokens;
use crate::audit::AuditError;
use eigenformer_model::hf::NormKind;
use ndarray::{Array2, ArrayView2, ArrayView3, ArrayView4, Axis};
use rayon::prelude::*;
use std::time::Instant;

/// What the report says about the model, besides what the weights' shapes give.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayModelSpec {
    /// Name for the report.
    pub name: String,
    /// Where the model came from (for the report).
    pub dir: String,
    /// `model_type` of its configuration.
    pub model_type: String,
    /// Post-LN blocks (BERT, MPNet).
    pub post_ln: bool,
    /// Causal attention (decoders).
    pub causal: bool,
    /// The norm feeding each block.
    pub norm: NormKind,
    /// Its ε.
    pub layer_norm_eps: f64,
    /// The longest input the model takes.
    pub max_tokens: usize,
    /// Key/value heads (fewer than the query heads with grouped-query attention).
    pub kv_heads: usize,
    /// Per query head, the key/value head whose `W_V` it uses.
    pub kv_group: Vec<usize>,
}

fn input_error(msg: String) -> AuditError {
    AuditError::Input(msg)
}

fn check_finite(what: &str, values: ndarray::ArrayViewD<'_, f64>) -> Result<(), AuditError> {
    match values.indexed_iter().find(|(_, v)| !v.is_finite()) {
        Some((index, v)) => Err(input_error(format!(
            "{what}: entry {:?} is {v}, a non-finite value",
            ndarray::Dimension::slice(&index)
        ))),
        None => Ok(()),
    }
}

/// An audit in progress (see the module documentation).
pub struct ArrayAudit {
    model: ModelInfo,
    config: MeasureConfig,
    spectra: Vec<Vec<HeadSpectra>>,
    gamma_negative: Vec<usize>,
    kv_group: Vec<usize>,
    records: Vec<SentenceRecord>,
    kept: Vec<(Tokens, Vec<Array2<f64>>)>,
    skipped: usize,
    start: Instant,
}

impl ArrayAudit {
    /// Check the weights against each other and compute every head's spectra: `gamma` is
    /// `[layers, d]` (the γ of the norm whose output is each layer's attention input), `w_v`
    /// `[layers, heads, d, d_h]` and `w_o` `[layers, heads, d_h, d]` (tokens are rows, so
    /// `H_h = W_V^h W_O^h`; with grouped-query attention `w_v[l][h]` is the group's).
    pub fn new(
        spec: ArrayModelSpec,
        gamma: ArrayView2<'_, f64>,
        w_v: ArrayView4<'_, f64>,
        w_o: ArrayView4<'_, f64>,
    ) -> Result<ArrayAudit, AuditError> {
        let (layers, heads, width, head_dim) = w_v.dim();
        if layers == 0 || heads == 0 || width == 0 || head_dim == 0 {
            return Err(input_error(format!(
                "w_v has shape {:?}: every axis (layers, heads, d, d_h) must be at least 1",
                w_v.shape()
            )));
        }
        if w_o.dim() != (layers, heads, head_dim, width) {
            return Err(input_error(format!(
                "w_o has shape {:?}, expected [{layers}, {heads}, {head_dim}, {width}] \
                 (layers, heads, d_h, d) to match w_v {:?}",
                w_o.shape(),
                w_v.shape()
            )));
        }
        if gamma.dim() != (layers, width) {
            return Err(input_error(format!(
                "gamma has shape {:?}, expected [{layers}, {width}] (layers, d)",
                gamma.shape()
            )));
        }
        check_finite("gamma", gamma.into_dyn())?;
        check_finite("w_v", w_v.into_dyn())?;
        check_finite("w_o", w_o.into_dyn())?;
        if spec.kv_group.len() != heads {
            return Err(input_error(format!(
                "kv_group has {} entries, expected one per head ({heads})",
                spec.kv_group.len()
            )));
        }
        if let Some(g) = spec.kv_group.iter().find(|&&g| g >= spec.kv_heads.max(1)) {
            return Err(input_error(format!(
                "kv_group names key/value head {g}, but the model has {}",
                spec.kv_heads
            )));
        }
        if !(spec.layer_norm_eps.is_finite() && spec.layer_norm_eps >= 0.0) {
            return Err(input_error(format!(
                "layer_norm_eps is {}, expected a finite number ≥ 0",
                spec.layer_norm_eps
            )));
        }
        let mut spectra = Vec::with_capacity(layers);
        let mut gamma_negative = Vec::with_capacity(layers);
        for l in 0..layers {
            let g = gamma.index_axis(Axis(0), l).to_owned();
            gamma_negative.push(g.iter().filter(|v| **v < 0.0).count());
            let layer = (0..heads)
                .into_par_iter()
                .map(|h| {
                    let v = w_v.index_axis(Axis(0), l).index_axis(Axis(0), h).to_owned();
                    let o = w_o.index_axis(Axis(0), l).index_axis(Axis(0), h).to_owned();
                    audit_head_spectra(&v, &o, &g, spec.post_ln, spec.norm)
                })
                .collect::<Result<Vec<_>, _>>()?;
            spectra.push(layer);
        }
        let model = ModelInfo {
            name: spec.name,
            dir: spec.dir,
            model_type: spec.model_type,
            layers,
            heads,
            width,
            head_dim,
            post_ln: spec.post_ln,
            max_tokens: spec.max_tokens,
            causal: spec.causal,
            kv_heads: spec.kv_heads,
            norm: match spec.norm {
                NormKind::LayerNorm => "layernorm".into(),
                NormKind::RmsNorm => "rmsnorm".into(),
            },
            effective_spectrum: if spec.post_ln { "h" } else { "h_sigma" }.into(),
        };
        Ok(ArrayAudit {
            config: MeasureConfig {
                post_ln: spec.post_ln,
                causal: spec.causal,
                norm: spec.norm,
                layer_norm_eps: spec.layer_norm_eps,
            },
            model,
            spectra,
            gamma_negative,
            kv_group: spec.kv_group,
            records: Vec::new(),
            kept: Vec::new(),
            skipped: 0,
            start: Instant::now(),
        })
    }

    /// The model's part of the report.
    pub fn model(&self) -> &ModelInfo {
        &self.model
    }

    /// Inputs measured so far.
    pub fn inputs(&self) -> usize {
        self.records.len()
    }

    /// Measure one input (the first pass): `hidden_states` `[layers + 1, n, d]` (index 0 the
    /// embedding output, then each layer's output, the residual stream before any final norm),
    /// `attentions` `[layers, heads, n, n]` (each row-stochastic; lower triangular for a causal
    /// model), `special` the positions of the special tokens, `truncated` whether the input was
    /// cut to the model's length. An input of fewer than 2 tokens is left out and counted
    /// (returns `false`), as the CLI does.
    pub fn add(
        &mut self,
        hidden_states: ArrayView3<'_, f64>,
        attentions: ArrayView4<'_, f64>,
        special: Vec<usize>,
        truncated: bool,
    ) -> Result<bool, AuditError> {
        let (layers, heads, width) = (self.model.layers, self.model.heads, self.model.width);
        let (states, n, d) = hidden_states.dim();
        if states != layers + 1 || d != width {
            return Err(input_error(format!(
                "hidden_states has shape {:?}, expected [{}, n, {width}] (layers + 1, tokens, d)",
                hidden_states.shape(),
                layers + 1
            )));
        }
        if attentions.dim() != (layers, heads, n, n) {
            return Err(input_error(format!(
                "attentions has shape {:?}, expected [{layers}, {heads}, {n}, {n}] \
                 (layers, heads, tokens, tokens)",
                attentions.shape()
            )));
        }
        if let Some(&i) = special.iter().find(|&&i| i >= n) {
            return Err(input_error(format!(
                "special token position {i} is outside the input's {n} tokens"
            )));
        }
        if n < 2 {
            self.skipped += 1;
            return Ok(false);
        }
        check_finite("hidden_states", hidden_states.into_dyn())?;
        check_finite("attentions", attentions.into_dyn())?;
        let states: Vec<Array2<f64>> = hidden_states.outer_iter().map(|x| x.to_owned()).collect();
        let atts: Vec<Vec<Array2<f64>>> = attentions
            .outer_iter()
            .map(|layer| layer.outer_iter().map(|a| a.to_owned()).collect())
            .collect();
        let tokens = Tokens {
            ids: vec![0; n],
            special,
            truncated,
            pixels: None,
        };
        let record = measure_states(&self.config, &tokens, &states, &atts, &self.spectra)?;
        self.records.push(record);
        self.kept.push((tokens, states));
        Ok(true)
    }

    /// The second pass and the report; `text_source` and `text_selection` describe the inputs.
    /// Returns the report and the warnings for the user (truncated inputs, inputs left out).
    pub fn finish(
        mut self,
        text_source: String,
        text_selection: String,
    ) -> Result<(AuditReport, Vec<String>), AuditError> {
        if self.records.is_empty() {
            return Err(AuditError::NoSentences);
        }
        let (corpus, sigma) = corpus_stats(&self.records, &self.spectra);
        self.records
            .par_iter_mut()
            .zip(self.kept.par_iter())
            .try_for_each(|(r, (tokens, states))| finish_states(states, tokens, r, &corpus))?;
        Ok(assemble_report(
            &self.records,
            &corpus,
            &ReportParts {
                model: self.model.clone(),
                text_source,
                text_selection,
                skipped: self.skipped,
                gamma_negative: &self.gamma_negative,
                sigma: &sigma,
                kv_group: &self.kv_group,
                start: self.start,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::run::{run_audit, AuditInput, AuditText};
    use eigenformer_model::hf::HfEncoder;
    use ndarray::{Array2 as A2, Array3, Array4};
    use std::path::Path;

    /// The arrays of the committed tiny checkpoints, run through our own forward pass, give
    /// the report of `run_audit` on the same token ids, field for field.
    #[test]
    fn arrays_of_our_own_forward_give_the_cli_report() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/fixtures/hf");
        for name in ["tiny-bert", "tiny-gpt2"] {
            let model = HfEncoder::load_dir(&dir.join(name)).unwrap();
            let c = model.config().clone();
            let (l, h, d, dh) = (c.layers, c.heads, c.width, c.head_dim);
            let mut gamma = A2::zeros((l, d));
            let mut w_v = Array4::zeros((l, h, d, dh));
            let mut w_o = Array4::zeros((l, h, dh, d));
            for layer in 0..l {
                gamma
                    .row_mut(layer)
                    .assign(&model.attention_input_ln_gamma(layer).unwrap());
                for head in 0..h {
                    let (v, o) = model.head_value_output(layer, head).unwrap();
                    w_v.slice_mut(ndarray::s![layer, head, .., ..]).assign(&v);
                    w_o.slice_mut(ndarray::s![layer, head, .., ..]).assign(&o);
                }
            }
            let spec = ArrayModelSpec {
                name: name.into(),
                dir: "d".into(),
                model_type: c.model_type.clone(),
                post_ln: c.post_ln,
                causal: c.causal,
                norm: c.norm,
                layer_norm_eps: c.layer_norm_eps,
                max_tokens: c.max_tokens(),
                kv_heads: c.kv_heads,
                kv_group: (0..h).map(|x| model.kv_group(x)).collect(),
            };
            let mut audit = ArrayAudit::new(spec, gamma.view(), w_v.view(), w_o.view()).unwrap();
            let inputs: Vec<Tokens> = [vec![1u32, 5, 7, 2], vec![1, 3, 4, 9, 8, 2], vec![4]]
                .into_iter()
                .map(|ids| Tokens {
                    special: vec![0],
                    ids,
                    truncated: false,
                    pixels: None,
                })
                .collect();
            for t in &inputs {
                let trace = model.forward(&t.ids).unwrap();
                let n = t.ids.len();
                let states = Array3::from_shape_fn((l + 1, n, d), |(i, r, k)| {
                    f64::from(trace.hidden_states[i][[r, k]])
                });
                let atts = Array4::from_shape_fn((l, h, n, n), |(i, j, r, k)| {
                    f64::from(trace.attentions[i][j][[r, k]])
                });
                let measured = audit
                    .add(states.view(), atts.view(), t.special.clone(), false)
                    .unwrap();
                assert_eq!(measured, n >= 2);
            }
            let (got, _) = audit.finish("s".into(), "t".into()).unwrap();
            let (want, _) = run_audit(&AuditInput {
                name: name.into(),
                dir: "d".into(),
                model: &model,
                text: AuditText::Tokens(&inputs),
                text_source: "s".into(),
                text_selection: "t".into(),
                progress: false,
                keep_states_bytes: 0,
            })
            .unwrap();
            assert_eq!(got.model, want.model, "{name}");
            assert_eq!(got.text, want.text, "{name}");
            assert_eq!(got.text.skipped, 1);
            // The CLI runs packed sentences; a single forward pass differs only in rounding.
            let (g, w) = (
                serde_json::to_value(&got.layers).unwrap(),
                serde_json::to_value(&want.layers).unwrap(),
            );
            assert_close(&g, &w, name);
        }
    }

    fn assert_close(a: &serde_json::Value, b: &serde_json::Value, at: &str) {
        use serde_json::Value;
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                assert!((x - y).abs() <= 1e-6 * (1.0 + y.abs()), "{at}: {x} vs {y}");
            }
            (Value::Array(x), Value::Array(y)) => {
                assert_eq!(x.len(), y.len(), "{at}");
                for (i, (p, q)) in x.iter().zip(y).enumerate() {
                    assert_close(p, q, &format!("{at}[{i}]"));
                }
            }
            (Value::Object(x), Value::Object(y)) => {
                assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>());
                for (k, p) in x {
                    assert_close(p, &y[k], &format!("{at}.{k}"));
                }
            }
            _ => assert_eq!(a, b, "{at}"),
        }
    }

    #[test]
    fn bad_shapes_and_values_are_refused() {
        let spec = ArrayModelSpec {
            name: "m".into(),
            dir: "d".into(),
            model_type: "bert".into(),
            post_ln: true,
            causal: false,
            norm: NormKind::LayerNorm,
            layer_norm_eps: 1e-12,
            max_tokens: 16,
            kv_heads: 1,
            kv_group: vec![0],
        };
        let gamma = A2::ones((1, 4));
        let w_v = Array4::from_elem((1, 1, 4, 2), 0.1);
        let w_o = Array4::from_elem((1, 1, 2, 4), 0.1);
        let bad_o = Array4::from_elem((1, 1, 4, 2), 0.1);
        let e = ArrayAudit::new(spec.clone(), gamma.view(), w_v.view(), bad_o.view());
        assert!(e.err().unwrap().to_string().contains("w_o has shape"));
        let mut nan = w_v.clone();
        nan[[0, 0, 1, 1]] = f64::NAN;
        let e = ArrayAudit::new(spec.clone(), gamma.view(), nan.view(), w_o.view());
        assert!(e.err().unwrap().to_string().contains("non-finite"));
        let mut audit = ArrayAudit::new(spec, gamma.view(), w_v.view(), w_o.view()).unwrap();
        let states = Array3::from_elem((2, 3, 4), 0.5);
        let bad_att = Array4::from_elem((1, 1, 3, 3), 0.5);
        let e = audit.add(states.view(), bad_att.view(), vec![], false);
        assert!(e.unwrap_err().to_string().contains("row-stochastic"));
        let att = Array4::from_elem((1, 1, 3, 3), 1.0 / 3.0);
        let e = audit.add(states.view(), att.view(), vec![3], false);
        assert!(e.unwrap_err().to_string().contains("position 3"));
        let e = audit.add(Array3::zeros((1, 3, 4)).view(), att.view(), vec![], false);
        assert!(e
            .unwrap_err()
            .to_string()
            .contains("hidden_states has shape"));
        assert!(matches!(
            audit.finish(String::new(), String::new()),
            Err(AuditError::NoSentences)
        ));
    }
}
