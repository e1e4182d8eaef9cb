//! The run cache: one directory per configuration hash, so a finished run is never rerun and an
//! interrupted one resumes.
//!
//! `<root>/<hash>/` holds `config.json` (the [`TrainConfig`], written before training starts), the
//! outputs of `eigenformer train` (`metrics.json`, `diagnostics.json`, the checkpoints),
//! `train.log`, and `result.json`, written last: **a run is finished iff `result.json` exists**.
//! A directory with a checkpoint but no `result.json` was interrupted and is continued with
//! `--resume` (training resumes bit-exactly from the last finished epoch). Evaluations of a
//! trained model on corrupted test sets are cached next to it, one JSON file per request.
//!
//! `result.json` and the `eval-*.json` files are *sealed* ([`eigenformer_io::write_json_sealed`]):
//! they carry a sha256 of their contents, checked whenever they are used. A file whose checksum
//! is missing or does not match (bit rot, a hand edit, a file from before checksums) is not
//! trusted: a warning goes to stderr and the result is recomputed (the run resumed from its
//! checkpoint, which finishes at once when training was complete; the evaluation rerun).
//!
//! The commands are run by an [`Executor`], so tests can count what would be run.

use super::error::{ReproError, Result};
use crate::eval::CorruptionReport;
use crate::train::config::TrainConfig;
use crate::train::eval::EvalResult;
use crate::train::run::Metrics;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a finished run left in `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// The configuration hash (the directory name).
    pub hash: String,
    /// The configuration.
    pub config: TrainConfig,
    /// Test accuracy after the last epoch.
    pub test_accuracy: f64,
    /// Training loss of the last epoch.
    pub train_loss: f64,
    /// Seconds of training steps over all epochs.
    pub train_seconds: f64,
    /// Mean training throughput.
    pub images_per_second: f64,
}

/// One evaluation of a trained model: the clean test set or one corruption.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EvalRequest {
    /// The first `eval_limit` clean test images.
    Clean { eval_limit: Option<usize> },
    /// One corruption at one severity (`None`: all five).
    Corruption {
        name: String,
        severity: Option<u8>,
        seed: u64,
        eval_limit: Option<usize>,
    },
}

impl EvalRequest {
    /// The cache file name of this request's result inside a run directory.
    pub fn file_name(&self) -> String {
        let n = |l: &Option<usize>| l.map_or("all".to_string(), |n| n.to_string());
        match self {
            EvalRequest::Clean { eval_limit } => format!("eval-clean-n{}.json", n(eval_limit)),
            EvalRequest::Corruption {
                name,
                severity,
                seed,
                eval_limit,
            } => format!(
                "eval-{name}-s{}-seed{seed}-n{}.json",
                severity.map_or("all".to_string(), |s| s.to_string()),
                n(eval_limit)
            ),
        }
    }

    /// The arguments of `eigenformer eval` (without `--checkpoint`/`--out`).
    pub fn eval_args(&self) -> Vec<String> {
        let mut a = vec!["eval".to_string(), "--json".to_string()];
        let limit = match self {
            EvalRequest::Clean { eval_limit } => eval_limit,
            EvalRequest::Corruption {
                name,
                severity,
                seed,
                eval_limit,
            } => {
                a.extend(["--corruption".into(), name.clone()]);
                if let Some(s) = severity {
                    a.extend(["--severity".into(), s.to_string()]);
                }
                a.extend(["--corruption-seed".into(), seed.to_string()]);
                eval_limit
            }
        };
        if let Some(n) = limit {
            a.extend(["--eval-limit".into(), n.to_string()]);
        }
        a
    }
}

/// Runs the commands behind a run: the real one spawns `eigenformer`, tests count calls.
pub trait Executor {
    /// Make `dataset` available (resolve and cache it), failing with a clear message if it cannot.
    fn fetch(&mut self, dataset: &str) -> Result<()>;
    /// Train `spec` into `dir` (which holds its `config.json`), continuing from the checkpoint
    /// there when `resume` is set. `progress` is called now and then while it runs.
    fn train(
        &mut self,
        spec: &TrainConfig,
        dir: &Path,
        resume: bool,
        progress: &mut dyn FnMut(),
    ) -> Result<()>;
    /// Evaluate the checkpoint in `run_dir` as `request` says, writing the JSON of
    /// `eigenformer eval --json` to `out`.
    fn evaluate(&mut self, run_dir: &Path, request: &EvalRequest, out: &Path) -> Result<()>;
    /// An independent executor for one of `jobs` workers that run at the same time
    /// ([`super::parallel`]), or `None` when this one cannot run beside others (the default).
    fn fork(&self, jobs: usize) -> Option<Box<dyn Executor + Send>> {
        let _ = jobs;
        None
    }
}

/// The state of a run directory.
#[derive(Debug, Clone, PartialEq)]
pub enum RunState {
    /// No directory or no checkpoint yet.
    New,
    /// A checkpoint but no `result.json`: to be resumed.
    Interrupted,
    /// Finished.
    Finished(Box<RunResult>),
}

/// What [`RunCache::ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Found finished; nothing ran.
    Cached,
    /// Trained from scratch.
    Trained,
    /// Continued an interrupted run.
    Resumed,
}

/// The directory of cached runs.
#[derive(Debug, Clone)]
pub struct RunCache {
    root: PathBuf,
}

pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    Ok(eigenformer_io::read_json(path)?)
}

pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    Ok(eigenformer_io::write_json(path, value)?)
}

impl RunCache {
    /// A cache in `root` (created on first use).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunCache { root: root.into() }
    }

    /// The cache's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of `spec`'s run.
    pub fn dir(&self, spec: &TrainConfig) -> PathBuf {
        self.root.join(spec.hash())
    }

    /// The state of `spec`'s run. A `result.json` that fails its checksum counts as absent
    /// (with a warning on stderr), so the run is resumed and the result recomputed.
    pub fn state(&self, spec: &TrainConfig) -> Result<RunState> {
        let dir = self.dir(spec);
        let result = dir.join("result.json");
        let sealed = if result.is_file() {
            match eigenformer_io::read_json_sealed::<RunResult>(&result) {
                Ok(r) => Some(r),
                Err(e) => {
                    eprintln!("warning: {e}; not trusted, the run's result is recomputed");
                    None
                }
            }
        } else {
            None
        };
        if let Some(r) = sealed {
            if r.config != *spec {
                return Err(ReproError::Run {
                    dir,
                    message: "result.json belongs to another configuration (hash collision or \
                              edited file); delete the directory to rerun"
                        .into(),
                });
            }
            return Ok(RunState::Finished(Box::new(r)));
        }
        if crate::train::checkpoint::exists(&dir) {
            Ok(RunState::Interrupted)
        } else {
            Ok(RunState::New)
        }
    }

    /// The result of `spec`'s run: from the cache when finished, otherwise trained (or resumed)
    /// through `exec`.
    pub fn ensure(
        &self,
        spec: &TrainConfig,
        exec: &mut dyn Executor,
        progress: &mut dyn FnMut(),
    ) -> Result<(RunResult, Action)> {
        let state = self.state(spec)?;
        if let RunState::Finished(r) = state {
            return Ok((*r, Action::Cached));
        }
        let dir = self.dir(spec);
        let config = dir.join("config.json");
        if config.is_file() {
            let stored: TrainConfig = read_json(&config)?;
            if stored != *spec {
                return Err(ReproError::Run {
                    dir,
                    message: "config.json belongs to another configuration; delete the directory"
                        .into(),
                });
            }
        } else {
            write_json(&config, spec)?;
        }
        let resume = state == RunState::Interrupted;
        exec.train(spec, &dir, resume, progress)?;
        let result = Self::result_of(spec, &dir)?;
        eigenformer_io::write_json_sealed(&dir.join("result.json"), &result)?;
        Ok((
            result,
            if resume {
                Action::Resumed
            } else {
                Action::Trained
            },
        ))
    }

    /// The [`RunResult`] of a run whose training command succeeded, from its `metrics.json`.
    fn result_of(spec: &TrainConfig, dir: &Path) -> Result<RunResult> {
        let metrics: Metrics = read_json(&dir.join("metrics.json"))?;
        let Some(last) = metrics.epochs.last() else {
            return Err(ReproError::Run {
                dir: dir.to_path_buf(),
                message: "metrics.json has no epochs".into(),
            });
        };
        if last.epoch != spec.epochs {
            return Err(ReproError::Run {
                dir: dir.to_path_buf(),
                message: format!(
                    "training ended after epoch {} of {}",
                    last.epoch, spec.epochs
                ),
            });
        }
        let seconds: f64 = metrics.epochs.iter().map(|e| e.seconds).sum();
        let images = spec.images_per_epoch() as f64 * spec.epochs as f64;
        Ok(RunResult {
            hash: spec.hash(),
            config: spec.clone(),
            test_accuracy: last.test_accuracy,
            train_loss: last.train_loss,
            train_seconds: seconds,
            images_per_second: if seconds > 0.0 { images / seconds } else { 0.0 },
        })
    }

    /// The clean-test-set result of `request` for `spec`'s finished run, from the cache or
    /// evaluated through `exec`. Returns whether it was cached.
    pub fn clean_eval(
        &self,
        spec: &TrainConfig,
        eval_limit: Option<usize>,
        exec: &mut dyn Executor,
    ) -> Result<(EvalResult, bool)> {
        self.cached_eval(spec, &EvalRequest::Clean { eval_limit }, exec)
    }

    /// Make sure `request`'s result for `spec`'s finished run is in the cache, evaluating it
    /// through `exec` if not. Returns whether it was cached already.
    pub fn evaluate(
        &self,
        spec: &TrainConfig,
        request: &EvalRequest,
        exec: &mut dyn Executor,
    ) -> Result<bool> {
        Ok(match request {
            EvalRequest::Clean { eval_limit } => self.clean_eval(spec, *eval_limit, exec)?.1,
            EvalRequest::Corruption { .. } => self.corruption_eval(spec, request, exec)?.1,
        })
    }

    /// The corrupted-test-set result of `request` for `spec`'s finished run, from the cache or
    /// evaluated through `exec`. Returns whether it was cached.
    pub fn corruption_eval(
        &self,
        spec: &TrainConfig,
        request: &EvalRequest,
        exec: &mut dyn Executor,
    ) -> Result<(CorruptionReport, bool)> {
        self.cached_eval(spec, request, exec)
    }

    /// The result of `request` from its sealed cache file, or evaluated through `exec` (which
    /// writes plain JSON) and then sealed.
    fn cached_eval<T: for<'de> Deserialize<'de> + Serialize>(
        &self,
        spec: &TrainConfig,
        request: &EvalRequest,
        exec: &mut dyn Executor,
    ) -> Result<(T, bool)> {
        let dir = self.dir(spec);
        if !dir.join("result.json").is_file() {
            return Err(ReproError::Run {
                dir,
                message: "evaluation requested before the run finished".into(),
            });
        }
        let out = dir.join(request.file_name());
        if out.is_file() {
            match eigenformer_io::read_json_sealed(&out) {
                Ok(v) => return Ok((v, true)),
                Err(e) => eprintln!("warning: {e}; not trusted, the evaluation is rerun"),
            }
        }
        exec.evaluate(&dir, request, &out)?;
        let value: T = read_json(&out)?;
        eigenformer_io::write_json_sealed(&out, &value)?;
        Ok((value, false))
    }
}
