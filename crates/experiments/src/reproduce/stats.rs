//! Mean ± standard deviation over seeds, and the comparison rule the verdicts use.

use serde::{Deserialize, Serialize};

/// Summary of one quantity over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// Arithmetic mean (NaN for no values).
    pub mean: f64,
    /// Sample standard deviation (n − 1 in the denominator; NaN for fewer than 2 values).
    pub sd: f64,
    /// Number of values.
    pub n: usize,
}

impl Stat {
    /// The statistic of `values` (non-finite values are kept: they poison the mean, visibly).
    pub fn of(values: &[f64]) -> Stat {
        let n = values.len();
        if n == 0 {
            return Stat {
                mean: f64::NAN,
                sd: f64::NAN,
                n,
            };
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let sd = if n < 2 {
            f64::NAN
        } else {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        };
        Stat { mean, sd, n }
    }

    /// `0.8123 ± 0.0104` (the sd as `–` when undefined).
    pub fn show(&self, digits: usize) -> String {
        if self.sd.is_finite() {
            format!("{:.*} ± {:.*}", digits, self.mean, digits, self.sd)
        } else {
            format!("{:.*} ± –", digits, self.mean)
        }
    }

    /// Accuracy as a percentage: `81.2 ± 1.0`.
    pub fn show_percent(&self) -> String {
        Stat {
            mean: 100.0 * self.mean,
            sd: 100.0 * self.sd,
            n: self.n,
        }
        .show(1)
    }
}

/// The outcome of comparing two statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// The first mean exceeds the second by more than the pooled sd.
    Greater,
    /// The second mean exceeds the first by more than the pooled sd.
    Less,
    /// The means differ by at most the pooled sd.
    Tie,
    /// Fewer than 2 values on a side, or non-finite numbers: no decision.
    Undecided,
}

/// `a` against `b`: the difference of means and the pooled sd `√((sd_a² + sd_b²)/2)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// `mean_a − mean_b`.
    pub diff: f64,
    /// The pooled standard deviation.
    pub pooled_sd: f64,
    /// The decision.
    pub order: Order,
}

/// Compare `a` with `b`: greater (less) when the difference of the means exceeds the pooled sd
/// (in that direction), a tie otherwise; undecided with fewer than 2 seeds on either side.
pub fn compare(a: &Stat, b: &Stat) -> Comparison {
    let diff = a.mean - b.mean;
    let pooled_sd = ((a.sd.powi(2) + b.sd.powi(2)) / 2.0).sqrt();
    let order = if a.n < 2 || b.n < 2 || !diff.is_finite() || !pooled_sd.is_finite() {
        Order::Undecided
    } else if diff > pooled_sd {
        Order::Greater
    } else if diff < -pooled_sd {
        Order::Less
    } else {
        Order::Tie
    };
    Comparison {
        diff,
        pooled_sd,
        order,
    }
}
