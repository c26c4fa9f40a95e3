//! The generation manifest: which files make up the current state of an index, with their
//! sizes and CRC32 checksums, written atomically (temp file, fsync, rename, fsync the directory).
//! Must not know what is inside the files it lists; it only names, sizes and checksums them.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{corrupt, io_err, IndexError};
use super::meta::{GraphSettings, IndexMeta};

/// Version of the on-disk format this code writes; newer indexes are refused.
pub const FORMAT_VERSION: u32 = 2;

/// Name of the manifest file inside an index directory.
pub(crate) const MANIFEST_NAME: &str = "MANIFEST";
/// Prefix of a manifest being written; never read, removed by the next writer.
const MANIFEST_TMP_PREFIX: &str = "MANIFEST.tmp";
/// First line of a manifest: this tag, a space, `crc32=` and the checksum of the JSON after it.
const MANIFEST_TAG: &str = "simdex-index";

/// One file of a generation, as the manifest records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileEntry {
    pub name: String,
    pub len: u64,
    pub crc32: u32,
}

/// The roles a generation's files play; the manifest maps each present role to a file.
pub(crate) mod role {
    pub const DOCS: &str = "docs";
    pub const IDS: &str = "ids";
    pub const TOMBSTONES: &str = "tombstones";
    pub const PARAGRAPH_STARTS: &str = "paragraph_starts";
    pub const ARTICLE_VECTORS: &str = "article_vectors";
    pub const PARAGRAPH_VECTORS: &str = "paragraph_vectors";
    pub const ARTICLE_GRAPH: &str = "article_graph";
    pub const PARAGRAPH_GRAPH: &str = "paragraph_graph";
    pub const ARTICLE_HNSW_GRAPH: &str = "article_hnsw_graph";
    pub const ARTICLE_HNSW_DATA: &str = "article_hnsw_data";
    pub const PARAGRAPH_HNSW_GRAPH: &str = "paragraph_hnsw_graph";
    pub const PARAGRAPH_HNSW_DATA: &str = "paragraph_hnsw_data";
}

/// The durable description of one generation of an index.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub format_version: u32,
    pub generation: u64,
    pub meta: IndexMeta,
    pub graph: GraphSettings,
    /// Document numbers allocated, tombstoned ones included.
    pub docs: u64,
    /// Documents not tombstoned.
    pub live_docs: u64,
    /// Paragraph vectors stored (of all documents, tombstoned ones included).
    pub paragraphs: u64,
    /// Role → file.
    pub files: BTreeMap<String, FileEntry>,
}

impl Manifest {
    pub fn empty(meta: IndexMeta) -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            generation: 0,
            meta,
            graph: GraphSettings::default(),
            docs: 0,
            live_docs: 0,
            paragraphs: 0,
            files: BTreeMap::new(),
        }
    }

    /// Reads and verifies `dir/MANIFEST`.
    pub fn read(dir: &Path) -> Result<Manifest, IndexError> {
        let path = dir.join(MANIFEST_NAME);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(IndexError::NotFound {
                    path: dir.to_path_buf(),
                })
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        let newline = bytes
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| corrupt(&path, "no header line"))?;
        let header = std::str::from_utf8(&bytes[..newline])
            .map_err(|_| corrupt(&path, "header line is not UTF-8"))?;
        let body = &bytes[newline + 1..];
        let expected = header
            .strip_prefix(MANIFEST_TAG)
            .and_then(|rest| rest.trim().strip_prefix("crc32="))
            .and_then(|hex| u32::from_str_radix(hex, 16).ok())
            .ok_or_else(|| corrupt(&path, format!("unrecognised header line {header:?}")))?;
        let found = crc32fast::hash(body);
        if found != expected {
            return Err(IndexError::ChecksumMismatch {
                path,
                expected,
                found,
            });
        }
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| corrupt(&path, format!("invalid JSON: {e}")))?;
        let version = value
            .get("format_version")
            .and_then(|v| v.as_u64())
            .ok_or_else(|| corrupt(&path, "no format_version"))?;
        if version > u64::from(FORMAT_VERSION) {
            return Err(IndexError::NewerFormat {
                path,
                found: u32::try_from(version).unwrap_or(u32::MAX),
                supported: FORMAT_VERSION,
            });
        }
        serde_json::from_value(value).map_err(|e| corrupt(&path, format!("invalid manifest: {e}")))
    }

    /// Makes this manifest the current one: temp file, fsync, rename over `MANIFEST`, fsync dir.
    pub fn write_atomically(&self, dir: &Path) -> Result<(), IndexError> {
        let body = serde_json::to_vec_pretty(self).map_err(|e| IndexError::Io {
            path: dir.join(MANIFEST_NAME),
            source: std::io::Error::other(e),
        })?;
        let tmp = dir.join(format!("{MANIFEST_TMP_PREFIX}.{}", std::process::id()));
        let path = dir.join(MANIFEST_NAME);
        let mut f = crate::fsio::AtomicFile::create_via(&tmp, &path).map_err(io_err(&tmp))?;
        let header = format!("{MANIFEST_TAG} crc32={:08x}\n", crc32fast::hash(&body));
        f.write_all(header.as_bytes()).map_err(io_err(&tmp))?;
        f.write_all(&body).map_err(io_err(&tmp))?;
        f.commit().map_err(io_err(&path))
    }

    pub fn file(&self, role: &str) -> Option<&FileEntry> {
        self.files.get(role)
    }
}

/// Name of a generation's file for `role`: `g000042.docs` and so on.
pub(crate) fn generation_file_name(generation: u64, role: &str) -> String {
    format!("g{generation:06}.{role}")
}

/// Whether `name` is a file this module writes (a generation's file or a manifest temp file),
/// so that cleaning up never touches anything else a user put in the directory.
pub(crate) fn is_index_file_name(name: &str) -> bool {
    if name.starts_with(MANIFEST_TMP_PREFIX) {
        return true;
    }
    let Some(rest) = name.strip_prefix('g') else {
        return false;
    };
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && rest.as_bytes().get(digits) == Some(&b'.')
}

/// Removes index files that `keep` does not name (older generations, crashed commits' leftovers).
pub(crate) fn remove_unlisted_files(dir: &Path, keep: &Manifest) -> Result<(), IndexError> {
    let listed: std::collections::HashSet<&str> =
        keep.files.values().map(|f| f.name.as_str()).collect();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_index_file_name(name) && !listed.contains(name) {
            let path = entry.path();
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(path)(e)),
            }
        }
    }
    Ok(())
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), IndexError> {
    crate::fsio::sync_dir(dir).map_err(io_err(dir))
}

/// Size and CRC32 of a whole file, read in blocks.
pub(crate) fn checksum_file(path: &Path) -> Result<(u64, u32), IndexError> {
    const BLOCK: usize = 1 << 20;
    let mut f = File::open(path).map_err(io_err(path))?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; BLOCK];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((len, hasher.finalize()))
}

/// Verifies a listed file against the manifest: present, right size, and (if `full`) right CRC.
pub(crate) fn verify_file(
    dir: &Path,
    entry: &FileEntry,
    generation: u64,
    full: bool,
) -> Result<PathBuf, IndexError> {
    let path = dir.join(&entry.name);
    let found = match std::fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(IndexError::MissingFile { path, generation })
        }
        Err(e) => return Err(io_err(path)(e)),
    };
    if found != entry.len {
        return Err(IndexError::SizeMismatch {
            path,
            expected: entry.len,
            found,
        });
    }
    if full {
        let (_, crc) = checksum_file(&path)?;
        if crc != entry.crc32 {
            return Err(IndexError::ChecksumMismatch {
                path,
                expected: entry.crc32,
                found: crc,
            });
        }
    }
    Ok(path)
}

/// Writes a new generation file, checksumming as it goes; `finish` makes it durable.
pub(crate) struct FileSink {
    name: String,
    path: PathBuf,
    out: BufWriter<File>,
    hasher: crc32fast::Hasher,
    len: u64,
}

impl FileSink {
    pub fn create(dir: &Path, name: String) -> Result<FileSink, IndexError> {
        let path = dir.join(&name);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(io_err(&path))?;
        Ok(FileSink {
            name,
            path,
            out: BufWriter::with_capacity(1 << 20, file),
            hasher: crc32fast::Hasher::new(),
            len: 0,
        })
    }

    pub fn write(&mut self, bytes: &[u8]) -> Result<(), IndexError> {
        self.hasher.update(bytes);
        self.len += bytes.len() as u64;
        self.out.write_all(bytes).map_err(io_err(&self.path))
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// Flushes and fsyncs; returns the manifest entry.
    pub fn finish(self) -> Result<FileEntry, IndexError> {
        let path = self.path;
        let file = self
            .out
            .into_inner()
            .map_err(|e| io_err(&path)(e.into_error()))?;
        file.sync_all().map_err(io_err(&path))?;
        Ok(FileEntry {
            name: self.name,
            len: self.len,
            crc32: self.hasher.finalize(),
        })
    }
}

/// Fsyncs a file written by someone else (hnsw_rs dumps) and returns its manifest entry.
pub(crate) fn seal_file(dir: &Path, name: String) -> Result<FileEntry, IndexError> {
    let path = dir.join(&name);
    File::open(&path)
        .and_then(|f| f.sync_all())
        .map_err(io_err(&path))?;
    let (len, crc32) = checksum_file(&path)?;
    Ok(FileEntry { name, len, crc32 })
}
