//! `simdex._native`: the Python bindings of the simdex library. Each function is a thin
//! wrapper: it converts Python values, releases the GIL while the library works, and turns
//! library errors into `simdex.SimdexError` with the CLI's message. The Python-facing API
//! (`simdex.Embedder`, `simdex.dedup`, `simdex.Index`, the Ray driver) is in `simdex/`.
//!
//! It holds no logic of its own: everything it calls is `simdex` library API that the CLI
//! and the tests call too.

use std::path::PathBuf;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use simdex::app::{self, ModelChoice};
use simdex::dedup::{output, staged, DedupOptions};
use simdex::model::{Embedder, Precision, Role};

create_exception!(
    _native,
    SimdexError,
    PyException,
    "An error of simdex, with the message the CLI prints."
);

fn err(e: impl std::fmt::Display) -> PyErr {
    SimdexError::new_err(e.to_string())
}

fn precision(name: &str) -> PyResult<Precision> {
    serde_json::from_value(serde_json::json!(name))
        .map_err(|_| err(format!("precision must be auto, f32 or bf16, not {name:?}")))
}

fn role(name: &str) -> PyResult<Role> {
    match name {
        "passage" => Ok(Role::Passage),
        "query" => Ok(Role::Query),
        other => Err(err(format!("role must be passage or query, not {other:?}"))),
    }
}

/// The embedding model, loaded once.
#[pyclass(module = "simdex._native", frozen)]
struct NativeEmbedder {
    inner: Embedder,
}

#[pymethods]
impl NativeEmbedder {
    #[new]
    #[pyo3(signature = (model_dir=None, precision="auto", cache=false))]
    fn new(
        py: Python<'_>,
        model_dir: Option<PathBuf>,
        precision: &str,
        cache: bool,
    ) -> PyResult<Self> {
        let choice = ModelChoice {
            dir: model_dir,
            no_cache: !cache,
            precision: self::precision(precision)?,
        };
        let inner = py.detach(|| choice.load(None)).map_err(err)?;
        Ok(NativeEmbedder { inner })
    }

    /// Vector width.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// The precision and kernel path in use, e.g. "bf16 (amx)".
    #[getter]
    fn compute(&self) -> String {
        format!("{:?}", self.inner.settings.precision).to_lowercase()
    }

    /// Embeds whole texts (each truncated at the model's length), returning (bytes of n×dim
    /// little-endian float32, n, dim).
    fn embed<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<String>,
        role: &str,
    ) -> PyResult<(Bound<'py, PyBytes>, usize, usize)> {
        let role = self::role(role)?;
        let inner = &self.inner;
        let vecs = py
            .detach(|| {
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                inner.embed_raw(&refs, role)
            })
            .map_err(err)?;
        let dim = inner.dim();
        let mut bytes = Vec::with_capacity(vecs.len() * dim * 4);
        for v in &vecs {
            for x in v {
                bytes.extend_from_slice(&x.to_le_bytes());
            }
        }
        Ok((PyBytes::new(py, &bytes), vecs.len(), dim))
    }
}

/// A dedup pass: the CLI's own library call ([`app::dedup::dedup`]) as `simdex dedup ARGV`
/// parses it (the flags, the input paths among them), over the JSONL bytes `records` too
/// when given. Returns the decisions as JSON: kept ids, duplicates (the lines of
/// duplicates.jsonl), clusters, related pairs, rejected and the summary. With `--out`,
/// writes the same output folder as `simdex dedup --out` (explanations included).
#[pyfunction]
#[pyo3(signature = (records, argv))]
fn dedup_records(py: Python<'_>, records: Option<Vec<u8>>, argv: Vec<String>) -> PyResult<String> {
    let call = simdex::cli::driver_args::api_dedup_call(&argv).map_err(err)?;
    let mut command = call.command;
    command.inputs.given = records.map(|jsonl| app::inputs::GivenRecords {
        name: "<records>".into(),
        jsonl,
    });
    let choice = call.model;
    py.detach(move || -> Result<String, String> {
        let embedder = match choice {
            Some(c) => Some(c.load(None).map_err(|e| e.to_string())?),
            None => None,
        };
        let outcome = app::dedup::dedup(&command, embedder.as_ref(), &mut |_, _, _, _| {})
            .map_err(|e| e.to_string())?;
        let (docs, report) = (&outcome.run.docs, &outcome.run.report);
        let duplicates: Vec<serde_json::Value> = output::duplicate_rows(docs, report).collect();
        let clusters: Vec<serde_json::Value> = output::cluster_rows(docs, report).collect();
        let related: Vec<serde_json::Value> = output::related_rows(docs, report).collect();
        let result = serde_json::json!({
            "kept": report.kept.iter().map(|&i| docs[i].record.id.clone()).collect::<Vec<_>>(),
            "duplicates": duplicates,
            "clusters": clusters,
            "rejected": outcome.run.read.rejected,
            "related": related,
            "summary": outcome.summary,
        });
        Ok(result.to_string())
    })
    .map_err(err)
}

/// The dedup settings with their defaults, as JSON (`DedupOptions::default()`): the one
/// list of settings that the Python keyword arguments and the Ray driver's flags are made
/// from.
#[pyfunction]
fn dedup_setting_defaults() -> String {
    serde_json::to_string(&DedupOptions::default()).unwrap_or_default()
}

/// The dedup settings (`DedupOptions`, every one) that `simdex dedup ARGV` runs with, as
/// JSON: the flags parsed and resolved by the CLI's own definitions.
#[pyfunction]
fn dedup_options(argv: Vec<String>) -> PyResult<String> {
    let call = simdex::cli::driver_args::api_dedup_call(&argv).map_err(err)?;
    serde_json::to_string(&call.command.options).map_err(err)
}

/// The keyword arguments of the Python `dedup`: `simdex dedup`'s flags by name, as JSON.
#[pyfunction]
fn dedup_flag_names() -> String {
    serde_json::to_string(&simdex::cli::driver_args::dedup_flag_names()).unwrap_or_default()
}

/// Nearest records of an index to a text or an indexed id, labelled by the dedup rules, as
/// JSON (what `simdex similar --json` prints).
#[pyfunction]
#[pyo3(signature = (index, query, k=10, by_id=false, level="article", model_dir=None))]
fn similar(
    py: Python<'_>,
    index: PathBuf,
    query: String,
    k: usize,
    by_id: bool,
    level: &str,
    model_dir: Option<PathBuf>,
) -> PyResult<String> {
    let level = match level {
        "article" => simdex::index::Level::Article,
        "passage" | "paragraph" => simdex::index::Level::Passage,
        other => {
            return Err(err(format!(
                "level must be article or passage, not {other:?}"
            )))
        }
    };
    let o = app::similar::SimilarOptions {
        index,
        ef: 128,
        query: if by_id {
            app::similar::QueryInput::Id(query)
        } else {
            app::similar::QueryInput::Text(query)
        },
        k,
        level,
        prepare: Default::default(),
        options: DedupOptions::default(),
        model: ModelChoice {
            dir: model_dir,
            ..Default::default()
        },
    };
    let hits = py.detach(|| app::similar::run(&o)).map_err(err)?;
    serde_json::to_string(&hits).map_err(err)
}

/// Whether an index holds a record with this id.
#[pyfunction]
fn index_contains(py: Python<'_>, index: PathBuf, id: String) -> PyResult<bool> {
    py.detach(|| simdex::index::Index::open(&index, None).map(|i| i.contains_id(&id)))
        .map_err(err)
}

/// Plans a staged run (see `simdex::dedup::staged`): writes WORK/plan.json, returns it.
#[pyfunction]
fn staged_plan(
    py: Python<'_>,
    work: PathBuf,
    inputs: Vec<PathBuf>,
    shards: usize,
    out: PathBuf,
    settings: &str,
) -> PyResult<String> {
    let settings: staged::Settings =
        serde_json::from_str(settings).map_err(|e| err(format!("settings: {e}")))?;
    let plan = py
        .detach(|| staged::plan(&work, &inputs, shards, &out, settings))
        .map_err(err)?;
    serde_json::to_string(&plan).map_err(err)
}

/// Runs one stage of a staged run on one shard or partition; returns its report as JSON.
#[pyfunction]
fn staged_stage(py: Python<'_>, work: PathBuf, name: String, part: usize) -> PyResult<String> {
    let v = py
        .detach(|| staged::run_stage(&work, &name, part))
        .map_err(err)?;
    Ok(v.to_string())
}

/// The stages in order, as JSON: `[{"name", "runs": "map"|"reduce"|"driver", "step"}]`.
#[pyfunction]
fn staged_stages() -> String {
    serde_json::to_string(&staged::stages()).unwrap_or_default()
}

/// The one-line summary of a run from its `summary.json` text: the line `simdex dedup` prints.
#[pyfunction]
fn summary_line(summary: &str, out: PathBuf) -> PyResult<String> {
    let s: simdex::dedup::summary::Summary = serde_json::from_str(summary).map_err(err)?;
    Ok(simdex::render::summary_line(&s, &out))
}

/// `simdex dedup`'s arguments (what follows `dedup`, the driver's own flags taken out) for
/// the staged pass, parsed by the CLI's definitions: JSON `{"inputs", "out", "settings"}`, or
/// `{"error"}` with the CLI's message (usage included) for the driver to print.
#[pyfunction]
fn staged_dedup_args(bin: &str, argv: Vec<String>) -> String {
    match simdex::cli::driver_args::staged_dedup_args(bin, &argv) {
        Ok(a) => serde_json::to_string(&a).unwrap_or_default(),
        Err(e) => serde_json::json!({ "error": e }).to_string(),
    }
}

/// The help of the `simdex dedup` flags the staged pass takes, worded as the CLI's.
#[pyfunction]
fn staged_dedup_help(bin: &str) -> String {
    simdex::cli::driver_args::staged_dedup_help(bin)
}

/// Writes `report.html` into a complete output folder (as `simdex report DIR`); returns the
/// line `simdex dedup --report` prints.
#[pyfunction]
fn write_report(py: Python<'_>, dir: PathBuf) -> PyResult<String> {
    let r = py
        .detach(|| simdex::app::report::report(&dir))
        .map_err(err)?;
    Ok(simdex::render::report_line(&r))
}

/// Whether a stage runs in this plan (the vectors' stages only when records are embedded,
/// `against` only with an index).
#[pyfunction]
fn staged_runs(work: PathBuf, name: String) -> PyResult<bool> {
    staged::stage_runs(&work, &name).map_err(err)
}

/// What a dry run of a run work folder shows, as `simdex dedup --dry-run` prints it.
#[pyfunction]
fn staged_dry_run(py: Python<'_>, work: PathBuf) -> PyResult<String> {
    let (dry, options) = py
        .detach(|| -> Result<_, staged::StagedError> {
            let options = staged::Work::open(&work)?.plan.settings.options;
            Ok((staged::dry_run(&work)?, options))
        })
        .map_err(err)?;
    Ok(simdex::render::dry_run_report(&dry, &options))
}

/// How many tasks a stage runs in.
#[pyfunction]
fn staged_parts(work: PathBuf, name: String) -> PyResult<usize> {
    staged::stage_parts(&work, &name).map_err(err)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("SimdexError", m.py().get_type::<SimdexError>())?;
    m.add_class::<NativeEmbedder>()?;
    m.add_function(wrap_pyfunction!(dedup_records, m)?)?;
    m.add_function(wrap_pyfunction!(dedup_setting_defaults, m)?)?;
    m.add_function(wrap_pyfunction!(dedup_options, m)?)?;
    m.add_function(wrap_pyfunction!(dedup_flag_names, m)?)?;
    m.add_function(wrap_pyfunction!(similar, m)?)?;
    m.add_function(wrap_pyfunction!(index_contains, m)?)?;
    m.add_function(wrap_pyfunction!(staged_plan, m)?)?;
    m.add_function(wrap_pyfunction!(staged_stages, m)?)?;
    m.add_function(wrap_pyfunction!(staged_stage, m)?)?;
    m.add_function(wrap_pyfunction!(staged_parts, m)?)?;
    m.add_function(wrap_pyfunction!(staged_runs, m)?)?;
    m.add_function(wrap_pyfunction!(staged_dry_run, m)?)?;
    m.add_function(wrap_pyfunction!(summary_line, m)?)?;
    m.add_function(wrap_pyfunction!(staged_dedup_args, m)?)?;
    m.add_function(wrap_pyfunction!(staged_dedup_help, m)?)?;
    m.add_function(wrap_pyfunction!(write_report, m)?)?;
    Ok(())
}
