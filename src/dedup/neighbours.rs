//! Nearest neighbours of the article vectors of one batch: exact search (every row against
//! every vector, rows in parallel) up to [`EXACT_SEARCH_MAX`] vectors, HNSW (hnsw_rs, built serially so the graph and
//! the answers do not depend on thread count) above that.
//!
//! It returns neighbour lists only; it must not decide what is a duplicate.

use hnsw_rs::prelude::Hnsw;

// The index's distance: hnsw_rs's own `DistDot` asserts `dot <= 1`, which rounding breaks for
// identical vectors (copies, re-cut copies), so a batch above the exact limit panicked.
use crate::index::CosineDistance;

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
    let hnsw: Hnsw<f32, CosineDistance> =
        Hnsw::new(HNSW_M, n, layers, HNSW_EF_CONSTRUCTION, CosineDistance);
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

#[cfg(test)]
mod approximate_tests {
    use super::*;

    /// Unit vectors from a seeded generator; every fifth is an exact copy of the one before
    /// (identical vectors: their dot product rounds above 1 for some, which made hnsw_rs's
    /// `DistDot` panic on 50,000 records with copies; checked: this test fails with it).
    fn vectors(n: usize, dim: usize) -> Vec<Vec<f32>> {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let mut out: Vec<Vec<f32>> = Vec::with_capacity(n);
        for i in 0..n {
            let v = if i % 5 == 4 {
                out[i - 1].clone()
            } else {
                let mut v: Vec<f32> = (0..dim).map(|_| next()).collect();
                crate::model::normalize(&mut v);
                v
            };
            out.push(v);
        }
        out
    }

    #[test]
    fn identical_vectors_are_each_others_nearest_in_the_graph_search() {
        let vs = vectors(400, 384);
        let above_one = vs
            .iter()
            .filter(|v| crate::model::cosine(v, v) > 1.0)
            .count();
        assert!(
            above_one > 0,
            "the test needs a vector whose self-dot rounds above 1"
        );
        let refs: Vec<&[f32]> = vs.iter().map(|v| v.as_slice()).collect();
        let nn = approximate(&refs, 5);
        for i in (4..vs.len()).step_by(5) {
            let (j, c) = nn[i][0];
            assert_eq!(j, i - 1, "record {i}'s nearest is its copy");
            assert!((c - 1.0).abs() < 1e-5 && c <= 1.0, "cosine {c}");
        }
    }
}
