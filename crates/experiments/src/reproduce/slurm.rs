//! `eigenformer experiments --emit slurm`: sbatch scripts that run a profile's grid as job
//! arrays, one cell per array task, with Slurm doing all the scheduling.
//!
//! What is written (into `--emit-dir`):
//! - `lr.sbatch`: the learning-rate cells' array (only when the profile selects a rate);
//! - `grid.sbatch`: the array of every other cell;
//! - `merge.sbatch`: one task that builds the training section from the run cache;
//! - `submit.sh`: submits the three with `--dependency=afterok` chaining them, and prints the
//!   job ids.
//!
//! Why two arrays: the grid's runs take the rate the lr cells select, so they must not start
//! before those finish, and an `afterok` dependency says that to Slurm instead of having tasks
//! wait inside their allocations. Every path in the scripts is absolute (the tasks may start
//! in another directory on another node), and the run cache must be on storage every node sees.

use super::cells::{index_ranges, lr_range, Cell, Stage};
use super::error::{ReproError, Result};
use crate::profile::Profile;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The resources and paths of the emitted jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmOptions {
    pub profile: Profile,
    /// `--only` experiments (the cell indices depend on them, so every task gets the same).
    pub only: Vec<String>,
    /// The `eigenformer` binary the tasks run.
    pub binary: PathBuf,
    pub experiments_dir: PathBuf,
    /// The run cache, on shared storage.
    pub runs_dir: PathBuf,
    /// Where the merge job writes the training section.
    pub out: PathBuf,
    /// Where the task logs go.
    pub log_dir: PathBuf,
    /// At most this many array tasks at once (`%K`).
    pub throttle: usize,
    pub cpus_per_task: usize,
    /// `--mem`, as Slurm spells it (`8G`).
    pub mem: String,
    /// `--time` of one cell's task (`HH:MM:SS` or `D-HH:MM:SS`).
    pub time: String,
    /// `--gres=gpu:N` when set.
    pub gpus: Option<usize>,
    /// `--partition` when set.
    pub partition: Option<String>,
    /// Extra environment exported by every task (`NAME=value`), e.g. the asset mirror.
    pub env: Vec<(String, String)>,
}

/// One emitted file.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub name: String,
    pub text: String,
    pub executable: bool,
}

fn quote(p: &Path) -> String {
    shell_quote(&p.display().to_string())
}

/// Single-quote `s` for a POSIX shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Check that a value put on an `#SBATCH` line cannot break the line.
fn sbatch_value(name: &str, value: &str) -> Result<()> {
    if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c == '#') {
        return Err(ReproError::spec(
            format!("--{name}"),
            format!("{value:?} is not a valid value for an #SBATCH line"),
        ));
    }
    Ok(())
}

fn header(o: &SlurmOptions, job: &str, array: Option<&str>, log: &str) -> String {
    let mut h = String::from("#!/bin/bash\n");
    let _ = writeln!(
        h,
        "#SBATCH --job-name=eigenformer-{}-{job}",
        o.profile.name()
    );
    if let Some(a) = array {
        let _ = writeln!(h, "#SBATCH --array={a}%{}", o.throttle.max(1));
    }
    let _ = writeln!(h, "#SBATCH --cpus-per-task={}", o.cpus_per_task.max(1));
    let _ = writeln!(h, "#SBATCH --mem={}", o.mem);
    let _ = writeln!(h, "#SBATCH --time={}", o.time);
    if let Some(n) = o.gpus {
        let _ = writeln!(h, "#SBATCH --gres=gpu:{n}");
    }
    if let Some(p) = &o.partition {
        let _ = writeln!(h, "#SBATCH --partition={p}");
    }
    let _ = writeln!(h, "#SBATCH --output={}", o.log_dir.join(log).display());
    h.push_str("set -euo pipefail\n");
    // The trainer's threads: as many as Slurm gave the task.
    h.push_str("export RAYON_NUM_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"\n");
    for (k, v) in &o.env {
        let _ = writeln!(h, "export {k}={}", shell_quote(v));
    }
    h
}

fn common_args(o: &SlurmOptions) -> String {
    let mut args = format!(
        "--profile {} --experiments-dir {} --runs-dir {} --quiet",
        o.profile.name(),
        quote(&o.experiments_dir),
        quote(&o.runs_dir)
    );
    for name in &o.only {
        let _ = write!(args, " --only {}", shell_quote(name));
    }
    args
}

/// The scripts for `cells` (see the module documentation).
pub fn scripts(o: &SlurmOptions, cells: &[Cell]) -> Result<Vec<Script>> {
    if cells.is_empty() {
        return Err(ReproError::spec(
            "--emit slurm",
            format!("the {} profile has no cells", o.profile.name()),
        ));
    }
    for (name, value) in [("mem", o.mem.as_str()), ("time", o.time.as_str())] {
        sbatch_value(name, value)?;
    }
    if let Some(p) = &o.partition {
        sbatch_value("partition", p)?;
    }
    for (k, _) in &o.env {
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(ReproError::spec(
                "--env",
                format!("{k:?} is not an environment variable name"),
            ));
        }
    }
    let binary = quote(&o.binary);
    let common = common_args(o);
    let task = |job: &str, array: &str| {
        let mut s = header(o, job, Some(array), &format!("{job}-%A_%a.out"));
        let _ = writeln!(
            s,
            "exec {binary} experiments {common} --task-index \"$SLURM_ARRAY_TASK_ID\""
        );
        s
    };
    let mut out = Vec::new();
    let lr = lr_range(cells);
    if let Some((a, b)) = lr {
        out.push(Script {
            name: "lr.sbatch".into(),
            text: task("lr", &format!("{a}-{b}")),
            executable: false,
        });
    }
    let grid: Vec<usize> = cells
        .iter()
        .filter(|c| c.stage == Stage::Grid)
        .map(|c| c.index)
        .collect();
    if !grid.is_empty() {
        out.push(Script {
            name: "grid.sbatch".into(),
            text: task("grid", &index_ranges(&grid)),
            executable: false,
        });
    }
    let mut merge = header(o, "merge", None, "merge-%j.out");
    let _ = writeln!(
        merge,
        "exec {binary} experiments {common} --merge --out {}",
        quote(&o.out)
    );
    out.push(Script {
        name: "merge.sbatch".into(),
        text: merge,
        executable: false,
    });

    let mut submit = String::from(
        "#!/bin/bash\n\
         # Submits the grid as job arrays chained with afterok dependencies, then the merge.\n\
         # Written by `eigenformer experiments --emit slurm`; rerunning it trains nothing that\n\
         # is finished (the run cache is shared).\n\
         set -euo pipefail\n\
         here=\"$(cd \"$(dirname \"${BASH_SOURCE[0]}\")\" && pwd)\"\n",
    );
    let _ = writeln!(submit, "mkdir -p {}", quote(&o.log_dir));
    let mut previous: Option<&str> = None;
    for (job, file) in [
        ("lr", "lr.sbatch"),
        ("grid", "grid.sbatch"),
        ("merge", "merge.sbatch"),
    ] {
        if !out.iter().any(|s| s.name == file) {
            continue;
        }
        let dep = previous.map_or(String::new(), |p| format!("--dependency=afterok:\"${p}\" "));
        let _ = writeln!(
            submit,
            "{job}=$(sbatch --parsable {dep}\"$here/{file}\")\n{job}=\"${{{job}%%;*}}\"\necho \"{job}: job ${job}\""
        );
        previous = Some(job);
    }
    out.push(Script {
        name: "submit.sh".into(),
        text: submit,
        executable: true,
    });
    Ok(out)
}

/// Write `scripts` into `dir` atomically (executable where marked).
pub fn write(dir: &Path, scripts: &[Script]) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(ReproError::io(dir))?;
    let mut paths = Vec::new();
    for s in scripts {
        let path = dir.join(&s.name);
        eigenformer_io::write_atomic(&path, s.text.as_bytes())?;
        if s.executable {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
                .map_err(ReproError::io(&path))?;
        }
        paths.push(path);
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(index: usize, stage: Stage) -> Cell {
        Cell {
            index,
            stage,
            spec: None,
            hash: None,
            label: format!("run {index}"),
            experiments: vec![],
        }
    }

    fn options() -> SlurmOptions {
        SlurmOptions {
            profile: Profile::Smoke,
            only: vec!["depth".into()],
            binary: "/opt/eigen former/eigenformer".into(),
            experiments_dir: "/src/experiments".into(),
            runs_dir: "/shared/runs".into(),
            out: "/shared/report".into(),
            log_dir: "/shared/logs".into(),
            throttle: 4,
            cpus_per_task: 2,
            mem: "8G".into(),
            time: "01:00:00".into(),
            gpus: Some(1),
            partition: None,
            env: vec![("EIGENFORMER_MIRROR".into(), "/data/it's".into())],
        }
    }

    #[test]
    fn the_scripts_chain_lr_grid_and_merge() {
        let cells = vec![
            cell(0, Stage::LearningRate),
            cell(1, Stage::LearningRate),
            cell(2, Stage::Grid),
            cell(3, Stage::Grid),
        ];
        let s = scripts(&options(), &cells).unwrap();
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["lr.sbatch", "grid.sbatch", "merge.sbatch", "submit.sh"]
        );
        assert!(s[0].text.contains("#SBATCH --array=0-1%4\n"));
        assert!(s[1].text.contains("#SBATCH --array=2-3%4\n"));
        assert!(s[1].text.contains("#SBATCH --gres=gpu:1\n"));
        assert!(s[1].text.contains("--task-index \"$SLURM_ARRAY_TASK_ID\""));
        assert!(s[1]
            .text
            .contains("exec '/opt/eigen former/eigenformer' experiments"));
        assert!(s[1]
            .text
            .contains(r"export EIGENFORMER_MIRROR='/data/it'\''s'"));
        assert!(s[2].text.contains("--merge --out '/shared/report'"));
        assert!(s[1].text.contains(" --only 'depth' --task-index"));
        assert!(!s[2].text.contains("--array"));
        let submit = &s[3].text;
        assert!(submit.contains("grid=$(sbatch --parsable --dependency=afterok:\"$lr\" "));
        assert!(submit.contains("merge=$(sbatch --parsable --dependency=afterok:\"$grid\" "));
        assert!(s[3].executable);
    }

    #[test]
    fn without_lr_cells_the_grid_has_no_dependency() {
        let s = scripts(&options(), &[cell(0, Stage::Grid), cell(1, Stage::Grid)]).unwrap();
        assert_eq!(s[0].name, "grid.sbatch");
        assert!(s
            .last()
            .unwrap()
            .text
            .contains("grid=$(sbatch --parsable \"$here/grid.sbatch\")"));
    }

    #[test]
    fn values_that_would_break_an_sbatch_line_are_refused() {
        let mut o = options();
        o.mem = "8G #oops".into();
        assert!(scripts(&o, &[cell(0, Stage::Grid)]).is_err());
        let mut o = options();
        o.env = vec![("A B".into(), "x".into())];
        assert!(scripts(&o, &[cell(0, Stage::Grid)]).is_err());
        assert!(scripts(&options(), &[]).is_err());
    }
}
