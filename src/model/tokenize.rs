//! Tokenization with the model's `tokenizer.json`: content ids without special tokens, and
//! the wrapping into `<s> … </s>` sequences of at most the model's maximum length.
//!
//! It must not pad or batch (that is [`super::batch`]) and never panics on any input text.
//!
//! A one-off text query need not pay for the whole tokenizer: building the Unigram trie of
//! 250,002 pieces takes most of a second, longer than the rest of `simdex similar "…"`.
//! [`TextTokenizer::load_scoped`] builds it from only the pieces made of characters the given
//! texts can contain after normalisation (every piece that can match them), so the ids are
//! the same; a text outside that scope is tokenized by the full tokenizer, loaded on demand.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use tokenizers::normalizers::NormalizerWrapper;
use tokenizers::{NormalizedString, Normalizer, Tokenizer};

use super::error::ModelError;

/// The model's tokenizer plus the special tokens and length limit it is used with.
pub struct TextTokenizer {
    /// The full tokenizer, or with [`Self::scope`] set one restricted to some characters.
    inner: Tokenizer,
    scope: Option<Scope>,
    /// The full tokenizer for texts outside the scope, loaded on first need.
    full: OnceLock<Result<Tokenizer, String>>,
    path: PathBuf,
    bos: u32,
    eos: u32,
    max_tokens: usize,
}

/// What a scoped tokenizer covers: the characters its pieces may be made of, and the id in the
/// full vocabulary of each of its own ids.
struct Scope {
    normalizer: Option<NormalizerWrapper>,
    chars: HashSet<char>,
    full_ids: Vec<u32>,
}

impl Scope {
    /// Whether every character of `text`, as given and once normalised, is one the scope kept.
    fn covers(&self, text: &str) -> bool {
        normalised(self.normalizer.as_ref(), text).is_ok_and(|n| {
            n.chars()
                .chain(text.chars())
                .all(|c| self.chars.contains(&c))
        })
    }
}

/// `text` as the tokenizer's normaliser leaves it (unchanged without one).
fn normalised(normalizer: Option<&NormalizerWrapper>, text: &str) -> tokenizers::Result<String> {
    let mut n = NormalizedString::from(text);
    if let Some(norm) = normalizer {
        norm.normalize(&mut n)?;
    }
    Ok(n.get().to_string())
}

/// Switches off the truncation and padding a `tokenizer.json` may carry: simdex windows long
/// texts itself. Every tokenizer simdex uses goes through this.
fn without_truncation_or_padding(mut t: Tokenizer) -> tokenizers::Result<Tokenizer> {
    t.with_truncation(None)?;
    t.with_padding(None);
    Ok(t)
}

/// Characters every scope keeps: the pre-tokenizer's word marker and the space.
const ALWAYS_KEPT: [char; 2] = ['\u{2581}', ' '];

impl TextTokenizer {
    /// Loads `tokenizer.json`; truncation and padding stored in the file are switched off,
    /// since simdex windows long texts itself.
    pub fn load(path: &Path, max_tokens: usize) -> Result<TextTokenizer, ModelError> {
        if !path.exists() {
            return Err(tokenizer_error(path, "file not found".into()));
        }
        let inner = Tokenizer::from_file(path).map_err(|e| tokenizer_error(path, e.to_string()))?;
        TextTokenizer::wrap_loaded(path, inner, None, max_tokens)
    }

    /// Loads a tokenizer that gives the same ids as [`Self::load`]'s but is built only from the
    /// vocabulary pieces that `texts` can contain, which is many times faster for a few short
    /// texts. Other texts still work (through the full tokenizer, loaded when first needed).
    /// Falls back to the full tokenizer when the file's model is not a Unigram vocabulary.
    pub fn load_scoped(
        path: &Path,
        max_tokens: usize,
        texts: &[&str],
    ) -> Result<TextTokenizer, ModelError> {
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut json: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| tokenizer_error(path, e.to_string()))?;
        let normalizer = match json.get("normalizer") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(
                serde_json::from_value::<NormalizerWrapper>(v.clone())
                    .map_err(|e| tokenizer_error(path, e.to_string()))?,
            ),
        };
        let mut chars: HashSet<char> = ALWAYS_KEPT.into_iter().collect();
        for text in texts {
            let n = normalised(normalizer.as_ref(), text)
                .map_err(|e| tokenizer_error(path, e.to_string()))?;
            chars.extend(n.chars().chain(text.chars()));
        }
        let Some(full_ids) = restrict_vocab(&mut json, &chars) else {
            return TextTokenizer::load(path, max_tokens);
        };
        let inner: Tokenizer =
            serde_json::from_value(json).map_err(|e| tokenizer_error(path, e.to_string()))?;
        let scope = Scope {
            normalizer,
            chars,
            full_ids,
        };
        TextTokenizer::wrap_loaded(path, inner, Some(scope), max_tokens)
    }

    fn wrap_loaded(
        path: &Path,
        inner: Tokenizer,
        scope: Option<Scope>,
        max_tokens: usize,
    ) -> Result<TextTokenizer, ModelError> {
        let err = |msg: String| tokenizer_error(path, msg);
        let inner = without_truncation_or_padding(inner).map_err(|e| err(e.to_string()))?;
        let special = |tok: &str| {
            let id = inner
                .token_to_id(tok)
                .ok_or_else(|| err(format!("no {tok} token")))?;
            Ok::<u32, ModelError>(match &scope {
                Some(s) => s.full_ids.get(id as usize).copied().unwrap_or(id),
                None => id,
            })
        };
        let bos = special("<s>").or_else(|_| special("[CLS]"))?;
        let eos = special("</s>").or_else(|_| special("[SEP]"))?;
        Ok(TextTokenizer {
            inner,
            scope,
            full: OnceLock::new(),
            path: path.to_path_buf(),
            bos,
            eos,
            max_tokens,
        })
    }

    /// Whether this tokenizer was built for some texts only (see [`Self::load_scoped`]).
    pub fn is_scoped(&self) -> bool {
        self.scope.is_some()
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
        let err = |msg: String| tokenizer_error(&self.path, msg);
        let (tokenizer, remap) = match &self.scope {
            None => (&self.inner, None),
            Some(scope) if scope.covers(text) => (&self.inner, Some(&scope.full_ids)),
            Some(_) => {
                let full = self.full.get_or_init(|| {
                    Tokenizer::from_file(&self.path)
                        .and_then(without_truncation_or_padding)
                        .map_err(|e| e.to_string())
                });
                (full.as_ref().map_err(|e| err(e.clone()))?, None)
            }
        };
        let enc = tokenizer
            .encode(text, false)
            .map_err(|e| err(e.to_string()))?;
        Ok(match remap {
            None => enc.get_ids().to_vec(),
            Some(full_ids) => enc
                .get_ids()
                .iter()
                .map(|&id| full_ids.get(id as usize).copied().unwrap_or(id))
                .collect(),
        })
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

fn tokenizer_error(path: &Path, msg: String) -> ModelError {
    ModelError::Tokenizer {
        path: path.to_path_buf(),
        msg,
    }
}

/// Cuts the Unigram vocabulary in a parsed `tokenizer.json` down to the pieces made only of
/// `chars`, keeping the added tokens, the unknown token and the lowest-scoring piece (whose
/// score sets the unknown-token penalty), in their original order so the Viterbi search sees
/// the same lattice. Returns the full id of each kept piece, or `None` if the file is not laid
/// out as expected (the caller then loads the full tokenizer).
fn restrict_vocab(json: &mut serde_json::Value, chars: &HashSet<char>) -> Option<Vec<u32>> {
    let added: HashSet<String> = json
        .get("added_tokens")?
        .as_array()?
        .iter()
        .filter_map(|t| Some(t.get("content")?.as_str()?.to_string()))
        .collect();
    let model = json.get_mut("model")?;
    if model.get("type")?.as_str()? != "Unigram" {
        return None;
    }
    let unk = model.get("unk_id").and_then(|u| u.as_u64());
    let vocab = model.get_mut("vocab")?.as_array_mut()?;
    let mut lowest = (f64::INFINITY, 0usize);
    for (i, entry) in vocab.iter().enumerate() {
        let score = entry.get(1)?.as_f64()?;
        if score < lowest.0 {
            lowest = (score, i);
        }
    }
    let mut full_ids = Vec::new();
    let mut kept = Vec::new();
    let mut new_unk = None;
    for (i, entry) in std::mem::take(vocab).into_iter().enumerate() {
        let piece = entry.get(0)?.as_str()?;
        let keep = Some(i as u64) == unk
            || i == lowest.1
            || added.contains(piece)
            || piece.chars().all(|c| chars.contains(&c));
        if keep {
            if Some(i as u64) == unk {
                new_unk = Some(kept.len());
            }
            full_ids.push(u32::try_from(i).ok()?);
            kept.push(entry);
        }
    }
    *vocab = kept;
    if let Some(u) = new_unk {
        model["unk_id"] = serde_json::Value::from(u);
    }
    Some(full_ids)
}
