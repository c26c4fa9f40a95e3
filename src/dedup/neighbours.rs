//! Nearest neighbours of the article vectors of one batch: exact search (every row against
//! every vector, rows in parallel) up to [`EXACT_SEARCH_MAX`] vectors, HNSW (hnsw_rs, built serially so the graph and
//! the answers do not depend on thread count) above that.
//!
//! It returns neighbour lists only; it must not decide what is a duplicate.

use hnsw_rs::prelude::{DistDot, Hnsw};

/// Up to this many vectors, neighbours are found by exact search.
pub const EXACT_SEARCH_MAX: usize = 30_000;
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
    use rayon::prelude::*;
    let n = vectors.len();
    // One row at a time against every vector, on plain slices: memory is one score buffer
    // per thread (a matrix product through candle kept about 100 KB a record, growing with
    // the batch, in its score blocks). Rows run in parallel; each score is computed the same
    // way whatever the thread count.
    Ok((0..n)
        .into_par_iter()
        .map_init(Vec::new, |cand: &mut Vec<(usize, f32)>, me| {
            cand.clear();
            cand.extend(
                (0..n)
                    .filter(|&j| j != me)
                    .map(|j| (j, crate::index::dot(vectors[me], vectors[j]))),
            );
            let kk = k.min(cand.len());
            if kk == 0 {
                return Vec::new();
            }
            cand.select_nth_unstable_by(kk - 1, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let mut best = cand[..kk].to_vec();
            best.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            best
        })
        .collect())
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
