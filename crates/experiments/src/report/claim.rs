//! The one claim row of the report and its verdict, shared by every section.
//!
//! Why one type: the theory checks, the pre-trained audits and the training experiments each decide
//! claims of the paper with their own rules, but the report merges all of them into one table. With
//! one [`Claim`] and one [`Verdict`] a section hands its rows over typed, instead of the report
//! parsing them back out of JSON or Markdown written in three shapes.

use serde::{Deserialize, Serialize};

/// What a claim's decision rule concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The measurement meets the claim under its rule.
    Holds,
    /// The measurement contradicts the claim under its rule.
    Fails,
    /// The rule cannot decide (too few models or seeds, differences within the noise, …).
    Inconclusive,
}

impl Verdict {
    /// `holds`, `fails`, `inconclusive` (the serde name).
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::Fails => "fails",
            Verdict::Inconclusive => "inconclusive",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One claim of the paper that a section tested: a row of the report's claims table. The texts
/// are plain (not Markdown-escaped); whoever puts them into a table escapes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// Short id (`C1`, `P1`, `T1`, …), unique within the report.
    pub id: String,
    /// The paper's statement.
    pub statement: String,
    /// What we measured, with the statistic.
    pub measured: String,
    /// The rule that turned the measurement into the verdict.
    pub rule: String,
    /// The verdict.
    pub verdict: Verdict,
}
