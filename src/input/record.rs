//! What a read hands out: each input record as a [`Record`] (id, text, where it was read,
//! its original bytes) or a [`Rejected`] entry naming the file, line and reason; the
//! settings of a read ([`InputOptions`]) and its errors ([`InputError`]).
//!
//! It must not read files: the readers are [`super`]'s and [`super::parquet`]'s.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// Field names and error policy of a read (the CLI's input flags; a staged plan carries it
/// as JSON, unknown names refused).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InputOptions {
    pub id_field: String,
    pub text_field: String,
    pub title_field: String,
    pub on_error: OnError,
    /// Records whose text is longer than this many bytes are rejected (embedding a 10 MB
    /// text would take hours and say nothing useful about duplicates).
    pub max_record_bytes: usize,
}

/// Default limit on the text of one record: 1 MiB (a long news article is 10–30 KB).
pub const DEFAULT_MAX_RECORD_BYTES: usize = 1 << 20;

impl Default for InputOptions {
    fn default() -> Self {
        InputOptions {
            id_field: "id".into(),
            text_field: "text".into(),
            title_field: "title".into(),
            on_error: OnError::Skip,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
        }
    }
}

/// What a bad record does to the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Report it in the rejected list and go on.
    Skip,
    /// Stop the run with an error naming the file and line.
    Fail,
}

/// Where a record came from: file (or `-`) and 1-based line (0 for whole files; the 1-based
/// row for Parquet files).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}", self.file, self.line)
        } else {
            write!(f, "{}", self.file)
        }
    }
}

/// One input document.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: String,
    pub title: Option<String>,
    pub text: String,
    /// The record exactly as read: a JSONL line without its newline, or a JSON object made
    /// for a text file (`{"id", "text"}`), so kept records can be written byte-for-byte.
    pub raw: Vec<u8>,
    /// Other fields of a JSONL record (for `--keep-by FIELD`).
    pub fields: serde_json::Map<String, serde_json::Value>,
    pub location: Location,
    /// Encoding the bytes were decoded from.
    pub encoding: &'static str,
    /// For a record read from Parquet: its file and row, to write it back with every column.
    pub parquet_row: Option<ParquetRow>,
    /// Where `raw` lies in its file, for a line read verbatim from a plain (not compressed)
    /// JSONL file: a pass that must hold many records drops `raw` and reads it back here
    /// when it writes the outputs (see [`Record::raw_line`]).
    pub raw_at: Option<RawAt>,
}

/// The place of a record's raw line in the file it was read from.
#[derive(Debug, Clone)]
pub struct RawAt {
    pub path: std::sync::Arc<Path>,
    pub offset: u64,
    pub len: u32,
    /// xxh3 of the line: a file changed between reading and writing is an error, not a
    /// wrong line in the output.
    pub hash: u64,
}

impl Record {
    /// A record of just an id and a text (no input line behind it): for texts given
    /// directly, and for records rebuilt from an index or a work folder.
    pub fn from_text(id: &str, text: &str) -> Record {
        Record {
            id: id.to_string(),
            title: None,
            text: text.to_string(),
            raw: Vec::new(),
            fields: Default::default(),
            location: Location {
                file: id.to_string(),
                line: 0,
            },
            encoding: "UTF-8",
            parquet_row: None,
            raw_at: None,
        }
    }

    /// Drops the raw line when it can be read back from its file (see [`Self::raw_line`]);
    /// keeps it otherwise (stdin, compressed files, text files, Parquet).
    pub fn drop_raw_line(&mut self) {
        if self.raw_at.is_some() {
            self.raw = Vec::new();
        }
    }

    /// The record exactly as read: `raw`, or the line read back from its file when `raw`
    /// was dropped. Fails when the file can no longer be read or the line changed.
    pub fn raw_line(&self) -> Result<std::borrow::Cow<'_, [u8]>, InputError> {
        let Some(at) = self.raw_at.as_ref().filter(|_| self.raw.is_empty()) else {
            return Ok(std::borrow::Cow::Borrowed(&self.raw));
        };
        use std::os::unix::fs::FileExt;
        let io = |source| InputError::Io {
            path: at.path.to_path_buf(),
            source,
        };
        let mut line = vec![0u8; at.len as usize];
        std::fs::File::open(&at.path)
            .and_then(|f| f.read_exact_at(&mut line, at.offset))
            .map_err(io)?;
        if xxhash_rust::xxh3::xxh3_64(&line) != at.hash {
            return Err(io(std::io::Error::other(format!(
                "line {} changed while the run was reading the input",
                self.location.line
            ))));
        }
        Ok(std::borrow::Cow::Owned(line))
    }
}

/// An input record that could not be used, and why.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Rejected {
    #[serde(flatten)]
    pub location: Location,
    pub id: Option<String>,
    pub reason: String,
}

/// Errors that stop a read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{location}: {reason}")]
    BadRecord { location: Location, reason: String },
    #[error("{path}: not a readable Parquet file: {source}")]
    Parquet {
        path: PathBuf,
        source: ::parquet::errors::ParquetError,
    },
    #[error("{path}: cannot decode Parquet data: {source}")]
    Arrow {
        path: PathBuf,
        source: arrow_schema::ArrowError,
    },
    #[error("{0}: no .txt, .md, .jsonl or .parquet inputs found")]
    NoInputs(PathBuf),
}

/// All records and rejects of a read, in input order.
#[derive(Debug, Default)]
pub struct ReadOutcome {
    pub records: Vec<Record>,
    pub rejected: Vec<Rejected>,
}

impl ReadOutcome {
    /// Records read plus rejected: every input record counted once.
    pub fn total(&self) -> usize {
        self.records.len() + self.rejected.len()
    }
}

/// Where a record read from Parquet lives: its file (as opened) and 0-based row, and which
/// column its text came from (so a writer can replace the text of a stripped record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParquetRow {
    pub file: PathBuf,
    pub row: usize,
    pub text_column: usize,
}
