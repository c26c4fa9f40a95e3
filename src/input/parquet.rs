//! Parquet input: `.parquet` files read row group by row group in bounded batches (never the
//! whole file in memory), each row becoming a [`Record`] or a [`Rejected`] that names the
//! file and the 1-based row. Every column is carried into the record's `fields` and `raw`
//! JSON, and the record remembers its file and row ([`super::ParquetRow`]) so that kept rows can be
//! written back with all their columns and original types ([`read_rows`]).
//!
//! It must not clean text or decide anything. A file it cannot open or decode at all stops
//! the read (like an unreadable JSONL file); a bad row is rejected like a bad JSONL line.
//! Time-of-day, duration, interval and union columns are carried as JSON null.

use std::fs::File;
use std::ops::Range;
use std::path::Path;

use ::parquet::arrow::arrow_reader::{
    ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder, RowSelection,
};
use arrow_array::cast::AsArray;
use arrow_array::temporal_conversions as tc;
use arrow_array::types::*;
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, SchemaRef, TimeUnit};
use serde_json::{Map, Value};

use super::record::{InputError, InputOptions, Location, ParquetRow, Record};
use super::sink::{reject, Sink};

/// Rows decoded at a time: bounds the memory of a read whatever the row group size.
pub const PARQUET_BATCH_ROWS: usize = 1024;

/// Whether a path names a Parquet file (by its extension).
pub fn is_parquet(p: &Path) -> bool {
    p.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"))
}

fn open(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, InputError> {
    let file = File::open(path).map_err(|source| InputError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|source| InputError::Parquet {
        path: path.to_path_buf(),
        source,
    })
}

fn build(
    path: &Path,
    b: ParquetRecordBatchReaderBuilder<File>,
) -> Result<ParquetRecordBatchReader, InputError> {
    b.with_batch_size(PARQUET_BATCH_ROWS)
        .build()
        .map_err(|source| InputError::Parquet {
            path: path.to_path_buf(),
            source,
        })
}

fn next_batch(
    path: &Path,
    r: &mut ParquetRecordBatchReader,
) -> Result<Option<RecordBatch>, InputError> {
    r.next().transpose().map_err(|source| InputError::Arrow {
        path: path.to_path_buf(),
        source,
    })
}

/// The Arrow schema of a Parquet file (read from its footer only).
pub fn file_schema(path: &Path) -> Result<SchemaRef, InputError> {
    Ok(open(path)?.schema().clone())
}

/// Reads the given rows (0-based, ascending, no repeats) of a Parquet file back, in bounded
/// batches, in row order.
pub fn read_rows(path: &Path, rows: &[usize]) -> Result<ParquetRecordBatchReader, InputError> {
    let b = open(path)?;
    let total = usize::try_from(b.metadata().file_metadata().num_rows()).unwrap_or(0);
    if let Some(&bad) = rows.iter().find(|&&r| r >= total) {
        return Err(InputError::BadRecord {
            location: Location {
                file: path.display().to_string(),
                line: bad + 1,
            },
            reason: format!("row {} is gone: the file has {total} rows now", bad + 1),
        });
    }
    let selection = RowSelection::from_consecutive_ranges(rows.iter().map(|&r| r..r + 1), total);
    build(path, b.with_row_selection(selection))
}

/// Every row of a Parquet file as a JSON object (for small output files read back).
pub fn read_json_rows(path: &Path) -> Result<Vec<Map<String, Value>>, InputError> {
    let mut reader = build(path, open(path)?)?;
    let mut out = Vec::new();
    while let Some(batch) = next_batch(path, &mut reader)? {
        out.extend((0..batch.num_rows()).map(|i| row_json(&batch, i)));
    }
    Ok(out)
}

/// The columns a record is made of, looked up once per file: the column index, or why the
/// column cannot be used (then every row is rejected with that reason).
struct Columns {
    id: Result<usize, String>,
    text: Result<usize, String>,
    title: Option<usize>,
}

fn is_string(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_string(v),
        _ => false,
    }
}

fn is_integer(t: &DataType) -> bool {
    match t {
        DataType::Dictionary(_, v) => is_integer(v),
        t => t.is_integer(),
    }
}

impl Columns {
    fn resolve(schema: &SchemaRef, opts: &InputOptions) -> Columns {
        let find = |name: &str, ok: fn(&DataType) -> bool, want: &str| {
            let (i, f) = schema
                .column_with_name(name)
                .ok_or_else(|| format!("no column \"{name}\" in the file"))?;
            if ok(f.data_type()) {
                Ok(i)
            } else {
                Err(format!(
                    "column \"{name}\" must be {want}, found {}",
                    f.data_type()
                ))
            }
        };
        Columns {
            id: find(
                &opts.id_field,
                |t| is_string(t) || is_integer(t),
                "a string or integer column",
            ),
            text: find(&opts.text_field, is_string, "a string column"),
            title: find(&opts.title_field, is_string, "").ok(),
        }
    }
}

/// A usable row: id, title, text.
type RowRecord = (String, Option<String>, String);
/// A rejected row: the id when known, and why.
type RowReject = (Option<String>, String);

/// A row's (id, title, text), or (the id when known, why the row is rejected).
fn parse_row(
    batch: &RecordBatch,
    i: usize,
    cols: &Columns,
    opts: &InputOptions,
) -> Result<RowRecord, RowReject> {
    let id_col = cols.id.as_ref().map_err(|e| (None, e.clone()))?;
    let id = match json_value(batch.column(*id_col).as_ref(), i) {
        Value::String(s) if !s.is_empty() => s,
        Value::Number(n) => n.to_string(),
        Value::String(_) => {
            return Err((None, format!("empty id in column \"{}\"", opts.id_field)))
        }
        _ => return Err((None, format!("null id in column \"{}\"", opts.id_field))),
    };
    let text_col = cols
        .text
        .as_ref()
        .map_err(|e| (Some(id.clone()), e.clone()))?;
    let text = match json_value(batch.column(*text_col).as_ref(), i) {
        Value::String(s) => s,
        _ => {
            let reason = format!("null text in column \"{}\"", opts.text_field);
            return Err((Some(id), reason));
        }
    };
    if text.trim().is_empty() {
        return Err((Some(id), "empty text".into()));
    }
    if let Some(reason) = super::encoding::binary_reason(&text) {
        return Err((Some(id), reason));
    }
    if text.len() > opts.max_record_bytes {
        let reason = format!(
            "text is {} bytes, over the limit of {} (--max-record-bytes)",
            text.len(),
            opts.max_record_bytes
        );
        return Err((Some(id), reason));
    }
    let title = cols
        .title
        .and_then(|c| match json_value(batch.column(c).as_ref(), i) {
            Value::String(s) if !s.trim().is_empty() => Some(s),
            _ => None,
        });
    Ok((id, title, text))
}

/// Reads one Parquet file: every row becomes a record or a reject (`name` is how locations
/// name the file).
/// Reads the rows of `path` whose 0-based index lies in `rows`; row groups wholly outside
/// it are not read.
pub(super) fn read_file(
    path: &Path,
    name: &str,
    opts: &InputOptions,
    out: &mut Sink<'_>,
    rows: Range<usize>,
) -> Result<(), InputError> {
    let builder = open(path)?;
    let cols = Columns::resolve(builder.schema(), opts);
    // The row groups that hold any of `rows`, and the first row of the first of them.
    let mut groups = Vec::new();
    let mut first = None;
    let mut start = 0usize;
    for (g, meta) in builder.metadata().row_groups().iter().enumerate() {
        let end = start + meta.num_rows().max(0) as usize;
        if start < rows.end && end > rows.start {
            groups.push(g);
            first.get_or_insert(start);
        }
        start = end;
    }
    let Some(first) = first else {
        return Ok(());
    };
    let mut reader = build(path, builder.with_row_groups(groups))?;
    let mut row = first;
    while let Some(batch) = next_batch(path, &mut reader)? {
        for i in 0..batch.num_rows() {
            row += 1;
            if !rows.contains(&(row - 1)) {
                continue;
            }
            let location = Location {
                file: name.to_string(),
                line: row,
            };
            match parse_row(&batch, i, &cols, opts) {
                Ok((id, title, text)) => {
                    let fields = row_json(&batch, i);
                    let raw = serde_json::to_vec(&fields).unwrap_or_default();
                    out.record(Record {
                        id,
                        title,
                        text,
                        raw,
                        fields,
                        location,
                        encoding: "UTF-8",
                        raw_at: None,
                        parquet_row: Some(ParquetRow {
                            file: path.to_path_buf(),
                            row: row - 1,
                            text_column: cols.text.clone().unwrap_or_default(),
                        }),
                    });
                }
                Err((id, reason)) => reject(
                    &mut out.rejected,
                    opts,
                    location,
                    id,
                    format!("row {row}: {reason}"),
                )?,
            }
        }
    }
    Ok(())
}

/// A row of a batch as a JSON object of all its columns, in schema order.
pub fn row_json(batch: &RecordBatch, i: usize) -> Map<String, Value> {
    batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(f, c)| (f.name().clone(), json_value(c.as_ref(), i)))
        .collect()
}

fn hex(bytes: &[u8]) -> Value {
    Value::String(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// An f32 as the shortest decimal that reads back as it (0.1, not 0.10000000149011612), so
/// a float32 column gives the JSON a JSONL writer of the same data would have written.
fn f32_json(v: f32) -> Value {
    format!("{v}")
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

fn f64_json(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

fn time_json(t: Option<chrono::NaiveDateTime>, utc: bool) -> Value {
    t.map_or(Value::Null, |t| {
        let z = if utc { "Z" } else { "" };
        Value::String(format!("{}{z}", t.format("%Y-%m-%dT%H:%M:%S%.f")))
    })
}

fn list_json(values: &dyn Array) -> Value {
    Value::Array((0..values.len()).map(|j| json_value(values, j)).collect())
}

/// One cell as JSON: numbers, strings, bools and nulls as themselves; dates as
/// `YYYY-MM-DD`, timestamps as ISO 8601, decimals as strings, binary as hex, lists as arrays,
/// structs and maps as objects.
pub fn json_value(a: &dyn Array, i: usize) -> Value {
    if a.is_null(i) {
        return Value::Null;
    }
    match a.data_type() {
        DataType::Boolean => Value::Bool(a.as_boolean().value(i)),
        DataType::Int8 => a.as_primitive::<Int8Type>().value(i).into(),
        DataType::Int16 => a.as_primitive::<Int16Type>().value(i).into(),
        DataType::Int32 => a.as_primitive::<Int32Type>().value(i).into(),
        DataType::Int64 => a.as_primitive::<Int64Type>().value(i).into(),
        DataType::UInt8 => a.as_primitive::<UInt8Type>().value(i).into(),
        DataType::UInt16 => a.as_primitive::<UInt16Type>().value(i).into(),
        DataType::UInt32 => a.as_primitive::<UInt32Type>().value(i).into(),
        DataType::UInt64 => a.as_primitive::<UInt64Type>().value(i).into(),
        DataType::Float16 => f32_json(a.as_primitive::<Float16Type>().value(i).to_f32()),
        DataType::Float32 => f32_json(a.as_primitive::<Float32Type>().value(i)),
        DataType::Float64 => f64_json(a.as_primitive::<Float64Type>().value(i)),
        DataType::Utf8 => a.as_string::<i32>().value(i).into(),
        DataType::LargeUtf8 => a.as_string::<i64>().value(i).into(),
        DataType::Utf8View => a.as_string_view().value(i).into(),
        DataType::Binary => hex(a.as_binary::<i32>().value(i)),
        DataType::LargeBinary => hex(a.as_binary::<i64>().value(i)),
        DataType::BinaryView => hex(a.as_binary_view().value(i)),
        DataType::FixedSizeBinary(_) => hex(a.as_fixed_size_binary().value(i)),
        DataType::Date32 => tc::date32_to_datetime(a.as_primitive::<Date32Type>().value(i))
            .map_or(Value::Null, |d| d.date().to_string().into()),
        DataType::Date64 => tc::date64_to_datetime(a.as_primitive::<Date64Type>().value(i))
            .map_or(Value::Null, |d| d.date().to_string().into()),
        DataType::Timestamp(unit, tz) => {
            let utc = tz.is_some();
            match unit {
                TimeUnit::Second => time_json(
                    tc::timestamp_s_to_datetime(a.as_primitive::<TimestampSecondType>().value(i)),
                    utc,
                ),
                TimeUnit::Millisecond => time_json(
                    tc::timestamp_ms_to_datetime(
                        a.as_primitive::<TimestampMillisecondType>().value(i),
                    ),
                    utc,
                ),
                TimeUnit::Microsecond => time_json(
                    tc::timestamp_us_to_datetime(
                        a.as_primitive::<TimestampMicrosecondType>().value(i),
                    ),
                    utc,
                ),
                TimeUnit::Nanosecond => time_json(
                    tc::timestamp_ns_to_datetime(
                        a.as_primitive::<TimestampNanosecondType>().value(i),
                    ),
                    utc,
                ),
            }
        }
        DataType::Decimal128(..) => a.as_primitive::<Decimal128Type>().value_as_string(i).into(),
        DataType::Decimal256(..) => a.as_primitive::<Decimal256Type>().value_as_string(i).into(),
        DataType::List(_) => list_json(a.as_list::<i32>().value(i).as_ref()),
        DataType::LargeList(_) => list_json(a.as_list::<i64>().value(i).as_ref()),
        DataType::FixedSizeList(..) => list_json(a.as_fixed_size_list().value(i).as_ref()),
        DataType::Struct(fields) => {
            let s = a.as_struct();
            Value::Object(
                fields
                    .iter()
                    .zip(s.columns())
                    .map(|(f, c)| (f.name().clone(), json_value(c.as_ref(), i)))
                    .collect(),
            )
        }
        DataType::Map(..) => {
            let entries = a.as_map().value(i);
            let (keys, values) = (entries.column(0), entries.column(1));
            Value::Object(
                (0..entries.len())
                    .map(|j| {
                        let k = match json_value(keys.as_ref(), j) {
                            Value::String(s) => s,
                            other => other.to_string(),
                        };
                        (k, json_value(values.as_ref(), j))
                    })
                    .collect(),
            )
        }
        DataType::Dictionary(..) => {
            let d = a.as_any_dictionary();
            match d.normalized_keys().get(i) {
                Some(&k) => json_value(d.values().as_ref(), k),
                None => Value::Null,
            }
        }
        _ => Value::Null,
    }
}

/// Rows of a Parquet file, from its footer (nothing else is read).
pub fn row_count(path: &Path) -> Result<usize, InputError> {
    use ::parquet::file::reader::{FileReader, SerializedFileReader};
    let f = std::fs::File::open(path).map_err(|source| InputError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let r = SerializedFileReader::new(f).map_err(|e| InputError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
    })?;
    Ok(r.metadata().file_metadata().num_rows().max(0) as usize)
}
