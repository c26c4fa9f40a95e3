//! A persistent cache of embeddings keyed by the hash of (model settings fingerprint, token
//! sequence), so re-running a pass or re-indexing unchanged documents embeds nothing twice.
//!
//! One append-only file per settings fingerprint and simdex version: records of a 16-byte key and `dim` f32.
//! A torn last record (a crash mid-append) is ignored on load. The cache never decides
//! anything about texts; a miss only costs time.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use xxhash_rust::xxh3::xxh3_128;

use super::error::ModelError;

/// Environment variable naming the cache folder (empty or `off` disables the cache).
pub const CACHE_ENV: &str = "SIMDEX_CACHE_DIR";

/// The default cache folder: `$SIMDEX_CACHE_DIR`, else `$XDG_CACHE_HOME/simdex`, else
/// `~/.cache/simdex`; `None` when disabled.
pub fn default_cache_dir() -> Option<PathBuf> {
    match std::env::var(CACHE_ENV) {
        Ok(v) if v.is_empty() || v == "off" => return None,
        Ok(v) => return Some(PathBuf::from(v)),
        Err(_) => {}
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("simdex"))
}

/// Embeddings already computed for one model-settings fingerprint. Only an index (key ->
/// offset in the file, about 40 bytes an entry) is held in memory; a hit reads its vector
/// from the file. So the memory a run needs does not grow with the cache, which holds every
/// vector of every corpus run on this machine.
pub struct VectorCache {
    path: PathBuf,
    dim: usize,
    /// The cache file, open for reading hits (`None` until it exists).
    file: RwLock<Option<File>>,
    /// Key -> byte offset of the record's vector.
    index: RwLock<HashMap<u128, u64>>,
    pending: Mutex<Vec<(u128, Vec<f32>)>>,
}

fn key(ids: &[u32]) -> u128 {
    let bytes: Vec<u8> = ids.iter().flat_map(|i| i.to_le_bytes()).collect();
    xxh3_128(&bytes)
}

/// Records read at a time while indexing the file.
const INDEX_READ_RECORDS: usize = 4096;

impl VectorCache {
    /// The cache file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens (or starts) the cache file for a fingerprint in `dir`, indexing what it holds.
    pub fn open(dir: &Path, fingerprint: &str, dim: usize) -> Result<VectorCache, ModelError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ModelError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        // The crate version is in the name so that a release whose forward pass changed
        // never serves vectors computed by an older one.
        let path = dir.join(format!(
            "vectors-{fingerprint}-{dim}-v{}.bin",
            env!("CARGO_PKG_VERSION")
        ));
        let mut index = HashMap::new();
        let mut file = None;
        if let Ok(mut f) = File::open(&path) {
            // Several processes may share the cache (the tasks of a Ray pass): appends and
            // this read hold the file's lock, so a reader never sees half a record.
            f.lock().map_err(io(&path))?;
            let rec = 16 + 4 * dim;
            let len = f.metadata().map_err(io(&path))?.len();
            let whole = len / rec as u64 * rec as u64;
            if whole != len {
                // Drop the torn tail so later appends stay aligned.
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|f| f.set_len(whole))
                    .map_err(io(&path))?;
            }
            let mut buf = vec![0u8; rec * INDEX_READ_RECORDS];
            let mut offset = 0u64;
            while offset < whole {
                let n = ((whole - offset) as usize).min(buf.len());
                f.read_exact(&mut buf[..n]).map_err(io(&path))?;
                for (i, r) in buf[..n].chunks_exact(rec).enumerate() {
                    let mut k = [0u8; 16];
                    k.copy_from_slice(&r[..16]);
                    let at = offset + (i * rec) as u64 + 16;
                    index.insert(u128::from_le_bytes(k), at);
                }
                offset += n as u64;
            }
            f.unlock().map_err(io(&path))?;
            file = Some(f);
        }
        Ok(VectorCache {
            path,
            dim,
            file: RwLock::new(file),
            index: RwLock::new(index),
            pending: Mutex::new(Vec::new()),
        })
    }

    /// Entries in the cache file.
    pub fn len(&self) -> usize {
        self.index.read().map_or(0, |i| i.len())
    }

    /// Whether the cache file holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cached vector of a token sequence (`None` also when the file cannot be read:
    /// a miss only costs time).
    pub fn get(&self, ids: &[u32]) -> Option<Vec<f32>> {
        use std::os::unix::fs::FileExt;
        let at = *self.index.read().ok()?.get(&key(ids))?;
        let file = self.file.read().ok()?;
        let mut bytes = vec![0u8; 4 * self.dim];
        file.as_ref()?.read_exact_at(&mut bytes, at).ok()?;
        Some(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        )
    }

    /// Remembers a new vector (written by [`VectorCache::flush`]).
    pub fn put(&self, ids: &[u32], v: &[f32]) {
        if v.len() == self.dim {
            if let Ok(mut p) = self.pending.lock() {
                p.push((key(ids), v.to_vec()));
            }
        }
    }

    /// Appends the new vectors to the cache file, syncs it and indexes them.
    pub fn flush(&self) -> Result<(), ModelError> {
        let mut pending = match self.pending.lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(_) => return Ok(()),
        };
        if pending.is_empty() {
            return Ok(());
        }
        pending.sort_by_key(|(k, _)| *k);
        pending.dedup_by_key(|(k, _)| *k);
        let io = |source| ModelError::Io {
            path: self.path.clone(),
            source,
        };
        let (Ok(mut index), Ok(mut file)) = (self.index.write(), self.file.write()) else {
            return Ok(());
        };
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        // Another process may append too: the lock makes each flush one run of whole records.
        f.lock().map_err(io)?;
        let mut offset = f.metadata().map_err(io)?.len();
        let mut w = BufWriter::new(f);
        pending.retain(|(k, _)| !index.contains_key(k));
        for (k, v) in &pending {
            w.write_all(&k.to_le_bytes()).map_err(io)?;
            for x in v {
                w.write_all(&x.to_le_bytes()).map_err(io)?;
            }
            index.insert(*k, offset + 16);
            offset += (16 + 4 * self.dim) as u64;
        }
        let f = w.into_inner().map_err(|e| io(e.into_error()))?;
        f.sync_data().map_err(io)?;
        f.unlock().map_err(io)?;
        if file.is_none() {
            *file = Some(File::open(&self.path).map_err(io)?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_survive_a_reopen_and_a_torn_tail_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let c = VectorCache::open(dir.path(), "fp", 3).unwrap();
        c.put(&[1, 2, 3], &[0.5, 0.25, -1.0]);
        c.flush().unwrap();
        let path = c.path().to_path_buf();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[7u8; 20]).unwrap(); // half a record, as a crash would leave
        let c = VectorCache::open(dir.path(), "fp", 3).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c.get(&[1, 2, 3]), Some(vec![0.5f32, 0.25, -1.0]));
        assert_eq!(c.get(&[1, 2]), None);
        c.put(&[9], &[1.0, 2.0, 3.0]);
        c.flush().unwrap();
        let c = VectorCache::open(dir.path(), "fp", 3).unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&[9]), Some(vec![1.0f32, 2.0, 3.0]));
        // A vector flushed by this handle is a hit for it too, read back from the file.
        c.put(&[4, 4], &[0.0, -2.0, 8.0]);
        c.flush().unwrap();
        assert_eq!(c.get(&[4, 4]), Some(vec![0.0f32, -2.0, 8.0]));
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn processes_sharing_the_cache_never_interleave_their_records() {
        // Two handles on one file stand for two processes (the tasks of a Ray pass): each
        // flushes many records at once, at the same time as the other.
        let dir = tempfile::tempdir().unwrap();
        let dim = 384;
        let vector = |w: u32, i: u32| -> Vec<f32> {
            (0..dim as u32)
                .map(|d| (w * 100_000 + i * 1_000 + d) as f32)
                .collect()
        };
        let together = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            for w in 0..2u32 {
                let (dir, together) = (dir.path(), &together);
                s.spawn(move || {
                    let c = VectorCache::open(dir, "fp", dim).unwrap();
                    for round in 0..5u32 {
                        for i in 0..400u32 {
                            c.put(&[w, round, i], &vector(w, round * 400 + i));
                        }
                        together.wait();
                        c.flush().unwrap();
                    }
                });
            }
        });
        let c = VectorCache::open(dir.path(), "fp", dim).unwrap();
        assert_eq!(c.len(), 4000);
        for w in 0..2u32 {
            for round in 0..5u32 {
                for i in 0..400u32 {
                    assert_eq!(c.get(&[w, round, i]), Some(vector(w, round * 400 + i)));
                }
            }
        }
    }
}
