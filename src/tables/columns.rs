//! Tables of named, typed columns ([`Col`]) of equal length, as Parquet files: the tables a
//! staged run passes between its stages. A table is written in one atomic write (through
//! [`super::ParquetFile`]; a task that is re-run replaces its file whole) and read back
//! whole ([`read`], then the typed takers such as [`u64s`]). Intermediate tables are per
//! shard or per partition, so reading one whole is bounded by the shard size.
//!
//! It knows nothing about what the columns mean.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::builder::{
    FixedSizeListBuilder, Float32Builder, ListBuilder, PrimitiveBuilder, StringBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{ArrowPrimitiveType, Float32Type, UInt32Type, UInt64Type};
use arrow_array::{
    Array, ArrayRef, BinaryArray, Float32Array, RecordBatch, StringArray, UInt32Array, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection,
};
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::PageIndexPolicy;

use super::parquet_file::{ParquetFile, TableError};

/// One column.
#[derive(Debug, Clone, PartialEq)]
pub enum Col {
    U64(Vec<u64>),
    U32(Vec<u32>),
    F32(Vec<f32>),
    Str(Vec<String>),
    OptStr(Vec<Option<String>>),
    Bytes(Vec<Vec<u8>>),
    StrList(Vec<Vec<String>>),
    U32List(Vec<Vec<u32>>),
    F32List(Vec<Vec<f32>>),
    /// Fixed-width f32 vectors (`fixed_size_list<float32>`), flattened row after row.
    Vectors {
        dim: usize,
        flat: Vec<f32>,
    },
}

impl Col {
    fn len(&self) -> usize {
        match self {
            Col::U64(v) => v.len(),
            Col::U32(v) => v.len(),
            Col::F32(v) => v.len(),
            Col::Str(v) => v.len(),
            Col::OptStr(v) => v.len(),
            Col::Bytes(v) => v.len(),
            Col::StrList(v) => v.len(),
            Col::U32List(v) => v.len(),
            Col::F32List(v) => v.len(),
            Col::Vectors { dim, flat } => flat.len() / (*dim).max(1),
        }
    }
}

fn shape_err(path: &Path, message: String) -> TableError {
    TableError::Shape {
        path: path.to_path_buf(),
        message,
    }
}

/// A table read back: its columns by name.
#[derive(Debug, Default)]
pub struct Table {
    pub rows: usize,
    cols: HashMap<String, Col>,
}

impl Table {
    /// Takes a column out of the table (an error names the file when it is missing).
    pub fn take(&mut self, name: &str, path: &Path) -> Result<Col, TableError> {
        self.cols
            .remove(name)
            .ok_or_else(|| shape_err(path, format!("no column \"{name}\"")))
    }
}

macro_rules! take_as {
    ($fn:ident, $variant:ident, $ty:ty) => {
        /// The named column as this type (an error names the file otherwise).
        pub fn $fn(t: &mut Table, name: &str, path: &Path) -> Result<$ty, TableError> {
            match t.take(name, path)? {
                Col::$variant(v) => Ok(v),
                _ => Err(shape_err(
                    path,
                    format!("column \"{name}\" is not {}", stringify!($variant)),
                )),
            }
        }
    };
}
take_as!(u64s, U64, Vec<u64>);
take_as!(u32s, U32, Vec<u32>);
take_as!(f32s, F32, Vec<f32>);
take_as!(strs, Str, Vec<String>);
take_as!(opt_strs, OptStr, Vec<Option<String>>);
take_as!(bytes, Bytes, Vec<Vec<u8>>);
take_as!(str_lists, StrList, Vec<Vec<String>>);
take_as!(u32_lists, U32List, Vec<Vec<u32>>);
take_as!(f32_lists, F32List, Vec<Vec<f32>>);

/// The named fixed-width vector column: (dim, flat values).
pub fn vectors(t: &mut Table, name: &str, path: &Path) -> Result<(usize, Vec<f32>), TableError> {
    match t.take(name, path)? {
        Col::Vectors { dim, flat } => Ok((dim, flat)),
        _ => Err(shape_err(path, format!("column \"{name}\" is not vectors"))),
    }
}

fn to_array(col: &Col) -> (DataType, ArrayRef) {
    match col {
        Col::U64(v) => (DataType::UInt64, Arc::new(UInt64Array::from(v.clone()))),
        Col::U32(v) => (DataType::UInt32, Arc::new(UInt32Array::from(v.clone()))),
        Col::F32(v) => (DataType::Float32, Arc::new(Float32Array::from(v.clone()))),
        Col::Str(v) => (DataType::Utf8, Arc::new(StringArray::from_iter_values(v))),
        Col::OptStr(v) => (
            DataType::Utf8,
            Arc::new(v.iter().map(|s| s.as_deref()).collect::<StringArray>()),
        ),
        Col::Bytes(v) => (
            DataType::Binary,
            Arc::new(BinaryArray::from_iter_values(v.iter())),
        ),
        Col::StrList(v) => {
            let mut b = ListBuilder::new(StringBuilder::new());
            for row in v {
                for s in row {
                    b.values().append_value(s);
                }
                b.append(true);
            }
            finished(b.finish())
        }
        Col::U32List(v) => finished(primitive_list::<UInt32Type>(v)),
        Col::F32List(v) => finished(primitive_list::<Float32Type>(v)),
        Col::Vectors { dim, flat } => {
            let mut b = FixedSizeListBuilder::new(Float32Builder::new(), *dim as i32);
            for row in flat.chunks(*dim) {
                b.values().append_slice(row);
                b.append(true);
            }
            finished(b.finish())
        }
    }
}

fn finished(a: impl Array + 'static) -> (DataType, ArrayRef) {
    (a.data_type().clone(), Arc::new(a))
}

/// Rows of primitive values as a `list<T>` column.
fn primitive_list<T: ArrowPrimitiveType>(rows: &[Vec<T::Native>]) -> arrow_array::ListArray {
    let mut b = ListBuilder::new(PrimitiveBuilder::<T>::new());
    for row in rows {
        b.values().append_slice(row);
        b.append(true);
    }
    b.finish()
}

/// Writes a table to `path` (replacing it atomically; parent folders are created).
pub fn write(path: &Path, cols: Vec<(&str, Col)>) -> Result<(), TableError> {
    let mut w = TableWriter::new(path);
    w.write(cols)?;
    w.finish()
}

/// A table written a block of rows at a time, each block its own row group, so a stage
/// holds one block, not the table (replaced atomically at [`TableWriter::finish`]; parent
/// folders are created). Every block has the same columns; at least one must be written
/// (an empty one gives an empty table of those columns).
pub struct TableWriter {
    path: PathBuf,
    file: Option<ParquetFile>,
}

impl TableWriter {
    pub fn new(path: &Path) -> TableWriter {
        TableWriter {
            path: path.to_path_buf(),
            file: None,
        }
    }

    /// Writes one block of rows.
    pub fn write(&mut self, cols: Vec<(&str, Col)>) -> Result<(), TableError> {
        let path = &self.path;
        let rows = cols.first().map_or(0, |c| c.1.len());
        if let Some((name, _)) = cols.iter().find(|c| c.1.len() != rows) {
            return Err(shape_err(
                path,
                format!("column \"{name}\" has another length"),
            ));
        }
        let mut fields = Vec::new();
        let mut arrays = Vec::new();
        for (name, col) in &cols {
            let (dt, a) = to_array(col);
            fields.push(Field::new(*name, dt, matches!(col, Col::OptStr(_))));
            arrays.push(a);
        }
        drop(cols);
        let file = match &mut self.file {
            Some(f) => f,
            None => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|source| TableError::Io {
                        path: parent.to_path_buf(),
                        source,
                    })?;
                }
                self.file
                    .insert(ParquetFile::create(path, Arc::new(Schema::new(fields)))?)
            }
        };
        let batch =
            RecordBatch::try_new(file.schema().clone(), arrays).map_err(|e| file.arrow(e))?;
        file.write(&batch)?;
        file.end_row_group()
    }

    /// Lands the table under its name.
    pub fn finish(self) -> Result<(), TableError> {
        match self.file {
            Some(f) => f.commit(),
            None => Err(shape_err(&self.path, "no rows block was written".into())),
        }
    }
}

fn append(
    col: &mut Option<Col>,
    a: &ArrayRef,
    nullable: bool,
    path: &Path,
    name: &str,
) -> Result<(), TableError> {
    let bad = || shape_err(path, format!("column \"{name}\" has an unexpected type"));
    match a.data_type() {
        DataType::UInt64 => {
            let v = a.as_primitive::<UInt64Type>().values().iter().copied();
            match col.get_or_insert(Col::U64(Vec::new())) {
                Col::U64(x) => x.extend(v),
                _ => return Err(bad()),
            }
        }
        DataType::UInt32 => {
            let v = a.as_primitive::<UInt32Type>().values().iter().copied();
            match col.get_or_insert(Col::U32(Vec::new())) {
                Col::U32(x) => x.extend(v),
                _ => return Err(bad()),
            }
        }
        DataType::Float32 => {
            let v = a.as_primitive::<Float32Type>().values().iter().copied();
            match col.get_or_insert(Col::F32(Vec::new())) {
                Col::F32(x) => x.extend(v),
                _ => return Err(bad()),
            }
        }
        DataType::Utf8 => {
            let s = a.as_string::<i32>();
            if nullable {
                let v: Vec<Option<String>> = s.iter().map(|x| x.map(str::to_string)).collect();
                match col.get_or_insert(Col::OptStr(Vec::new())) {
                    Col::OptStr(x) => x.extend(v),
                    _ => return Err(bad()),
                }
            } else {
                let v = s.iter().map(|x| x.unwrap_or_default().to_string());
                match col.get_or_insert(Col::Str(Vec::new())) {
                    Col::Str(x) => x.extend(v),
                    _ => return Err(bad()),
                }
            }
        }
        DataType::Binary => {
            let v = a
                .as_binary::<i32>()
                .iter()
                .map(|x| x.unwrap_or_default().to_vec());
            match col.get_or_insert(Col::Bytes(Vec::new())) {
                Col::Bytes(x) => x.extend(v),
                _ => return Err(bad()),
            }
        }
        DataType::List(f) => {
            let l = a.as_list::<i32>();
            match f.data_type() {
                DataType::Utf8 => {
                    let v = (0..l.len()).map(|i| {
                        l.value(i)
                            .as_string::<i32>()
                            .iter()
                            .map(|x| x.unwrap_or_default().to_string())
                            .collect::<Vec<_>>()
                    });
                    match col.get_or_insert(Col::StrList(Vec::new())) {
                        Col::StrList(x) => x.extend(v),
                        _ => return Err(bad()),
                    }
                }
                DataType::UInt32 => {
                    let v = (0..l.len())
                        .map(|i| l.value(i).as_primitive::<UInt32Type>().values().to_vec());
                    match col.get_or_insert(Col::U32List(Vec::new())) {
                        Col::U32List(x) => x.extend(v),
                        _ => return Err(bad()),
                    }
                }
                DataType::Float32 => {
                    let v = (0..l.len())
                        .map(|i| l.value(i).as_primitive::<Float32Type>().values().to_vec());
                    match col.get_or_insert(Col::F32List(Vec::new())) {
                        Col::F32List(x) => x.extend(v),
                        _ => return Err(bad()),
                    }
                }
                _ => return Err(bad()),
            }
        }
        DataType::FixedSizeList(_, d) => {
            let l = a.as_fixed_size_list();
            let vals = l.values().as_primitive::<Float32Type>();
            let start = l.offset() * *d as usize;
            let v = vals.values()[start..start + l.len() * *d as usize]
                .iter()
                .copied();
            match col.get_or_insert(Col::Vectors {
                dim: *d as usize,
                flat: Vec::new(),
            }) {
                Col::Vectors { flat, .. } => flat.extend(v),
                _ => return Err(bad()),
            }
        }
        _ => return Err(bad()),
    }
    Ok(())
}

/// Reads a whole table.
pub fn read(path: &Path) -> Result<Table, TableError> {
    let builder = open(path)?;
    let all: Vec<usize> = (0..builder.schema().fields().len()).collect();
    read_from(path, builder, &all, None)
}

/// Reads only the named columns of a table (the others are not decoded).
pub fn read_columns(path: &Path, columns: &[&str]) -> Result<Table, TableError> {
    let builder = open(path)?;
    let roots = columns
        .iter()
        .map(|c| {
            builder
                .schema()
                .index_of(c)
                .map_err(|_| shape_err(path, format!("no column \"{c}\"")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    read_from(path, builder, &roots, None)
}

/// Reads only the rows of a table whose u64 column `key` passes `keep`, and of them only
/// `columns` (`key` among them or not): the key column is read first, alone; then the
/// matching rows of the other columns, so pages without any of them are not decoded (nor
/// read, where the file has a page index, as the files [`write`] makes do).
pub fn read_matching(
    path: &Path,
    key: &str,
    keep: impl Fn(u64) -> bool,
    columns: &[&str],
) -> Result<Table, TableError> {
    let (builder, roots, rows) = matching_rows(path, key, keep, columns)?;
    let total = builder
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows().max(0) as usize)
        .sum();
    let selection = RowSelection::from_consecutive_ranges(rows.iter().map(|&r| r..r + 1), total);
    read_from(path, builder, &roots, Some(selection))
}

/// [`read_matching`] a row group at a time (a block of the files [`TableWriter`] writes),
/// each group's matching rows handed to `each` as their own table: the caller holds one
/// group's rows, not every matching row, and the reader decodes one group at a time (a
/// selection spread over many groups, read at once, decoded them all together: 1.3 GB for
/// 610 rows of a 20,000-record vector table).
pub fn read_matching_each(
    path: &Path,
    key: &str,
    keep: impl Fn(u64) -> bool,
    columns: &[&str],
    each: &mut dyn FnMut(Table) -> Result<(), TableError>,
) -> Result<(), TableError> {
    let (builder, roots, rows) = matching_rows(path, key, keep, columns)?;
    let groups: Vec<usize> = builder
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows().max(0) as usize)
        .collect();
    drop(builder);
    let mut start = 0;
    let mut next = 0;
    for (g, &len) in groups.iter().enumerate() {
        let end = start + len;
        let from = next;
        while next < rows.len() && rows[next] < end {
            next += 1;
        }
        if next > from {
            let selection = RowSelection::from_consecutive_ranges(
                rows[from..next].iter().map(|&r| r - start..r - start + 1),
                len,
            );
            let builder = open(path)?.with_row_groups(vec![g]);
            each(read_from(path, builder, &roots, Some(selection))?)?;
        }
        start = end;
    }
    Ok(())
}

/// A file opened for reading, the positions of the columns wanted, and the rows selected.
type Matching = (
    ParquetRecordBatchReaderBuilder<File>,
    Vec<usize>,
    Vec<usize>,
);

/// The file opened, the columns' positions and the rows (in order) whose `key` passes.
fn matching_rows(
    path: &Path,
    key: &str,
    keep: impl Fn(u64) -> bool,
    columns: &[&str],
) -> Result<Matching, TableError> {
    let builder = open(path)?;
    let schema = builder.schema().clone();
    let at = |name: &str| {
        schema
            .index_of(name)
            .map_err(|_| shape_err(path, format!("no column \"{name}\"")))
    };
    let wanted = columns
        .iter()
        .map(|c| at(c))
        .collect::<Result<Vec<_>, _>>()?;
    let mut keys = read_from(path, builder, &[at(key)?], None)?;
    let total = keys.rows;
    let keys = u64s(&mut keys, key, path)?;
    let rows: Vec<usize> = (0..total).filter(|&r| keep(keys[r])).collect();
    Ok((open(path)?, wanted, rows))
}

fn open(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, TableError> {
    let file = File::open(path).map_err(|source| TableError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let options = ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional);
    ParquetRecordBatchReaderBuilder::try_new_with_options(file, options).map_err(|source| {
        TableError::ParquetRead {
            path: path.to_path_buf(),
            source,
        }
    })
}

/// Reads the root columns `roots` (schema positions) of the selected rows.
fn read_from(
    path: &Path,
    builder: ParquetRecordBatchReaderBuilder<File>,
    roots: &[usize],
    selection: Option<RowSelection>,
) -> Result<Table, TableError> {
    let (fields, order, reader) = projected(path, builder, roots, selection)?;
    let mut cols: Vec<Option<Col>> = vec![None; fields.len()];
    let mut rows = 0;
    for batch in reader {
        let batch = batch.map_err(|source| TableError::Arrow {
            path: path.to_path_buf(),
            source,
        })?;
        rows += append_batch(&mut cols, &fields, &order, &batch, path)?;
    }
    finish_table(path, &fields, cols, rows)
}

type Projected = (
    Vec<arrow_schema::Field>,
    Vec<usize>,
    parquet::arrow::arrow_reader::ParquetRecordBatchReader,
);

/// A reader of the root columns `roots` of the selected rows: their fields, and the order
/// the projected batches hold them in (schema order).
fn projected(
    path: &Path,
    builder: ParquetRecordBatchReaderBuilder<File>,
    roots: &[usize],
    selection: Option<RowSelection>,
) -> Result<Projected, TableError> {
    let fields: Vec<_> = roots
        .iter()
        .map(|&i| builder.schema().field(i).clone())
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots.iter().copied());
    let mut builder = builder.with_projection(mask);
    if let Some(selection) = selection {
        builder = builder.with_row_selection(selection);
    }
    let reader = builder.build().map_err(|source| TableError::ParquetRead {
        path: path.to_path_buf(),
        source,
    })?;
    let mut order: Vec<usize> = (0..fields.len()).collect();
    order.sort_by_key(|&i| roots[i]);
    Ok((fields, order, reader))
}

/// Appends a projected batch's columns; returns its rows.
fn append_batch(
    cols: &mut [Option<Col>],
    fields: &[arrow_schema::Field],
    order: &[usize],
    batch: &RecordBatch,
    path: &Path,
) -> Result<usize, TableError> {
    for (&i, a) in order.iter().zip(batch.columns()) {
        let f = &fields[i];
        append(&mut cols[i], a, f.is_nullable(), path, f.name())?;
    }
    Ok(batch.num_rows())
}

/// The columns read as a table (a column of no rows gets the written type).
fn finish_table(
    path: &Path,
    fields: &[arrow_schema::Field],
    cols: Vec<Option<Col>>,
    rows: usize,
) -> Result<Table, TableError> {
    let mut out = HashMap::new();
    for (col, f) in cols.into_iter().zip(fields) {
        let col = match col {
            Some(c) => c,
            None => {
                let mut c = None;
                let empty = arrow_array::new_empty_array(f.data_type());
                append(&mut c, &empty, f.is_nullable(), path, f.name())?;
                c.unwrap_or(Col::U64(Vec::new()))
            }
        };
        out.insert(f.name().clone(), col);
    }
    Ok(Table { rows, cols: out })
}

/// Every `.parquet` file in `dir`, sorted (none when the folder does not exist).
pub fn files_in(dir: &Path) -> Result<Vec<PathBuf>, TableError> {
    let mut v = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd {
                let p = e
                    .map_err(|source| TableError::Io {
                        path: dir.to_path_buf(),
                        source,
                    })?
                    .path();
                if p.extension().is_some_and(|x| x == "parquet") {
                    v.push(p);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(TableError::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    }
    v.sort();
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_reads_back_whole_and_by_matching_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let n = 5000u64;
        let cols = || {
            vec![
                ("name", Col::Str((0..n).map(|i| format!("r{i}")).collect())),
                ("idx", Col::U64((0..n).map(|i| 10 + i).collect())),
                (
                    "list",
                    Col::U32List((0..n).map(|i| vec![i as u32; (i % 3) as usize]).collect()),
                ),
                (
                    "vec",
                    Col::Vectors {
                        dim: 2,
                        flat: (0..2 * n).map(|i| i as f32).collect(),
                    },
                ),
            ]
        };
        write(&path, cols()).unwrap();
        let mut whole = read(&path).unwrap();
        assert_eq!(whole.rows, n as usize);
        for (name, col) in cols() {
            assert_eq!(whole.take(name, &path).unwrap(), col, "{name}");
        }
        // Columns asked in another order than written, the key not among them.
        let keep = |i: u64| i % 7 == 3 || i == 10;
        let mut some = read_matching(&path, "idx", keep, &["vec", "name"]).unwrap();
        let want: Vec<u64> = (0..n).filter(|&i| keep(10 + i)).collect();
        assert_eq!(some.rows, want.len());
        assert_eq!(
            strs(&mut some, "name", &path).unwrap(),
            want.iter().map(|i| format!("r{i}")).collect::<Vec<_>>()
        );
        let (dim, flat) = vectors(&mut some, "vec", &path).unwrap();
        assert_eq!(dim, 2);
        let want_flat: Vec<f32> = want
            .iter()
            .flat_map(|&i| [2.0 * i as f32, 2.0 * i as f32 + 1.0])
            .collect();
        assert_eq!(flat, want_flat);
        assert!(some.take("idx", &path).is_err(), "only the asked columns");
        // Nothing matching: empty columns of the written types.
        let mut none = read_matching(&path, "idx", |_| false, &["list"]).unwrap();
        assert_eq!(none.rows, 0);
        assert_eq!(u32_lists(&mut none, "list", &path).unwrap().len(), 0);
        let err = read_matching(&path, "idx", |_| true, &["nope"]).unwrap_err();
        assert!(err.to_string().contains("no column \"nope\""), "{err}");
    }
}
