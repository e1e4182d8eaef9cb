//! `REPORT.md` from the sections' results and the environment table: a summary of the sections'
//! statuses, one merged claims table, one part per section and the environment.

use super::section::{SectionId, SectionResult};
use crate::profile::Profile;
use std::fmt::Write as _;

/// What became of a section in this run.
#[derive(Debug, Clone, PartialEq)]
pub enum SectionStatus {
    /// Not run (excluded by `--only`).
    Excluded,
    /// It ran and wrote its result.
    Done(Box<SectionResult>),
    /// It failed; the error, as shown to the user.
    Failed(String),
}

impl SectionStatus {
    /// The summary table's status cell.
    pub fn line(&self) -> &'static str {
        match self {
            SectionStatus::Excluded => "not run (excluded by `--only`)",
            SectionStatus::Done(_) => "done",
            SectionStatus::Failed(_) => "**FAILED**",
        }
    }
}

/// A section's Markdown body as a part of REPORT.md: a `# ` title is dropped (the report has its
/// own section heading), the other headings move one level down, and relative links (to the
/// section's artefacts, written next to its Markdown) get `prefix` so that they resolve from
/// REPORT.md one directory up. Code blocks are left alone.
pub fn embed_section(md: &str, prefix: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    for (i, line) in md.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        if in_code {
            out.push_str(line);
        } else if i == 0 && line.starts_with("# ") {
            continue;
        } else if line.starts_with('#') {
            out.push('#');
            out.push_str(line);
        } else {
            let mut rest = line;
            while let Some(k) = rest.find("](") {
                out.push_str(&rest[..k + 2]);
                rest = &rest[k + 2..];
                let absolute = ["http://", "https://", "#", "/", "mailto:"]
                    .iter()
                    .any(|p| rest.starts_with(p));
                if !absolute {
                    out.push_str(prefix);
                }
            }
            out.push_str(rest);
        }
        out.push('\n');
    }
    out.trim_start().to_string()
}

/// A claim's plain text as a table cell: pipes escaped, line breaks dropped.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', "")
}

/// The report's claims table: every claim a section tested, one row each, in section order.
fn claims_table(statuses: &[(SectionId, SectionStatus)]) -> String {
    let mut md = String::from(
        "\n## Claims\n\nEvery claim of the paper that this run tested: the statement, what we \
         measured (with the statistic), the rule that turned the measurement into a verdict, and \
         the verdict. Rows `C…` come from the theory section (random instances), `P…` from the \
         pre-trained audits, `T…` from training from scratch (mean ± sd over seeds).\n\n\
         | id | section | the paper's statement | our measurement | rule | verdict |\n\
         |---|---|---|---|---|---|\n",
    );
    let mut any = false;
    for (id, status) in statuses {
        if let SectionStatus::Done(result) = status {
            for c in &result.claims {
                any = true;
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | **{}** |",
                    cell(&c.id),
                    id.name(),
                    cell(&c.statement),
                    cell(&c.measured),
                    cell(&c.rule),
                    c.verdict.name()
                );
            }
        }
    }
    if !any {
        md.push_str("| – | – | no section that tests claims ran | | | |\n");
    }
    md
}

/// REPORT.md: header, summary, merged claims, each section (its body embedded under
/// `<section>/`), and the environment table `env`.
pub fn render(
    profile: Profile,
    statuses: &[(SectionId, SectionStatus)],
    env: &[(&'static str, String)],
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Eigenformer reproduction report\n");
    let _ = writeln!(
        md,
        "Profile: `{}`. Every number in this report was measured by the run described under \
         [Environment](#environment); a section that failed or was not run says so and reports \
         nothing.\n",
        profile.name()
    );
    let _ = writeln!(md, "## Summary\n");
    let _ = writeln!(md, "| section | status |\n|---|---|");
    for (id, status) in statuses {
        let _ = writeln!(md, "| {} | {} |", id.name(), status.line());
    }
    md.push_str(&claims_table(statuses));
    for (i, (id, status)) in statuses.iter().enumerate() {
        let title = match status {
            SectionStatus::Done(result) => result.title.as_str(),
            _ => id.title(),
        };
        let _ = writeln!(md, "\n## {}. {} (`{}`)\n", i + 1, title, id.name());
        match status {
            SectionStatus::Excluded => {
                let _ = writeln!(md, "Not run: excluded by `--only`.");
            }
            SectionStatus::Done(result) => {
                let body = embed_section(&result.markdown, &format!("{}/", id.name()));
                let _ = writeln!(md, "{}", body.trim_end());
            }
            SectionStatus::Failed(error) => {
                let _ = writeln!(
                    md,
                    "**FAILED.** No results are reported for this section.\n\n```text\n{error}\n```"
                );
            }
        }
    }
    let _ = writeln!(md, "\n## Environment\n");
    let _ = writeln!(md, "| | |\n|---|---|");
    for (field, value) in env {
        let _ = writeln!(md, "| {field} | {} |", value.replace('|', "\\|"));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::section::SCHEMA_VERSION;
    use crate::report::{Claim, Verdict};

    fn done(id: SectionId, markdown: &str, claims: Vec<Claim>) -> SectionStatus {
        SectionStatus::Done(Box::new(SectionResult {
            schema_version: SCHEMA_VERSION,
            section: id,
            title: id.title().into(),
            profile: Profile::Smoke,
            markdown: markdown.into(),
            claims,
            figures: vec![],
            tables: vec![],
            seeds: None,
            seconds: 0.0,
        }))
    }

    fn claim(id: &str, statement: &str, measured: &str, verdict: Verdict) -> Claim {
        Claim {
            id: id.into(),
            statement: statement.into(),
            measured: measured.into(),
            rule: "pooled sd".into(),
            verdict,
        }
    }

    #[test]
    fn report_lists_every_section_and_the_environment() {
        let statuses = vec![
            (SectionId::Theory, SectionStatus::Excluded),
            (
                SectionId::Pretrained,
                done(SectionId::Pretrained, "x", vec![]),
            ),
            (SectionId::Training, SectionStatus::Failed("boom".into())),
        ];
        let env = vec![("CPU", "a | b".to_string())];
        let md = render(Profile::Smoke, &statuses, &env);
        assert!(md.contains("| theory | not run (excluded by `--only`) |"));
        assert!(md.contains("| pretrained | done |"));
        assert!(md.contains("| training | **FAILED** |"));
        assert!(md.contains("boom"));
        assert!(md.contains("## Environment"));
        assert!(md.contains("| CPU | a \\| b |"));
        assert!(md.contains("no section that tests claims ran"));
    }

    #[test]
    fn claims_of_every_section_are_merged_into_one_table() {
        let statuses = vec![
            (SectionId::Theory, SectionStatus::Excluded),
            (
                SectionId::Pretrained,
                done(
                    SectionId::Pretrained,
                    "## Claims\n",
                    vec![claim(
                        "P1",
                        "similarity rises",
                        "a: Δ = 0.1 | b",
                        Verdict::Holds,
                    )],
                ),
            ),
            (
                SectionId::Training,
                done(
                    SectionId::Training,
                    "x",
                    vec![claim(
                        "T1",
                        "spectral beats | FeatScale",
                        "0.8 ± 0.1",
                        Verdict::Inconclusive,
                    )],
                ),
            ),
        ];
        let md = render(Profile::Smoke, &statuses, &[]);
        assert!(md.contains(
            "| P1 | pretrained | similarity rises | a: Δ = 0.1 \\| b | pooled sd | **holds** |"
        ));
        assert!(md.contains(
            "| T1 | training | spectral beats \\| FeatScale | 0.8 ± 0.1 | pooled sd | **inconclusive** |"
        ));
        // The section's own `## Claims` moves one level down under the section heading.
        assert!(md.contains("\n### Claims\n"));
    }

    #[test]
    fn embedded_sections_demote_headings_and_prefix_links() {
        let md = "# Title\n\nText [plot](a.svg) and [web](https://x.org), ![f](b.svg).\n\n## Part\n\n```text\n# not a heading\n```\n";
        let got = embed_section(md, "theory/");
        assert!(!got.contains("# Title"));
        assert!(got.starts_with(
            "Text [plot](theory/a.svg) and [web](https://x.org), ![f](theory/b.svg)."
        ));
        assert!(got.contains("\n### Part\n"));
        assert!(got.contains("\n# not a heading\n"));
    }
}
