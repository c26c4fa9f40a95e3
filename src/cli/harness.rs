//! The evaluation harness's commands, `simdex bench` and `simdex eval`, built only with the
//! `eval` cargo feature: arguments, one call into `simdex::bench` or `simdex::eval`, printing.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};

use super::args::{ModelArg, ThresholdArgs};
use super::load_model;

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

pub(super) fn bench_cmd(a: BenchArgs) -> Result<()> {
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
        simdex::model::KernelPath::available()
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", "),
        e.settings.precision
    );
    if a.gemm {
        let (m, k, n) = a.gemm_shape;
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

pub(super) fn eval_cmd(a: EvalArgs) -> Result<()> {
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
    if all || a.what == EvalWhat::Ivf {
        let by_id = eval::synth::read_provided_vectors(&data)?;
        let mut ids: Vec<&String> = by_id.keys().collect();
        ids.sort();
        let vectors: Vec<Vec<f32>> = ids.iter().map(|i| by_id[*i].clone()).collect();
        let o = a.thresholds.clone();
        let min_cos = o.threshold.min(o.related_threshold);
        println!("| list size | probe | partitions | largest | exact pairs | found | recall |");
        println!("|---|---|---|---|---|---|---|");
        for (list, probe) in [
            (20_000, 3),
            (2_000, 1),
            (2_000, 3),
            (1_000, 1),
            (1_000, 3),
            (500, 3),
            (500, 5),
        ] {
            let r =
                simdex::dedup::staged::ivf::recall(&vectors, list, probe, o.neighbours, min_cos)?;
            println!(
                "| {} | {} | {} | {} | {} | {} | {:.4} |",
                r.list_size, r.probe, r.partitions, r.largest, r.exact_pairs, r.found, r.recall
            );
        }
    }
    if all || a.what == EvalWhat::Natural {
        let o = eval::NaturalEvalOptions {
            data_dir: data.clone(),
            labels: a.labels.clone(),
            extra: a.extra,
            seed: a.seed,
            options: a.thresholds.clone(),
            vector_cache: a.vector_cache.clone(),
            sweep: a.sweep,
            write_corpus: a.write_benchmark.clone(),
        };
        let r = eval::eval_natural(embedder, &o, &mut log)?;
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
            options: a.thresholds.clone(),
            vector_cache: a.vector_cache.clone(),
            write_benchmark: a.write_benchmark.clone(),
            sweep: a.sweep,
        };
        let r = eval::eval_dedup(embedder, &o, &mut log)?;
        println!("{}", r.table());
    }
    Ok(())
}
