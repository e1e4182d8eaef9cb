//! The audit of decoders and the corpus-level measurements, checked against independent
//! computations written here from the definitions (theory.md C8, C8′, C9, causal attention):
//! σ_l, spec(H_eff) built as the full d×d matrix `P_d diag(γ) H / σ_l`, the centred token cosine
//! by brute force over pairs, and the causal attention's spectrum read off the diagonal. The
//! checkpoints are the model crate's tiny fixtures (`crates/model/tests/fixtures/hf/`).

use eigenformer_experiments::audit::run::AuditText;
use eigenformer_experiments::audit::tokenize::Tokens;
use eigenformer_experiments::audit::{run_audit, AuditInput, AuditReport};
use eigenformer_model::hf::{self, HfEncoder, NormKind};
use eigenformer_spectral::linalg::eigenvalues;
use ndarray::{Array1, Array2};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../model/tests/fixtures/hf")
        .join(name)
}

/// Seeded id lists of several lengths below `vocab`; the first token is marked special.
fn inputs(vocab: u32, lengths: &[usize]) -> Vec<Tokens> {
    let mut state = 12345u32;
    lengths
        .iter()
        .map(|&n| Tokens {
            pixels: None,
            ids: (0..n)
                .map(|_| {
                    state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (state >> 8) % vocab
                })
                .collect(),
            special: vec![0],
            truncated: false,
        })
        .collect()
}

fn audit(model: &HfEncoder, tokens: &[Tokens], keep: usize) -> AuditReport {
    let input = AuditInput {
        name: "tiny".into(),
        dir: "fixture".into(),
        model,
        text: AuditText::Tokens(tokens),
        text_source: "test".into(),
        text_selection: "all".into(),
        progress: false,
        keep_states_bytes: keep,
    };
    run_audit(&input).expect("audit").0
}

fn pairwise_cosine(x: &Array2<f64>, skip: &[usize]) -> f64 {
    let rows: Vec<usize> = (0..x.nrows()).filter(|i| !skip.contains(i)).collect();
    let (mut sum, mut pairs) = (0.0, 0usize);
    for &i in &rows {
        for &j in &rows {
            if i != j {
                let (a, b) = (x.row(i), x.row(j));
                sum += a.dot(&b) / (a.dot(&a).sqrt() * b.dot(&b).sqrt());
                pairs += 1;
            }
        }
    }
    sum / pairs as f64
}

/// Everything a pre-LN audit adds, for one fixture, from the definitions.
fn check_pre_ln(name: &str) -> AuditReport {
    let model = hf::load_dir(&fixture(name)).unwrap();
    let c = model.config().clone();
    let tokens = inputs(c.vocab as u32, &[6, 11, 3, 17]);
    let report = audit(&model, &tokens, usize::MAX);
    assert_eq!(report.schema_version, 2);
    assert!(report.model.causal && !report.model.post_ln);
    assert_eq!(report.model.effective_spectrum, "h_sigma");
    let traces: Vec<_> = tokens
        .iter()
        .map(|t| model.forward(&t.ids).unwrap())
        .collect();
    let total: usize = tokens.iter().map(|t| t.ids.len()).sum();

    for l in 0..c.layers {
        // σ_l: the mean over all tokens of what the norm divides by.
        let mut s = 0.0;
        for tr in &traces {
            for row in tr.hidden_states[l].outer_iter() {
                let v: Vec<f64> = row.iter().map(|&x| f64::from(x)).collect();
                let d = v.len() as f64;
                let mean = if c.norm == NormKind::LayerNorm {
                    v.iter().sum::<f64>() / d
                } else {
                    0.0
                };
                let second = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / d;
                s += (second + c.layer_norm_eps).sqrt();
            }
        }
        let sigma = s / total as f64;
        let layer = &report.layers[l + 1];
        let got = layer.sigma.expect("pre-LN layers report σ_l");
        assert!(
            (got - sigma).abs() < 1e-9 * sigma,
            "{name} layer {l}: σ {got} vs {sigma}"
        );

        // spec(H_eff) against the full d×d matrix P diag(γ) H / σ.
        let gamma = model.attention_input_ln_gamma(l).unwrap();
        let d = c.width;
        let p = if c.norm == NormKind::LayerNorm {
            Array2::<f64>::eye(d) - Array2::<f64>::from_elem((d, d), 1.0 / d as f64)
        } else {
            Array2::<f64>::eye(d)
        };
        for (h, head) in layer.heads.iter().enumerate() {
            assert_eq!(head.kv_head, model.kv_group(h));
            let full = p
                .dot(&Array2::from_diag(&gamma))
                .dot(&model.head_matrix(l, h).unwrap())
                / sigma;
            let want = eigenvalues(full.view()).unwrap();
            let got = head.eigenvalues_h_sigma.as_ref().expect("pre-LN H_eff");
            assert_eq!(got.len(), c.head_dim);
            for z in got {
                let nearest = want.iter().map(|w| (w - z).norm()).fold(f64::MAX, f64::min);
                assert!(nearest < 1e-7 * (1.0 + z.norm()), "{name} {l}/{h}: {z}");
            }
            let counts = head.regime_counts_sigma.as_ref().unwrap();
            assert_eq!(counts.values().sum::<usize>(), tokens.len());

            // The graded DC predictor with H_eff: per input, log max_h |1 + h| minus
            // log max |1 + a_i h| over the non-DC modes (causal A: the diagonal after the
            // first token, whose row is e_0, the DC mode), h over spec(H_eff) and the zeros.
            let mut hs = got.clone();
            hs.push(eigenformer_spectral::Complex64::new(0.0, 0.0));
            let mut gaps = Vec::new();
            for tr in &traces {
                let a = &tr.attentions[l][h];
                let dc = hs.iter().map(|z| (1.0 + z).norm()).fold(0.0, f64::max);
                let non_dc = (1..a.nrows())
                    .flat_map(|i| {
                        let ai = f64::from(a[[i, i]]);
                        hs.iter().map(move |z| (1.0 + ai * z).norm())
                    })
                    .fold(0.0, f64::max);
                gaps.push(dc.ln() - non_dc.ln());
            }
            let want_gap = gaps.iter().sum::<f64>() / gaps.len() as f64;
            let got_gap = head.mean_dc_log_gap_sigma.expect("pre-LN graded predictor");
            assert!(
                (got_gap - want_gap).abs() < 1e-5,
                "{name} {l}/{h}: gap {got_gap} vs {want_gap}"
            );
            assert!(head.mean_dc_log_gap.is_some());
        }
    }

    // The centred cosine: subtract the corpus-mean token, then every pair.
    for (i, layer) in report.layers.iter().enumerate() {
        let mut mean = Array1::<f64>::zeros(c.width);
        for tr in &traces {
            for row in tr.hidden_states[i].outer_iter() {
                mean += &row.mapv(f64::from);
            }
        }
        mean /= total as f64;
        let (mut all, mut no_special) = (0.0, 0.0);
        for tr in &traces {
            let x = tr.hidden_states[i].mapv(f64::from) - &mean;
            all += pairwise_cosine(&x, &[]);
            no_special += pairwise_cosine(&x, &[0]);
        }
        let n = traces.len() as f64;
        assert!(
            (layer.mean_cosine_centred - all / n).abs() < 1e-9,
            "{name} state {i}"
        );
        let ns = layer.mean_cosine_centred_no_special.unwrap();
        assert!((ns - no_special / n).abs() < 1e-9, "{name} state {i}");
        // The raw cosine is unchanged by the centring and differs from it.
        let raw: f64 = traces
            .iter()
            .map(|tr| pairwise_cosine(&tr.hidden_states[i].mapv(f64::from), &[]))
            .sum::<f64>()
            / n;
        assert!((layer.mean_cosine - raw).abs() < 1e-9);
    }
    report
}

#[test]
fn llama_audit_measures_sigma_h_eff_and_the_centred_cosine() {
    let r = check_pre_ln("tiny-llama");
    assert_eq!(r.model.norm, "rmsnorm");
    assert_eq!(r.model.kv_heads, 2);
    let kv: Vec<usize> = r.layers[1].heads.iter().map(|h| h.kv_head).collect();
    assert_eq!(kv, [0, 0, 1, 1], "grouped-query heads name their group");
}

#[test]
fn gpt2_audit_measures_sigma_h_eff_and_the_centred_cosine() {
    let r = check_pre_ln("tiny-gpt2");
    assert_eq!(r.model.norm, "layernorm");
}

/// Causal attention: the regime analysis uses the diagonal, whose first entry is 1 (the first
/// token attends to itself only), so with H = 0-padded spectra every sentence gets a regime and
/// nothing fails on the ill-conditioned triangular eigenproblem.
#[test]
fn causal_attention_is_analysed_through_its_diagonal() {
    use eigenformer_spectral::{attention_spectrum, causal_attention_spectrum};
    let model = hf::load_dir(&fixture("tiny-gpt2")).unwrap();
    let tokens = inputs(64, &[9]);
    let trace = model.forward(&tokens[0].ids).unwrap();
    let a = trace.attentions[1][2].mapv(f64::from);
    let causal = causal_attention_spectrum(a.view(), 1e-4).unwrap();
    let mut diag: Vec<f64> = a.diag().to_vec();
    diag.sort_by(|x, y| y.total_cmp(x));
    let got: Vec<f64> = causal.eigenvalues.iter().map(|z| z.re).collect();
    assert_eq!(got, diag);
    assert_eq!(causal.eigenvalues[causal.dc_index].re, 1.0);
    // The general solver agrees here (9 tokens) but only approximately.
    let general = attention_spectrum(a.view(), 1e-4).unwrap();
    let max_im = general
        .eigenvalues
        .iter()
        .map(|z| z.im.abs())
        .fold(0.0, f64::max);
    assert!(max_im < 1e-3);
}

/// The second pass gives the same numbers whether the hidden states were kept or recomputed.
#[test]
fn keeping_or_recomputing_the_states_gives_the_same_report() {
    let model = hf::load_dir(&fixture("tiny-llama")).unwrap();
    let tokens = inputs(64, &[4, 9, 13]);
    let kept = audit(&model, &tokens, usize::MAX);
    let recomputed = audit(&model, &tokens, 0);
    let some = audit(&model, &tokens, 9 * 32 * 4 * 3);
    let json = |r: &AuditReport| serde_json::to_string(&r.layers).unwrap();
    assert_eq!(json(&kept), json(&recomputed));
    assert_eq!(json(&kept), json(&some));
}

/// Post-LN models report spec(H) as the effective spectrum (C8′): no σ_l, no H_eff.
#[test]
fn post_ln_models_report_spec_h() {
    let model = hf::load_dir(&fixture("tiny-bert")).unwrap();
    let tokens = inputs(64, &[5, 8]);
    let r = audit(&model, &tokens, usize::MAX);
    assert!(r.model.post_ln && !r.model.causal);
    assert_eq!(r.model.effective_spectrum, "h");
    for l in &r.layers {
        assert!(l.sigma.is_none());
        assert!(l.mean_cosine_centred.is_finite());
        for h in &l.heads {
            assert!(h.eigenvalues_h_sigma.is_none() && h.regime_counts_sigma.is_none());
            assert!(h.mean_dc_log_gap.is_some_and(f64::is_finite));
            assert!(h.mean_dc_log_gap_sigma.is_none());
        }
    }
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["schema_version"], 2);
    assert!(json["layers"][1]["heads"][0]["eigenvalues_h_sigma"].is_null());
}

/// One-token inputs have no pairwise cosine: they are left out and counted, not fatal.
#[test]
fn one_token_inputs_are_skipped() {
    let model = hf::load_dir(&fixture("tiny-gpt2")).unwrap();
    let tokens = inputs(64, &[1, 5, 1]);
    let r = audit(&model, &tokens, usize::MAX);
    assert_eq!((r.text.sentences, r.text.skipped), (1, 2));
}
