//! `kept.parquet`: the kept records with all their input columns. When every kept record
//! was read from Parquet files of one schema, its rows are read back from those files, so
//! every column keeps its original type (the text column replaced where repeated passages
//! were cut); otherwise the kept records' JSON objects become the columns
//! ([`crate::tables::json_schema`]).
//!
//! Both drivers write it here: the single-process run through [`write`], the staged pass
//! through [`rows_back`] (its JSON fallback is its own stream of `kept.jsonl` lines). It
//! decides nothing: which records are kept, and their stripped texts, come from the caller.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, LargeStringArray, RecordBatch, StringArray, StringViewArray};
use arrow_schema::{ArrowError, DataType, Schema, SchemaRef};
use serde_json::{Map, Value};

use super::error::DedupError;
use crate::corpus::PreparedDoc;
use crate::input::parquet::{file_schema, json_value, read_rows};
use crate::input::ParquetRow;
use crate::tables::{self, ParquetFile};

/// Kept rows of one file, in a stretch of the kept order where they come from that file in
/// ascending row order (`kept` holds their positions in the kept order).
struct Stretch<'a> {
    file: &'a Path,
    rows: Vec<usize>,
    kept: Vec<usize>,
}

/// The kept records as stretches of Parquet rows, or `None` when one of them was not read
/// from Parquet.
fn stretches<'a>(at: &[Option<&'a ParquetRow>]) -> Option<Vec<Stretch<'a>>> {
    let mut out: Vec<Stretch> = Vec::new();
    for (k, at) in at.iter().enumerate() {
        let at = (*at)?;
        match out.last_mut() {
            Some(s) if s.file == at.file && s.rows.last().is_some_and(|&r| r < at.row) => {
                s.rows.push(at.row);
                s.kept.push(k);
            }
            _ => out.push(Stretch {
                file: &at.file,
                rows: vec![at.row],
                kept: vec![k],
            }),
        }
    }
    Some(out)
}

/// The schema all these files share (without their metadata), or `None` when they differ.
fn shared_schema<'a>(
    files: impl Iterator<Item = &'a Path>,
) -> Result<Option<SchemaRef>, DedupError> {
    let mut shared: Option<SchemaRef> = None;
    let mut seen: Vec<&Path> = Vec::new();
    for f in files {
        if seen.contains(&f) {
            continue;
        }
        seen.push(f);
        let s = file_schema(f)?;
        match &shared {
            Some(have) if have.fields() != s.fields() => return Ok(None),
            Some(_) => {}
            None => shared = Some(Arc::new(Schema::new(s.fields().clone()))),
        }
    }
    Ok(shared)
}

/// A string column of the same type as `col`, with the values at the given positions replaced.
fn replace_text(col: &ArrayRef, with: &HashMap<usize, &str>) -> Result<ArrayRef, ArrowError> {
    let values: Vec<Option<String>> = (0..col.len())
        .map(|j| match with.get(&j) {
            Some(t) => Some(t.to_string()),
            None => match json_value(col.as_ref(), j) {
                Value::String(s) => Some(s),
                _ => None,
            },
        })
        .collect();
    Ok(match col.data_type() {
        DataType::Utf8 => Arc::new(StringArray::from(values)),
        DataType::LargeUtf8 => Arc::new(LargeStringArray::from(values)),
        DataType::Utf8View => Arc::new(StringViewArray::from_iter(values)),
        other => {
            return Err(ArrowError::NotYetImplemented(format!(
                "cutting repeated passages from a {other} text column"
            )))
        }
    })
}

/// Writes `kept.parquet` at `dst` for the single-process run. `stripped` holds the cut texts
/// of the kept records that lost repeated passages; `json_of` gives a kept record as its
/// `kept.jsonl` line.
pub(super) fn write(
    dst: &Path,
    docs: &[PreparedDoc],
    kept: &[usize],
    stripped: &HashMap<usize, String>,
    json_of: &dyn Fn(usize) -> Result<Vec<u8>, DedupError>,
) -> Result<(), DedupError> {
    let at: Vec<Option<&ParquetRow>> = kept
        .iter()
        .map(|&i| docs[i].record.parquet_row.as_ref())
        .collect();
    let inputs: Vec<&Path> = docs
        .iter()
        .filter_map(|d| d.record.parquet_row.as_ref().map(|r| r.file.as_path()))
        .collect();
    let cut: HashMap<usize, &str> = kept
        .iter()
        .enumerate()
        .filter_map(|(k, i)| stripped.get(i).map(|t| (k, t.as_str())))
        .collect();
    if rows_back(dst, &at, &inputs, &cut)? {
        return Ok(());
    }
    let rows: Vec<Map<String, Value>> = kept
        .iter()
        .map(|&i| {
            Ok(match serde_json::from_slice(&json_of(i)?) {
                Ok(Value::Object(m)) => m,
                _ => Map::new(),
            })
        })
        .collect::<Result<_, DedupError>>()?;
    Ok(tables::write_json_rows(dst, &rows, &["id", "text"])?)
}

/// Writes `kept.parquet` at `dst` from the input rows themselves, when every kept record was
/// read from Parquet files of one schema: `at` says where each kept record (in kept order)
/// was read, `inputs` the Parquet files of every record read (their schema names the
/// columns when nothing is kept), `stripped` the cut text of a kept record (by its position
/// in `at`) that lost repeated passages. Returns `false`, writing nothing, when the rows
/// cannot be read back so (a kept record not from Parquet, files of other schemas).
pub(crate) fn rows_back(
    dst: &Path,
    at: &[Option<&ParquetRow>],
    inputs: &[&Path],
    stripped: &HashMap<usize, &str>,
) -> Result<bool, DedupError> {
    let Some(stretches) = stretches(at) else {
        return Ok(false);
    };
    // With nothing kept, the inputs' schema still names the columns.
    let files: Vec<&Path> = if at.is_empty() {
        inputs.to_vec()
    } else {
        stretches.iter().map(|s| s.file).collect()
    };
    let Some(schema) = shared_schema(files.into_iter())? else {
        return Ok(false);
    };
    let mut f = ParquetFile::create(dst, schema)?;
    for s in &stretches {
        let mut reader = read_rows(s.file, &s.rows)?;
        let mut done = 0;
        while let Some(batch) =
            reader
                .next()
                .transpose()
                .map_err(|source| crate::input::InputError::Arrow {
                    path: s.file.to_path_buf(),
                    source,
                })?
        {
            let n = batch.num_rows();
            let ks = s.kept.get(done..done + n).unwrap_or_default();
            let cut: HashMap<usize, &str> = ks
                .iter()
                .enumerate()
                .filter_map(|(j, k)| stripped.get(k).map(|&t| (j, t)))
                .collect();
            let batch = if cut.is_empty() {
                batch
            } else {
                let text_column = ks.first().and_then(|&k| at[k]).map_or(0, |r| r.text_column);
                let mut columns = batch.columns().to_vec();
                columns[text_column] =
                    replace_text(&columns[text_column], &cut).map_err(|e| f.arrow(e))?;
                RecordBatch::try_new(batch.schema(), columns).map_err(|e| f.arrow(e))?
            };
            f.write(&batch)?;
            done += n;
        }
        if done != s.rows.len() {
            return Err(DedupError::Io {
                path: s.file.to_path_buf(),
                source: std::io::Error::other(format!(
                    "read {done} of the {} kept rows back: the file changed during the run",
                    s.rows.len()
                )),
            });
        }
    }
    f.commit()?;
    Ok(true)
}
