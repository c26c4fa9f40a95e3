//! Where the model folder comes from, in this order: an explicit `--model DIR`, the
//! `SIMDEX_MODEL` environment variable, the project's `models/` folder, then the Hugging Face
//! hub (pinned revision; `HF_HOME` and `HF_HUB_OFFLINE` are honoured by hf-hub and here).
//!
//! It only finds or downloads files; loading them is [`super::Embedder::load`].

use std::path::{Path, PathBuf};

use super::error::ModelError;

/// The default model.
pub const DEFAULT_MODEL: &str = "intfloat/multilingual-e5-small";
/// Environment variable naming a model folder.
pub const MODEL_ENV: &str = "SIMDEX_MODEL";
/// Folder name of the default model under `models/`.
pub const DEFAULT_MODEL_FOLDER: &str = "multilingual-e5-small";
/// Hub revision of `intfloat/multilingual-e5-small` that simdex is tested against.
pub const PINNED_REVISION: &str = "614241f622f53c4eeff9890bdc4f31cfecc418b3";
/// Files a model folder must hold.
pub const MODEL_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// How a model folder was found, for `simdex model info` and error messages.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub enum ModelSource {
    Explicit(PathBuf),
    Environment(PathBuf),
    ProjectFolder(PathBuf),
    Hub {
        repo: String,
        revision: String,
        dir: PathBuf,
    },
}

impl ModelSource {
    /// The resolved folder.
    pub fn dir(&self) -> &Path {
        match self {
            ModelSource::Explicit(p)
            | ModelSource::Environment(p)
            | ModelSource::ProjectFolder(p) => p,
            ModelSource::Hub { dir, .. } => dir,
        }
    }
}

/// Whether a folder holds every file of a model.
pub fn is_model_dir(dir: &Path) -> bool {
    MODEL_FILES.iter().all(|f| dir.join(f).is_file())
}

/// The `models/` folders searched: beside the current directory and beside the executable's
/// crate (so `cargo run` and tests find the project's folder from anywhere).
fn project_model_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("models").join(DEFAULT_MODEL_FOLDER)];
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("models")
        .join(DEFAULT_MODEL_FOLDER);
    if !dirs.contains(&crate_dir) {
        dirs.push(crate_dir);
    }
    dirs
}

/// Resolves the model folder. An explicit folder that is not a model is an error (never
/// silently replaced by another source).
pub fn resolve_model_dir(explicit: Option<&Path>) -> Result<ModelSource, ModelError> {
    if let Some(dir) = explicit {
        return if is_model_dir(dir) {
            Ok(ModelSource::Explicit(dir.to_path_buf()))
        } else {
            Err(missing_files(dir))
        };
    }
    if let Some(dir) = std::env::var_os(MODEL_ENV).filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(dir);
        return if is_model_dir(&dir) {
            Ok(ModelSource::Environment(dir))
        } else {
            Err(missing_files(&dir))
        };
    }
    let mut searched: Vec<String> = Vec::new();
    for dir in project_model_dirs() {
        if is_model_dir(&dir) {
            return Ok(ModelSource::ProjectFolder(dir));
        }
        searched.push(dir.display().to_string());
    }
    let offline = std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1" || v == "true");
    match from_hub(DEFAULT_MODEL, PINNED_REVISION, offline) {
        Ok(src) => Ok(src),
        Err(e) => {
            searched.push(format!("Hugging Face hub ({e})"));
            Err(ModelError::NotFound {
                searched: searched.join("; "),
            })
        }
    }
}

fn missing_files(dir: &Path) -> ModelError {
    let missing: Vec<&str> = MODEL_FILES
        .iter()
        .copied()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    ModelError::NotFound {
        searched: format!("{} (missing {})", dir.display(), missing.join(", ")),
    }
}

/// Downloads (or finds in the hf-hub cache) the model files at a pinned revision.
fn from_hub(repo: &str, revision: &str, offline: bool) -> Result<ModelSource, ModelError> {
    use hf_hub::{Repo, RepoType};
    let cache = hf_hub::Cache::from_env();
    let hub_repo = Repo::with_revision(repo.to_string(), RepoType::Model, revision.to_string());
    if offline {
        let cached = cache.repo(hub_repo);
        let mut dir = None;
        for f in MODEL_FILES {
            let p = cached.get(f).ok_or_else(|| {
                ModelError::Hub(format!("HF_HUB_OFFLINE is set and {f} is not cached"))
            })?;
            dir = p.parent().map(Path::to_path_buf);
        }
        let dir = dir.ok_or_else(|| ModelError::Hub("empty cache entry".into()))?;
        return Ok(ModelSource::Hub {
            repo: repo.into(),
            revision: revision.into(),
            dir,
        });
    }
    let api = hf_hub::api::sync::ApiBuilder::from_cache(cache)
        .with_progress(false)
        .build()
        .map_err(|e| ModelError::Hub(e.to_string()))?;
    let api_repo = api.repo(hub_repo);
    let mut dir = None;
    for f in MODEL_FILES {
        let p = api_repo
            .get(f)
            .map_err(|e| ModelError::Hub(format!("{f}: {e}")))?;
        dir = p.parent().map(Path::to_path_buf);
    }
    let dir = dir.ok_or_else(|| ModelError::Hub("no files".into()))?;
    Ok(ModelSource::Hub {
        repo: repo.into(),
        revision: revision.into(),
        dir,
    })
}
