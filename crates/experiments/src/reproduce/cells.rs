//! The grid's runs as cells addressable by index, for job arrays (a Slurm array task runs one
//! cell): `eigenformer experiments --list`, `--task-index N` and `--merge`.
//!
//! **Stable indices.** The learning-rate cells come first (0..k), in the order the runner
//! trains them, then every other distinct run in [`plan`] order. The other runs take the
//! learning rate the lr cells select, so their hash is known only once those have finished;
//! their index is not, because the plan is made from the grid with the `lr = "selected"`
//! placeholder, whatever value the selection later gives.
//!
//! **Shared storage.** A cell is claimed by an advisory lock (`flock`) on `cell.lock` in its run
//! directory, held for the whole task: a second worker given the same cell waits for the first
//! and then finds the run finished (never trained twice); if the first crashed or was killed,
//! the kernel (or the NFS server, when its lease lapses) drops the lock, and the second takes
//! over and resumes the run from its last checkpoint. A finished run (`result.json`) is never
//! rerun. The file system must support `flock`: NFS does (Linux maps it to POSIX locks), Lustre
//! needs the `flock` mount option.

use super::cache::{Action, Executor, RunCache};
use super::error::{ReproError, Result};
use super::lr_select;
use super::run::{evaluations, plan};
use super::spec::{Experiment, Kind};
use crate::train::config::TrainConfig;
use serde::Serialize;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

/// The lock file that claims a cell's run directory for one worker.
pub const CLAIM_FILE: &str = "cell.lock";

/// Which stage of the grid a cell belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// A run of the learning-rate selection: runs first, needs nothing.
    LearningRate,
    /// Any other run: needs the learning-rate cells when its experiment takes the selected rate.
    Grid,
}

/// One cell of a profile's grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cell {
    /// The stable index (`--task-index`).
    pub index: usize,
    pub stage: Stage,
    /// The configuration to train; `None` while it waits for the selected learning rate.
    pub spec: Option<TrainConfig>,
    /// The configuration hash (the run-cache directory); `None` with `spec`.
    pub hash: Option<String>,
    /// A short description of the run.
    pub label: String,
    /// The experiments that use the run.
    pub experiments: Vec<String>,
}

/// The cells of a profile's `experiments`, with the learning rate resolved from `cache` when the
/// lr cells have all finished.
pub fn cells(experiments: &[Experiment], cache: &RunCache) -> Result<Vec<Cell>> {
    Ok(cells_and_choice(experiments, cache)?.0)
}

/// [`cells`], and the learning rate the finished lr cells select (if they have all finished).
fn cells_and_choice(
    experiments: &[Experiment],
    cache: &RunCache,
) -> Result<(Vec<Cell>, Option<f64>)> {
    let (lr, rest): (Vec<Experiment>, Vec<Experiment>) = experiments
        .iter()
        .cloned()
        .partition(|e| e.kind == Kind::Lr);
    let mut out = Vec::new();
    for p in plan(&lr) {
        out.push(Cell {
            index: out.len(),
            stage: Stage::LearningRate,
            label: p.spec.label(),
            hash: Some(p.hash),
            spec: Some(p.spec),
            experiments: p.experiments,
        });
    }
    let chosen = lr_select::cached_choice(experiments, cache)?;
    let needs_lr: Vec<bool> = rest.iter().map(|e| e.selected_lr).collect();
    let mut resolved = rest.clone();
    if let Some(lr) = chosen {
        lr_select::apply(&mut resolved, lr);
    }
    for p in plan(&rest) {
        // The same run with the chosen rate: the placeholder plan fixes the index, the
        // resolved grid gives the configuration.
        let waiting = chosen.is_none()
            && rest
                .iter()
                .zip(&needs_lr)
                .any(|(e, &needs)| needs && e.runs.contains(&p.spec));
        let spec = if waiting {
            None
        } else {
            Some(resolve(&rest, &resolved, &p.spec))
        };
        out.push(Cell {
            index: out.len(),
            stage: Stage::Grid,
            label: p.spec.label(),
            hash: spec.as_ref().map(TrainConfig::hash),
            spec,
            experiments: p.experiments,
        });
    }
    Ok((out, chosen))
}

/// `spec` (a run of the placeholder grid `rest`) as the resolved grid has it.
fn resolve(rest: &[Experiment], resolved: &[Experiment], spec: &TrainConfig) -> TrainConfig {
    for (e, r) in rest.iter().zip(resolved) {
        if let Some(i) = e.runs.iter().position(|s| s == spec) {
            return r.runs[i].clone();
        }
    }
    spec.clone()
}

/// The indices of the learning-rate cells, as a Slurm array range (`0-2`), if any.
pub fn lr_range(cells: &[Cell]) -> Option<(usize, usize)> {
    let lr: Vec<usize> = cells
        .iter()
        .filter(|c| c.stage == Stage::LearningRate)
        .map(|c| c.index)
        .collect();
    Some((*lr.first()?, *lr.last()?))
}

/// What [`run_cell`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct CellOutcome {
    pub index: usize,
    pub hash: String,
    pub label: String,
    pub action: Action,
    pub test_accuracy: f64,
    /// Evaluations run (the rest were cached).
    pub evaluations_run: usize,
}

/// A worker's claim on a cell: held until dropped, or until the process dies.
#[derive(Debug)]
pub struct CellClaim {
    _file: File,
}

impl CellClaim {
    /// Claim the run directory `dir` (created if needed), waiting while another worker holds
    /// it; `waiting` is called once if it must wait.
    pub fn acquire(dir: &Path, waiting: &mut dyn FnMut(&Path)) -> Result<CellClaim> {
        std::fs::create_dir_all(dir).map_err(ReproError::io(dir))?;
        let path = dir.join(CLAIM_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(ReproError::io(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                waiting(&path);
                file.lock().map_err(ReproError::io(&path))?;
            }
            Err(TryLockError::Error(e)) => {
                return Err(ReproError::Run {
                    dir: dir.to_path_buf(),
                    message: format!(
                        "cannot lock {} ({e}): the run cache's file system must support flock",
                        path.display()
                    ),
                })
            }
        }
        Ok(CellClaim { _file: file })
    }
}

/// Train cell `index` of `experiments` into `cache` (unless it is finished), then run the
/// evaluations the corruption experiments ask of it, all under the cell's claim.
pub fn run_cell(
    experiments: &[Experiment],
    cache: &RunCache,
    index: usize,
    exec: &mut dyn Executor,
) -> Result<CellOutcome> {
    let (all, chosen) = cells_and_choice(experiments, cache)?;
    let Some(cell) = all.get(index) else {
        return Err(ReproError::spec(
            "--task-index",
            format!(
                "cell {index} does not exist: the grid has {} cells (0..={})",
                all.len(),
                all.len().saturating_sub(1)
            ),
        ));
    };
    let Some(spec) = &cell.spec else {
        let lr = lr_range(&all).map_or(String::new(), |(a, b)| format!(" {a}-{b}"));
        return Err(ReproError::spec(
            "--task-index",
            format!(
                "cell {index} ({}) takes the learning rate that the lr cells{lr} select, and \
                 they have not all finished: run them first (with Slurm, submit this cell \
                 with --dependency=afterok on their array job)",
                cell.label
            ),
        ));
    };
    exec.fetch(&spec.dataset)?;
    let dir = cache.dir(spec);
    let _claim = CellClaim::acquire(&dir, &mut |path| {
        eprintln!(
            "cell {index}: another worker holds {}; waiting for it to finish",
            path.display()
        )
    })?;
    let (result, action) = cache.ensure(spec, exec, &mut || {})?;
    let mut resolved = experiments.to_vec();
    if let Some(lr) = chosen {
        lr_select::apply(&mut resolved, lr);
    }
    let mut evaluations_run = 0;
    for (s, request) in evaluations(&resolved).iter().filter(|(s, _)| s == spec) {
        if !cache.evaluate(s, request, exec)? {
            evaluations_run += 1;
        }
    }
    Ok(CellOutcome {
        index,
        hash: result.hash,
        label: cell.label.clone(),
        action,
        test_accuracy: result.test_accuracy,
        evaluations_run,
    })
}

/// The cells that have not finished (what a merge would have to train), with their indices.
pub fn unfinished(all: &[Cell], cache: &RunCache) -> Vec<usize> {
    all.iter()
        .filter(|c| match &c.spec {
            Some(spec) => !cache.dir(spec).join("result.json").is_file(),
            None => true,
        })
        .map(|c| c.index)
        .collect()
}

/// Ranges of consecutive indices, `0-2,5,7-9`, as Slurm's `--array` writes them.
pub fn index_ranges(indices: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let start = indices[i];
        let mut end = start;
        while i + 1 < indices.len() && indices[i + 1] == end + 1 {
            i += 1;
            end = indices[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_ranges_join_consecutive_indices() {
        assert_eq!(index_ranges(&[]), "");
        assert_eq!(index_ranges(&[3]), "3");
        assert_eq!(index_ranges(&[0, 1, 2, 5, 7, 8, 9]), "0-2,5,7-9");
    }

    #[test]
    fn a_second_claim_waits_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = CellClaim::acquire(dir.path(), &mut |_| panic!("nobody holds it yet")).unwrap();
        let path = dir.path().to_path_buf();
        let waited = std::thread::scope(|s| {
            let second = s.spawn(move || {
                let mut waited = false;
                let _claim = CellClaim::acquire(&path, &mut |_| waited = true).unwrap();
                waited
            });
            std::thread::sleep(std::time::Duration::from_millis(200));
            drop(first);
            second.join().unwrap()
        });
        assert!(waited, "the second worker should have waited for the first");
    }
}
