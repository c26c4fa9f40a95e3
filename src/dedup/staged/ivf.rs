//! The neighbour search of a staged run, split so that no task holds every vector: the
//! article vectors are partitioned around centroids (spherical k-means on a strided sample,
//! deterministic), each vector is placed in its `probe` nearest partitions, and the
//! single-process search ([`crate::dedup::neighbours::nearest`]) runs within each partition.
//! A pair is found when its two records share a partition; with one partition the search is
//! the single-process one exactly. [`recall`] measures what the split loses.
//!
//! It finds neighbours only; it decides nothing.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::dedup::neighbours;

/// Vectors sampled for training: at most this many.
pub const SAMPLE: usize = 50_000;
/// k-means iterations.
pub const ITERATIONS: usize = 10;

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Every `stride`-th vector of `n` is sampled, so that at most [`SAMPLE`] are.
pub fn sample_stride(n: usize) -> usize {
    n.div_ceil(SAMPLE).max(1)
}

/// Partitions for `n` vectors at `list_size` vectors per partition.
pub fn lists_for(n: usize, list_size: usize) -> usize {
    n.div_ceil(list_size.max(1)).max(1)
}

/// Spherical k-means centroids of a sample (starts at evenly spaced sample vectors; an
/// emptied partition keeps its centroid). Empty when one partition suffices.
pub fn train(sample: &[Vec<f32>], lists: usize) -> Vec<Vec<f32>> {
    let lists = lists.min(sample.len());
    if lists <= 1 {
        return Vec::new();
    }
    let mut centroids: Vec<Vec<f32>> = (0..lists)
        .map(|c| sample[c * sample.len() / lists].clone())
        .collect();
    for _ in 0..ITERATIONS {
        let mut sums = vec![vec![0f32; centroids[0].len()]; lists];
        for v in sample {
            let c = nearest_centroids(&centroids, v, 1)[0];
            sums[c].iter_mut().zip(v).for_each(|(s, x)| *s += x);
        }
        for (c, s) in sums.into_iter().enumerate() {
            let norm = dot(&s, &s).sqrt();
            if norm > 0.0 {
                centroids[c] = s.into_iter().map(|x| x / norm).collect();
            }
        }
    }
    centroids
}

/// The `k` centroids nearest to `v`, best first, ties by number (`[0]` without centroids).
pub fn nearest_centroids(centroids: &[Vec<f32>], v: &[f32], k: usize) -> Vec<usize> {
    if centroids.is_empty() {
        return vec![0];
    }
    let mut s: Vec<(usize, f32)> = centroids
        .iter()
        .enumerate()
        .map(|(i, c)| (i, dot(c, v)))
        .collect();
    s.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
    s.into_iter().take(k.max(1)).map(|x| x.0).collect()
}

/// Each record's `k` best neighbours over every partition it was found in: lists of
/// (neighbour, cosine) per record, best first, ties by number.
pub fn merge(
    found: impl IntoIterator<Item = (usize, usize, f32)>,
    k: usize,
) -> BTreeMap<usize, Vec<(usize, f32)>> {
    let mut lists: BTreeMap<usize, Vec<(usize, f32)>> = BTreeMap::new();
    for (x, y, c) in found {
        let l = lists.entry(x).or_default();
        if !l.iter().any(|e| e.0 == y) {
            l.push((y, c));
        }
    }
    for l in lists.values_mut() {
        l.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        l.truncate(k);
    }
    lists
}

/// What the partitioned search finds of the pairs the exact search finds.
#[derive(Debug, Clone, Serialize)]
pub struct Recall {
    pub vectors: usize,
    pub list_size: usize,
    pub probe: usize,
    pub partitions: usize,
    /// Largest partition (vectors).
    pub largest: usize,
    /// Candidate pairs (cosine >= the threshold, in either record's k best) of exact search.
    pub exact_pairs: usize,
    /// Of those, found by the partitioned search.
    pub found: usize,
    pub recall: f64,
}

/// Runs the partitioned search on `vectors` as a staged run would and compares its
/// candidate pairs (cosine >= `min_cos` among each record's `k` best) with exact search.
pub fn recall(
    vectors: &[Vec<f32>],
    list_size: usize,
    probe: usize,
    k: usize,
    min_cos: f32,
) -> Result<Recall, candle_core::Error> {
    let pairs = |lists: &BTreeMap<usize, Vec<(usize, f32)>>| {
        let mut s = std::collections::BTreeSet::new();
        for (&x, l) in lists {
            for &(y, c) in l {
                if c >= min_cos {
                    s.insert((x.min(y), x.max(y)));
                }
            }
        }
        s
    };
    let refs: Vec<&[f32]> = vectors.iter().map(|v| v.as_slice()).collect();
    let exact = neighbours::nearest(&refs, k)?;
    let exact = pairs(&exact.into_iter().enumerate().collect());
    let stride = sample_stride(vectors.len());
    let sample: Vec<Vec<f32>> = vectors.iter().step_by(stride).cloned().collect();
    let centroids = train(&sample, lists_for(vectors.len(), list_size));
    let mut parts: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, v) in vectors.iter().enumerate() {
        for c in nearest_centroids(&centroids, v, probe) {
            parts.entry(c).or_default().push(i);
        }
    }
    let mut found = Vec::new();
    for members in parts.values() {
        let sub: Vec<&[f32]> = members.iter().map(|&i| vectors[i].as_slice()).collect();
        for (x, l) in neighbours::nearest(&sub, k)?.into_iter().enumerate() {
            found.extend(l.into_iter().map(|(y, c)| (members[x], members[y], c)));
        }
    }
    let got = pairs(&merge(found, k));
    let hit = exact.intersection(&got).count();
    Ok(Recall {
        vectors: vectors.len(),
        list_size,
        probe,
        partitions: centroids.len().max(1),
        largest: parts.values().map(Vec::len).max().unwrap_or(0),
        exact_pairs: exact.len(),
        found: hit,
        recall: if exact.is_empty() {
            1.0
        } else {
            hit as f64 / exact.len() as f64
        },
    })
}
