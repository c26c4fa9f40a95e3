//! Lexical near-duplicate evidence: shingles (character n-grams for CJK text, word n-grams
//! for space-separated scripts, chosen per text), MinHash signatures and LSH banding, plus
//! exact Jaccard and containment on shingle sets for verification and explanations.
//!
//! It works on compared (cleaned) text only and must not know about embeddings.

use std::collections::{BTreeMap, HashSet};

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// MinHash and LSH settings.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct MinHashConfig {
    /// Characters per shingle for CJK text.
    pub cjk_ngram: usize,
    /// Words per shingle for space-separated text.
    pub word_ngram: usize,
    /// LSH bands; `bands × rows` hash functions in all.
    pub bands: usize,
    /// Rows per band.
    pub rows: usize,
}

/// Default shingle and banding settings: 5-character shingles (as in the data's own
/// near-duplicate table), 3-word shingles, 20 bands of 6 rows (120 hash functions; a pair
/// at Jaccard 0.5 becomes a candidate with probability 1-(1-0.5^6)^20 ≈ 0.27, at 0.7 ≈ 0.92,
/// at 0.8 ≈ 0.998). Candidates are then verified on exact shingle sets.
impl Default for MinHashConfig {
    fn default() -> Self {
        MinHashConfig {
            cjk_ngram: 5,
            word_ngram: 3,
            bands: 20,
            rows: 6,
        }
    }
}

pub use crate::script::is_cjk;

/// A shingle's hash: 32 bits. Shingle sets are only ever compared with each other two at a
/// time, so a false match needs two of a pair's ~1,000-3,000 shingles to collide in 2^32
/// (about one shingle in a million pairs: no score moves by it), and a set takes half the
/// memory of 64-bit hashes (shingles were the largest thing a pass held per record).
pub type ShingleHash = u32;

/// A set of shingle hashes, sorted and without repeats: 4 bytes a shingle (a `HashSet<u64>`
/// takes 16-18 with its control bytes and free buckets), intersections by merging.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShingleSet(Vec<ShingleHash>);

impl ShingleSet {
    /// The set of the given hashes.
    pub fn from_hashes(mut hashes: Vec<ShingleHash>) -> ShingleSet {
        hashes.sort_unstable();
        hashes.dedup();
        hashes.shrink_to_fit();
        ShingleSet(hashes)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Bytes held.
    pub fn held_bytes(&self) -> usize {
        self.0.capacity() * std::mem::size_of::<ShingleHash>() + std::mem::size_of::<Self>()
    }

    pub fn iter(&self) -> impl Iterator<Item = &ShingleHash> {
        self.0.iter()
    }

    pub fn contains(&self, h: &ShingleHash) -> bool {
        self.0.binary_search(h).is_ok()
    }

    /// Shingles in both sets.
    pub fn intersection_count(&self, other: &ShingleSet) -> usize {
        let (a, b) = (&self.0, &other.0);
        let (mut i, mut j, mut n) = (0, 0, 0);
        while i < a.len() && j < b.len() {
            match a[i].cmp(&b[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    n += 1;
                    i += 1;
                    j += 1;
                }
            }
        }
        n
    }
}

impl FromIterator<ShingleHash> for ShingleSet {
    fn from_iter<I: IntoIterator<Item = ShingleHash>>(iter: I) -> Self {
        ShingleSet::from_hashes(iter.into_iter().collect())
    }
}

/// The shingle set of a text, as 32-bit hashes.
pub fn shingles(text: &str, cfg: &MinHashConfig) -> ShingleSet {
    ShingleSet::from_hashes(shingle_hashes(text, cfg))
}

/// The hashes of a text's shingles, with repeats (the set sorts and dedups them).
fn shingle_hashes(text: &str, cfg: &MinHashConfig) -> Vec<ShingleHash> {
    let letters: Vec<char> = text.chars().filter(|c| c.is_alphanumeric()).collect();
    let cjk = letters.iter().filter(|c| is_cjk(**c)).count();
    let mut out = Vec::new();
    if cjk * 2 >= letters.len() {
        // Character n-grams over the text without whitespace and punctuation. Each letter is
        // lowercased once into one buffer; a shingle is the byte range of n letters in it,
        // hashed in place (the bytes are those of the n letters lowercased and concatenated).
        let n = cfg.cjk_ngram.max(1);
        if letters.len() < n {
            if !letters.is_empty() {
                out.push(hash_str(&letters.iter().collect::<String>()));
            }
            return out;
        }
        let mut lowered = String::with_capacity(letters.len() * 3);
        let mut starts = Vec::with_capacity(letters.len() + 1);
        for c in &letters {
            starts.push(lowered.len());
            lowered.extend(c.to_lowercase());
        }
        starts.push(lowered.len());
        for i in 0..=letters.len() - n {
            out.push(hash_str(&lowered[starts[i]..starts[i + n]]));
        }
    } else {
        // Word n-grams: the lowercased words joined by single spaces into one buffer; a
        // shingle is the range of n consecutive words in it (their text joined by spaces).
        let mut joined = String::with_capacity(text.len());
        let mut starts = Vec::new();
        let mut ends = Vec::new();
        for w in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            if !joined.is_empty() {
                joined.push(' ');
            }
            starts.push(joined.len());
            joined.push_str(&w.to_lowercase());
            ends.push(joined.len());
        }
        let n = cfg.word_ngram.max(1);
        if starts.len() < n {
            if !starts.is_empty() {
                out.push(hash_str(&joined));
            }
            return out;
        }
        for i in 0..=starts.len() - n {
            out.push(hash_str(&joined[starts[i]..ends[i + n - 1]]));
        }
    }
    out
}

fn hash_str(s: &str) -> ShingleHash {
    (xxh3_64_with_seed(s.as_bytes(), 0x5eed) >> 32) as ShingleHash
}

/// How two shingle sets overlap, counted once: every lexical score of a pair is a ratio
/// of these three counts.
#[derive(Debug, Clone, Copy)]
pub struct Overlap {
    pub a: usize,
    pub b: usize,
    /// Shingles in both.
    pub both: usize,
}

impl Overlap {
    pub fn of(a: &ShingleSet, b: &ShingleSet) -> Overlap {
        Overlap {
            a: a.len(),
            b: b.len(),
            both: a.intersection_count(b),
        }
    }

    /// Exact Jaccard (0 when both are empty).
    pub fn jaccard(&self) -> f32 {
        let union = self.a + self.b - self.both;
        if union == 0 {
            0.0
        } else {
            self.both as f32 / union as f32
        }
    }

    /// Share of the smaller set's shingles found in the other: high for excerpts.
    pub fn containment(&self) -> f32 {
        let small = self.a.min(self.b);
        if small == 0 {
            0.0
        } else {
            self.both as f32 / small as f32
        }
    }

    /// Share of `a`'s shingles found in `b`: how much of `a`'s text `b` holds (1 for an
    /// empty `a`, which has no text to lose).
    pub fn a_in_b(&self) -> f32 {
        if self.a == 0 {
            1.0
        } else {
            self.both as f32 / self.a as f32
        }
    }

    /// Share of `b`'s shingles found in `a`.
    pub fn b_in_a(&self) -> f32 {
        Overlap {
            a: self.b,
            b: self.a,
            both: self.both,
        }
        .a_in_b()
    }
}

/// Exact Jaccard of two shingle sets (0 when both are empty).
pub fn jaccard(a: &ShingleSet, b: &ShingleSet) -> f32 {
    Overlap::of(a, b).jaccard()
}

/// A MinHash signature: the minimum of each seeded hash over the shingles.
pub type Signature = Vec<u64>;

/// Computes MinHash signatures of shingle sets.
pub fn signature(shingles: &ShingleSet, cfg: &MinHashConfig) -> Signature {
    let k = cfg.bands * cfg.rows;
    let mut sig = vec![u64::MAX; k];
    for &s in shingles.iter() {
        let s = u64::from(s);
        for (i, m) in sig.iter_mut().enumerate() {
            // A cheap, well-mixed family: splitmix64 of the shingle hash xor a per-row seed.
            let h = splitmix64(s ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            if h < *m {
                *m = h;
            }
        }
    }
    sig
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Estimated Jaccard from two signatures.
pub fn estimate_jaccard(a: &Signature, b: &Signature) -> f32 {
    if a.is_empty() {
        return 0.0;
    }
    let eq = a
        .iter()
        .zip(b)
        .filter(|(x, y)| x == y && **x != u64::MAX)
        .count();
    eq as f32 / a.len() as f32
}

/// The LSH bucket key of each band of a signature; `None` for a band of an empty text (no
/// shingles, so no candidates).
pub fn band_keys(sig: &Signature, cfg: &MinHashConfig) -> Vec<Option<u64>> {
    (0..cfg.bands)
        .map(|band| {
            let rows = &sig[band * cfg.rows..(band + 1) * cfg.rows];
            if rows.iter().all(|&r| r == u64::MAX) {
                return None;
            }
            let mut bytes = Vec::with_capacity(rows.len() * 8);
            rows.iter()
                .for_each(|r| bytes.extend_from_slice(&r.to_le_bytes()));
            Some(xxh3_64_with_seed(&bytes, band as u64))
        })
        .collect()
}

/// Every pair `(i, j)`, `i < j`, of the items of one LSH bucket, into `pairs`.
pub fn bucket_pairs(members: &[usize], pairs: &mut HashSet<(usize, usize)>) {
    for (x, &a) in members.iter().enumerate() {
        for &b in &members[x + 1..] {
            pairs.insert((a.min(b), a.max(b)));
        }
    }
}

/// Candidate pairs `(i, j)`, `i < j`, of items sharing at least one LSH band; sorted.
pub fn lsh_candidates(sigs: &[Signature], cfg: &MinHashConfig) -> Vec<(usize, usize)> {
    let keys: Vec<Vec<Option<u64>>> = sigs.iter().map(|s| band_keys(s, cfg)).collect();
    let mut pairs: HashSet<(usize, usize)> = HashSet::new();
    for band in 0..cfg.bands {
        let mut buckets: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (i, k) in keys.iter().enumerate() {
            if let Some(key) = k[band] {
                buckets.entry(key).or_default().push(i);
            }
        }
        for members in buckets.values() {
            bucket_pairs(members, &mut pairs);
        }
    }
    let mut v: Vec<_> = pairs.into_iter().collect();
    v.sort_unstable();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_uses_character_shingles_and_english_word_shingles() {
        let cfg = MinHashConfig::default();
        let zh = shingles("推动高质量发展，创新是核心动力", &cfg);
        assert_eq!(zh.len(), 14 - 5 + 1);
        let en = shingles("the quick brown fox jumps", &cfg);
        assert_eq!(en.len(), 3);
    }

    #[test]
    fn near_duplicates_collide_and_unrelated_texts_do_not() {
        let cfg = MinHashConfig::default();
        let a = "推动高质量发展，创新是核心动力和关键变量。日前，市委经济工作会议召开，指出要深入实施创新驱动战略，围绕高水平国家创新型城市建设。";
        let b = "推动高质量发展，创新是核心动力和关键变量。日前，市委经济工作会议召开，指出要深入实施创新驱动战略，围绕高水平国家创新型城市建设！";
        let c = "济南地面站是齐鲁科创大走廊未来导航增强卫星系统的重要组成部分，今年九月完成建设并投入使用。";
        let sets: Vec<_> = [a, b, c].iter().map(|t| shingles(t, &cfg)).collect();
        let sigs: Vec<_> = sets.iter().map(|s| signature(s, &cfg)).collect();
        assert!(jaccard(&sets[0], &sets[1]) > 0.9);
        assert!(estimate_jaccard(&sigs[0], &sigs[1]) > 0.8);
        assert_eq!(lsh_candidates(&sigs, &cfg), vec![(0, 1)]);
    }
}
