//! Several training runs (or evaluations) at once, each on its own share of the cores.
//!
//! Why: the reproduction's models are small (width 64, 17 tokens), and one run spread over every
//! core spends much of its time handing GEMM pieces between threads. On 2 cores two runs of one
//! thread each train about 1.5–1.9× as many images per second as the same runs one after the other
//! with two threads each (docs/benchmarks.md, "Parallel runs"). Each job is a child process with
//! its own executor ([`Executor::fork`]), so the runs share nothing but the run cache, and each
//! writes only its own run directory.
//!
//! A run's numbers depend on its thread count (the GEMMs split their sums by thread), so the
//! children get a fixed count: the cores divided by the jobs.

use super::cache::Executor;
use super::error::{ReproError, Result};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

/// How many runs at once by default: one per core, at most [`MAX_DEFAULT_JOBS`] (each child
/// holds its own copy of the data set).
pub fn default_jobs() -> usize {
    cores().min(MAX_DEFAULT_JOBS)
}

/// The `--jobs` flag, shared by `eigenformer experiments` and `eigenformer reproduce`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct JobsFlag {
    /// Training runs (and evaluations) at a time, the cores shared out evenly among them:
    /// small models train more images per second as several one-thread runs than as one run on
    /// every core. Default: one per core, at most 8. A run's numbers depend on its thread count.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
}

impl JobsFlag {
    /// The jobs asked for, or [`default_jobs`] when the flag is absent.
    pub fn jobs(&self) -> usize {
        self.jobs.map_or_else(default_jobs, usize::from)
    }
}

/// The most concurrent runs chosen without being asked.
pub const MAX_DEFAULT_JOBS: usize = 8;

/// The cores this process may use.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Threads for each of `jobs` concurrent children: the cores shared out evenly, at least one.
pub fn threads_per_job(jobs: usize) -> usize {
    (cores() / jobs.max(1)).max(1)
}

/// Independent executors for up to `jobs` workers (never more than `items`): empty when `jobs` is
/// 1, when there is at most one item, or when `exec` cannot be forked, in which case the caller
/// runs the items one after the other on `exec`.
pub fn workers(exec: &dyn Executor, jobs: usize, items: usize) -> Vec<Box<dyn Executor + Send>> {
    let n = jobs.min(items);
    if n <= 1 {
        return Vec::new();
    }
    let forks: Vec<_> = (0..n).map_while(|_| exec.fork(n)).collect();
    if forks.len() == n {
        forks
    } else {
        Vec::new()
    }
}

/// Run `work(i, executor)` for every `i` in `0..items`, handing the next item to whichever worker
/// is free. `done(i, &value)` runs on the calling thread as each item finishes (in completion
/// order), and `tick()` about every half second in between. The first error stops the hand-out of
/// new items; the items already running finish, and that error is returned.
pub fn run_items<T: Send>(
    items: usize,
    workers: Vec<Box<dyn Executor + Send>>,
    work: &(dyn Fn(usize, &mut dyn Executor) -> Result<T> + Sync),
    done: &mut dyn FnMut(usize, &T),
    tick: &mut dyn FnMut(),
) -> Result<Vec<T>> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, Result<T>)>();
    let mut slots: Vec<Option<T>> = (0..items).map(|_| None).collect();
    let mut first_error = None;
    std::thread::scope(|scope| {
        for mut exec in workers {
            let (tx, next, stop) = (tx.clone(), &next, &stop);
            scope.spawn(move || loop {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= items {
                    break;
                }
                let r = work(i, exec.as_mut());
                if r.is_err() {
                    stop.store(true, Ordering::SeqCst);
                }
                if tx.send((i, r)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        loop {
            match rx.recv_timeout(Duration::from_millis(500)) {
                Ok((i, Ok(v))) => {
                    done(i, &v);
                    slots[i] = Some(v);
                }
                Ok((_, Err(e))) => {
                    first_error.get_or_insert(e);
                }
                Err(RecvTimeoutError::Timeout) => tick(),
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
    });
    if let Some(e) = first_error {
        return Err(e);
    }
    // Without an error every worker ran until the items were exhausted, so no slot is empty.
    slots
        .into_iter()
        .collect::<Option<Vec<T>>>()
        .ok_or_else(|| {
            ReproError::spec(
                "the parallel runner",
                "a worker stopped before its items were done",
            )
        })
}
