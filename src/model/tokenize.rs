//! Tokenization with the model's `tokenizer.json`: content ids without special tokens, and
//! the wrapping into `<s> … </s>` sequences of at most the model's maximum length.
//!
//! It must not pad or batch (that is [`super::batch`]) and never panics on any input text.

use std::path::{Path, PathBuf};

use tokenizers::Tokenizer;

use super::ModelError;

/// The model's tokenizer plus the special tokens and length limit it is used with.
pub struct TextTokenizer {
    inner: Tokenizer,
    path: PathBuf,
    bos: u32,
    eos: u32,
    max_tokens: usize,
}

impl TextTokenizer {
    /// Loads `tokenizer.json`; truncation and padding stored in the file are switched off,
    /// since simdex windows long texts itself.
    pub fn load(path: &Path, max_tokens: usize) -> Result<TextTokenizer, ModelError> {
        let err = |msg: String| ModelError::Tokenizer {
            path: path.to_path_buf(),
            msg,
        };
        if !path.exists() {
            return Err(err("file not found".into()));
        }
        let mut inner = Tokenizer::from_file(path).map_err(|e| err(e.to_string()))?;
        inner
            .with_truncation(None)
            .map_err(|e| err(e.to_string()))?;
        inner.with_padding(None);
        let special = |tok: &str| {
            inner
                .token_to_id(tok)
                .ok_or_else(|| err(format!("no {tok} token")))
        };
        let bos = special("<s>").or_else(|_| special("[CLS]"))?;
        let eos = special("</s>").or_else(|_| special("[SEP]"))?;
        Ok(TextTokenizer {
            inner,
            path: path.to_path_buf(),
            bos,
            eos,
            max_tokens,
        })
    }

    /// The same tokenizer with another maximum sequence length.
    pub fn with_max_tokens(mut self, max_tokens: usize) -> TextTokenizer {
        self.max_tokens = max_tokens;
        self
    }

    /// Most tokens of one sequence, special tokens included.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// Most content tokens of one sequence (the maximum less `<s>` and `</s>`).
    pub fn max_content(&self) -> usize {
        self.max_tokens.saturating_sub(2)
    }

    /// Content token ids of a text, without special tokens and without truncation.
    pub fn content_ids(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| ModelError::Tokenizer {
                path: self.path.clone(),
                msg: e.to_string(),
            })?;
        Ok(enc.get_ids().to_vec())
    }

    /// Wraps content ids as `<s> ids </s>`.
    pub fn wrap(&self, content: &[u32]) -> Vec<u32> {
        let mut v = Vec::with_capacity(content.len() + 2);
        v.push(self.bos);
        v.extend_from_slice(content);
        v.push(self.eos);
        v
    }

    /// `<s> text </s>`, the content truncated so the whole fits the maximum length: what the
    /// Hugging Face tokenizer gives with truncation on.
    pub fn encode_truncated(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        let ids = self.content_ids(text)?;
        let n = ids.len().min(self.max_content());
        Ok(self.wrap(&ids[..n]))
    }
}
