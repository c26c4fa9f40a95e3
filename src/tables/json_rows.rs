//! JSON rows to Arrow columns and Parquet files: the column types are inferred from all rows
//! ([`json_schema`]), rows become batches ([`json_batch`]), and [`write_json_rows`] writes a
//! whole file through [`super::ParquetFile`]. Used for the user-facing Parquet outputs
//! (kept, duplicates, clusters), whose rows are the JSONL outputs' objects.
//!
//! It decides nothing about which rows are written.

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use serde_json::{Map, Value};

use super::parquet_file::{ParquetFile, TableError, ROWS_PER_BATCH};

/// What a JSON column holds across all rows, from narrowest to widest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Bool,
    Int,
    Float,
    Str,
    StrList,
    /// Mixed or nested values: written as JSON text (strings as themselves).
    Json,
}

impl Kind {
    fn of(v: &Value) -> Kind {
        match v {
            Value::Null => Kind::Null,
            Value::Bool(_) => Kind::Bool,
            Value::Number(n) if n.is_i64() => Kind::Int,
            Value::Number(_) => Kind::Float,
            Value::String(_) => Kind::Str,
            Value::Array(a) if a.iter().all(Value::is_string) => Kind::StrList,
            _ => Kind::Json,
        }
    }

    fn merge(self, other: Kind) -> Kind {
        match (self, other) {
            (a, b) if a == b => a,
            (Kind::Null, b) => b,
            (a, Kind::Null) => a,
            (Kind::Int, Kind::Float) | (Kind::Float, Kind::Int) => Kind::Float,
            _ => Kind::Json,
        }
    }

    fn data_type(self) -> DataType {
        match self {
            Kind::Bool => DataType::Boolean,
            Kind::Int => DataType::Int64,
            Kind::Float => DataType::Float64,
            Kind::StrList => DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
            Kind::Null | Kind::Str | Kind::Json => DataType::Utf8,
        }
    }
}

/// The schema of JSON rows: one nullable column per key, in the order keys are first seen;
/// booleans, integers, floats, strings and lists of strings keep their type, anything mixed
/// or nested is a string column of JSON text.
pub fn json_schema<'a>(rows: impl IntoIterator<Item = &'a Map<String, Value>>) -> SchemaRef {
    let mut cols: Vec<(String, Kind)> = Vec::new();
    let mut at: std::collections::HashMap<String, usize> = Default::default();
    for row in rows {
        for (k, v) in row {
            let i = *at.entry(k.clone()).or_insert_with(|| {
                cols.push((k.clone(), Kind::Null));
                cols.len() - 1
            });
            cols[i].1 = cols[i].1.merge(Kind::of(v));
        }
    }
    Arc::new(Schema::new(
        cols.into_iter()
            .map(|(k, kind)| Field::new(k, kind.data_type(), true))
            .collect::<Vec<_>>(),
    ))
}

fn json_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// JSON rows as a batch of `schema` (from [`json_schema`] over at least these rows).
pub fn json_batch(
    schema: &SchemaRef,
    rows: &[Map<String, Value>],
) -> Result<RecordBatch, ArrowError> {
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| {
            let cells = rows.iter().map(|r| r.get(f.name()).unwrap_or(&Value::Null));
            let a: ArrayRef = match f.data_type() {
                DataType::Boolean => Arc::new(BooleanArray::from(
                    cells.map(Value::as_bool).collect::<Vec<_>>(),
                )),
                DataType::Int64 => Arc::new(Int64Array::from(
                    cells.map(Value::as_i64).collect::<Vec<_>>(),
                )),
                DataType::Float64 => Arc::new(Float64Array::from(
                    cells.map(Value::as_f64).collect::<Vec<_>>(),
                )),
                DataType::List(_) => {
                    let mut b = ListBuilder::new(StringBuilder::new());
                    for c in cells {
                        match c.as_array() {
                            Some(items) => {
                                for s in items {
                                    b.values().append_option(s.as_str());
                                }
                                b.append(true);
                            }
                            None => b.append(false),
                        }
                    }
                    Arc::new(b.finish())
                }
                _ => Arc::new(StringArray::from(cells.map(json_text).collect::<Vec<_>>())),
            };
            a
        })
        .collect();
    RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &arrow_array::RecordBatchOptions::new().with_row_count(Some(rows.len())),
    )
}

/// Writes JSON rows as one Parquet file, the column types inferred from all rows; with no
/// rows, the file has string columns named `empty_columns`.
pub fn write_json_rows(
    dst: &Path,
    rows: &[Map<String, Value>],
    empty_columns: &[&str],
) -> Result<(), TableError> {
    let schema = if rows.is_empty() {
        Arc::new(Schema::new(
            empty_columns
                .iter()
                .map(|c| Field::new(*c, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ))
    } else {
        json_schema(rows)
    };
    let mut f = ParquetFile::create(dst, schema)?;
    for chunk in rows.chunks(ROWS_PER_BATCH) {
        let batch = json_batch(f.schema(), chunk).map_err(|e| f.arrow(e))?;
        f.write(&batch)?;
    }
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_rows_keep_their_types_and_mixed_columns_become_text() {
        let rows: Vec<Map<String, Value>> = [
            serde_json::json!({"id": "a", "n": 1, "x": 0.5, "ok": true, "m": ["a", "b"], "e": {"c": 1}}),
            serde_json::json!({"id": "b", "n": 2, "x": 2, "ok": null, "m": [], "e": "z", "late": 3}),
        ]
        .into_iter()
        .map(|v| v.as_object().cloned().unwrap_or_default())
        .collect();
        let schema = json_schema(&rows);
        let types: Vec<String> = schema
            .fields()
            .iter()
            .map(|f| format!("{}:{}", f.name(), f.data_type()))
            .collect();
        assert_eq!(
            types,
            // Keys in the order rows hold them (serde_json's maps are sorted), new ones last.
            [
                "e:Utf8",
                "id:Utf8",
                "m:List(Utf8)",
                "n:Int64",
                "ok:Boolean",
                "x:Float64",
                "late:Int64"
            ]
        );
        let batch = json_batch(&schema, &rows).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(
            crate::input::parquet::row_json(&batch, 0)["e"],
            serde_json::json!("{\"c\":1}")
        );
        assert_eq!(crate::input::parquet::row_json(&batch, 1)["late"], 3);
    }
}
