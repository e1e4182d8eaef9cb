//! `cargo xtask bench --audit`: `eigenformer audit` against `benches/compare/audit_numpy.py` (the
//! same audit in transformers + NumPy) on the same sentences, MiniLM and MPNet, in one run.
//!
//! Both sides are timed end to end as processes, as a user sees them: start-up (Python's imports
//! of torch and transformers), loading the checkpoint, tokenising, the forward passes, the
//! analysis and writing the results. Rounds alternate ours and Python per model; the table gives
//! the median of the rounds for each side and their ratio. Every run is checked against its
//! counterpart before anything is written: the same inputs (sentence and token counts) and the
//! same per-layer token cosines within [`COSINE_TOL`], or the command fails. The section
//! "## Audit against transformers + NumPy" of docs/benchmarks.md is written (or replaced) with
//! the table, and `<target dir>/bench-audit.md` / `.json` with it and the raw timings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

use crate::bench::{cpu_name, python, target_dir};
use crate::util::{
    command_stdout, now_utc, run_command, try_command_stdout, workspace_root, write_atomic,
};

/// The models of issue 15's speed targets (built-in names of `eigenformer audit`).
const MODELS: &[&str] = &["minilm", "mpnet"];

/// Line width of the prose written into docs/benchmarks.md (that of the hand-written sections).
const WRAP: usize = 100;

/// The heading of the section this command owns in docs/benchmarks.md.
const SECTION: &str = "## Audit against transformers + NumPy";

/// Largest accepted |difference| of a per-layer mean token cosine (`mean_cosine`, and the
/// no-special and centred variants) between the CLI and the script.
///
/// Why 1e-5: both run the forward pass in f32 and the analysis in f64, so they differ only by the
/// rounding of two f32 implementations (summation order, kernels): on the Brown sentences the
/// measured differences are below 1e-8 (mean_cosine: 8.5e-9 for MiniLM, 6.7e-9 for MPNet, on
/// 100 sentences; at most 2e-7 with a 512-token sentence, 1.5e-6 for its centred cosine). Each sentence contributes 1/N of a layer's
/// mean, and per-sentence cosines spread over about ±0.1, so one sentence tokenised differently
/// or left out moves a mean by around 1e-4 at N = 500: far above 1e-5, while rounding stays
/// far below it. Sentence and token counts are compared exactly besides.
const COSINE_TOL: f64 = 1e-5;

/// The per-layer fields compared against [`COSINE_TOL`] (`mean_cosine` first: the reported one).
const COSINE_FIELDS: &[&str] = &[
    "mean_cosine",
    "mean_cosine_no_special",
    "mean_cosine_centred",
    "mean_cosine_centred_no_special",
];

/// One timed run of one side.
#[derive(Clone, Debug, serde::Serialize)]
struct Run {
    /// Process wall-clock seconds.
    wall_s: f64,
    /// The side's own breakdown (`seconds` of audit.json; the script's `*_seconds`).
    detail: BTreeMap<String, f64>,
}

/// Everything measured for one model.
#[derive(Clone, Debug, Default, serde::Serialize)]
struct ModelResult {
    ours: Vec<Run>,
    python: Vec<Run>,
    /// Largest |Δ mean_cosine| over the layers and rounds.
    max_cosine_diff: f64,
    /// Largest |Δ| over every field of [`COSINE_FIELDS`].
    max_any_cosine_diff: f64,
    sentences: usize,
    mean_tokens: f64,
    layers: usize,
}

fn ensure_python_modules() -> Result<()> {
    let modules = [
        ("numpy", "numpy"),
        ("torch", "torch"),
        ("transformers", "transformers"),
        ("tokenizers", "tokenizers"),
    ];
    let ok = |m: &str| try_command_stdout(python().args(["-c", &format!("import {m}")])).is_some();
    for (module, pip_name) in modules {
        if !ok(module) {
            eprintln!(
                "xtask: installing {pip_name} with pip for the comparison (not needed by CI)"
            );
            run_command(python().args(["-m", "pip", "install", "--quiet", pip_name]))?;
            if !ok(module) {
                bail!("python3 cannot import {module} even after `pip install {pip_name}`");
            }
        }
    }
    Ok(())
}

/// `eigenformer fetch NAME`: the directory of the asset (the last line it prints).
fn fetch(exe: &Path, name: &str) -> Result<PathBuf> {
    let out = command_stdout(Command::new(exe).args(["fetch", name]))?;
    out.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(PathBuf::from)
        .with_context(|| format!("`eigenformer fetch {name}` printed no directory"))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn field(v: &Value, path: &[&str], who: &str) -> Result<f64> {
    let mut at = v;
    for key in path {
        at = &at[*key];
    }
    at.as_f64()
        .with_context(|| format!("{who}: no number at `{}`", path.join(".")))
}

/// The per-layer values of `key` (`None` for a JSON null) in `layers`.
fn layer_values(layers: &Value, key: &str, who: &str) -> Result<Vec<Option<f64>>> {
    layers
        .as_array()
        .with_context(|| format!("{who}: no `layers` list"))?
        .iter()
        .map(|l| match &l[key] {
            Value::Null => Ok(None),
            x => x
                .as_f64()
                .map(Some)
                .with_context(|| format!("{who}: `layers[].{key}` is not a number: {x}")),
        })
        .collect()
}

/// Check that the CLI's audit.json and the script's JSON line describe the same audit; returns
/// (max |Δ mean_cosine|, max |Δ| over [`COSINE_FIELDS`], layer count).
fn check_agreement(model: &str, ours: &Value, py: &Value) -> Result<(f64, f64, usize)> {
    let who_o = format!("{model}: audit.json");
    let who_p = format!("{model}: audit_numpy.py");
    let (so, sp) = (
        field(ours, &["text", "sentences"], &who_o)?,
        field(py, &["sentences"], &who_p)?,
    );
    let (to, tp) = (
        field(ours, &["text", "mean_tokens"], &who_o)?,
        field(py, &["mean_tokens"], &who_p)?,
    );
    ensure!(
        so == sp && (to - tp).abs() <= 1e-9 * to.abs().max(1.0),
        "{model}: the CLI and the script audited different inputs: {so} sentences of {to} tokens \
         on average against {sp} of {tp}"
    );
    let mut max_cos = 0.0_f64;
    let mut max_any = 0.0_f64;
    let mut layers = 0;
    for key in COSINE_FIELDS {
        let a = layer_values(&ours["layers"], key, &who_o)?;
        let b = layer_values(&py["layers"], key, &who_p)?;
        ensure!(
            a.len() == b.len(),
            "{model}: {} hidden states in audit.json, {} from the script",
            a.len(),
            b.len()
        );
        layers = a.len();
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            let diff = match (x, y) {
                (Some(x), Some(y)) => (x - y).abs(),
                (None, None) => 0.0,
                _ => {
                    bail!("{model}: layer {i} `{key}`: {x:?} in audit.json, {y:?} from the script")
                }
            };
            // A NaN difference (a NaN on one side) fails too.
            if diff.is_nan() || diff > COSINE_TOL {
                bail!(
                    "{model}: the CLI and the script disagree on layer {i} `{key}`: {x:?} against \
                     {y:?} (|difference| {diff:.3e} > tolerance {COSINE_TOL:e}).\n\
                     audit.json {key}: {a:?}\nscript     {key}: {b:?}"
                );
            }
            max_any = max_any.max(diff);
            if *key == "mean_cosine" {
                max_cos = max_cos.max(diff);
            }
        }
    }
    Ok((max_cos, max_any, layers))
}

fn remove_if_present(path: &Path) -> Result<()> {
    if path.is_dir() {
        std::fs::remove_dir_all(path).with_context(|| format!("removing {}", path.display()))?;
    } else if path.exists() {
        std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
    }
    Ok(())
}

/// Run the comparison: `sentences` Brown sentences, `rounds` alternating rounds, `threads`
/// threads per side (all cores when `None`).
pub fn run(sentences: usize, rounds: usize, threads: Option<usize>) -> Result<()> {
    ensure!(sentences >= 1, "--sentences must be at least 1");
    ensure_python_modules()?;
    let exe = crate::bench::release_cli()?;
    let script = workspace_root().join("benches/compare/audit_numpy.py");
    // Fetched before any timing, so no download is timed.
    let brown = fetch(&exe, "brown")?;
    let dirs = MODELS
        .iter()
        .map(|m| Ok((*m, fetch(&exe, m)?)))
        .collect::<Result<BTreeMap<_, _>>>()?;
    let scratch = target_dir().join("bench-audit");
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let load_before = load_average();
    let busy = load_before
        .split_whitespace()
        .next()
        .and_then(|l| l.parse::<f64>().ok())
        .is_some_and(|l| l >= 0.5);
    if busy {
        eprintln!(
            "xtask: warning: load average {load_before} before the timings: the machine is not \
             idle, and both sides (torch's threads more than ours) slow down under load"
        );
    }
    let n = sentences.to_string();
    let rounds = rounds.max(1);
    let mut results: BTreeMap<&str, ModelResult> = BTreeMap::new();
    let mut framework = String::new();
    let mut py_setup = String::new();
    for round in 1..=rounds {
        for &model in MODELS {
            let r = results.entry(model).or_default();
            let out = scratch.join(format!("ours-{model}"));
            remove_if_present(&out)?;
            eprintln!("xtask: round {round}/{rounds}: ours, {model}, {sentences} sentences");
            let mut cmd = Command::new(&exe);
            if let Some(t) = threads {
                cmd.env("RAYON_NUM_THREADS", t.to_string());
            }
            cmd.args(["audit", "--model", model, "--sentences", &n, "--out"])
                .arg(&out);
            let start = Instant::now();
            command_stdout(&mut cmd)?;
            let wall_s = start.elapsed().as_secs_f64();
            let audit_path = out.join("audit.json");
            let text = std::fs::read_to_string(&audit_path)
                .with_context(|| format!("reading {}", audit_path.display()))?;
            let ours: Value = serde_json::from_str(&text)
                .with_context(|| format!("parsing {}", audit_path.display()))?;
            let mut detail = BTreeMap::new();
            if let Some(s) = ours["seconds"].as_f64() {
                detail.insert("measurement_seconds".to_string(), s);
            }
            r.ours.push(Run { wall_s, detail });

            eprintln!("xtask: round {round}/{rounds}: transformers + NumPy, {model}");
            let py_out = scratch.join(format!("python-{model}.json"));
            remove_if_present(&py_out)?;
            let mut cmd = python();
            cmd.env("TRANSFORMERS_VERBOSITY", "error")
                .env("HF_HUB_OFFLINE", "1")
                .arg(&script)
                .arg("--model-dir")
                .arg(&dirs[model])
                .arg("--brown-dir")
                .arg(&brown)
                .args(["--sentences", &n, "--out"])
                .arg(&py_out);
            if let Some(t) = threads {
                cmd.args(["--threads", &t.to_string()]);
            }
            let start = Instant::now();
            let stdout = command_stdout(&mut cmd)?;
            let wall_s = start.elapsed().as_secs_f64();
            let py = crate::bench_step::json_line(&stdout, "audit_numpy.py")?;
            if framework.is_empty() {
                framework = py["framework"].as_str().unwrap_or("").to_string();
                let env = |k: &str| py[k].as_str().unwrap_or("unset").to_string();
                py_setup = format!(
                    "batches of {} padded sentences, {} torch threads with OMP_WAIT_POLICY={}, \
                     NumPy with OPENBLAS_NUM_THREADS={}",
                    py["batch_size"],
                    py["threads"],
                    env("omp_wait_policy"),
                    env("openblas_threads")
                );
            }
            let detail = py
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter(|(k, _)| k.ends_with("_seconds"))
                        .filter_map(|(k, v)| Some((k.clone(), v.as_f64()?)))
                        .collect()
                })
                .unwrap_or_default();
            r.python.push(Run { wall_s, detail });

            let (cos, any, layers) = check_agreement(model, &ours, &py)?;
            r.max_cosine_diff = r.max_cosine_diff.max(cos);
            r.max_any_cosine_diff = r.max_any_cosine_diff.max(any);
            r.layers = layers;
            r.sentences = ours["text"]["sentences"].as_u64().unwrap_or(0) as usize;
            r.mean_tokens = ours["text"]["mean_tokens"].as_f64().unwrap_or(f64::NAN);
            eprintln!(
                "xtask: {model}: ours {:.1} s, Python {:.1} s; per-layer mean_cosine agree within {cos:.1e}",
                r.ours.last().map_or(f64::NAN, |x| x.wall_s),
                wall_s
            );
        }
    }
    let header = Header {
        date: now_utc(),
        sentences,
        rounds,
        threads,
        load_before,
        load_after: load_average(),
        framework,
        python_setup: py_setup,
    };
    let md = section(&header, &results);
    println!("{md}");
    write_section(&md)?;
    let raw = serde_json::json!({ "header": header, "models": results });
    crate::bench::write_results("bench-audit", &md, &raw)
}

#[derive(Debug, serde::Serialize)]
struct Header {
    date: String,
    sentences: usize,
    rounds: usize,
    threads: Option<usize>,
    load_before: String,
    load_after: String,
    framework: String,
    /// The script's batch size and torch threads, as it reported them.
    python_setup: String,
}

fn seconds_list(runs: &[Run]) -> String {
    runs.iter()
        .map(|r| format!("{:.1}", r.wall_s))
        .collect::<Vec<_>>()
        .join(", ")
}

fn median_detail(runs: &[Run], key: &str) -> f64 {
    median(
        &runs
            .iter()
            .filter_map(|r| r.detail.get(key).copied())
            .collect::<Vec<_>>(),
    )
}

/// The docs/benchmarks.md section (heading included).
fn section(h: &Header, results: &BTreeMap<&str, ModelResult>) -> String {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let threads = h
        .threads
        .map(|t| format!(" --threads {t}"))
        .unwrap_or_default();
    let mut md = format!("{SECTION}\n\n");
    md.push_str(&wrap(&format!(
        "Measured {} on {} ({cores} logical cores; load average {} before, {} after) with",
        h.date,
        cpu_name(),
        h.load_before,
        h.load_after,
    )));
    md.push_str(&format!(
        "```text\ncargo xtask bench --audit --sentences {} --rounds {}{threads}\n```\n\n",
        h.sentences, h.rounds,
    ));
    md.push_str(&wrap(
        &format!(
        "`eigenformer audit --model M --sentences {n} --out DIR` (release build, {ours_threads}) against \
         `python3 benches/compare/audit_numpy.py --model-dir DIR --sentences {n}` ({fw}; float32 \
         forward with eager attention, {py_setup}): the same first {n} Brown sentences, the same tokenizer.json \
         and the same analysis (per head the spectra of H_h and diag(γ) H_h; per sentence and layer \
         the token cosines raw, without special tokens and centred, ‖HC‖/‖DC‖, σ₂/σ₁ and the \
         effective rank; per sentence and head numpy.linalg.eig of the measured attention, its DC \
         mode and the regime of 1 + a·h). Each side is one process timed end to end (start-up and \
         imports, loading, tokenising, forward passes, analysis, writing its results), the two \
         alternating per model for {r} round{plural}; the table gives the median over the rounds. Every \
         run was checked against its counterpart: the same sentence and token counts, and the \
         per-layer token cosines (raw, without special tokens, centred) within {tol:e}.",
        n = h.sentences,
        r = h.rounds,
        plural = if h.rounds == 1 { "" } else { "s" },
        fw = if h.framework.is_empty() {
            "transformers + NumPy"
        } else {
            &h.framework
        },
        ours_threads = h
            .threads
            .map(|t| format!("{t} rayon threads"))
            .unwrap_or_else(|| "rayon on all cores".into()),
        py_setup = h.python_setup,
        tol = COSINE_TOL,
    )));
    md.push_str(
        "| model | sentences (mean tokens) | ours s | transformers + NumPy s | ratio (Python / ours) | \
         ours rounds s | Python rounds s | Python import / load / forward / analysis s | max \\|Δ mean_cosine\\| |\n\
         |---|---:|---:|---:|---:|---|---|---|---:|\n",
    );
    for &model in MODELS {
        let Some(r) = results.get(model) else {
            continue;
        };
        let o = median(&r.ours.iter().map(|x| x.wall_s).collect::<Vec<_>>());
        let p = median(&r.python.iter().map(|x| x.wall_s).collect::<Vec<_>>());
        md.push_str(&format!(
            "| {model} | {} ({:.1}) | {o:.1} | {p:.1} | **{:.2}×** | {} | {} | {:.1} / {:.1} / {:.1} / {:.1} | {:.1e} |\n",
            r.sentences,
            r.mean_tokens,
            p / o,
            seconds_list(&r.ours),
            seconds_list(&r.python),
            median_detail(&r.python, "import_seconds"),
            median_detail(&r.python, "load_seconds"),
            median_detail(&r.python, "forward_seconds"),
            median_detail(&r.python, "analysis_seconds"),
            r.max_cosine_diff,
        ));
    }
    let any = results
        .values()
        .map(|r| r.max_any_cosine_diff)
        .fold(0.0_f64, f64::max);
    let ratio = |m: &str| {
        results.get(m).map_or(f64::NAN, |r| {
            median(&r.python.iter().map(|x| x.wall_s).collect::<Vec<_>>())
                / median(&r.ours.iter().map(|x| x.wall_s).collect::<Vec<_>>())
        })
    };
    let ours_s = |m: &str| {
        results.get(m).map_or(f64::NAN, |r| {
            median(&r.ours.iter().map(|x| x.wall_s).collect::<Vec<_>>())
        })
    };
    md.push('\n');
    md.push_str(&wrap(&format!(
        "Issue 15's targets, for 500 sentences: MiniLM at least 5× faster end to end (here \
         {:.2}× on {n}), MPNet under 30 s (here {:.1} s on {n}).",
        ratio("minilm"),
        ours_s("mpnet"),
        n = h.sentences,
    )));
    md.push_str(&wrap(&format!(
        "Largest |difference| over all four per-layer cosines and all rounds: {any:.1e}. Our \
         own measurement time (audit.json `seconds`, without start-up, loading and writing), \
         median: {}.\n",
        MODELS
            .iter()
            .filter_map(|m| results
                .get(m)
                .map(|r| format!("{m} {:.1} s", median_detail(&r.ours, "measurement_seconds"))))
            .collect::<Vec<_>>()
            .join(", ")
    )));
    md
}

/// `text` as lines of at most [`WRAP`] characters (words are never split), a blank line after.
fn wrap(text: &str) -> String {
    let width = WRAP;
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push_str("\n\n");
    out
}

/// Write `md` into docs/benchmarks.md in place of its [`SECTION`] (up to the next `## `
/// heading), or at the end when there is none.
fn write_section(md: &str) -> Result<()> {
    let path = workspace_root().join("docs/benchmarks.md");
    let doc =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let updated = replace_section(&doc, md);
    write_atomic(&path, updated.as_bytes())?;
    eprintln!("xtask: wrote the section {SECTION:?} of {}", path.display());
    Ok(())
}

fn replace_section(doc: &str, md: &str) -> String {
    let body = md.trim_end();
    let lines: Vec<&str> = doc.lines().collect();
    let Some(start) = lines.iter().position(|l| l.trim_end() == SECTION) else {
        return format!("{}\n\n{body}\n", doc.trim_end());
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.starts_with("## "))
        .map_or(lines.len(), |i| start + 1 + i);
    let mut out: Vec<String> = lines[..start].iter().map(|s| s.to_string()).collect();
    out.push(body.to_string());
    if end < lines.len() {
        out.push(String::new());
        out.extend(lines[end..].iter().map(|s| s.to_string()));
    }
    out.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_section_is_appended_then_replaced_in_place() {
        let doc = "# Benchmarks\n\n## A\n\ntext\n";
        let first = replace_section(doc, &format!("{SECTION}\n\none\n"));
        assert_eq!(
            first,
            format!("# Benchmarks\n\n## A\n\ntext\n\n{SECTION}\n\none\n")
        );
        let again = replace_section(&first, &format!("{SECTION}\n\ntwo\n"));
        assert_eq!(
            again,
            format!("# Benchmarks\n\n## A\n\ntext\n\n{SECTION}\n\ntwo\n")
        );
        let middle = format!("# B\n\n{SECTION}\n\nold\n### sub\nold\n\n## Next\n\nkept\n");
        assert_eq!(
            replace_section(&middle, &format!("{SECTION}\n\nnew\n")),
            format!("# B\n\n{SECTION}\n\nnew\n\n## Next\n\nkept\n")
        );
    }

    #[test]
    fn agreement_is_checked_on_counts_and_cosines() {
        let ours = serde_json::json!({
            "text": { "sentences": 2, "mean_tokens": 10.5 },
            "layers": [
                { "mean_cosine": 0.1, "mean_cosine_no_special": 0.2,
                  "mean_cosine_centred": 0.0, "mean_cosine_centred_no_special": null },
                { "mean_cosine": 0.3, "mean_cosine_no_special": 0.4,
                  "mean_cosine_centred": 0.1, "mean_cosine_centred_no_special": null }
            ]
        });
        let mut py = serde_json::json!({
            "sentences": 2, "mean_tokens": 10.5,
            "layers": [
                { "mean_cosine": 0.100000001, "mean_cosine_no_special": 0.2,
                  "mean_cosine_centred": 0.0, "mean_cosine_centred_no_special": null },
                { "mean_cosine": 0.3, "mean_cosine_no_special": 0.4,
                  "mean_cosine_centred": 0.1, "mean_cosine_centred_no_special": null }
            ]
        });
        let (cos, _, layers) = check_agreement("m", &ours, &py).unwrap();
        assert!(cos > 0.0 && cos < 1e-8 && layers == 2);
        py["layers"][1]["mean_cosine"] = serde_json::json!(0.3001);
        let msg = check_agreement("m", &ours, &py).unwrap_err().to_string();
        assert!(
            msg.contains("layer 1") && msg.contains("mean_cosine"),
            "{msg}"
        );
        py["layers"][1]["mean_cosine"] = serde_json::json!(0.3);
        py["mean_tokens"] = serde_json::json!(10.0);
        let msg = check_agreement("m", &ours, &py).unwrap_err().to_string();
        assert!(msg.contains("different inputs"), "{msg}");
    }

    #[test]
    fn prose_is_wrapped_at_word_boundaries() {
        let text = "word ".repeat(60);
        let out = wrap(&text);
        assert!(out.ends_with("\n\n"));
        assert!(out.lines().all(|l| l.chars().count() <= WRAP));
        assert_eq!(out.split_whitespace().count(), 60);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
