//! `cargo xtask reproduce`: run the paper's experiments and write `REPORT.md`.
//!
//! The report is made of sections, run in the order of [`SECTIONS`]. Each section is one function
//! that runs the `eigenformer` binary (built in release once, on first use, through
//! [`Ctx::eigenformer`]) with its own subcommand, writes its artefacts under `<out>/<section>/`, and
//! returns the Markdown for its part of the report. Adding a section means adding a [`SectionId`]
//! variant, a row in [`SECTIONS`] and its function.
//!
//! A section whose subcommand does not exist yet reports itself as not implemented: the driver never
//! writes numbers it did not measure.

use crate::util::{
    cargo, command_stdout, now_utc, run_command, try_command_stdout, workspace_root, write_atomic,
};
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// How much compute the experiments get.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// Minimal sizes that exercise the whole pipeline in a few minutes (CI).
    Smoke,
    /// Reduced sizes for one workstation (the default).
    Quick,
    /// The full settings of the experiments.
    Full,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Smoke => "smoke",
            Profile::Quick => "quick",
            Profile::Full => "full",
        }
    }
}

/// The report's sections, in the order they run.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionId {
    /// Spectra and regimes of the update X + A X H, checked against simulation.
    Theory,
    /// Audits of pre-trained models: feature similarity and spectra of H per layer.
    Pretrained,
    /// Training from scratch: baseline vs FeatScale vs spectral models.
    Training,
}

impl SectionId {
    pub fn name(self) -> &'static str {
        match self {
            SectionId::Theory => "theory",
            SectionId::Pretrained => "pretrained",
            SectionId::Training => "training",
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct ReproduceArgs {
    /// Compute profile.
    #[arg(long, value_enum, default_value_t = Profile::Quick)]
    pub profile: Profile,
    /// Run only this section (repeatable); the others are listed as not run.
    #[arg(long = "only", value_enum, value_name = "SECTION")]
    pub only: Vec<SectionId>,
    /// Output directory for REPORT.md and the sections' artefacts [default: reports/<profile> in the
    /// workspace root].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// What a section produced.
pub enum Outcome {
    /// The section ran; its Markdown (results, tables, figure links, claim verdicts) and its
    /// claim rows for the report's merged claims table.
    Done {
        markdown: String,
        claims: Vec<Claim>,
    },
    /// The section's experiments do not exist yet.
    // Every section is implemented today; the variant stays for a section added before its
    // experiments exist (the report then says so instead of showing numbers).
    #[allow(dead_code)]
    NotImplemented {
        /// The issue that adds them.
        issue: &'static str,
        /// What the section will report.
        planned: &'static str,
    },
}

/// One row of the report's claims table: a claim of the paper that a section tested.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// Short id (`C1`, `P1`, `T1`, …).
    pub id: String,
    /// The paper's statement.
    pub statement: String,
    /// What we measured.
    pub measured: String,
    /// The decision rule.
    pub rule: String,
    /// `holds`, `fails` or `inconclusive`.
    pub verdict: String,
}

/// The claims checked by `eigenformer theory`, from its `theory.json` (each holds iff it is met
/// on every random instance within its tolerance).
fn theory_claims(path: &std::path::Path) -> Result<Vec<Claim>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    Ok(json["claims"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|c| Claim {
            id: s(&c["claim"]),
            statement: s(&c["statement"]),
            measured: format!(
                "{} ({} of {} instances fail)",
                s(&c["measured"]),
                c["failures"],
                c["instances"]
            ),
            rule: format!(
                "holds if met on every random instance within the tolerance: {}",
                s(&c["tolerance"])
            ),
            verdict: s(&c["verdict"]),
        })
        .collect())
}

/// The claims of a section's Markdown: the table under its `## Claims` heading with the columns
/// `claim | rule | measured | verdict` (the pre-trained audit's `comparison.md`), ids `prefix1…`.
fn markdown_claims(md: &str, prefix: &str) -> Vec<Claim> {
    let mut rows = Vec::new();
    let mut in_claims = false;
    for line in md.lines() {
        if line.starts_with('#') {
            in_claims = line.trim_start_matches('#').trim() == "Claims";
            continue;
        }
        let t = line.trim();
        if !in_claims || !t.starts_with('|') || t.starts_with("|---") || t.starts_with("| claim") {
            continue;
        }
        let cells: Vec<String> = t
            .trim_matches('|')
            .replace("\\|", "\u{1}")
            .split('|')
            .map(|c| c.trim().replace('\u{1}', "\\|"))
            .collect();
        if let [claim, rule, measured, verdict] = cells.as_slice() {
            rows.push(Claim {
                id: format!("{prefix}{}", rows.len() + 1),
                statement: claim.clone(),
                measured: measured.clone(),
                rule: rule.clone(),
                verdict: verdict.trim_matches('*').to_string(),
            });
        }
    }
    rows
}

/// One section of the report.
pub struct Section {
    pub id: SectionId,
    pub title: &'static str,
    pub run: fn(&mut Ctx) -> Result<Outcome>,
}

/// The sections, in report order.
pub const SECTIONS: &[Section] = &[
    Section {
        id: SectionId::Theory,
        title: "Theory: spectra and regimes of X + A X H",
        run: theory,
    },
    Section {
        id: SectionId::Pretrained,
        title: "Pre-trained models: smoothing with depth and the spectra that predict it",
        run: pretrained,
    },
    Section {
        id: SectionId::Training,
        title: "Training from scratch: baseline, FeatScale and spectral models",
        run: training,
    },
];

fn theory(ctx: &mut Ctx) -> Result<Outcome> {
    let dir = ctx.dir.clone();
    let mut cmd = ctx.eigenformer()?;
    cmd.args(["theory", "--profile", ctx.profile.name(), "--out"])
        .arg(&dir);
    run_command(&mut cmd)?;
    let path = dir.join("theory.md");
    let md = std::fs::read_to_string(&path)
        .with_context(|| format!("`eigenformer theory` wrote no {}", path.display()))?;
    Ok(Outcome::Done {
        markdown: embed_section(&md, "theory/"),
        claims: theory_claims(&dir.join("theory.json"))?,
    })
}

/// A section's stand-alone Markdown as a part of REPORT.md: its `# ` title is dropped (the report
/// has its own section heading), the other headings move one level down, and relative links (to the
/// section's artefacts, written next to its Markdown) get `prefix` so that they resolve from
/// REPORT.md one directory up.
fn embed_section(md: &str, prefix: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    for (i, line) in md.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        if in_code {
            out.push_str(line);
        } else if i == 0 && line.starts_with("# ") {
            continue;
        } else if line.starts_with('#') {
            out.push('#');
            out.push_str(line);
        } else {
            let mut rest = line;
            while let Some(k) = rest.find("](") {
                out.push_str(&rest[..k + 2]);
                rest = &rest[k + 2..];
                let absolute = ["http://", "https://", "#", "/", "mailto:"]
                    .iter()
                    .any(|p| rest.starts_with(p));
                if !absolute {
                    out.push_str(prefix);
                }
            }
            out.push_str(rest);
        }
        out.push('\n');
    }
    out.trim_start().to_string()
}

/// `eigenformer audit --compare` on MiniLM and MPNet (smoke: MiniLM alone on 20 sentences) over
/// the Brown sample; embeds its `comparison.md` (side-by-side similarity, head spectra and the
/// verdicts on theory.md §7's claims about pre-trained models).
fn pretrained(ctx: &mut Ctx) -> Result<Outcome> {
    let dir = ctx.dir.clone();
    let (models, sentences): (&[&str], &str) = match ctx.profile {
        Profile::Smoke => (&["minilm"], "20"),
        Profile::Quick => (&["minilm", "mpnet"], "500"),
        Profile::Full => (&["minilm", "mpnet"], "1811"),
    };
    let mut cmd = ctx.eigenformer()?;
    cmd.args(["audit", "--compare", "--sentences", sentences]);
    for m in models {
        cmd.args(["--model", m]);
    }
    cmd.arg("--out").arg(&dir);
    run_command(&mut cmd)?;
    let path = dir.join("comparison.md");
    let md = std::fs::read_to_string(&path)
        .with_context(|| format!("`eigenformer audit` wrote no {}", path.display()))?;
    Ok(Outcome::Done {
        markdown: embed_section(&md, "pretrained/"),
        claims: markdown_claims(&md, "P"),
    })
}

/// `eigenformer experiments` on the grids of `experiments/*.toml` for the profile (trained runs
/// are cached by configuration hash, so a rerun only trains what is missing); embeds its
/// `training.md` and takes its claims from `claims.json`.
fn training(ctx: &mut Ctx) -> Result<Outcome> {
    let dir = ctx.dir.clone();
    let mut cmd = ctx.eigenformer()?;
    cmd.args(["experiments", "--profile", ctx.profile.name()])
        .arg("--experiments-dir")
        .arg(workspace_root().join("experiments"))
        .arg("--out")
        .arg(&dir);
    run_command(&mut cmd)?;
    let path = dir.join("training.md");
    let md = std::fs::read_to_string(&path)
        .with_context(|| format!("`eigenformer experiments` wrote no {}", path.display()))?;
    let claims_path = dir.join("claims.json");
    let text = std::fs::read_to_string(&claims_path)
        .with_context(|| format!("reading {}", claims_path.display()))?;
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text)
        .with_context(|| format!("parsing {}", claims_path.display()))?;
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let claims = rows
        .iter()
        .map(|c| Claim {
            id: s(&c["id"]),
            statement: s(&c["statement"]),
            measured: s(&c["measured"]),
            rule: s(&c["rule"]),
            verdict: s(&c["verdict"]),
        })
        .collect();
    let results = dir.join("results.json");
    if let Ok(text) = std::fs::read_to_string(&results) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            ctx.seeds = format!("seeds {} (each training configuration)", v["seeds"]);
        }
    }
    Ok(Outcome::Done {
        markdown: embed_section(&md, "training/"),
        claims,
    })
}

/// What a section function gets: the profile, its output directory, and the `eigenformer` binary.
pub struct Ctx {
    pub profile: Profile,
    /// `<out>/<section>/` as an absolute path, created before the section runs.
    pub dir: PathBuf,
    binary: Option<PathBuf>,
    /// The seeds a section used, for the environment table (empty if it does not say).
    pub seeds: String,
}

impl Ctx {
    /// A command for the `eigenformer` binary, built on first use (once per run): release for
    /// `quick` and `full`; the dev profile for `smoke`, whose work is tiny, so CI reuses the
    /// binary `cargo xtask test` already built instead of a release build with LTO (minutes on
    /// 2 cores).
    pub fn eigenformer(&mut self) -> Result<Command> {
        if self.binary.is_none() {
            let release = self.profile != Profile::Smoke;
            let mut build = cargo();
            build.arg("build");
            if release {
                build.arg("--release");
            }
            build.args(["-p", "eigenformer-cli", "--bin", "eigenformer"]);
            run_command(&mut build)?;
            let json =
                command_stdout(cargo().args(["metadata", "--format-version", "1", "--no-deps"]))?;
            let meta: serde_json::Value = serde_json::from_str(&json)?;
            let target = meta["target_directory"]
                .as_str()
                .context("`cargo metadata` gave no target_directory")?;
            let dir = if release { "release" } else { "debug" };
            self.binary = Some(PathBuf::from(target).join(dir).join("eigenformer"));
        }
        let mut cmd = Command::new(self.binary.as_ref().expect("built above"));
        cmd.current_dir(workspace_root());
        Ok(cmd)
    }
}

/// A section's result as it goes into the report.
enum Status {
    Excluded,
    Outcome(Outcome),
    Failed(String),
}

fn status_line(status: &Status) -> String {
    match status {
        Status::Excluded => "not run (excluded by `--only`)".to_string(),
        Status::Outcome(Outcome::Done { .. }) => "done".to_string(),
        Status::Outcome(Outcome::NotImplemented { issue, .. }) => {
            format!("**not implemented yet** ({issue})")
        }
        Status::Failed(_) => "**FAILED**".to_string(),
    }
}

/// The environment the report was produced in, as `(field, value)` rows: the machine, the
/// versions, the commit, the seeds and the wall time of each part.
fn environment(
    wall_seconds: f64,
    command_line: &str,
    parts: &[(&'static str, f64)],
    seeds: &[(&'static str, String)],
) -> Vec<(&'static str, String)> {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| {
            let (key, value) = l.split_once(':')?;
            (key.trim() == "model name").then(|| value.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    let logical = cpuinfo
        .lines()
        .filter(|l| l.split(':').next().is_some_and(|k| k.trim() == "processor"))
        .count();
    let usable = std::thread::available_parallelism().map_or(0, |n| n.get());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let unknown = || "unknown".to_string();
    let commit = try_command_stdout(Command::new("git").args(["rev-parse", "HEAD"])).map(|c| {
        let dirty = try_command_stdout(Command::new("git").args([
            "status",
            "--porcelain",
            "--untracked-files=no",
        ]))
        .is_some_and(|s| !s.is_empty());
        if dirty {
            format!("`{c}` (with uncommitted changes)")
        } else {
            format!("`{c}`")
        }
    });
    let gpu = try_command_stdout(
        Command::new("nvidia-smi").args(["--query-gpu=name,memory.total", "--format=csv,noheader"]),
    )
    .filter(|s| !s.is_empty())
    .map(|s| s.lines().collect::<Vec<_>>().join("; "))
    .unwrap_or_else(|| "none detected (no working `nvidia-smi`)".to_string());
    let threads = match std::env::var("RAYON_NUM_THREADS") {
        Ok(n) if !n.is_empty() => format!("{n} (RAYON_NUM_THREADS)"),
        _ => format!("{usable} (rayon's default: one per usable CPU)"),
    };
    let times = parts
        .iter()
        .map(|(name, secs)| format!("{name} {secs:.1} s"))
        .collect::<Vec<_>>()
        .join("; ");
    let seeds = seeds
        .iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(name, s)| format!("{name}: {s}"))
        .collect::<Vec<_>>()
        .join("; ");
    let eigenformer = format!("{} (workspace crates)", env!("CARGO_PKG_VERSION"));
    vec![
        ("CPU", cpu),
        (
            "cores",
            format!("{logical} logical CPUs in /proc/cpuinfo, {usable} usable by this process"),
        ),
        ("threads", threads),
        ("GPU", gpu),
        (
            "OS",
            try_command_stdout(Command::new("uname").args(["-srm"])).unwrap_or_else(unknown),
        ),
        (
            "rustc",
            try_command_stdout(Command::new(rustc).arg("--version")).unwrap_or_else(unknown),
        ),
        ("eigenformer", eigenformer),
        ("git commit", commit.unwrap_or_else(unknown)),
        ("date (UTC)", now_utc()),
        (
            "seeds",
            if seeds.is_empty() {
                "–".to_string()
            } else {
                seeds
            },
        ),
        ("wall time", format!("{wall_seconds:.1} s in all; {times}")),
        ("command", format!("`{command_line}`")),
    ]
}

/// The report's claims table: every claim a section tested, one row each, in section order.
fn claims_table(statuses: &[(&Section, Status)]) -> String {
    let mut md = String::from(
        "\n## Claims\n\nEvery claim of the paper that this run tested: the statement, what we \
         measured (with the statistic), the rule that turned the measurement into a verdict, and \
         the verdict. Rows `C…` come from the theory section (random instances), `P…` from the \
         pre-trained audits, `T…` from training from scratch (mean ± sd over seeds).\n\n\
         | id | section | the paper's statement | our measurement | rule | verdict |\n\
         |---|---|---|---|---|---|\n",
    );
    let mut any = false;
    for (section, status) in statuses {
        if let Status::Outcome(Outcome::Done { claims, .. }) = status {
            for c in claims {
                any = true;
                let cell = |t: &str| {
                    // Cells from sections are already escaped Markdown; escape bare pipes only.
                    let mut out = String::new();
                    let mut prev = ' ';
                    for ch in t.chars() {
                        if ch == '|' && prev != '\\' {
                            out.push('\\');
                        }
                        if ch != '\n' {
                            out.push(ch);
                        }
                        prev = ch;
                    }
                    out
                };
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | **{}** |",
                    cell(&c.id),
                    section.id.name(),
                    cell(&c.statement),
                    cell(&c.measured),
                    cell(&c.rule),
                    cell(&c.verdict)
                );
            }
        }
    }
    if !any {
        md.push_str("| – | – | no section that tests claims ran | | | |\n");
    }
    md
}

fn render(
    profile: Profile,
    statuses: &[(&Section, Status)],
    env: &[(&'static str, String)],
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Eigenformer reproduction report\n");
    let _ = writeln!(
        md,
        "Profile: `{}`. Every number in this report was measured by the run described under \
         [Environment](#environment); sections that do not exist yet say so and report nothing.\n",
        profile.name()
    );
    let _ = writeln!(md, "## Summary\n");
    let _ = writeln!(md, "| section | status |\n|---|---|");
    for (section, status) in statuses {
        let _ = writeln!(md, "| {} | {} |", section.id.name(), status_line(status));
    }
    md.push_str(&claims_table(statuses));
    for (i, (section, status)) in statuses.iter().enumerate() {
        let _ = writeln!(
            md,
            "\n## {}. {} (`{}`)\n",
            i + 1,
            section.title,
            section.id.name()
        );
        match status {
            Status::Excluded => {
                let _ = writeln!(md, "Not run: excluded by `--only`.");
            }
            Status::Outcome(Outcome::Done { markdown, .. }) => {
                let _ = writeln!(md, "{}", markdown.trim_end());
            }
            Status::Outcome(Outcome::NotImplemented { issue, planned }) => {
                let _ = writeln!(
                    md,
                    "**Not implemented yet** (added by {issue}). No results are reported for \
                     this section.\n\nPlanned content: {planned}."
                );
            }
            Status::Failed(error) => {
                let _ = writeln!(
                    md,
                    "**FAILED.** No results are reported for this section.\n\n```text\n{error}\n```"
                );
            }
        }
    }
    let _ = writeln!(md, "\n## Environment\n");
    let _ = writeln!(md, "| | |\n|---|---|");
    for (field, value) in env {
        let _ = writeln!(md, "| {field} | {} |", value.replace('|', "\\|"));
    }
    md
}

pub fn run(args: &ReproduceArgs) -> Result<()> {
    let start = Instant::now();
    let out = match &args.out {
        Some(dir) => dir.clone(),
        None => workspace_root().join("reports").join(args.profile.name()),
    };
    std::fs::create_dir_all(&out).with_context(|| format!("could not create {}", out.display()))?;
    let mut command_line = format!("cargo xtask reproduce --profile {}", args.profile.name());
    for id in &args.only {
        let _ = write!(command_line, " --only {}", id.name());
    }
    if let Some(dir) = &args.out {
        let _ = write!(command_line, " --out {}", dir.display());
    }

    let mut binary = None;
    let mut statuses = Vec::new();
    let mut parts: Vec<(&'static str, f64)> = Vec::new();
    let mut seeds: Vec<(&'static str, String)> = Vec::new();
    for section in SECTIONS {
        if !args.only.is_empty() && !args.only.contains(&section.id) {
            statuses.push((section, Status::Excluded));
            continue;
        }
        eprintln!("xtask reproduce: section `{}`", section.id.name());
        // Absolute, because the sections run `eigenformer` from the workspace root.
        let dir = out.join(section.id.name());
        let dir = if dir.is_absolute() {
            dir
        } else {
            std::env::current_dir()?.join(dir)
        };
        let mut ctx = Ctx {
            profile: args.profile,
            dir,
            binary: binary.take(),
            seeds: String::new(),
        };
        let section_start = Instant::now();
        let status = match std::fs::create_dir_all(&ctx.dir)
            .with_context(|| format!("could not create {}", ctx.dir.display()))
            .and_then(|()| (section.run)(&mut ctx))
        {
            Ok(outcome) => Status::Outcome(outcome),
            Err(e) => {
                eprintln!(
                    "xtask reproduce: section `{}` failed: {e:#}",
                    section.id.name()
                );
                Status::Failed(format!("{e:#}"))
            }
        };
        // A section that wrote nothing leaves no empty directory behind.
        let _ = std::fs::remove_dir(&ctx.dir);
        binary = ctx.binary;
        parts.push((section.id.name(), section_start.elapsed().as_secs_f64()));
        if section.id == SectionId::Theory {
            if let Ok(text) = std::fs::read_to_string(ctx.dir.join("theory.json")) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                    ctx.seeds = format!("seed {} (random instances)", v["seed"]);
                }
            }
        }
        if !ctx.seeds.is_empty() {
            seeds.push((section.id.name(), ctx.seeds.clone()));
        }
        eprintln!(
            "xtask reproduce: section `{}`: {}",
            section.id.name(),
            status_line(&status).replace("**", "")
        );
        statuses.push((section, status));
    }

    let env = environment(start.elapsed().as_secs_f64(), &command_line, &parts, &seeds);
    let report = render(args.profile, &statuses, &env);
    let path = out.join("REPORT.md");
    write_atomic(&path, report.as_bytes())?;
    let html = crate::html::page(
        &format!("Eigenformer reproduction report ({})", args.profile.name()),
        &report,
        &out,
    );
    write_atomic(&out.join("REPORT.html"), html.as_bytes())?;
    println!(
        "Report written to {} (and {})",
        path.display(),
        out.join("REPORT.html").display()
    );

    let failed: Vec<&str> = statuses
        .iter()
        .filter(|(_, s)| matches!(s, Status::Failed(_)))
        .map(|(section, _)| section.id.name())
        .collect();
    if !failed.is_empty() {
        anyhow::bail!(
            "section(s) failed: {} (see {})",
            failed.join(", "),
            path.display()
        );
    }
    let pending: Vec<&str> = statuses
        .iter()
        .filter(|(_, s)| matches!(s, Status::Outcome(Outcome::NotImplemented { .. })))
        .map(|(section, _)| section.id.name())
        .collect();
    if !pending.is_empty() {
        println!("Not implemented yet: {}", pending.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn every_section_has_one_row_in_order() {
        let ids: Vec<SectionId> = SECTIONS.iter().map(|s| s.id).collect();
        assert_eq!(ids, SectionId::value_variants());
    }

    #[test]
    fn report_lists_every_section_and_the_environment() {
        let statuses: Vec<(&Section, Status)> = vec![
            (&SECTIONS[0], Status::Excluded),
            (
                &SECTIONS[1],
                Status::Outcome(Outcome::NotImplemented {
                    issue: "issue 5",
                    planned: "x",
                }),
            ),
            (&SECTIONS[2], Status::Failed("boom".to_string())),
        ];
        let env = vec![("CPU", "a | b".to_string())];
        let md = render(Profile::Smoke, &statuses, &env);
        assert!(md.contains("| theory | not run (excluded by `--only`) |"));
        assert!(md.contains("| pretrained | **not implemented yet** (issue 5) |"));
        assert!(md.contains("| training | **FAILED** |"));
        assert!(md.contains("boom"));
        assert!(md.contains("## Environment"));
        assert!(md.contains("| CPU | a \\| b |"));
    }

    #[test]
    fn reproduce_claims_of_every_section_are_merged_into_one_table() {
        let comparison = "# Pre-trained\n\n## Claims\n\n| claim (theory.md §7) | rule | measured | verdict |\n|---|---|---|---|\n| similarity rises | Δ > 0.05 | a: Δ = 0.1 \\| b | **holds** |\n\n## Other\n\n| x | y | z | w |\n|---|---|---|---|\n| 1 | 2 | 3 | 4 |\n";
        let pre = markdown_claims(comparison, "P");
        assert_eq!(pre.len(), 1);
        assert_eq!(pre[0].id, "P1");
        assert_eq!(pre[0].verdict, "holds");
        assert_eq!(pre[0].measured, "a: Δ = 0.1 \\| b");
        let training = vec![Claim {
            id: "T1".into(),
            statement: "spectral beats | FeatScale".into(),
            measured: "0.8 ± 0.1".into(),
            rule: "pooled sd".into(),
            verdict: "inconclusive".into(),
        }];
        let statuses: Vec<(&Section, Status)> = vec![
            (&SECTIONS[0], Status::Excluded),
            (
                &SECTIONS[1],
                Status::Outcome(Outcome::Done {
                    markdown: comparison.into(),
                    claims: pre,
                }),
            ),
            (
                &SECTIONS[2],
                Status::Outcome(Outcome::Done {
                    markdown: "x".into(),
                    claims: training,
                }),
            ),
        ];
        let md = render(Profile::Smoke, &statuses, &[]);
        assert!(md.contains("## Claims"));
        assert!(md.contains(
            "| P1 | pretrained | similarity rises | a: Δ = 0.1 \\| b | Δ > 0.05 | **holds** |"
        ));
        assert!(md.contains(
            "| T1 | training | spectral beats \\| FeatScale | 0.8 ± 0.1 | pooled sd | **inconclusive** |"
        ));
        let theory = std::env::temp_dir().join(format!("xtask-theory-{}.json", std::process::id()));
        std::fs::write(
            &theory,
            r#"{"seed": 7, "claims": [{"claim": "C1", "statement": "s", "measured": "m", "tolerance": "1e-9", "instances": 10, "failures": 0, "verdict": "holds"}]}"#,
        )
        .unwrap();
        let c = theory_claims(&theory).unwrap();
        let _ = std::fs::remove_file(&theory);
        assert_eq!(c[0].id, "C1");
        assert_eq!(c[0].verdict, "holds");
        assert!(c[0].measured.contains("0 of 10"));
    }

    #[test]
    fn embedded_sections_demote_headings_and_prefix_links() {
        let md = "# Title\n\nText [plot](a.svg) and [web](https://x.org), ![f](b.svg).\n\n## Part\n\n```text\n# not a heading\n```\n";
        let got = embed_section(md, "theory/");
        assert!(!got.contains("# Title"));
        assert!(got.starts_with(
            "Text [plot](theory/a.svg) and [web](https://x.org), ![f](theory/b.svg)."
        ));
        assert!(got.contains("\n### Part\n"));
        assert!(got.contains("\n# not a heading\n"));
    }
}
