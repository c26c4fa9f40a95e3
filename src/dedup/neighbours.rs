//! Nearest neighbours of the article vectors of one batch: exact blocked search (a matrix
//! product) up to [`EXACT_SEARCH_MAX`] vectors, HNSW (hnsw_rs, built serially so the graph and
//! the answers do not depend on thread count) above that.
//!
//! It returns neighbour lists only; it must not decide what is a duplicate.

use candle_core::{Device, Tensor};
use hnsw_rs::prelude::{DistDot, Hnsw};

/// Up to this many vectors, neighbours are found by exact search.
pub const EXACT_SEARCH_MAX: usize = 30_000;
/// Rows per block of the exact search (bounds the score matrix to block × n floats).
const EXACT_BLOCK_ROWS: usize = 512;
/// HNSW settings for in-batch search above the exact limit.
const HNSW_M: usize = 24;
const HNSW_EF_CONSTRUCTION: usize = 200;
const HNSW_EF_SEARCH: usize = 128;

/// For each vector, up to `k` (other index, cosine) pairs, best first, ties by index.
pub fn nearest(vectors: &[&[f32]], k: usize) -> Result<Vec<Vec<(usize, f32)>>, candle_core::Error> {
    if vectors.len() <= EXACT_SEARCH_MAX {
        exact(vectors, k)
    } else {
        Ok(approximate(vectors, k))
    }
}

fn exact(vectors: &[&[f32]], k: usize) -> Result<Vec<Vec<(usize, f32)>>, candle_core::Error> {
    let n = vectors.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let d = vectors[0].len();
    let flat: Vec<f32> = vectors.iter().flat_map(|v| v.iter().copied()).collect();
    let all = Tensor::from_vec(flat, (n, d), &Device::Cpu)?;
    let all_t = all.t()?.contiguous()?;
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(EXACT_BLOCK_ROWS) {
        let rows = EXACT_BLOCK_ROWS.min(n - start);
        let scores = all.narrow(0, start, rows)?.matmul(&all_t)?.to_vec2::<f32>()?;
        for (r, row) in scores.into_iter().enumerate() {
            let me = start + r;
            let mut cand: Vec<(usize, f32)> = row
                .into_iter()
                .enumerate()
                .filter(|&(j, _)| j != me)
                .collect();
            let kk = k.min(cand.len());
            if kk == 0 {
                out.push(Vec::new());
                continue;
            }
            cand.select_nth_unstable_by(kk - 1, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            cand.truncate(kk);
            cand.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            out.push(cand);
        }
    }
    Ok(out)
}

fn approximate(vectors: &[&[f32]], k: usize) -> Vec<Vec<(usize, f32)>> {
    let n = vectors.len();
    let layers = 16.min((n as f32).ln().ceil() as usize).max(1);
    let hnsw: Hnsw<f32, DistDot> = Hnsw::new(HNSW_M, n, layers, HNSW_EF_CONSTRUCTION, DistDot {});
    for (i, v) in vectors.iter().enumerate() {
        hnsw.insert_slice((v, i));
    }
    vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut hits: Vec<(usize, f32)> = hnsw
                .search(v, k + 1, HNSW_EF_SEARCH.max(k + 1))
                .into_iter()
                .filter(|h| h.d_id != i)
                .map(|h| (h.d_id, 1.0 - h.distance))
                .collect();
            hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            hits.truncate(k);
            hits
        })
        .collect()
}
