//! Flat little-endian f32 vector files, memory-mapped when an index is opened, and the small
//! mapped-file helper the other readers share.
//! Must not copy vectors into memory on open, nor interpret what the vectors mean.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::error::{corrupt, io_err, IndexError};
use super::manifest::{verify_file, FileEntry, FileSink};

#[cfg(not(target_endian = "little"))]
compile_error!(
    "simdex's index files are little-endian and mapped as-is: big-endian targets are not supported"
);

const F32_BYTES: usize = std::mem::size_of::<f32>();

/// A file named by the manifest, checked for presence and size, and mapped read-only.
pub(crate) struct MappedFile {
    path: PathBuf,
    map: Option<Mmap>,
}

impl MappedFile {
    pub fn open(dir: &Path, entry: &FileEntry, generation: u64) -> Result<MappedFile, IndexError> {
        let path = verify_file(dir, entry, generation, false)?;
        if entry.len == 0 {
            return Ok(MappedFile { path, map: None });
        }
        let file = File::open(&path).map_err(io_err(&path))?;
        // SAFETY: index files are never modified after their generation is committed (new
        // generations write new files), so the mapping does not change under us.
        let map = unsafe { Mmap::map(&file) }.map_err(io_err(&path))?;
        if map.len() as u64 != entry.len {
            return Err(IndexError::SizeMismatch {
                path,
                expected: entry.len,
                found: map.len() as u64,
            });
        }
        Ok(MappedFile {
            path,
            map: Some(map),
        })
    }

    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The whole file as `u32`s (it must be 4-byte sized; mappings are page-aligned).
    pub fn as_u32s(&self) -> Result<&[u32], IndexError> {
        // SAFETY: every bit pattern is a valid u32; alignment is checked by align_to.
        let (pre, words, post) = unsafe { self.bytes().align_to::<u32>() };
        if !pre.is_empty() || !post.is_empty() {
            return Err(corrupt(&self.path, "size is not a multiple of 4 bytes"));
        }
        Ok(words)
    }

    pub fn as_u64s(&self) -> Result<&[u64], IndexError> {
        // SAFETY: every bit pattern is a valid u64; alignment is checked by align_to.
        let (pre, words, post) = unsafe { self.bytes().align_to::<u64>() };
        if !pre.is_empty() || !post.is_empty() {
            return Err(corrupt(&self.path, "size is not a multiple of 8 bytes"));
        }
        Ok(words)
    }
}

/// `count` vectors of `dim` f32s, row after row, mapped from disk.
pub(crate) struct VectorFile {
    file: MappedFile,
    dim: usize,
    count: usize,
}

impl VectorFile {
    pub fn open(file: MappedFile, dim: usize, count: usize) -> Result<VectorFile, IndexError> {
        let expected = count
            .checked_mul(dim)
            .and_then(|n| n.checked_mul(F32_BYTES))
            .ok_or_else(|| corrupt(file.path(), "vector count overflows"))?;
        if file.bytes().len() != expected {
            return Err(corrupt(
                file.path(),
                format!(
                    "holds {} bytes, but {count} vectors of {dim} dimensions need {expected}",
                    file.bytes().len()
                ),
            ));
        }
        if dim == 0 && count > 0 {
            return Err(corrupt(file.path(), "dimension is 0"));
        }
        let vectors = VectorFile { file, dim, count };
        vectors.all()?; // alignment check, once
        Ok(vectors)
    }

    fn all(&self) -> Result<&[f32], IndexError> {
        // SAFETY: every bit pattern is a valid f32; alignment is checked by align_to.
        let (pre, floats, post) = unsafe { self.file.bytes().align_to::<f32>() };
        if !pre.is_empty() || !post.is_empty() {
            return Err(corrupt(self.file.path(), "vectors are not 4-byte aligned"));
        }
        Ok(floats)
    }

    pub fn len(&self) -> usize {
        self.count
    }

    /// Vector `i`; an empty slice when `i` is out of range.
    pub fn get(&self, i: usize) -> &[f32] {
        let all = self.all().unwrap_or(&[]);
        let start = i.saturating_mul(self.dim);
        all.get(start..start.saturating_add(self.dim))
            .unwrap_or(&[])
    }
}

/// Appends vectors to a file being written, as little-endian f32.
pub(crate) fn write_vector(sink: &mut FileSink, vector: &[f32]) -> Result<(), IndexError> {
    let mut bytes = Vec::with_capacity(vector.len() * F32_BYTES);
    for x in vector {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    sink.write(&bytes)
}

/// Dot product, which is the cosine for the L2-normalised vectors the index holds.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    crate::model::cosine(a, b)
}
