//! A section's typed result, `<out>/<section>/section.json`: what the report needs from a section,
//! and nothing it would have to parse out of the section's own files.

use super::claim::Claim;
use super::ReportError;
use crate::profile::Profile;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The version of the `section.json` layout. Bump it when a field changes meaning or is removed,
/// so that a report is never assembled from a file this build would misread.
pub const SCHEMA_VERSION: u32 = 1;

/// The file name of a section's result inside its directory.
pub const SECTION_FILE: &str = "section.json";

/// The report's sections, in the order they run and appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SectionId {
    /// Spectra and regimes of the update X + A X H, checked against simulation.
    Theory,
    /// Audits of pre-trained models: feature similarity and spectra of H per layer.
    Pretrained,
    /// Training from scratch: baseline vs FeatScale vs spectral models.
    Training,
}

impl SectionId {
    /// Every section, in report order.
    pub const ALL: [SectionId; 3] = [
        SectionId::Theory,
        SectionId::Pretrained,
        SectionId::Training,
    ];

    /// The section's name: its directory under the report's output and its `--only` value.
    pub fn name(self) -> &'static str {
        match self {
            SectionId::Theory => "theory",
            SectionId::Pretrained => "pretrained",
            SectionId::Training => "training",
        }
    }

    /// The section's heading in the report.
    pub fn title(self) -> &'static str {
        match self {
            SectionId::Theory => "Theory: spectra and regimes of X + A X H",
            SectionId::Pretrained => {
                "Pre-trained models: smoothing with depth and the spectra that predict it"
            }
            SectionId::Training => "Training from scratch: baseline, FeatScale and spectral models",
        }
    }
}

impl std::fmt::Display for SectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The seeds a section drew from, for the report's environment table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seeds {
    /// The seeds.
    pub values: Vec<u64>,
    /// What each seed seeds (`random instances`, `each training configuration`).
    pub of: String,
}

impl Seeds {
    /// `seed 0 (random instances)`, `seeds [0,1] (each training configuration)`.
    pub fn describe(&self) -> String {
        let list: Vec<String> = self.values.iter().map(u64::to_string).collect();
        match list.as_slice() {
            [one] => format!("seed {one} ({})", self.of),
            _ => format!("seeds [{}] ({})", list.join(","), self.of),
        }
    }
}

/// What one section produced (`section.json`). Paths are relative to the section's directory,
/// `/`-separated, as the links of its Markdown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SectionResult {
    /// [`SCHEMA_VERSION`] of the build that wrote the file.
    pub schema_version: u32,
    /// Which section.
    pub section: SectionId,
    /// The section's heading in the report.
    pub title: String,
    /// The profile it ran at.
    pub profile: Profile,
    /// The section's Markdown body: its own document without its `# ` title, headings from `## `,
    /// links relative to the section's directory (the report demotes and prefixes them).
    pub markdown: String,
    /// The claims it tested, in its order.
    pub claims: Vec<Claim>,
    /// The figures it wrote (SVG).
    pub figures: Vec<String>,
    /// The tables it wrote (CSV).
    pub tables: Vec<String>,
    /// The seeds it used; `None` for a deterministic section without random draws.
    pub seeds: Option<Seeds>,
    /// Wall time of the section in seconds.
    pub seconds: f64,
}

impl SectionResult {
    /// Write `self` as `<dir>/section.json` (atomically).
    pub fn write(&self, dir: &Path) -> Result<(), ReportError> {
        Ok(eigenformer_io::write_json(&dir.join(SECTION_FILE), self)?)
    }

    /// Read `<dir>/section.json`: a missing or unreadable file, JSON that is not a section result,
    /// and a file of another schema version are errors naming the file.
    pub fn read(dir: &Path) -> Result<Self, ReportError> {
        let path = dir.join(SECTION_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ReportError::Io {
            path: path.clone(),
            source,
        })?;
        // The version first, so that a file of another version is reported as such and not as
        // whatever field happens to differ.
        #[derive(Deserialize)]
        struct Version {
            schema_version: u32,
        }
        let version: Version = serde_json::from_str(&text).map_err(|source| ReportError::Json {
            path: path.clone(),
            source,
        })?;
        if version.schema_version != SCHEMA_VERSION {
            return Err(ReportError::Schema {
                path,
                found: version.schema_version,
                expected: SCHEMA_VERSION,
            });
        }
        serde_json::from_str(&text).map_err(|source| ReportError::Json { path, source })
    }
}

/// Strip a leading `# ` title line (and the blank lines after it) from a section's stand-alone
/// Markdown: the report gives each section its own heading.
pub fn body_without_title(md: &str) -> String {
    match md.split_once('\n') {
        Some((first, rest)) if first.starts_with("# ") => rest.trim_start_matches('\n').to_string(),
        None if md.starts_with("# ") => String::new(),
        _ => md.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Claim, Verdict};

    fn sample() -> SectionResult {
        SectionResult {
            schema_version: SCHEMA_VERSION,
            section: SectionId::Training,
            title: SectionId::Training.title().into(),
            profile: Profile::Smoke,
            markdown: "Text.\n".into(),
            claims: vec![Claim {
                id: "T1".into(),
                statement: "s".into(),
                measured: "m".into(),
                rule: "r".into(),
                verdict: Verdict::Inconclusive,
            }],
            figures: vec!["depth.svg".into()],
            tables: vec!["depth.csv".into()],
            seeds: Some(Seeds {
                values: vec![0, 1],
                of: "each training configuration".into(),
            }),
            seconds: 1.5,
        }
    }

    #[test]
    fn section_json_round_trips_with_lowercase_names() {
        let dir = tempfile::tempdir().unwrap();
        let s = sample();
        s.write(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(SECTION_FILE)).unwrap();
        assert!(text.contains("\"section\": \"training\""), "{text}");
        assert!(text.contains("\"verdict\": \"inconclusive\""), "{text}");
        assert!(text.contains("\"profile\": \"smoke\""), "{text}");
        assert_eq!(SectionResult::read(dir.path()).unwrap(), s);
    }

    #[test]
    fn missing_garbage_and_foreign_section_files_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECTION_FILE);
        let err = || SectionResult::read(dir.path()).unwrap_err().to_string();
        let e = err();
        assert!(e.contains(&path.display().to_string()), "{e}");
        std::fs::write(&path, "{ not json").unwrap();
        let e = err();
        assert!(e.contains(&path.display().to_string()), "{e}");
        std::fs::write(&path, r#"{"schema_version": 1, "section": "theory"}"#).unwrap();
        let e = err();
        assert!(
            e.contains(&path.display().to_string()) && e.contains("title"),
            "{e}"
        );
        let mut v = serde_json::to_value(sample()).unwrap();
        v["schema_version"] = 99.into();
        std::fs::write(&path, v.to_string()).unwrap();
        let e = err();
        assert!(
            e.contains("schema version 99") && e.contains(SECTION_FILE),
            "{e}"
        );
        v["schema_version"] = SCHEMA_VERSION.into();
        v["section"] = "nonsense".into();
        std::fs::write(&path, v.to_string()).unwrap();
        assert!(err().contains("nonsense"));
    }

    #[test]
    fn seeds_are_described_as_before() {
        let one = Seeds {
            values: vec![0],
            of: "random instances".into(),
        };
        assert_eq!(one.describe(), "seed 0 (random instances)");
        let two = Seeds {
            values: vec![0, 1],
            of: "each training configuration".into(),
        };
        assert_eq!(two.describe(), "seeds [0,1] (each training configuration)");
    }

    #[test]
    fn titles_are_stripped_from_section_bodies() {
        assert_eq!(body_without_title("# T\n\nText\n## A\n"), "Text\n## A\n");
        assert_eq!(body_without_title("Text\n"), "Text\n");
        assert_eq!(body_without_title("# T"), "");
    }
}
