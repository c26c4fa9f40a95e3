//! The model a command uses: found and loaded once ([`ModelChoice`]), with the embedding
//! cache attached where it pays, and checked against the settings an index was built with.
//!
//! It must not read inputs or decide anything.

use std::path::{Path, PathBuf};

use super::error::AppError;
use crate::corpus::PreparedDoc;
use crate::embed::{embed_documents, DocumentVectors};
use crate::index::{Index, IndexMeta};
use crate::model::{
    resolve_model_dir, Embedder, EncoderConfig, ModelSource, Precision, Role, DEFAULT_MODEL,
};

/// Which model folder to load, in which precision, and whether the embedding cache may be
/// used.
#[derive(Debug, Clone, Default)]
pub struct ModelChoice {
    /// `None`: the first source that has one (see [`crate::model::source`]).
    pub dir: Option<PathBuf>,
    /// Never read or write the embedding cache.
    pub no_cache: bool,
    /// Precision of the dense layers (`auto`: bf16 on CPUs with native bf16, else f32).
    pub precision: Precision,
}

impl ModelChoice {
    /// This choice for work on the index at `dir`: `auto` takes the precision an existing
    /// index was built in, so that one index never mixes precisions (an explicit other
    /// precision is refused when the index is opened).
    pub fn for_index(&self, dir: &Path) -> Result<ModelChoice, AppError> {
        if self.precision != Precision::Auto || !Index::exists(dir) {
            return Ok(self.clone());
        }
        Ok(ModelChoice {
            precision: Index::open(dir, None)?.meta().precision,
            ..self.clone()
        })
    }

    /// The encoder configuration this choice runs with on this machine: the precision asked
    /// for, on the kernel path and workers the environment sets (`SIMDEX_KERNEL`,
    /// `SIMDEX_WORKERS`), else the best path and the default workers.
    pub fn encoder_config(&self) -> Result<EncoderConfig, AppError> {
        Ok(EncoderConfig::from_env(self.precision)?)
    }

    /// Loads the model, for embedding only `texts` when given (faster, same vectors), with
    /// the embedding cache attached unless switched off or only a few texts are embedded
    /// (a few texts are embedded faster than a large cache is read).
    pub fn load(&self, texts: Option<&[&str]>) -> Result<Embedder, AppError> {
        let config = self.encoder_config()?;
        let (e, _) = match texts {
            None => load_embedder(self.dir.as_deref(), &config)?,
            Some(texts) => load_embedder_for(self.dir.as_deref(), texts, &config)?,
        };
        if self.no_cache || texts.is_some() {
            return Ok(e);
        }
        e.with_default_cache()
            .map_err(|err| AppError::Usage(format!("embedding cache: {err}")))
    }
}

/// Loads the model from the first source that has one (see [`crate::model::source`]), to
/// run as `config` says.
pub fn load_embedder(
    explicit: Option<&Path>,
    config: &EncoderConfig,
) -> Result<(Embedder, ModelSource), AppError> {
    let source = resolve_model_dir(explicit)?;
    let embedder = Embedder::load(source.dir(), DEFAULT_MODEL, config)?;
    Ok((embedder, source))
}

/// [`load_embedder`] for embedding a few known texts, such as one query: it loads several
/// times faster and gives the same vectors ([`Embedder::load_for_texts`]).
pub fn load_embedder_for(
    explicit: Option<&Path>,
    texts: &[&str],
    config: &EncoderConfig,
) -> Result<(Embedder, ModelSource), AppError> {
    let source = resolve_model_dir(explicit)?;
    let embedder = Embedder::load_for_texts(source.dir(), DEFAULT_MODEL, texts, config)?;
    Ok((embedder, source))
}

/// Fails unless `index` was built with this embedder's model and settings.
pub fn check_index_model(index: &Index, embedder: &Embedder) -> Result<(), AppError> {
    let meta = IndexMeta::of(embedder);
    if index.meta() != &meta {
        return Err(AppError::Usage(format!(
            "{}: index was built with model {} (settings {}), but the loaded model is {} (settings {})",
            index.dir().display(),
            index.meta().model,
            index.meta().settings_hash,
            meta.model,
            meta.settings_hash
        )));
    }
    Ok(())
}

/// Embeds prepared documents as passages.
pub fn embed_prepared(
    embedder: &Embedder,
    docs: &[PreparedDoc],
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<DocumentVectors>, AppError> {
    let paragraphs: Vec<Vec<String>> = docs.iter().map(|d| d.passages.clone()).collect();
    Ok(embed_documents(
        embedder,
        &paragraphs,
        Role::Passage,
        progress,
    )?)
}
