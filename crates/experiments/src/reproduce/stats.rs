//! Mean ± standard deviation over seeds, for display. The verdicts compare variants with paired
//! intervals instead ([`super::paired`], [`super::claims`]).

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
