//! The one Parquet writer: a file that lands atomically under its name through
//! [`crate::fsio::AtomicFile`] ([`ParquetFile`]), its compression and batch size, and the
//! error type of every table (each naming its file).
//!
//! It decides nothing about what is written: callers hand it batches.

use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;

use crate::fsio::AtomicFile;

/// Compression of the Parquet files simdex writes: snappy, which every reader has.
pub const PARQUET_COMPRESSION: Compression = Compression::SNAPPY;

/// Rows per batch handed to the Parquet writer (bounds the memory of building columns).
pub const ROWS_PER_BATCH: usize = 8192;

/// Errors of writing or reading a table, each naming its file.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: writing Parquet: {source}")]
    Parquet { path: PathBuf, source: ParquetError },
    #[error("{path}: reading Parquet: {source}")]
    ParquetRead { path: PathBuf, source: ParquetError },
    #[error("{path}: building Arrow columns: {source}")]
    Arrow { path: PathBuf, source: ArrowError },
    /// A table that is not what its reader expects (a missing column, another type).
    #[error("{path}: {message}")]
    Shape { path: PathBuf, message: String },
}

/// A Parquet file being written: invisible under its name until [`ParquetFile::commit`].
pub struct ParquetFile {
    path: PathBuf,
    schema: SchemaRef,
    w: ArrowWriter<AtomicFile>,
}

impl ParquetFile {
    /// Starts writing `dst` with `schema`.
    pub fn create(dst: &Path, schema: SchemaRef) -> Result<ParquetFile, TableError> {
        let path = dst.to_path_buf();
        let file = AtomicFile::create(dst).map_err(|source| TableError::Io {
            path: path.clone(),
            source,
        })?;
        let props = WriterProperties::builder()
            .set_compression(PARQUET_COMPRESSION)
            .build();
        let w = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|source| {
            TableError::Parquet {
                path: path.clone(),
                source,
            }
        })?;
        Ok(ParquetFile { path, schema, w })
    }

    /// The schema every batch is written with.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Writes a batch with the columns of this file's schema (the batch's own schema
    /// metadata and field names are replaced by the file's).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), TableError> {
        let batch = RecordBatch::try_new(self.schema.clone(), batch.columns().to_vec())
            .map_err(|source| self.arrow(source))?;
        let path = self.path.clone();
        self.w
            .write(&batch)
            .map_err(|source| TableError::Parquet { path, source })
    }

    /// Ends the row group being written: what was written so far leaves memory for the file.
    pub fn end_row_group(&mut self) -> Result<(), TableError> {
        let path = self.path.clone();
        self.w
            .flush()
            .map_err(|source| TableError::Parquet { path, source })
    }

    /// An Arrow error about this file.
    pub fn arrow(&self, source: ArrowError) -> TableError {
        TableError::Arrow {
            path: self.path.clone(),
            source,
        }
    }

    /// Writes the footer, then lands the file under its name.
    pub fn commit(self) -> Result<(), TableError> {
        let path = self.path;
        let file = self.w.into_inner().map_err(|source| TableError::Parquet {
            path: path.clone(),
            source,
        })?;
        file.commit()
            .map_err(|source| TableError::Io { path, source })
    }
}
