//! The environment a report was produced in: machine, versions, commit, seeds and wall time, as
//! the `(field, value)` rows of the report's last table. A number without the machine it was
//! measured on cannot be compared, so every report carries this.

use std::path::Path;
use std::process::{Command, Stdio};

/// What the environment table needs from the run beyond the machine.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    /// Wall time of the whole reproduction in seconds.
    pub wall_seconds: f64,
    /// Wall time of each section that ran, in order.
    pub parts: Vec<(&'static str, f64)>,
    /// The seeds of each section that says, e.g. `("theory", "seed 0 (random instances)")`.
    pub seeds: Vec<(&'static str, String)>,
    /// The command that produced the report.
    pub command_line: String,
    /// A directory inside the repository whose commit the report names (the experiments
    /// directory: the commit that holds the experiment definitions).
    pub repository: std::path::PathBuf,
}

/// Standard output of a command, trimmed, or `None` when it is missing or fails (its stderr is
/// silenced): every fact of the table is optional, an unknown one is written as such.
fn try_stdout(cmd: &mut Command) -> Option<String> {
    let output = cmd.stderr(Stdio::null()).output().ok()?;
    if !output.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The commit of the repository holding `dir`, marked when the work tree has uncommitted changes.
fn git_commit(dir: &Path) -> Option<String> {
    let git = |args: &[&str]| try_stdout(Command::new("git").arg("-C").arg(dir).args(args));
    let commit = git(&["rev-parse", "HEAD"])?;
    let dirty =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    Some(if dirty {
        format!("`{commit}` (with uncommitted changes)")
    } else {
        format!("`{commit}`")
    })
}

/// The environment table's rows, in order.
pub fn environment(facts: &RunFacts) -> Vec<(&'static str, String)> {
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
    let gpu = try_stdout(
        Command::new("nvidia-smi").args(["--query-gpu=name,memory.total", "--format=csv,noheader"]),
    )
    .filter(|s| !s.is_empty())
    .map(|s| s.lines().collect::<Vec<_>>().join("; "))
    .unwrap_or_else(|| "none detected (no working `nvidia-smi`)".to_string());
    let threads = match std::env::var("RAYON_NUM_THREADS") {
        Ok(n) if !n.is_empty() => format!("{n} (RAYON_NUM_THREADS)"),
        _ => format!("{usable} (rayon's default: one per usable CPU)"),
    };
    let times = facts
        .parts
        .iter()
        .map(|(name, secs)| format!("{name} {secs:.1} s"))
        .collect::<Vec<_>>()
        .join("; ");
    let seeds = facts
        .seeds
        .iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(name, s)| format!("{name}: {s}"))
        .collect::<Vec<_>>()
        .join("; ");
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
            try_stdout(Command::new("uname").args(["-srm"])).unwrap_or_else(unknown),
        ),
        (
            "rustc",
            try_stdout(Command::new(rustc).arg("--version")).unwrap_or_else(unknown),
        ),
        (
            "eigenformer",
            format!("{} (workspace crates)", env!("CARGO_PKG_VERSION")),
        ),
        (
            "git commit",
            git_commit(&facts.repository).unwrap_or_else(unknown),
        ),
        ("date (UTC)", eigenformer_io::now_utc()),
        (
            "seeds",
            if seeds.is_empty() {
                "–".to_string()
            } else {
                seeds
            },
        ),
        (
            "wall time",
            format!("{:.1} s in all; {times}", facts.wall_seconds),
        ),
        ("command", format!("`{}`", facts.command_line)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_every_field_and_the_run_facts() {
        let rows = environment(&RunFacts {
            wall_seconds: 12.0,
            parts: vec![("theory", 2.0), ("training", 10.0)],
            seeds: vec![("theory", "seed 0 (random instances)".into())],
            command_line: "eigenformer reproduce --profile smoke".into(),
            repository: std::env::temp_dir(),
        });
        let fields: Vec<&str> = rows.iter().map(|(f, _)| *f).collect();
        for f in [
            "CPU",
            "cores",
            "GPU",
            "rustc",
            "git commit",
            "date (UTC)",
            "wall time",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
        let value = |f: &str| rows.iter().find(|(k, _)| *k == f).unwrap().1.clone();
        assert_eq!(
            value("wall time"),
            "12.0 s in all; theory 2.0 s; training 10.0 s"
        );
        assert_eq!(value("seeds"), "theory: seed 0 (random instances)");
        assert_eq!(value("command"), "`eigenformer reproduce --profile smoke`");
    }
}
