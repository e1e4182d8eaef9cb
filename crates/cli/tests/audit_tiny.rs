//! `eigenformer audit` end to end on a tiny seeded BERT (offline): outputs and their structure,
//! the C9 small-factor spectra against the full matrix, tokenisation without the file's own
//! padding/truncation, truncation to the model length, and bad input.

mod audit_support;

use audit_support::{write_tiny_bert, HEADS, LAYERS, WIDTH};
use eigenformer_experiments::audit::tokenize::TextTokenizer;
use eigenformer_experiments::audit::AuditReport;
use eigenformer_spectral::linalg::eigenvalues;
use std::path::Path;
use std::process::{Command, Output};

fn eigenformer(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eigenformer"))
        .args(args)
        .env("EIGENFORMER_CACHE", cache)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn tokenizer_ignores_the_files_padding_and_truncation_and_cuts_to_the_model() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_bert(dir.path());
    let tok = TextTokenizer::from_file(&dir.path().join("tokenizer.json")).unwrap();
    let t = tok.encode(0, "The cat sat on the mat .", 512).unwrap();
    // [CLS] the cat sat on the mat . [SEP]: neither the file's 4-token truncation nor its
    // padding to 10.
    assert_eq!(t.ids.len(), 9, "{:?}", t.ids);
    assert_eq!(t.ids[0], 2);
    assert_eq!(t.ids[8], 3);
    assert_eq!(t.special, vec![0, 8]);
    assert!(!t.truncated);
    let long = "the cat ".repeat(20);
    let t = tok.encode(1, &long, 12).unwrap();
    assert_eq!(t.ids.len(), 12);
    assert_eq!(t.ids[11], 3, "the closing [SEP] is kept");
    assert_eq!(t.special, vec![0, 11]);
    assert!(t.truncated);
    let err = TextTokenizer::from_file(&dir.path().join("missing.json"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("missing.json"), "{err}");
}

#[test]
fn audit_writes_every_output_with_the_documented_structure() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny");
    write_tiny_bert(&model);
    let text = dir.path().join("s.txt");
    std::fs::write(
        &text,
        "the cat sat on the mat .\n\n  a big red dog ran fast .  \nthe small blue cat is slow \
         and the big dog is fast and the mat is red and the cat sat on it .\nunused line\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = eigenformer(
        &[
            "audit",
            "--model",
            model.to_str().unwrap(),
            "--text",
            text.to_str().unwrap(),
            "--sentences",
            "3",
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 sentence(s) longer than the model's 12 tokens"),
        "{}",
        stderr(&o)
    );
    for f in eigenformer_experiments::audit::render::OUTPUT_FILES {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // Issue 14, item 6: no temporary file of the writer stays behind.
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let report: AuditReport =
        serde_json::from_slice(&std::fs::read(out.join("audit.json")).unwrap()).unwrap();
    assert_eq!(report.text.sentences, 3);
    assert_eq!(report.text.truncated, 1);
    assert_eq!(report.text.max_tokens, 12);
    assert_eq!(report.layers.len(), LAYERS + 1);
    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("audit.json")).unwrap()).unwrap();
    let z = &raw["layers"][1]["heads"][0]["eigenvalues_h"][0];
    assert!(
        z.is_array() && z.as_array().unwrap().len() == 2,
        "[re, im]: {z}"
    );

    let encoder = eigenformer_model::hf::load_dir(&model).unwrap();
    for (i, layer) in report.layers.iter().enumerate() {
        assert_eq!(layer.index, i);
        assert!(
            (-1.0..=1.0).contains(&layer.mean_cosine),
            "{}",
            layer.mean_cosine
        );
        assert!(layer.mean_cosine_no_special.is_some());
        assert!(layer.hc_dc.is_finite() && layer.sigma2_over_sigma1.is_finite());
        if i == 0 {
            assert!(layer.heads.is_empty());
            continue;
        }
        assert_eq!(layer.heads.len(), HEADS);
        for (j, h) in layer.heads.iter().enumerate() {
            let dh = WIDTH / HEADS;
            assert_eq!(h.head, j);
            assert_eq!(h.eigenvalues_h.len(), dh);
            assert_eq!(h.eigenvalues_h_eff.len(), dh);
            assert_eq!(h.zero_eigenvalues, WIDTH - dh);
            assert_eq!(h.regime_counts.values().sum::<usize>(), 3);
            assert_eq!(h.regime_counts_eff.values().sum::<usize>(), 3);
            assert!((0.0..=1.0).contains(&h.negative_real_fraction));
            // C9: the small-factor spectrum is the nonzero spectrum of the full d×d H.
            let full = eigenvalues(encoder.head_matrix(i - 1, j).unwrap().view()).unwrap();
            for z in &h.eigenvalues_h {
                let nearest = full.iter().map(|w| (w - z).norm()).fold(f64::MAX, f64::min);
                assert!(
                    nearest < 1e-8,
                    "layer {i} head {j}: {z} not in the full spectrum"
                );
            }
            let radius = full.iter().map(|w| w.norm()).fold(0.0, f64::max);
            assert!((radius - h.spectral_radius).abs() < 1e-8);
        }
    }
    // The embedding LayerNorm has a negative γ entry: layer 1 sees diag(γ)H ≠ H.
    assert_eq!(report.layers[1].gamma_negative, Some(1));
    let l1 = &report.layers[1].heads[0];
    assert_ne!(l1.eigenvalues_h, l1.eigenvalues_h_eff);
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| layer | mean cosine |"), "{md}");
    let csv = std::fs::read_to_string(out.join("heads.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + LAYERS * HEADS);
}

#[test]
fn bad_input_gives_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny");
    write_tiny_bert(&model);
    let out = dir.path().join("out");
    let run = |model: &str, text: &Path| {
        eigenformer(
            &[
                "audit",
                "--model",
                model,
                "--text",
                text.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
            dir.path(),
        )
    };
    let check = |o: &Output, needles: &[&str]| {
        assert!(!o.status.success());
        let e = stderr(o);
        assert!(!e.contains("panicked"), "{e}");
        for n in needles {
            assert!(e.contains(n), "expected {n:?} in: {e}");
        }
    };
    // An empty text file (only blank lines), named in the error.
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "\n   \n\t\n").unwrap();
    check(
        &run(model.to_str().unwrap(), &empty),
        &["empty.txt", "no sentence"],
    );
    // Also for a built-in model: the text is read before anything is downloaded.
    check(&run("minilm", &empty), &["empty.txt"]);
    // A missing text file.
    check(
        &run(model.to_str().unwrap(), &dir.path().join("nope.txt")),
        &["nope.txt"],
    );
    let good = dir.path().join("good.txt");
    std::fs::write(&good, "the cat sat .\n").unwrap();
    // An unknown model name.
    check(
        &run("bert-huge", &good),
        &["unknown model `bert-huge`", "minilm, mpnet"],
    );
    // A directory without config.json.
    let no_config = dir.path().join("no-config");
    std::fs::create_dir_all(&no_config).unwrap();
    std::fs::copy(
        model.join("tokenizer.json"),
        no_config.join("tokenizer.json"),
    )
    .unwrap();
    check(
        &run(no_config.to_str().unwrap(), &good),
        &["no-config", "missing config.json, model.safetensors"],
    );
    // A broken config.json is reported by the loader, naming the file.
    std::fs::write(model.join("config.json"), "{ not json").unwrap();
    check(&run(model.to_str().unwrap(), &good), &["config.json"]);
    // --sentences 0.
    let o = eigenformer(
        &[
            "audit",
            "--model",
            "bert-huge",
            "--text",
            good.to_str().unwrap(),
            "--sentences",
            "0",
            "--out",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(!o.status.success());
    assert!(
        !out.join("audit.json").exists(),
        "nothing written on failure"
    );
}
