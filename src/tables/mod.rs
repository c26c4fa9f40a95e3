//! simdex's tables on disk: the formats of the table-like outputs ([`OutputFormat`]: JSONL
//! or Parquet); in [`parquet_file`], one error type and one Parquet writer that lands
//! atomically through [`crate::fsio::AtomicFile`] ([`ParquetFile`]). Two ways of filling a table sit beside it:
//! [`json_rows`] (JSON rows with inferred column types, for the user-facing outputs) and
//! [`columns`] (named, typed columns written and read back whole, for the tables a staged
//! run passes between its stages).
//!
//! It decides nothing about what is written: callers hand it rows, columns or batches.

pub mod columns;
pub mod json_rows;
mod parquet_file;

use serde::Serialize;

pub use json_rows::{json_batch, json_schema, write_json_rows};
pub use parquet_file::{ParquetFile, TableError, PARQUET_COMPRESSION, ROWS_PER_BATCH};

/// The file format of the table-like outputs of `dedup`, `ingest` and `embed`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum OutputFormat {
    /// One JSON object per line (`.jsonl`).
    #[default]
    Jsonl,
    /// Apache Parquet (`.parquet`), snappy-compressed.
    Parquet,
}

impl OutputFormat {
    /// The file extension of this format, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Jsonl => "jsonl",
            OutputFormat::Parquet => "parquet",
        }
    }
}
