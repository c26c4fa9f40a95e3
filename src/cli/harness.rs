//! The evaluation harness's commands, `simdex bench` and `simdex eval`, built only with the
//! `eval` cargo feature: one call into `crate::bench` or `crate::eval`, then printing (their
//! arguments are in [`super::args`] with every other command's).

use std::path::PathBuf;

use anyhow::{bail, Result};

use super::args::{BenchArgs, EvalArgs, EvalWhat, ModelArg};
use super::load::load_model;

pub(super) fn bench_cmd(a: BenchArgs) -> Result<()> {
    use crate::bench;
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
        crate::model::KernelPath::available()
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
    use crate::eval;
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
                crate::dedup::staged::ivf::recall(&vectors, list, probe, o.neighbours, min_cos)?;
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
