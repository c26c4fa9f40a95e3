//! A file of document vectors keyed by model settings and compared paragraphs, so that an
//! evaluation re-run (another seed of thresholds, another sweep) does not embed again.
//! Little-endian binary: magic, dim, count, then per entry key (u128), paragraph count
//! (u32), paragraph tokens (u32 each), article vector, paragraph vectors (f32).
//!
//! It stores vectors only; a cache written by another model or settings never matches,
//! because the key includes [`crate::model::ModelSettings::fingerprint`].

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use xxhash_rust::xxh3::xxh3_128;

use std::time::Instant;

use super::error::{io_err, EvalError};
use super::log::Log;
use crate::corpus::PreparedDoc;
use crate::embed::{embed_documents, DocumentVectors};
use crate::model::{Embedder, Role};

const MAGIC: &[u8; 8] = b"SDXVEC01";

/// The key of a document's vectors: model fingerprint and its compared paragraphs.
pub fn key(fingerprint: &str, paragraphs: &[String]) -> u128 {
    let mut s = String::from(fingerprint);
    for p in paragraphs {
        s.push('\u{1}');
        s.push_str(p);
    }
    xxh3_128(s.as_bytes())
}

/// Reads a cache file; a missing file is an empty cache.
pub fn load(path: &Path) -> std::io::Result<HashMap<u128, DocumentVectors>> {
    let mut out = HashMap::new();
    let mut bytes = Vec::new();
    match std::fs::File::open(path) {
        Ok(mut f) => f.read_to_end(&mut bytes)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not a simdex vector cache");
    if bytes.len() < 16 || &bytes[..8] != MAGIC {
        return Err(bad());
    }
    let mut at = 8;
    let u32_at = |at: &mut usize| -> std::io::Result<u32> {
        let b = bytes.get(*at..*at + 4).ok_or_else(bad)?;
        *at += 4;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let dim = u32_at(&mut at)? as usize;
    let count = u32_at(&mut at)? as usize;
    let floats = |at: &mut usize, n: usize| -> std::io::Result<Vec<f32>> {
        let b = bytes.get(*at..*at + 4 * n).ok_or_else(bad)?;
        *at += 4 * n;
        Ok(b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    };
    for _ in 0..count {
        let k = bytes.get(at..at + 16).ok_or_else(bad)?;
        let key = u128::from_le_bytes(k.try_into().map_err(|_| bad())?);
        at += 16;
        let b = bytes.get(at..at + 4).ok_or_else(bad)?;
        let n = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        at += 4;
        let mut tokens = Vec::with_capacity(n);
        for _ in 0..n {
            let b = bytes.get(at..at + 4).ok_or_else(bad)?;
            tokens.push(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
            at += 4;
        }
        let article = floats(&mut at, dim)?;
        let paragraphs = (0..n)
            .map(|_| floats(&mut at, dim))
            .collect::<std::io::Result<Vec<_>>>()?;
        out.insert(
            key,
            DocumentVectors {
                article,
                passages: paragraphs,
                passage_tokens: tokens,
            },
        );
    }
    Ok(out)
}

/// Writes a cache file (to a temporary name first, then renamed over the old one).
pub fn save(path: &Path, entries: &HashMap<u128, DocumentVectors>) -> std::io::Result<()> {
    let dim = entries.values().next().map_or(0, |v| v.article.len());
    let mut buf = Vec::new();
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&(dim as u32).to_le_bytes());
    buf.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    let mut keys: Vec<&u128> = entries.keys().collect();
    keys.sort();
    for k in keys {
        let v = &entries[k];
        buf.extend_from_slice(&k.to_le_bytes());
        buf.extend_from_slice(&(v.passages.len() as u32).to_le_bytes());
        for &t in &v.passage_tokens {
            buf.extend_from_slice(&(t as u32).to_le_bytes());
        }
        for x in v.article.iter().chain(v.passages.iter().flatten()) {
            buf.extend_from_slice(&x.to_le_bytes());
        }
    }
    crate::fsio::write_atomically(path, &buf)
}

/// Embeds what the cache lacks; returns vectors per record, tokens embedded and hits.
pub(super) fn vectors_for(
    embedder: &Embedder,
    docs: &[PreparedDoc],
    cache_path: Option<&Path>,
    log: Log,
) -> Result<(Vec<Option<DocumentVectors>>, usize, usize), EvalError> {
    let fp = embedder.settings.fingerprint();
    let mut cached = match cache_path {
        Some(p) => load(p).map_err(io_err(p))?,
        None => HashMap::new(),
    };
    let keys: Vec<u128> = docs.iter().map(|d| key(&fp, &d.passages)).collect();
    let mut missing: Vec<usize> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, k) in keys.iter().enumerate() {
        if !cached.contains_key(k) && seen.insert(*k) {
            missing.push(i);
        }
    }
    let hits = docs.len() - missing.len();
    let mut tokens = 0;
    if !missing.is_empty() {
        let paragraphs: Vec<Vec<String>> =
            missing.iter().map(|&i| docs[i].passages.clone()).collect();
        let total = missing.len();
        let t = Instant::now();
        let vecs = embed_documents(embedder, &paragraphs, Role::Passage, |d, tok| {
            log(format!(
                "embedding: {d}/{total} records, {tok} tokens, {:.0} tokens/s",
                tok as f64 / t.elapsed().as_secs_f64().max(1e-9)
            ))
        })?;
        for (&i, v) in missing.iter().zip(vecs) {
            tokens += v.passage_tokens.iter().sum::<usize>();
            cached.insert(keys[i], v);
        }
        if let Some(p) = cache_path {
            save(p, &cached).map_err(io_err(p))?;
        }
    }
    Ok((
        keys.iter().map(|k| cached.get(k).cloned()).collect(),
        tokens,
        hits,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.bin");
        let mut m = HashMap::new();
        m.insert(
            key("fp", &["a".into(), "b".into()]),
            DocumentVectors {
                article: vec![1.0, 0.0],
                passages: vec![vec![0.5, 0.5], vec![0.0, 1.0]],
                passage_tokens: vec![3, 4],
            },
        );
        save(&path, &m).unwrap();
        let back = load(&path).unwrap();
        let v = &back[&key("fp", &["a".into(), "b".into()])];
        assert_eq!(v.passages[1], vec![0.0, 1.0]);
        assert_eq!(v.passage_tokens, vec![3, 4]);
        assert!(load(&dir.path().join("missing")).unwrap().is_empty());
    }
}
