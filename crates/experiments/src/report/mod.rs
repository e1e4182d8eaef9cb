//! The reproduction report: `eigenformer reproduce` runs the sections of the paper's
//! reproduction in-process and assembles `REPORT.md` and `REPORT.html` from their typed results.
//!
//! Data flow ([`run::run`]):
//!
//! ```text
//! experiments/profiles.toml ──crate::profile──▶ sizes of each section for the profile
//!        │
//!        ├─ theory      theory::execute            ─┐  each section writes its own files under
//!        ├─ pretrained  audit::command::execute    ─┤  <out>/<section>/ and returns a
//!        └─ training    reproduce::run::run        ─┘  SectionResult ──▶ <out>/<section>/section.json
//!                                                                               │ read back
//!                                                                               ▼
//!               markdown::render (summary, merged claims, sections, environment) ──▶ REPORT.md
//!                                                                               │
//!                                   html::page (pulldown-cmark + inline SVG) ──▶ REPORT.html
//! ```
//!
//! Why `section.json`: the report is a function of the sections' results and the environment
//! only. Each section hands over its claims as typed [`Claim`]s with one [`Verdict`], its
//! Markdown body and the files it wrote, in one versioned layout ([`SectionResult`]), so the report
//! never parses a section's own JSON or Markdown back, and a broken or foreign `section.json` is an
//! error that names the file.

pub mod claim;
pub mod environment;
pub mod html;
pub mod markdown;
pub mod plan;
pub mod run;
pub mod section;

pub use claim::{Claim, Verdict};
pub use markdown::SectionStatus;
pub use run::{run, ReproduceArgs, Reproduction};
pub use section::{SectionId, SectionResult, Seeds, SCHEMA_VERSION, SECTION_FILE};

use std::path::PathBuf;
use thiserror::Error;

/// Why a report could not be written (a failing section is reported inside the report instead,
/// and then as [`ReportError::SectionsFailed`]).
#[derive(Debug, Error)]
pub enum ReportError {
    /// Reading or writing a file or directory.
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A `section.json` that is not a section result.
    #[error("{}: not a section result: {source}", .path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A `section.json` written by a build with another layout.
    #[error(
        "{}: written with section.json schema version {found}, this build reads version \
         {expected}; run the section again",
        .path.display()
    )]
    Schema {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    /// The profile file is unreadable or invalid.
    #[error(transparent)]
    Profile(#[from] crate::profile::ProfileError),
    /// Writing a file through the atomic writer.
    #[error(transparent)]
    File(#[from] eigenformer_io::IoError),
    /// The report was written, but some sections failed (their errors are in it).
    #[error("section(s) failed: {} (see {})", .sections.join(", "), .report.display())]
    SectionsFailed {
        sections: Vec<&'static str>,
        report: PathBuf,
    },
}
