//! Index benchmark: build time, add time per 1,000 vectors (and recall after the add), open
//! time, RSS after open, query p50/p99 at k=10, recall@10 against brute force and bytes on
//! disk per vector, on the real e5-small vectors of sina_news_2018 (research data, read in
//! place) and synthetic multiples of them (seeded noise, renormalised).
//!
//! Also: recall@10 and p50 at several search beam widths (`EF_SWEEP`), and a cold
//! `similar --id`-like query as a separate process (open, look the id up, one search), whose
//! whole wall time includes process start; the page cache is warm (the index was just written).
//!
//! `cargo run --release --example index_bench -- [NPY] [SIZES…]`
//!
//! `SIMDEX_BENCH_BASES=K` uses only the first K real vectors (so each gets more noisy copies:
//! 1,000,000 vectors hold 89 copies of each of the 11,198 articles; 300 bases and 26,700
//! vectors give the same 89 in a minute).
//!
//! With `SIMDEX_BENCH_KEEP=DIR` and `SIMDEX_BENCH_PROBE=1`, nothing is built: the index kept
//! there by an earlier run is searched at several beam widths.
//!
//! With `SIMDEX_BENCH_KEEP=DIR` the (last) index is built in `DIR/n<SIZE>` and kept, labelled
//! with the real model's name and settings (the model is loaded once for that), so that the
//! real CLI can be timed against it: `simdex similar --index DIR/n1000000 --id doc0`.

use std::path::Path;
use std::time::Instant;

use simdex::index::{DocumentEntry, GraphSettings, Index, IndexMeta, Level, NewDocument};

type BoxError = Box<dyn std::error::Error>;
/// Rows of a matrix, each a normalised vector.
type Rows = Vec<Vec<f32>>;

const DEFAULT_NPY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/eval/sina_news_2018/e5_small_passage_f16.npy"
);
const QUERIES: usize = 200;
const ADD_BATCH: usize = 1000;
/// Search beam widths whose recall is measured besides the default.
const EF_SWEEP: [usize; 4] = [64, 128, 256, 512];
/// Set in the child process that times a cold query: the index directory.
const COLD_QUERY_ENV: &str = "SIMDEX_BENCH_COLD_QUERY";
/// Where to keep the built indexes (optional).
const KEEP_ENV: &str = "SIMDEX_BENCH_KEEP";
/// With `SIMDEX_BENCH_KEEP`: measure recall and latency of the kept index (built and extended
/// by an earlier run) at several beam widths, without building anything.
const PROBE_ENV: &str = "SIMDEX_BENCH_PROBE";
/// (layer-0 beam, upper-layer beam) pairs measured by a probe.
const PROBE_WIDTHS: [(usize, usize); 6] = [
    (512, 1),
    (512, 16),
    (512, 128),
    (1024, 16),
    (1024, 128),
    (2048, 128),
];
/// Use only the first this many real vectors as bases (more noisy copies of each).
const BASES_ENV: &str = "SIMDEX_BENCH_BASES";

fn env_usize(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.parse().ok()
}

fn main() -> Result<(), BoxError> {
    if let Some(dir) = std::env::var_os(COLD_QUERY_ENV) {
        return cold_query(Path::new(&dir));
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let npy = args.first().map_or(DEFAULT_NPY, String::as_str);
    let sizes: Vec<usize> = args.iter().skip(1).filter_map(|s| s.parse().ok()).collect();
    let (mut real, dim) = read_f16_npy(Path::new(npy))?;
    if let Some(bases) = env_usize(BASES_ENV) {
        real.truncate(bases);
    }
    println!("machine: {}", simdex::bench::machine());
    println!("{} real vectors of {dim} dims from {npy}", real.len());
    let sizes = if sizes.is_empty() {
        vec![real.len()]
    } else {
        sizes
    };
    for n in sizes {
        bench(&real, dim, n)?;
    }
    Ok(())
}

fn bench(real: &[Vec<f32>], dim: usize, n: usize) -> Result<(), BoxError> {
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let vectors: Vec<Vec<f32>> = (0..n + ADD_BATCH)
        .map(|i| {
            let base = &real[i % real.len()];
            if i < real.len() {
                base.clone()
            } else {
                normalise(base.iter().map(|x| x + 0.02 * gauss(&mut rng)).collect())
            }
        })
        .collect();
    let keep = std::env::var_os(KEEP_ENV).map(|d| Path::new(&d).join(format!("n{n}")));
    if let (Some(path), Some(_)) = (&keep, std::env::var_os(PROBE_ENV)) {
        return probe(path, &vectors[..n + ADD_BATCH]);
    }
    let (dir, meta) = match &keep {
        Some(path) => {
            if path.exists() {
                std::fs::remove_dir_all(path)?;
            }
            std::fs::create_dir_all(path)?;
            let (embedder, _) = simdex::app::load_embedder(
                None,
                &simdex::model::EncoderConfig::from_env(simdex::model::Precision::Auto)?,
            )?;
            (BenchDir::Kept(path.clone()), IndexMeta::of(&embedder))
        }
        None => (
            BenchDir::Temp(tempfile::tempdir()?),
            IndexMeta {
                model: "multilingual-e5-small".into(),
                settings_hash: "bench".into(),
                dim,
                precision: simdex::model::Precision::F32,
            },
        ),
    };
    println!(
        "n={n}: {} bases, {:?}",
        real.len().min(n),
        GraphSettings::default()
    );
    Index::create(dir.path(), meta)?;
    let t = Instant::now();
    let cpu = cpu_seconds();
    let mut w = Index::open_writer(dir.path(), None)?;
    w.add(docs(&vectors[..n], 0))?;
    w.commit()?;
    let build = t.elapsed().as_secs_f64();
    let build_cpu = cpu_seconds() - cpu;
    let disk = dir_bytes(dir.path());
    println!(
        "n={n}: built in {build:.1} s wall, {build_cpu:.1} s CPU ({:.2} ms CPU/vector); measuring…",
        build_cpu * 1e3 / n as f64
    );

    let rss_before = rss_kib();
    let t = Instant::now();
    let index = Index::open(dir.path(), None)?;
    let open = t.elapsed().as_secs_f64();
    let queries: Vec<&Vec<f32>> = (0..QUERIES).map(|i| &vectors[(i * 7919) % n]).collect();
    let truths: Vec<Vec<u32>> = queries
        .iter()
        .map(|q| brute_force(&vectors[..n], q, 10))
        .collect();
    let mut index = index;
    let (p50, p99, recall) = measure(&index, &queries, &truths);
    let rss_after = rss_kib();
    let mut sweep = Vec::new();
    for ef in EF_SWEEP {
        index.set_ef_search(ef);
        sweep.push((ef, measure(&index, &queries, &truths)));
    }
    drop(index);

    let t = Instant::now();
    let cpu = cpu_seconds();
    let mut w = Index::open_writer(dir.path(), None)?;
    w.add(docs(&vectors[n..], n))?;
    w.commit()?;
    let add = t.elapsed().as_secs_f64();
    let add_cpu = cpu_seconds() - cpu;
    // Recall of the extended index against brute force over everything it holds: the old
    // queries plus some of the added vectors.
    let all = &vectors[..n + ADD_BATCH];
    let after: Vec<&Vec<f32>> = queries
        .iter()
        .copied()
        .chain((0..ADD_BATCH).step_by(10).map(|i| &all[n + i]))
        .collect();
    let after_truths: Vec<Vec<u32>> = after.iter().map(|q| brute_force(all, q, 10)).collect();
    let (_, _, recall_after_add) = measure(&Index::open(dir.path(), None)?, &after, &after_truths);

    println!(
        "n={n}: build {build:.1} s ({:.2} ms/vector); add {ADD_BATCH} to it {add:.1} s ({add_cpu:.1} s CPU); \
         disk {:.0} B/vector; open {:.1} ms; RSS after open+{QUERIES} queries +{:.0} B/vector; \
         query k=10 p50 {p50:.2} ms p99 {p99:.2} ms; recall@10 {recall:.4} (default ef {})",
        build * 1e3 / n as f64,
        disk as f64 / n as f64,
        open * 1e3,
        (rss_after.saturating_sub(rss_before) * 1024) as f64 / n as f64,
        simdex::index::DEFAULT_EF_SEARCH,
    );
    println!(
        "n={n}: after adding {ADD_BATCH}: recall@10 {recall_after_add:.4} over {} queries \
         ({} of them added vectors)",
        after.len(),
        after.len() - QUERIES
    );
    for (ef, (p50, p99, recall)) in sweep {
        println!("n={n}: ef {ef}: recall@10 {recall:.4}, p50 {p50:.2} ms, p99 {p99:.2} ms");
    }
    println!(
        "n={n}: cold query process: {}",
        cold_query_process(dir.path())?
    );
    Ok(())
}

/// Recall@10 and latency of a kept index at the `PROBE_WIDTHS`: on the benchmark's queries,
/// and on as many others (the default widths were chosen on the first set).
fn probe(dir: &Path, vectors: &[Vec<f32>]) -> Result<(), BoxError> {
    let mut index = Index::open(dir, None)?;
    let n = vectors.len();
    if index.len() != n {
        return Err(format!(
            "{} holds {} documents, expected {n}",
            dir.display(),
            index.len()
        )
        .into());
    }
    for (set, offset) in [("benchmark queries", 0), ("other queries", 3571)] {
        let queries: Vec<&Vec<f32>> = (0..QUERIES)
            .map(|i| &vectors[(i * 7919 + offset) % n])
            .collect();
        let truths: Vec<Vec<u32>> = queries
            .iter()
            .map(|q| brute_force(vectors, q, 10))
            .collect();
        for (ef, upper) in PROBE_WIDTHS {
            index.set_ef_search(ef);
            index.set_upper_ef_search(upper);
            let (p50, p99, recall) = measure(&index, &queries, &truths);
            println!(
                "n={n}, {set}: ef {ef}, upper ef {upper}: recall@10 {recall:.4}, \
                 p50 {p50:.2} ms, p99 {p99:.2} ms"
            );
        }
    }
    Ok(())
}

/// The benchmark's index folder: a temporary one, or one kept for timing the CLI.
enum BenchDir {
    Temp(tempfile::TempDir),
    Kept(std::path::PathBuf),
}

impl BenchDir {
    fn path(&self) -> &Path {
        match self {
            BenchDir::Temp(t) => t.path(),
            BenchDir::Kept(p) => p,
        }
    }
}

/// Query p50 and p99 (ms) at k=10, and recall@10 against `truths`.
fn measure(index: &Index, queries: &[&Vec<f32>], truths: &[Vec<u32>]) -> (f64, f64, f64) {
    let mut times = Vec::new();
    let mut found = 0;
    for (q, truth) in queries.iter().zip(truths) {
        let t = Instant::now();
        let hits = index.search(q, 10, Level::Article);
        times.push(t.elapsed().as_secs_f64() * 1e3);
        found += hits.iter().filter(|h| truth.contains(&h.doc)).count();
    }
    times.sort_by(f64::total_cmp);
    (
        times[times.len() / 2],
        times[times.len() * 99 / 100],
        found as f64 / (10 * queries.len()) as f64,
    )
}

/// Runs this program again as a cold query process on `dir`; returns its report and wall time.
fn cold_query_process(dir: &Path) -> Result<String, BoxError> {
    let t = Instant::now();
    // /proc/self/exe still runs this build if cargo replaced the file meanwhile.
    let proc_exe = Path::new("/proc/self/exe");
    let exe = if proc_exe.exists() {
        proc_exe.to_path_buf()
    } else {
        std::env::current_exe()?
    };
    let out = std::process::Command::new(exe)
        .env(COLD_QUERY_ENV, dir)
        .output()?;
    let wall = t.elapsed().as_secs_f64() * 1e3;
    if !out.status.success() {
        return Err(format!(
            "cold query failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(format!(
        "{} wall {wall:.1} ms",
        String::from_utf8_lossy(&out.stdout).trim()
    ))
}

/// The child side: what `similar --id` does with the index, timed.
fn cold_query(dir: &Path) -> Result<(), BoxError> {
    let t = Instant::now();
    let index = Index::open(dir, None)?;
    let open = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let (doc, _) = index.doc_by_id("doc0")?.ok_or("doc0 not found")?;
    let lookup = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let hits = index.search(index.article_vector(doc), 10, Level::Article);
    let search = t.elapsed().as_secs_f64() * 1e3;
    print!(
        "open {open:.1} ms, id lookup {lookup:.1} ms, search {search:.2} ms ({} hits), RSS {} KiB;",
        hits.len(),
        rss_kib()
    );
    Ok(())
}

fn docs(vectors: &[Vec<f32>], first: usize) -> Vec<NewDocument> {
    vectors
        .iter()
        .enumerate()
        .map(|(i, v)| NewDocument {
            doc: DocumentEntry {
                id: format!("doc{}", first + i),
                title: None,
                text: String::new(),
                paragraphs: Vec::new(),
            },
            article_vector: v.clone(),
            paragraph_vectors: Vec::new(),
        })
        .collect()
}

fn brute_force(vectors: &[Vec<f32>], q: &[f32], k: usize) -> Vec<u32> {
    let mut scored: Vec<(f32, u32)> = vectors
        .iter()
        .enumerate()
        .map(|(i, v)| (v.iter().zip(q).map(|(a, b)| a * b).sum(), i as u32))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(k).map(|(_, i)| i).collect()
}

fn normalise(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

fn gauss(state: &mut u64) -> f32 {
    let mut sum = 0.0;
    for _ in 0..4 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        sum += (*state >> 40) as f32 / (1u64 << 24) as f32;
    }
    sum - 2.0
}

/// Reads a 2-D little-endian float16 `.npy` (C order) into normalised f32 rows.
fn read_f16_npy(path: &Path) -> Result<(Rows, usize), BoxError> {
    let bytes = std::fs::read(path)?;
    if bytes.get(..6) != Some(b"\x93NUMPY".as_slice()) || bytes.len() < 10 {
        return Err("not an .npy file".into());
    }
    let (header_len, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        let b: [u8; 4] = bytes.get(8..12).ok_or("short header")?.try_into()?;
        (u32::from_le_bytes(b) as usize, 12)
    };
    let header = std::str::from_utf8(bytes.get(start..start + header_len).ok_or("short header")?)?;
    if !header.contains("'<f2'") || header.contains("'fortran_order': True") {
        return Err(format!("unsupported array: {header}").into());
    }
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .ok_or("no shape")?;
    let dims: Vec<usize> = shape
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let [rows, dim] = dims[..] else {
        return Err("not 2-D".into());
    };
    let data = &bytes[start + header_len..];
    if data.len() != rows * dim * 2 {
        return Err("data size does not match the shape".into());
    }
    let rows = data
        .chunks_exact(dim * 2)
        .map(|row| {
            normalise(
                row.chunks_exact(2)
                    .map(|h| half::f16::from_le_bytes([h[0], h[1]]).to_f32())
                    .collect(),
            )
        })
        .collect();
    Ok((rows, dim))
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// User + system CPU time of this process so far (the machine may be shared: wall time
/// alone would measure the neighbours too).
fn cpu_seconds() -> f64 {
    // Fields 14 and 15 of /proc/self/stat, in clock ticks (100 per second on Linux); the
    // command name (field 2) is in parentheses and may contain spaces.
    const TICKS_PER_SECOND: f64 = 100.0;
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = fields.get(11)?.parse().ok()?;
            let stime: f64 = fields.get(12)?.parse().ok()?;
            Some((utime + stime) / TICKS_PER_SECOND)
        })
        .unwrap_or(0.0)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}
