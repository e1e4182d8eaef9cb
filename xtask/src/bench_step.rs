//! `cargo xtask bench --step`: one ViT training step (forward, backward, AdamW) in ours and in
//! PyTorch on the CPU, same model, batch and threads, alternating for a few rounds in one run.
//!
//! Ours is `eigenformer bench-step --json` (release build); PyTorch is
//! `benches/compare/torch_vit_step.py` (installed with pip here if python3 cannot import torch; CI
//! never runs this). Per model the best round of each side is kept, and the table reports images/s,
//! the ratio, the achieved GFLOP/s (the same model FLOPs for both sides, counted by
//! `eigenformer bench-step`) and each process's peak resident memory. Written to
//! `<target dir>/bench-step.md` and `.json`.

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::util::{command_stdout, now_utc, run_command, try_command_stdout, workspace_root};

/// The models the targets name, with the timed steps per round.
const MODELS: &[(&str, usize)] = &[("vit-small", 8), ("vit-cifar", 3)];

/// Best (fastest) measurement of one side for one model.
#[derive(Clone, Debug, serde::Serialize)]
struct Measurement {
    images_per_second: f64,
    peak_rss_mib: f64,
    version: String,
}

fn ensure_torch() -> Result<()> {
    let ok = || try_command_stdout(Command::new("python3").args(["-c", "import torch"])).is_some();
    if !ok() {
        eprintln!("xtask: installing torch with pip for the comparison (not needed by CI)");
        run_command(Command::new("python3").args(["-m", "pip", "install", "--quiet", "torch"]))?;
        if !ok() {
            bail!("python3 cannot import torch even after `pip install torch`");
        }
    }
    Ok(())
}

/// The first line of `out` that parses as a JSON object.
pub fn json_line(out: &str, who: &str) -> Result<Value> {
    out.lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .find_map(|l| serde_json::from_str(l).ok())
        .with_context(|| format!("{who} printed no JSON line:\n{out}"))
}

fn number(v: &Value, key: &str, who: &str) -> Result<f64> {
    v[key]
        .as_f64()
        .with_context(|| format!("{who}: no numeric `{key}` in {v}"))
}

fn keep_best(best: &mut BTreeMap<String, Measurement>, model: &str, m: Measurement) {
    match best.get(model) {
        Some(old) if old.images_per_second >= m.images_per_second => {}
        _ => {
            best.insert(model.to_string(), m);
        }
    }
}

/// Run the comparison with `threads` threads on each side (all cores when `None`).
pub fn run(rounds: usize, threads: Option<usize>) -> Result<()> {
    ensure_torch()?;
    let threads = threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let exe = crate::bench::release_cli()?;
    let script = workspace_root().join("benches/compare/torch_vit_step.py");
    let (mut ours, mut torch) = (BTreeMap::new(), BTreeMap::new());
    let mut step_gflop = BTreeMap::new();
    let rounds = rounds.max(1);
    for round in 1..=rounds {
        for &(model, steps) in MODELS {
            let steps = steps.to_string();
            eprintln!("xtask: round {round}/{rounds}: ours, {model}");
            let out = command_stdout(
                Command::new(&exe)
                    .env("RAYON_NUM_THREADS", threads.to_string())
                    .args(["bench-step", "--config", model, "--batch-size", "128"])
                    .args(["--steps", &steps, "--json"]),
            )?;
            let v = json_line(&out, "eigenformer bench-step")?;
            step_gflop.insert(model, number(&v, "step_gflop", "ours")?);
            keep_best(
                &mut ours,
                model,
                Measurement {
                    images_per_second: number(&v, "images_per_second", "ours")?,
                    peak_rss_mib: v["peak_rss_mib"].as_f64().unwrap_or(f64::NAN),
                    version: format!("eigenformer {}", env!("CARGO_PKG_VERSION")),
                },
            );
            eprintln!("xtask: round {round}/{rounds}: PyTorch, {model}");
            let out = command_stdout(
                Command::new("python3")
                    .env("OMP_NUM_THREADS", threads.to_string())
                    .arg(&script)
                    .args(["--config", model, "--batch-size", "128", "--steps", &steps])
                    .args(["--threads", &threads.to_string()]),
            )?;
            let v = json_line(&out, "torch_vit_step.py")?;
            keep_best(
                &mut torch,
                model,
                Measurement {
                    images_per_second: number(&v, "images_per_second", "PyTorch")?,
                    peak_rss_mib: number(&v, "peak_rss_mib", "PyTorch")?,
                    version: v["framework"].as_str().unwrap_or("pytorch").to_string(),
                },
            );
        }
    }
    let md = table(rounds, threads, &ours, &torch, &step_gflop);
    println!("{md}");
    let raw = serde_json::json!({ "ours": ours, "pytorch": torch, "step_gflop": step_gflop });
    crate::bench::write_results("bench-step", &md, &raw)
}

fn table(
    rounds: usize,
    threads: usize,
    ours: &BTreeMap<String, Measurement>,
    torch: &BTreeMap<String, Measurement>,
    step_gflop: &BTreeMap<&str, f64>,
) -> String {
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into());
    let version = torch
        .values()
        .next()
        .map(|m| m.version.clone())
        .unwrap_or_default();
    let mut md = format!(
        "Measured {} with `cargo xtask bench --step --rounds {rounds}`: {threads} threads per side, \
         batch 128, plain attention, random data, best of {rounds} alternating rounds; {version}; \
         load average at the end {load}.\n\n",
        now_utc()
    );
    md.push_str(
        "| model | ours images/s | PyTorch images/s | ours / PyTorch | ours GFLOP/s | PyTorch GFLOP/s | ours peak RSS | PyTorch peak RSS |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for &(model, _) in MODELS {
        let (Some(o), Some(t)) = (ours.get(model), torch.get(model)) else {
            continue;
        };
        let gflop = step_gflop.get(model).copied().unwrap_or(f64::NAN);
        let rate = |m: &Measurement| m.images_per_second / 128.0 * gflop;
        md.push_str(&format!(
            "| {model} | {:.1} | {:.1} | **{:.2}** | {:.1} | {:.1} | {:.0} MiB | {:.0} MiB |\n",
            o.images_per_second,
            t.images_per_second,
            o.images_per_second / t.images_per_second,
            rate(o),
            rate(t),
            o.peak_rss_mib,
            t.peak_rss_mib,
        ));
    }
    md
}
