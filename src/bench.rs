//! Embedding throughput, measured the way the PyTorch peer (`peer_embed.py`) measures it:
//! the same texts with the same prefix and truncation, timed from tokenization to pooled
//! vectors after one warm-up call, reported in tokens per second.
//!
//! It only times the library's own embedding path; it must not change how vectors are made.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::model::{Embedder, ModelError};

/// Errors of reading benchmark inputs or embedding them.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {msg}")]
    BadLine {
        path: PathBuf,
        line: usize,
        msg: String,
    },
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// What to embed: the peer script's options, with the same defaults.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// JSONL (optionally gzip-compressed) with a text field, or plain text when `field` is empty.
    pub input: PathBuf,
    pub field: String,
    pub prefix: String,
    /// Truncation length in tokens, special tokens included.
    pub max_length: usize,
    /// Texts read from the start of the input (0: all).
    pub limit: usize,
}

/// One timed run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    pub tokens: usize,
    pub texts: usize,
    pub seconds: f64,
    pub tokens_per_s: f64,
    pub texts_per_s: f64,
}

/// Reads up to `limit` texts (0: all) from JSONL (`field`) or plain lines (`field` empty).
pub fn read_texts(path: &Path, field: &str, limit: usize) -> Result<Vec<String>, BenchError> {
    let io = |source| BenchError::Io {
        path: path.to_path_buf(),
        source,
    };
    let reader = crate::input::gzip::open(path).map_err(io)?;
    let mut texts = Vec::new();
    for (i, line) in BufReader::new(reader).lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        if field.is_empty() {
            texts.push(line);
        } else {
            let bad = |msg: String| BenchError::BadLine {
                path: path.to_path_buf(),
                line: i + 1,
                msg,
            };
            let v: serde_json::Value =
                serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
            let t = v[field]
                .as_str()
                .ok_or_else(|| bad(format!("no string field {field:?}")))?;
            texts.push(t.to_string());
        }
        if limit > 0 && texts.len() >= limit {
            break;
        }
    }
    Ok(texts)
}

/// Embeds the texts once to warm up (the longest one) and once timed.
pub fn run(
    embedder: &Embedder,
    texts: &[String],
    opts: &BenchOptions,
) -> Result<BenchReport, BenchError> {
    let tok = &embedder.tokenizer;
    let room = opts.max_length.min(tok.max_tokens()).saturating_sub(2);
    let encode = |t: &String| -> Result<Vec<u32>, ModelError> {
        let ids = tok.content_ids(&format!("{}{t}", opts.prefix))?;
        Ok(tok.wrap(&ids[..ids.len().min(room)]))
    };
    if let Some(longest) = texts.iter().max_by_key(|t| t.len()) {
        embedder.embed_sequences(&[encode(longest)?])?;
    }
    let t0 = Instant::now();
    let seqs = texts.iter().map(encode).collect::<Result<Vec<_>, _>>()?;
    let vecs = embedder.embed_sequences(&seqs)?;
    let seconds = t0.elapsed().as_secs_f64();
    debug_assert_eq!(vecs.len(), texts.len());
    let tokens: usize = seqs.iter().map(|s| s.len()).sum();
    Ok(BenchReport {
        tokens,
        texts: texts.len(),
        seconds,
        tokens_per_s: tokens as f64 / seconds,
        texts_per_s: texts.len() as f64 / seconds,
    })
}

/// GFLOP/s of candle's f32 matmul `[m, k] × [k, n]` on the CPU (best of `reps`).
pub fn matmul_gflops(m: usize, k: usize, n: usize, reps: usize) -> Result<f64, BenchError> {
    use candle_core::{Device, Tensor};
    let dev = Device::Cpu;
    let a = Tensor::randn(0f32, 1.0, (m, k), &dev).map_err(ModelError::from)?;
    let b = Tensor::randn(0f32, 1.0, (k, n), &dev).map_err(ModelError::from)?;
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) + 1 {
        let t0 = Instant::now();
        let c = a.matmul(&b).map_err(ModelError::from)?;
        best = best.min(t0.elapsed().as_secs_f64());
        drop(c);
    }
    Ok(2.0 * (m * k * n) as f64 / best / 1e9)
}

/// GFLOP/s of the bf16 dense-layer product `[m, k] × [k, n]` on one kernel path (best of
/// `reps`; the weights packed beforehand, as the encoder packs them at load; the input in
/// bf16 and the f32 output buffer reused, as the forward pass holds them).
pub fn bf16_gemm_gflops(
    path: crate::model::kernels::KernelPath,
    m: usize,
    k: usize,
    n: usize,
    reps: usize,
) -> f64 {
    use crate::model::kernels::bf16::{gemm_bf16_into, round_input};
    use crate::model::kernels::PackedBf16;
    let val = |i: usize| ((i * 7919) % 1000) as f32 / 500.0 - 1.0;
    let a: Vec<f32> = (0..m * k).map(val).collect();
    let w: Vec<f32> = (0..k * n).map(|i| val(i + 3)).collect();
    let packed = PackedBf16::pack(&w, k, n);
    // As the forward pass runs a product: the input already in bf16 (LayerNorm and GELU
    // write it so), the output buffer reused from the last call.
    let mut ab = crate::model::kernels::AlignedBuf::new();
    round_input(path, &a, &packed, &mut ab);
    let mut c = crate::model::kernels::AlignedBuf::new();
    let mut best = f64::INFINITY;
    for _ in 0..reps.max(1) + 1 {
        let t0 = Instant::now();
        gemm_bf16_into(path, &ab, m, &packed, &mut c);
        best = best.min(t0.elapsed().as_secs_f64());
    }
    2.0 * (m * k * n) as f64 / best / 1e9
}

/// GFLOP/s of every dense-layer product this machine runs, `[m, k] × [k, n]`: candle's f32
/// matmul (the `gemm` crate, which picks AVX-512, AVX2+FMA or scalar code itself) and the
/// bf16 kernel of each available path. One line each, e.g. `f32 candle/gemm: 180.2`.
pub fn gemm_table(
    m: usize,
    k: usize,
    n: usize,
    reps: usize,
) -> Result<Vec<(String, f64)>, BenchError> {
    use crate::model::kernels::KernelPath;
    let mut rows = vec![("f32 candle/gemm".to_string(), matmul_gflops(m, k, n, reps)?)];
    for path in KernelPath::available() {
        rows.push((
            format!("bf16 {path}"),
            bf16_gemm_gflops(path, m, k, n, reps),
        ));
    }
    Ok(rows)
}

/// The CPU model name and the threads the rayon pool runs, for printing with figures.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "{cpu}, {cores} cores, rayon pool {} threads",
        rayon::current_num_threads()
    )
}
