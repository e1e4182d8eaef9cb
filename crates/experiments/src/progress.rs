//! Progress of long jobs (the reproduction's training runs and evaluations) that a terminal and a
//! log file can both show.
//!
//! Why two forms: on a terminal an indicatif bar redraws in place; when stderr is a file or a pipe
//! (CI, `nohup`, a Slurm job) a bar prints nothing until it finishes, which for a reproduction is
//! half an hour of silence. There, each finished item prints one line instead: `n of N`, the
//! elapsed time and the estimated time left, estimated from the work done so far weighted by each
//! item's cost (an image-step count, not a count of runs, because runs differ in size).

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// A job of `items` pieces of work with a total weight.
pub struct Progress {
    what: &'static str,
    bar: ProgressBar,
    /// One line per finished item (stderr is not a terminal).
    lines: bool,
    items: usize,
    items_done: usize,
    total_weight: u64,
    weight_done: u64,
    start: Instant,
}

impl Progress {
    /// A job called `what` (e.g. `training`) of `items` items weighing `total_weight` in all.
    /// With `enabled` false nothing is shown.
    pub fn new(what: &'static str, items: usize, total_weight: u64, enabled: bool) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let bar = if enabled && terminal {
            let b = ProgressBar::new(total_weight.max(1));
            let template = format!(
                "{what} [{{bar:30}}] {{percent:>3}}% {{elapsed_precise}} eta {{eta}} {{msg}}"
            );
            if let Ok(style) = ProgressStyle::with_template(&template) {
                b.set_style(style.progress_chars("=> "));
            }
            b
        } else {
            ProgressBar::hidden()
        };
        Progress {
            what,
            bar,
            lines: enabled && !terminal,
            items,
            items_done: 0,
            total_weight,
            weight_done: 0,
            start: Instant::now(),
        }
    }

    /// The bar's message (terminal only; a log gets the finished-item lines).
    pub fn set_message(&self, msg: String) {
        self.bar.set_message(msg);
    }

    /// Redraw (the bar's clock), without progress.
    pub fn tick(&self) {
        self.bar.tick();
    }

    /// A handle to the bar that can redraw it while `self` is borrowed elsewhere (the parallel
    /// runner ticks it between finished items).
    pub fn clone_handle(&self) -> ProgressBar {
        self.bar.clone()
    }

    /// One item finished, having done `weight` of the work (0 for one taken from a cache); `line`
    /// says what it gave. Prints the line above the bar, or as a log line with n of N, elapsed
    /// and estimated time left.
    pub fn finish_item(&mut self, weight: u64, line: &str) {
        self.items_done += 1;
        self.weight_done += weight;
        self.bar.inc(weight);
        if self.lines {
            eprintln!("{}", self.status_line(line));
        } else if !line.is_empty() {
            self.bar.println(line);
        }
    }

    /// `training 3 of 24 (12 %), 2m05s elapsed, about 15m left: <line>`.
    pub fn status_line(&self, line: &str) -> String {
        let elapsed = self.start.elapsed();
        let left = remaining(elapsed, self.weight_done, self.total_weight);
        let percent = if self.total_weight == 0 {
            100.0
        } else {
            100.0 * self.weight_done as f64 / self.total_weight as f64
        };
        let left = match left {
            Some(d) => format!("about {} left", clock(d)),
            None => "time left unknown yet".to_string(),
        };
        let mut s = format!(
            "{} {} of {} ({percent:.0} %), {} elapsed, {left}",
            self.what,
            self.items_done,
            self.items,
            clock(elapsed)
        );
        if !line.is_empty() {
            s.push_str(": ");
            s.push_str(line);
        }
        s
    }

    /// Done: clear the bar.
    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}

/// The time left if the rest of the work goes at the rate so far (`None` before any work).
pub fn remaining(elapsed: Duration, done: u64, total: u64) -> Option<Duration> {
    if done == 0 {
        return (total == 0).then_some(Duration::ZERO);
    }
    let rest = total.saturating_sub(done) as f64;
    Some(Duration::from_secs_f64(
        elapsed.as_secs_f64() * rest / done as f64,
    ))
}

/// `45s`, `12m05s`, `1h03m`.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_follow_the_weighted_rate() {
        assert_eq!(remaining(Duration::from_secs(10), 0, 100), None);
        assert_eq!(
            remaining(Duration::from_secs(10), 0, 0),
            Some(Duration::ZERO)
        );
        assert_eq!(
            remaining(Duration::from_secs(10), 25, 100),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            remaining(Duration::from_secs(10), 100, 100),
            Some(Duration::ZERO)
        );
        assert_eq!(clock(Duration::from_secs(45)), "45s");
        assert_eq!(clock(Duration::from_secs(725)), "12m05s");
        assert_eq!(clock(Duration::from_secs(3780)), "1h03m");
    }

    #[test]
    fn a_log_line_says_n_of_n_and_time_left() {
        let mut p = Progress::new("training", 4, 100, false);
        p.finish_item(50, "");
        let line = p.status_line("plain seed=0 -> 0.81");
        assert!(line.starts_with("training 1 of 4 (50 %), "), "{line}");
        assert!(line.contains(" left: plain seed=0 -> 0.81"), "{line}");
    }
}
