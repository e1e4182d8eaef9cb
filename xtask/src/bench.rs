//! `cargo xtask bench`: criterion benches, and `--compare` against NumPy on the same shapes.
//!
//! `--compare` runs, in one go, each [`SUITES`] pair on the same shapes with all cores each: the
//! tensor kernels (`crates/tensor/examples/bench_kernels.rs` vs `benches/compare/numpy_ops.py`) and
//! the eigenvalue solver (`crates/spectral/examples/bench_eigvals.rs` vs
//! `benches/compare/numpy_eigvals.py`), alternating ours and NumPy for `--rounds` rounds (the machine
//! may be shared: per shape the best median over the rounds is kept, for both sides alike), then
//! prints a markdown ratio table and writes it, with the raw JSON, to
//! `<target dir>/bench-compare.md` / `.json`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::util::{
    cargo, command_stdout, now_utc, run_command, try_command_stdout, workspace_root, write_atomic,
};

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Also time NumPy (OpenBLAS) on the same shapes and print a ratio table.
    #[arg(long)]
    pub compare: bool,
    /// With --compare / --step / --audit: alternating rounds of ours and the reference; the best per
    /// shape is kept (--audit: the median).
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// With --compare: minimum seconds of timing per shape and round.
    #[arg(long, default_value_t = 1.0)]
    pub min_time: f64,
    /// One ViT training step (vit-small and vit-cifar, batch 128) in ours and in PyTorch (installed
    /// with pip if missing), alternating for --rounds rounds; see `bench_step`.
    #[arg(long, conflicts_with = "compare")]
    pub step: bool,
    /// `eigenformer audit` against `benches/compare/audit_numpy.py` (transformers + NumPy, the same
    /// analysis) on the same Brown sentences, MiniLM and MPNet, each timed end to end, alternating
    /// for --rounds rounds, checked for agreement; writes the section "Audit against transformers
    /// + NumPy" of docs/benchmarks.md; see `bench_audit`.
    #[arg(long, conflicts_with_all = ["compare", "step"])]
    pub audit: bool,
    /// With --audit: the first N Brown sentences.
    #[arg(long, default_value_t = 500, requires = "audit")]
    pub sentences: usize,
    /// With --compare: only the shapes whose name contains this string.
    #[arg(long)]
    pub only: Option<String>,
    /// With --compare / --step / --audit: threads for both sides (RAYON_NUM_THREADS for ours, OPENBLAS_NUM_THREADS and
    /// OMP_NUM_THREADS for NumPy; --audit: torch's threads, NumPy stays on one). Default: all cores. `--threads 1` is the comparison least
    /// disturbed by other load (OpenBLAS's threads spin-wait and degrade on an oversubscribed machine).
    #[arg(long)]
    pub threads: Option<usize>,
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if args.step {
        return crate::bench_step::run(args.rounds, args.threads);
    }
    if args.audit {
        return crate::bench_audit::run(args.sentences, args.rounds, args.threads);
    }
    if !args.compare {
        return run_command(cargo().args(["bench", "--bench", "gemm", "--bench", "ops"]));
    }
    compare(args)
}

/// One side's results: name → (unit, rate, median seconds), plus its JSON header.
struct Side {
    header: Value,
    best: BTreeMap<String, (String, f64, f64)>,
    order: Vec<String>,
}

impl Side {
    fn new() -> Self {
        Side {
            header: Value::Null,
            best: BTreeMap::new(),
            order: Vec::new(),
        }
    }

    fn absorb(&mut self, json: &str, who: &str) -> Result<()> {
        let v: Value = serde_json::from_str(json)
            .with_context(|| format!("{who} printed invalid JSON:\n{json}"))?;
        let results = v["results"]
            .as_array()
            .with_context(|| format!("{who}: no results"))?;
        for r in results {
            let name = r["name"]
                .as_str()
                .context("result without name")?
                .to_string();
            let unit = r["unit"].as_str().unwrap_or("").to_string();
            let rate = r["rate"].as_f64().context("result without rate")?;
            let median = r["median_s"].as_f64().unwrap_or(f64::NAN);
            if !self.best.contains_key(&name) {
                self.order.push(name.clone());
            }
            let e = self.best.entry(name).or_insert((unit, rate, median));
            if rate > e.1 {
                e.1 = rate;
                e.2 = median;
            }
        }
        let mut header = v;
        header.as_object_mut().map(|o| o.remove("results"));
        if self.header.is_null() {
            self.header = header;
        }
        Ok(())
    }
}

/// Build the `eigenformer` binary in release mode and return its path (what the comparisons
/// against PyTorch and transformers time).
pub fn release_cli() -> Result<PathBuf> {
    run_command(cargo().args([
        "build",
        "--release",
        "-q",
        "-p",
        "eigenformer-cli",
        "--bin",
        "eigenformer",
    ]))?;
    Ok(target_dir().join("release/eigenformer"))
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                workspace_root().join(p)
            }
        })
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// NumPy with the OpenBLAS overrides of this machine removed (they can force a slow kernel).
pub fn python() -> Command {
    let mut c = Command::new("python3");
    c.env_remove("OPENBLAS_CORETYPE")
        .env_remove("OPENBLAS_L2_SIZE");
    c
}

fn ensure_numpy() -> Result<()> {
    let ok = |m: &str| try_command_stdout(python().args(["-c", &format!("import {m}")])).is_some();
    for module in ["numpy", "threadpoolctl"] {
        if !ok(module) {
            eprintln!("xtask: installing {module} for the comparison");
            run_command(python().args(["-m", "pip", "install", "--quiet", module]))?;
            if !ok(module) {
                bail!("python3 cannot import {module} even after `pip install {module}`");
            }
        }
    }
    Ok(())
}

/// One comparison: our example binary (package, example) and the NumPy script timing the same work.
struct Suite {
    package: &'static str,
    example: &'static str,
    script: &'static str,
}

/// Every comparison `--compare` runs.
const SUITES: &[Suite] = &[
    Suite {
        package: "eigenformer-tensor",
        example: "bench_kernels",
        script: "benches/compare/numpy_ops.py",
    },
    Suite {
        package: "eigenformer-spectral",
        example: "bench_eigvals",
        script: "benches/compare/numpy_eigvals.py",
    },
];

fn compare(args: &BenchArgs) -> Result<()> {
    ensure_numpy()?;
    // Build first so that compilation does not overlap the timings.
    for suite in SUITES {
        run_command(cargo().args([
            "build",
            "--release",
            "-q",
            "-p",
            suite.package,
            "--example",
            suite.example,
        ]))?;
    }
    let min_time = format!("{}", args.min_time);
    let mut extra = vec!["--min-time".to_string(), min_time];
    if let Some(o) = &args.only {
        extra.extend(["--only".to_string(), o.clone()]);
    }

    let (mut ours, mut numpy) = (Side::new(), Side::new());
    let rounds = args.rounds.max(1);
    for round in 1..=rounds {
        for suite in SUITES {
            let exe = target_dir().join("release/examples").join(suite.example);
            eprintln!("xtask: round {round}/{rounds}: ours ({})", suite.example);
            let mut ours_cmd = Command::new(&exe);
            if let Some(t) = args.threads {
                ours_cmd.env("RAYON_NUM_THREADS", t.to_string());
            }
            let out = command_stdout(ours_cmd.args(&extra))?;
            ours.absorb(&out, suite.example)?;
            eprintln!("xtask: round {round}/{rounds}: NumPy ({})", suite.script);
            let script = workspace_root().join(suite.script);
            let mut numpy_cmd = python();
            if let Some(t) = args.threads {
                numpy_cmd
                    .env("OPENBLAS_NUM_THREADS", t.to_string())
                    .env("OMP_NUM_THREADS", t.to_string());
            }
            let out = command_stdout(numpy_cmd.arg(&script).args(&extra))?;
            numpy.absorb(&out, suite.script)?;
        }
    }

    let md = table(args, &ours, &numpy);
    println!("{md}");
    let raw = serde_json::json!({
        "ours": { "header": ours.header, "best": ours.best },
        "numpy": { "header": numpy.header, "best": numpy.best },
    });
    write_results("bench-compare", &md, &raw)
}

/// Write a comparison's table to `<target dir>/<stem>.md` and its raw numbers to `<stem>.json`.
pub fn write_results(stem: &str, md: &str, raw: &serde_json::Value) -> Result<()> {
    let dir = target_dir();
    let md_path = dir.join(format!("{stem}.md"));
    write_atomic(&md_path, md.as_bytes())?;
    write_atomic(
        &dir.join(format!("{stem}.json")),
        serde_json::to_string_pretty(raw)?.as_bytes(),
    )?;
    eprintln!("xtask: wrote {}", md_path.display());
    Ok(())
}

/// The CPU's model name from /proc/cpuinfo (`unknown CPU` elsewhere).
pub fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn table(args: &BenchArgs, ours: &Side, numpy: &Side) -> String {
    let blas = &numpy.header["blas"][0];
    let s = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    };
    let cpu = cpu_name();
    let mut md = String::new();
    md.push_str(&format!(
        "Measured {} on {} ({} logical cores), `cargo xtask bench --compare --rounds {} --min-time {}{}`.\n\n",
        now_utc(),
        cpu,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        args.rounds.max(1),
        args.min_time,
        args.threads.map(|t| format!(" --threads {t}")).unwrap_or_default()
    ));
    md.push_str(&format!(
        "* ours: {}, {} rayon threads\n* NumPy: {}, OpenBLAS {} (`{}` kernel, {} threading), {} threads; \
         OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset for NumPy\n* best median over {} alternating rounds per shape\n\n",
        s(&ours.header["impl"]),
        s(&ours.header["threads"]),
        s(&numpy.header["impl"]),
        s(&blas["version"]),
        s(&blas["architecture"]),
        s(&blas["threading_layer"]),
        s(&numpy.header["threads"]),
        args.rounds.max(1),
    ));
    md.push_str("| shape | ours | NumPy | ours / NumPy |\n|---|---:|---:|---:|\n");
    for name in &ours.order {
        let (unit, r_ours, _) = &ours.best[name];
        let u = match unit.as_str() {
            "gflops" => "GFLOP/s",
            "gbps" => "GB/s",
            _ => "/s",
        };
        match numpy.best.get(name) {
            Some((_, r_np, _)) => md.push_str(&format!(
                "| {name} | {r_ours:.1} {u} | {r_np:.1} {u} | {:.2} |\n",
                r_ours / r_np
            )),
            None => md.push_str(&format!("| {name} | {r_ours:.1} {u} | – | – |\n")),
        }
    }
    md
}
