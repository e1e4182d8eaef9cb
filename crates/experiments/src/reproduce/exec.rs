//! The real [`Executor`]: each training and evaluation is a child `eigenformer` process.
//!
//! Why child processes: a run that panics, runs out of memory or is killed leaves the runner
//! (and the other runs) alive, each run's full output lands in its own log file, and the child
//! is exactly the command a user would type, so a run can be reproduced by hand from its log.

use super::cache::{EvalRequest, Executor};
use super::error::{ReproError, Result};
use crate::train::config::TrainConfig;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs `eigenformer` children, output appended to a log file per run directory.
#[derive(Debug, Clone)]
pub struct ChildExecutor {
    binary: PathBuf,
    /// `RAYON_NUM_THREADS` of the children (a forked executor's share of the cores); `None`:
    /// inherited.
    threads: Option<usize>,
}

/// Lines of a failed child's log shown in the error.
const TAIL_LINES: usize = 25;

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

impl ChildExecutor {
    /// Children run `binary`.
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        ChildExecutor {
            binary: binary.into(),
            threads: None,
        }
    }

    /// Children run this very executable (the `eigenformer` binary running the experiments).
    pub fn current() -> Result<Self> {
        let exe = std::env::current_exe().map_err(ReproError::io("current executable"))?;
        Ok(Self::new(exe))
    }

    /// Run `args` with output appended to `log`, calling `progress` every half second.
    fn run(&self, args: &[String], log: &Path, progress: &mut dyn FnMut()) -> Result<()> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).map_err(ReproError::io(dir))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(ReproError::io(log))?;
        let err = file.try_clone().map_err(ReproError::io(log))?;
        // The log shows the command as a user would type it, thread count included (a run's
        // numbers depend on it).
        let threads = self
            .threads
            .map(|n| format!("RAYON_NUM_THREADS={n} "))
            .unwrap_or_default();
        let shown = format!("{threads}eigenformer {}", args.join(" "));
        {
            use std::io::Write as _;
            let mut f = &file;
            let _ = writeln!(f, "$ {shown}");
        }
        let mut command = Command::new(&self.binary);
        if let Some(n) = self.threads {
            command.env("RAYON_NUM_THREADS", n.to_string());
        }
        let mut child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(file))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(ReproError::io(&self.binary))?;
        let status = loop {
            match child.try_wait().map_err(ReproError::io(&self.binary))? {
                Some(status) => break status,
                None => {
                    progress();
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        };
        if status.success() {
            Ok(())
        } else {
            Err(ReproError::Child {
                command: shown,
                status: status.to_string(),
                log: log.to_path_buf(),
                tail: tail(log),
            })
        }
    }
}

impl Executor for ChildExecutor {
    fn fetch(&mut self, dataset: &str) -> Result<()> {
        let log = std::env::temp_dir().join(format!(
            "eigenformer-fetch-{dataset}-{}.log",
            std::process::id()
        ));
        let r = self.run(&["fetch".into(), dataset.into()], &log, &mut || {});
        let _ = std::fs::remove_file(&log);
        r
    }

    fn train(
        &mut self,
        spec: &TrainConfig,
        dir: &Path,
        resume: bool,
        progress: &mut dyn FnMut(),
    ) -> Result<()> {
        // The cache wrote the configuration to `config.json` before training started; the child
        // reads the same file, so no flag list is rebuilt and a renamed flag cannot drift.
        let config = dir.join("config.json");
        if !config.is_file() {
            eigenformer_io::write_json(&config, spec)?;
        }
        let mut args: Vec<String> = vec![
            "train".into(),
            "--config".into(),
            config.display().to_string(),
            "--out".into(),
            dir.display().to_string(),
        ];
        if resume {
            args.push("--resume".into());
        }
        self.run(&args, &dir.join("train.log"), progress)
    }

    fn evaluate(&mut self, run_dir: &Path, request: &EvalRequest, out: &Path) -> Result<()> {
        let mut args = request.eval_args();
        args.extend([
            "--checkpoint".into(),
            run_dir.display().to_string(),
            "--out".into(),
            out.display().to_string(),
        ]);
        self.run(&args, &run_dir.join("eval.log"), &mut || {})
    }

    fn fork(&self, jobs: usize) -> Option<Box<dyn Executor + Send>> {
        Some(Box::new(ChildExecutor {
            binary: self.binary.clone(),
            threads: Some(super::parallel::threads_per_job(jobs)),
        }))
    }
}
