//! The document store: documents and ids as record tables (payload, then an offsets table),
//! paragraph start numbers and tombstones. Documents are parsed only when asked for.
//! Must not hold all documents in memory, nor know about vectors or graphs.

use std::path::Path;

use super::error::{corrupt, IndexError};
use super::manifest::{FileEntry, FileSink};
use super::vectors::MappedFile;

/// Last 8 bytes of a record table.
const TABLE_MAGIC: &[u8; 8] = b"SDXTBL01";
const U64_BYTES: usize = 8;

/// Records of bytes: `[payload][offsets: (count+1) × u64][count: u64][magic]`, all little-endian.
pub(crate) struct RecordTable {
    file: MappedFile,
    count: usize,
    payload_len: usize,
}

impl RecordTable {
    /// Maps and validates a table of `expected_count` records (offsets checked in full: O(count)).
    pub fn open(file: MappedFile, expected_count: usize) -> Result<RecordTable, IndexError> {
        let bytes = file.bytes();
        let path = file.path();
        let footer = U64_BYTES + TABLE_MAGIC.len();
        if bytes.len() < footer || &bytes[bytes.len() - TABLE_MAGIC.len()..] != TABLE_MAGIC {
            return Err(corrupt(path, "not a record table (bad footer)"));
        }
        let count = read_u64(bytes, bytes.len() - footer)
            .and_then(|c| usize::try_from(c).ok())
            .ok_or_else(|| corrupt(path, "bad record count"))?;
        if count != expected_count {
            return Err(corrupt(
                path,
                format!("holds {count} records, the manifest says {expected_count}"),
            ));
        }
        let offsets_len = count
            .checked_add(1)
            .and_then(|n| n.checked_mul(U64_BYTES))
            .filter(|&n| n <= bytes.len() - footer)
            .ok_or_else(|| corrupt(path, "offsets table does not fit in the file"))?;
        let payload_len = bytes.len() - footer - offsets_len;
        let table = RecordTable {
            file,
            count,
            payload_len,
        };
        let mut previous = 0u64;
        for i in 0..=count {
            let offset = table.offset(i);
            let ok = if i == 0 { offset == 0 } else { offset >= previous };
            if !ok || offset > payload_len as u64 {
                return Err(corrupt(table.file.path(), format!("offset {i} is out of order")));
            }
            previous = offset;
        }
        if previous != payload_len as u64 {
            return Err(corrupt(table.file.path(), "last offset is not the payload end"));
        }
        Ok(table)
    }

    fn offset(&self, i: usize) -> u64 {
        read_u64(self.file.bytes(), self.payload_len + i * U64_BYTES).unwrap_or(u64::MAX)
    }

    pub fn len(&self) -> usize {
        self.count
    }

    /// Record `i` (validated at open, so in range for `i < len()`; empty otherwise).
    pub fn get(&self, i: usize) -> &[u8] {
        if i >= self.count {
            return &[];
        }
        let (start, end) = (self.offset(i) as usize, self.offset(i + 1) as usize);
        self.file.bytes().get(start..end).unwrap_or(&[])
    }

    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let b = bytes.get(at..at.checked_add(U64_BYTES)?)?;
    Some(u64::from_le_bytes(b.try_into().ok()?))
}

/// Writes a record table, optionally starting with all records of an existing one.
pub(crate) struct RecordTableWriter {
    sink: FileSink,
    offsets: Vec<u64>,
}

impl RecordTableWriter {
    pub fn create(dir: &Path, name: String) -> Result<RecordTableWriter, IndexError> {
        Ok(RecordTableWriter {
            sink: FileSink::create(dir, name)?,
            offsets: vec![0],
        })
    }

    pub fn push(&mut self, record: &[u8]) -> Result<(), IndexError> {
        self.sink.write(record)?;
        self.offsets.push(self.sink.len());
        Ok(())
    }

    pub fn finish(mut self) -> Result<FileEntry, IndexError> {
        let count = (self.offsets.len() - 1) as u64;
        let mut footer = Vec::with_capacity(self.offsets.len() * U64_BYTES + 16);
        for o in &self.offsets {
            footer.extend_from_slice(&o.to_le_bytes());
        }
        footer.extend_from_slice(&count.to_le_bytes());
        footer.extend_from_slice(TABLE_MAGIC);
        self.sink.write(&footer)?;
        self.sink.finish()
    }
}

/// For each document, the number of its first paragraph vector: `docs + 1` u64s, the last
/// being the number of paragraph vectors.
pub(crate) struct ParagraphStarts {
    file: MappedFile,
}

impl ParagraphStarts {
    pub fn open(file: MappedFile, docs: usize, paragraphs: u64) -> Result<Self, IndexError> {
        let starts = file.as_u64s()?;
        if starts.len() != docs + 1 {
            return Err(corrupt(
                file.path(),
                format!("holds {} entries, expected {}", starts.len(), docs + 1),
            ));
        }
        let ordered = starts.first() == Some(&0) && starts.windows(2).all(|w| w[0] <= w[1]);
        if !ordered || starts.last() != Some(&paragraphs) {
            return Err(corrupt(file.path(), "paragraph numbers are out of order"));
        }
        Ok(ParagraphStarts { file })
    }

    fn starts(&self) -> &[u64] {
        self.file.as_u64s().unwrap_or(&[])
    }

    /// Paragraph vector numbers of `doc`.
    pub fn range(&self, doc: usize) -> std::ops::Range<usize> {
        let s = self.starts();
        match (s.get(doc), s.get(doc + 1)) {
            (Some(&a), Some(&b)) => a as usize..b as usize,
            _ => 0..0,
        }
    }

    /// The document a paragraph vector belongs to, and its position in that document.
    pub fn locate(&self, paragraph: usize) -> Option<(usize, usize)> {
        let s = self.starts();
        let p = paragraph as u64;
        // first doc whose start is > p, minus one; skips documents with no paragraphs.
        let doc = s.partition_point(|&start| start <= p).checked_sub(1)?;
        if doc + 1 >= s.len() {
            return None;
        }
        Some((doc, paragraph - s[doc] as usize))
    }
}

/// Tombstoned document numbers: a sorted list of u32 on disk, a bitset in memory.
#[derive(Clone, Default)]
pub(crate) struct Tombstones {
    bits: Vec<u64>,
    count: usize,
}

impl Tombstones {
    pub fn new(docs: usize) -> Tombstones {
        Tombstones {
            bits: vec![0; docs.div_ceil(64)],
            count: 0,
        }
    }

    pub fn load(file: &MappedFile, docs: usize) -> Result<Tombstones, IndexError> {
        let mut t = Tombstones::new(docs);
        let list = file.as_u32s()?;
        for w in list.windows(2) {
            if w[0] >= w[1] {
                return Err(corrupt(file.path(), "tombstones are not sorted"));
            }
        }
        for &doc in list {
            if doc as usize >= docs {
                return Err(corrupt(
                    file.path(),
                    format!("tombstone {doc} is beyond the {docs} documents"),
                ));
            }
            t.insert(doc as usize);
        }
        Ok(t)
    }

    pub fn grow(&mut self, docs: usize) {
        self.bits.resize(docs.div_ceil(64), 0);
    }

    pub fn insert(&mut self, doc: usize) -> bool {
        let (word, bit) = (doc / 64, 1u64 << (doc % 64));
        match self.bits.get_mut(word) {
            Some(w) if *w & bit == 0 => {
                *w |= bit;
                self.count += 1;
                true
            }
            _ => false,
        }
    }

    pub fn contains(&self, doc: usize) -> bool {
        self.bits
            .get(doc / 64)
            .is_some_and(|w| w & (1u64 << (doc % 64)) != 0)
    }

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn write(&self, sink: &mut FileSink) -> Result<(), IndexError> {
        let mut bytes = Vec::with_capacity(self.count * 4);
        for (word_index, &word) in self.bits.iter().enumerate() {
            let mut w = word;
            while w != 0 {
                let bit = w.trailing_zeros() as usize;
                bytes.extend_from_slice(&((word_index * 64 + bit) as u32).to_le_bytes());
                w &= w - 1;
            }
        }
        sink.write(&bytes)
    }
}
