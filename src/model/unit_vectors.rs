//! Unit vectors: L2 normalisation and the cosine of two unit vectors, the two vector
//! operations every user of the embeddings shares.
//!
//! It must not know where vectors come from.

/// L2-normalises a vector in place (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}

/// Cosine of two unit vectors: their dot product, summed in eight lanes so that the
/// compiler vectorises it (a single running sum is a chain of dependent adds: passage
/// alignment, which takes every passage of one record against every passage of the other,
/// spent a quarter of a pass there).
#[inline]
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    // Eight accumulators let the compiler vectorise without reassociation flags.
    let mut acc = [0f32; 8];
    let chunks_a = a.chunks_exact(8);
    let chunks_b = b.chunks_exact(8);
    let rest: f32 = chunks_a
        .remainder()
        .iter()
        .zip(chunks_b.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (ca, cb) in chunks_a.zip(chunks_b) {
        for i in 0..8 {
            acc[i] += ca[i] * cb[i];
        }
    }
    acc.iter().sum::<f32>() + rest
}
