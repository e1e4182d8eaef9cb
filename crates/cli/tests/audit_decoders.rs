//! `eigenformer audit` on decoders and by hub name, end to end (offline): `--token-ids` on a
//! checkpoint without a tokenizer, `--tokenizer`, a pre-populated Hugging Face cache
//! (`HF_HOME/hub/models--org--name/refs/main` + `snapshots/<rev>/`), `--offline`, a failed
//! download, and the errors for bad ids and unsupported model types.

mod audit_support;

use audit_support::write_tiny_bert;
use eigenformer_experiments::audit::AuditReport;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../model/tests/fixtures/hf")
        .join(name)
}

/// Run the binary with its caches inside `home` and no reachable hub.
fn eigenformer(args: &[&str], home: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_eigenformer"))
        .args(args)
        .env("EIGENFORMER_CACHE", home.join("eigenformer"))
        .env("HF_HOME", home.join("hf"))
        .env_remove("HF_HUB_CACHE")
        .env_remove("HF_HUB_OFFLINE")
        // Port 9 (discard) on the loopback: a download attempt fails at once, whatever the
        // machine's network.
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn fails_with(o: &Output, needles: &[&str]) {
    let e = stderr(o);
    assert!(!o.status.success(), "expected a failure: {e}");
    assert!(!e.contains("panicked"), "{e}");
    for n in needles {
        assert!(e.contains(n), "expected {n:?} in: {e}");
    }
}

fn write_ids(path: &Path, lists: &str) -> String {
    std::fs::write(path, lists).unwrap();
    path.to_str().unwrap().to_string()
}

fn read_report(dir: &Path) -> AuditReport {
    serde_json::from_slice(&std::fs::read(dir.join("audit.json")).unwrap()).unwrap()
}

#[test]
fn a_decoder_without_tokenizer_is_audited_on_token_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let ids = write_ids(
        &tmp.path().join("ids.json"),
        "[[1, 2, 3, 4, 5], [63, 0, 7], [9, 9, 9, 9, 9, 9, 9, 9], [12]]",
    );
    let out = tmp.path().join("out");
    let model = fixture("tiny-llama");
    let o = eigenformer(
        &[
            "audit",
            "--model",
            model.to_str().unwrap(),
            "--token-ids",
            &ids,
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 input(s) with fewer than 2 tokens"),
        "{}",
        stderr(&o)
    );
    let r = read_report(&out);
    assert_eq!(r.schema_version, 2);
    assert_eq!(r.text.sentences, 3);
    assert!(r.text.source.contains("ids.json"), "{}", r.text.source);
    assert!(r.model.causal && r.model.kv_heads == 2);
    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("audit.json")).unwrap()).unwrap();
    assert_eq!(raw["schema_version"], 2);
    assert!(raw["layers"][1]["mean_cosine_centred"].is_number());
    assert!(raw["layers"][1]["sigma"].is_number());
    assert!(raw["layers"][1]["heads"][3]["eigenvalues_h_sigma"].is_array());
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("H_eff with the measured σ_l"), "{md}");
    let csv = std::fs::read_to_string(out.join("layers.csv")).unwrap();
    assert!(csv
        .lines()
        .next()
        .unwrap()
        .ends_with("dc_regime_fraction_sigma"));

    // Without --token-ids the directory lacks a tokenizer: named.
    let text = tmp.path().join("t.txt");
    std::fs::write(&text, "a b c\n").unwrap();
    let o = eigenformer(
        &[
            "audit",
            "--model",
            model.to_str().unwrap(),
            "--text",
            text.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    fails_with(&o, &["tiny-llama", "missing tokenizer.json"]);
}

#[test]
fn bad_token_ids_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let model = fixture("tiny-gpt2");
    let run = |ids: &str| {
        eigenformer(
            &[
                "audit",
                "--model",
                model.to_str().unwrap(),
                "--token-ids",
                ids,
                "--out",
                out.to_str().unwrap(),
            ],
            tmp.path(),
        )
    };
    // An id ≥ the vocabulary (64) names the file, the list, the position and the id.
    let ids = write_ids(&tmp.path().join("big.json"), "[[1, 2], [3, 64, 5]]");
    fails_with(
        &run(&ids),
        &["big.json", "list 1, position 1", "token id 64", "64"],
    );
    let ids = write_ids(&tmp.path().join("neg.json"), "[[1, -2]]");
    fails_with(&run(&ids), &["neg.json", "token ids"]);
    let ids = write_ids(&tmp.path().join("empty.json"), "[[1, 2], []]");
    fails_with(&run(&ids), &["empty.json", "list 1 is empty"]);
    let long: Vec<String> = (0..49).map(|i| (i % 60).to_string()).collect();
    let ids = write_ids(
        &tmp.path().join("long.json"),
        &format!("[[{}]]", long.join(",")),
    );
    fails_with(&run(&ids), &["long.json", "49 ids", "at most 48"]);
    fails_with(
        &run(tmp.path().join("nope.json").to_str().unwrap()),
        &["nope.json"],
    );
    assert!(
        !out.join("audit.json").exists(),
        "nothing written on failure"
    );
}

#[test]
fn unsupported_model_types_list_the_supported_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t5ish");
    std::fs::create_dir_all(&dir).unwrap();
    let config = std::fs::read_to_string(fixture("tiny-gpt2/config.json"))
        .unwrap()
        .replace("\"model_type\": \"gpt2\"", "\"model_type\": \"t5\"");
    std::fs::write(dir.join("config.json"), config).unwrap();
    std::fs::copy(
        fixture("tiny-gpt2/model.safetensors"),
        dir.join("model.safetensors"),
    )
    .unwrap();
    let ids = write_ids(&tmp.path().join("ids.json"), "[[1, 2, 3]]");
    let o = eigenformer(
        &[
            "audit",
            "--model",
            dir.to_str().unwrap(),
            "--token-ids",
            &ids,
            "--out",
            tmp.path().join("out").to_str().unwrap(),
        ],
        tmp.path(),
    );
    fails_with(
        &o,
        &[
            "config.json",
            "\"t5\" is not supported",
            "bert, mpnet, vit, deit, dinov2, dinov2_with_registers, gpt2, llama, mistral, qwen2",
        ],
    );
}

/// Copy `src`'s files into a Hugging Face cache under `HF_HOME` as revision `rev` of `repo`,
/// the way huggingface_hub lays it out (`refs/main` names the snapshot).
fn populate_cache(home: &Path, repo: &str, rev: &str, src: &Path, files: &[&str]) {
    let base = home
        .join("hf/hub")
        .join(format!("models--{}", repo.replace('/', "--")));
    let snap = base.join("snapshots").join(rev);
    std::fs::create_dir_all(&snap).unwrap();
    for f in files {
        std::fs::copy(src.join(f), snap.join(f)).unwrap();
    }
    std::fs::create_dir_all(base.join("refs")).unwrap();
    std::fs::write(base.join("refs/main"), rev).unwrap();
}

#[test]
fn hub_names_resolve_in_the_hugging_face_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let files = ["config.json", "model.safetensors"];
    populate_cache(
        tmp.path(),
        "tiny-org/gpt2",
        "0123abcd",
        &fixture("tiny-gpt2"),
        &files,
    );
    // An older snapshot that refs/main does not name: must not be used.
    populate_cache(
        tmp.path(),
        "tiny-org/gpt2",
        "old",
        &fixture("tiny-llama"),
        &files,
    );
    std::fs::write(
        tmp.path().join("hf/hub/models--tiny-org--gpt2/refs/main"),
        "0123abcd\n",
    )
    .unwrap();
    let ids = write_ids(&tmp.path().join("ids.json"), "[[1, 2, 3, 4], [5, 6, 7]]");
    let out = tmp.path().join("out");
    let run = |model: &str, extra: &[&str]| {
        let mut args = vec![
            "audit",
            "--model",
            model,
            "--token-ids",
            &ids,
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        eigenformer(&args, tmp.path())
    };
    let o = run("tiny-org/gpt2", &["--offline"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let r = read_report(&out);
    assert_eq!(r.model.name, "tiny-org/gpt2");
    assert_eq!(r.model.model_type, "gpt2", "the snapshot refs/main names");
    assert!(
        r.model.dir.contains("snapshots/0123abcd"),
        "{}",
        r.model.dir
    );

    // Not in the cache: --offline refuses, naming the repository and the cache.
    let o = run("tiny-org/absent", &["--offline"]);
    fails_with(
        &o,
        &["tiny-org/absent", "--offline", "models--tiny-org--absent"],
    );
    // Without --offline the download is tried and its failure explained.
    let o = run("tiny-org/absent", &[]);
    fails_with(
        &o,
        &[
            "tiny-org/absent",
            "downloading config.json from the hub failed",
        ],
    );
    // A cached snapshot lacking a file the audit needs (the tokenizer, for text) is named.
    let text = tmp.path().join("t.txt");
    std::fs::write(&text, "a b c\n").unwrap();
    let o = eigenformer(
        &[
            "audit",
            "--model",
            "tiny-org/gpt2",
            "--text",
            text.to_str().unwrap(),
            "--offline",
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    fails_with(&o, &["lacks tokenizer.json"]);
}

/// `--tokenizer FILE` supplies the tokenizer of a checkpoint that ships without one.
#[test]
fn a_separate_tokenizer_file_is_used() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("bert");
    write_tiny_bert(&model);
    let tok = tmp.path().join("elsewhere.json");
    std::fs::rename(model.join("tokenizer.json"), &tok).unwrap();
    let text = tmp.path().join("t.txt");
    std::fs::write(&text, "the cat sat on the mat .\na big dog ran .\n").unwrap();
    let out = tmp.path().join("out");
    let o = eigenformer(
        &[
            "audit",
            "--model",
            model.to_str().unwrap(),
            "--tokenizer",
            tok.to_str().unwrap(),
            "--text",
            text.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let r = read_report(&out);
    assert_eq!(r.text.sentences, 2);
    assert_eq!(r.model.effective_spectrum, "h", "BERT is post-LN (C8′)");
    let o = eigenformer(
        &[
            "audit",
            "--model",
            model.to_str().unwrap(),
            "--tokenizer",
            tmp.path().join("missing.json").to_str().unwrap(),
            "--text",
            text.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        tmp.path(),
    );
    fails_with(&o, &["missing.json"]);
}
