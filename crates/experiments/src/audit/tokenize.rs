//! Token ids for the audit from a checkpoint's `tokenizer.json`, with the Hugging Face
//! `tokenizers` crate (the reference implementation, so the ids are the ones the model was
//! trained on).
//!
//! The file's own padding and truncation are switched off: one sentence is one forward pass
//! without a mask, and a sentence longer than the model's position table is cut here, visibly
//! (the caller counts and reports truncations), keeping the closing special token so the
//! sequence still ends the way the model saw in training.

use std::path::{Path, PathBuf};
use thiserror::Error;
use tokenizers::Tokenizer;

/// Why a tokenizer could not be loaded or used.
#[derive(Debug, Error)]
pub enum TokenizeError {
    #[error("{}: cannot load the tokenizer: {reason}", .path.display())]
    Load { path: PathBuf, reason: String },
    #[error("{}: tokenizing sentence {index} failed: {reason}", .path.display())]
    Encode {
        path: PathBuf,
        index: usize,
        reason: String,
    },
    #[error("sentence {index} has no tokens (the tokenizer produced an empty sequence)")]
    NoTokens { index: usize },
}

/// One tokenised sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    /// Token ids, special tokens included (`[CLS] … [SEP]`, `<s> … </s>`).
    pub ids: Vec<u32>,
    /// Positions of the special tokens in `ids`.
    pub special: Vec<usize>,
    /// Whether the sentence was cut to the model's maximum length.
    pub truncated: bool,
}

/// A `tokenizer.json` tokenizer without padding or truncation.
pub struct TextTokenizer {
    inner: Tokenizer,
    path: PathBuf,
}

impl TextTokenizer {
    /// Load `path` (a `tokenizer.json`) and switch its padding and truncation off.
    pub fn from_file(path: &Path) -> Result<Self, TokenizeError> {
        let load_err = |reason: String| TokenizeError::Load {
            path: path.to_path_buf(),
            reason,
        };
        if !path.is_file() {
            return Err(load_err("no such file".into()));
        }
        let mut inner = Tokenizer::from_file(path).map_err(|e| load_err(e.to_string()))?;
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| load_err(e.to_string()))?;
        Ok(TextTokenizer {
            inner,
            path: path.to_path_buf(),
        })
    }

    /// Tokenise sentence number `index` (for messages) with special tokens, cut to at most
    /// `max_tokens` (at least 2): the first `max_tokens − 1` tokens and the last one.
    pub fn encode(
        &self,
        index: usize,
        sentence: &str,
        max_tokens: usize,
    ) -> Result<Tokens, TokenizeError> {
        let enc = self
            .inner
            .encode(sentence, true)
            .map_err(|e| TokenizeError::Encode {
                path: self.path.clone(),
                index,
                reason: e.to_string(),
            })?;
        let mut ids = enc.get_ids().to_vec();
        let mut mask = enc.get_special_tokens_mask().to_vec();
        if ids.is_empty() {
            return Err(TokenizeError::NoTokens { index });
        }
        let max = max_tokens.max(2);
        let truncated = ids.len() > max;
        if truncated {
            let (last_id, last_mask) = (ids[ids.len() - 1], mask[mask.len() - 1]);
            ids.truncate(max - 1);
            mask.truncate(max - 1);
            ids.push(last_id);
            mask.push(last_mask);
        }
        let special = mask
            .iter()
            .enumerate()
            .filter(|(_, &m)| m != 0)
            .map(|(i, _)| i)
            .collect();
        Ok(Tokens {
            ids,
            special,
            truncated,
        })
    }
}
