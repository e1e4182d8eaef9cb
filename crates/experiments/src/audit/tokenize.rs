//! Token ids for the audit from a checkpoint's `tokenizer.json`, with the Hugging Face
//! `tokenizers` crate (the reference implementation, so the ids are the ones the model was
//! trained on).
//!
//! The file's own padding and truncation are switched off: one sentence is one forward pass
//! without a mask, and a sentence longer than the model's position table is cut here, visibly
//! (the caller counts and reports truncations), keeping the closing special token so the
//! sequence still ends the way the model saw in training (a tokenizer that closes with no
//! special token, as GPT-2's, is simply cut).
//!
//! `--token-ids FILE` bypasses tokenisation: [`read_token_ids`] reads a JSON list of id lists
//! and [`ids_as_tokens`] checks them against the model (vocabulary, length), so any text model
//! can be audited without a tokenizer.

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
    #[error("{}: {reason}", .path.display())]
    IdsFile { path: PathBuf, reason: String },
    #[error(
        "{}: list {list}, position {position}: token id {id} is outside the model's vocabulary of {vocab} (ids 0..{vocab})",
        .path.display()
    )]
    IdOutOfRange {
        path: PathBuf,
        list: usize,
        position: usize,
        id: u32,
        vocab: usize,
    },
    #[error("{}: list {list} has {len} ids, but the model takes at most {max}", .path.display())]
    IdsTooLong {
        path: PathBuf,
        list: usize,
        len: usize,
        max: usize,
    },
}

/// Read `--token-ids FILE`: a JSON list of non-empty lists of token ids, e.g.
/// `[[50256, 464, 3797], [40, 716]]`; at most `limit` lists are kept (file order).
pub fn read_token_ids(path: &Path, limit: Option<usize>) -> Result<Vec<Vec<u32>>, TokenizeError> {
    let err = |reason: String| TokenizeError::IdsFile {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let mut lists: Vec<Vec<u32>> = serde_json::from_str(&text).map_err(|e| {
        err(format!(
            "expected a JSON list of lists of token ids (non-negative integers below 2³²): {e}"
        ))
    })?;
    if lists.is_empty() {
        return Err(err("the list is empty: no inputs to audit".into()));
    }
    if let Some(i) = lists.iter().position(Vec::is_empty) {
        return Err(err(format!("list {i} is empty")));
    }
    if let Some(n) = limit {
        lists.truncate(n);
    }
    Ok(lists)
}

/// Check token-id lists read from `path` against a model with `vocab` ids and inputs of at most
/// `max_tokens`, and mark as special the positions whose id is in `special_ids` (the ids
/// `config.json` and, when present, `tokenizer.json` call special).
pub fn ids_as_tokens(
    path: &Path,
    lists: &[Vec<u32>],
    vocab: usize,
    max_tokens: usize,
    special_ids: &[u32],
) -> Result<Vec<Tokens>, TokenizeError> {
    lists
        .iter()
        .enumerate()
        .map(|(list, ids)| {
            if let Some((position, &id)) =
                ids.iter().enumerate().find(|(_, &id)| id as usize >= vocab)
            {
                return Err(TokenizeError::IdOutOfRange {
                    path: path.to_path_buf(),
                    list,
                    position,
                    id,
                    vocab,
                });
            }
            if ids.len() > max_tokens {
                return Err(TokenizeError::IdsTooLong {
                    path: path.to_path_buf(),
                    list,
                    len: ids.len(),
                    max: max_tokens,
                });
            }
            Ok(Tokens {
                pixels: None,
                ids: ids.clone(),
                special: ids
                    .iter()
                    .enumerate()
                    .filter(|(_, id)| special_ids.contains(id))
                    .map(|(i, _)| i)
                    .collect(),
                truncated: false,
            })
        })
        .collect()
}

/// One tokenised sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Tokens {
    /// Token ids, special tokens included (`[CLS] … [SEP]`, `<s> … </s>`).
    pub ids: Vec<u32>,
    /// Positions of the special tokens in `ids`.
    pub special: Vec<usize>,
    /// Whether the sentence was cut to the model's maximum length.
    pub truncated: bool,
    /// A vision input: the preprocessed image `[3, side, side]` (then `ids` only counts the
    /// tokens, and `special` holds the CLS, distillation and register positions).
    pub pixels: Option<std::sync::Arc<ndarray::Array3<f32>>>,
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
    /// `max_tokens` (at least 2): the first `max_tokens − 1` tokens and the closing special
    /// token, or the first `max_tokens` when the sequence does not end with a special token.
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
            if last_mask != 0 {
                ids.truncate(max - 1);
                mask.truncate(max - 1);
                ids.push(last_id);
                mask.push(last_mask);
            } else {
                ids.truncate(max);
                mask.truncate(max);
            }
        }
        let special = mask
            .iter()
            .enumerate()
            .filter(|(_, &m)| m != 0)
            .map(|(i, _)| i)
            .collect();
        Ok(Tokens {
            pixels: None,
            ids,
            special,
            truncated,
        })
    }
}
