//! Input readers: JSONL files, Parquet files ([`parquet`]), directories or lists of
//! `.txt`/`.md` files, and stdin (JSONL); any file but Parquet may be gzip-compressed
//! (`.jsonl.gz`).
//! Every input record comes out either as a [`Record`] or as a [`Rejected`] entry naming the
//! file, the line and the reason, so nothing is lost silently.
//! The types a read hands out are [`record`]'s; where a reader hands them, `sink`.
//!
//! Readers never clean or change text: what is compared is [`crate::clean`]'s job, and the
//! record's original bytes are kept for byte-for-byte output.

pub mod encoding;
pub mod gzip;
pub mod parquet;
pub mod record;
mod sink;

use std::collections::HashMap;
use std::fs;
use std::io::Read;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use record::*;
use sink::{reject, Sink};

/// Reads every input path: `-` (stdin, JSONL), a `.jsonl`/`.json` file, a `.parquet` file,
/// a `.txt`/`.md` file, or a directory (searched recursively for `.txt`, `.md`, `.jsonl` and
/// `.parquet`, in sorted order), into memory. Duplicate ids are rejected after their first
/// occurrence. A pass over many records reads them with [`read_each`] instead.
pub fn read_inputs(paths: &[PathBuf], opts: &InputOptions) -> Result<ReadOutcome, InputError> {
    let sources = Source::of_paths(paths)?;
    let mut records = Vec::new();
    let rejected = read_each(&sources, opts, &mut |r| records.push(r))?;
    Ok(ReadOutcome { records, rejected })
}

/// Where records are read from: a path (file or folder), or JSONL bytes under a name (standard
/// input once read, records handed over by a program). Every source can be read again, so a
/// pass may read its inputs twice instead of holding them.
#[derive(Debug, Clone)]
pub enum Source {
    Path(PathBuf),
    Bytes {
        name: String,
        bytes: std::sync::Arc<[u8]>,
    },
}

impl Source {
    /// The sources of command-line paths; `-` is standard input, read here once, whole.
    pub fn of_paths(paths: &[PathBuf]) -> Result<Vec<Source>, InputError> {
        paths
            .iter()
            .map(|p| {
                if p.as_os_str() != "-" {
                    return Ok(Source::Path(p.clone()));
                }
                let mut buf = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut buf)
                    .map_err(|source| InputError::Io {
                        path: p.clone(),
                        source,
                    })?;
                Ok(Source::Bytes {
                    name: "-".into(),
                    bytes: buf.into(),
                })
            })
            .collect()
    }
}

/// Reads every source in order and hands each record to `each` as soon as it is parsed: a
/// JSONL file is read a line at a time and never held whole (a Parquet file a row group at
/// a time, a text file whole). Returns the rejects, in input order, then the records whose
/// id was already taken (rejected after the first occurrence, across all sources). With
/// `on_error = fail` the first bad record stops the read with an error naming it.
pub fn read_each(
    sources: &[Source],
    opts: &InputOptions,
    each: &mut dyn FnMut(Record),
) -> Result<Vec<Rejected>, InputError> {
    let mut first: HashMap<String, Location> = HashMap::new();
    let mut repeated: Vec<(Location, String)> = Vec::new();
    let mut unique = |r: Record| {
        if first.contains_key(&r.id) {
            repeated.push((r.location, r.id));
        } else {
            first.insert(r.id.clone(), r.location.clone());
            each(r);
        }
    };
    let mut sink = Sink {
        each: &mut unique,
        rejected: Vec::new(),
    };
    for source in sources {
        match source {
            Source::Bytes { name, bytes } => {
                read_jsonl_lines(name, &bytes[..], None, opts, &mut sink, ALL_UNITS)?
            }
            Source::Path(p) if p.is_dir() => {
                for (f, name) in dir_files(p)? {
                    read_file(&f, &name, opts, &mut sink, ALL_UNITS)?;
                }
            }
            Source::Path(p) => read_file(p, &p.to_string_lossy(), opts, &mut sink, ALL_UNITS)?,
        }
    }
    let mut rejected = sink.rejected;
    for (location, id) in repeated {
        let reason = duplicate_id_reason(&id, &first[&id]);
        reject(&mut rejected, opts, location, Some(id), reason)?;
    }
    Ok(rejected)
}

/// Runs a reader into memory.
fn collect(
    read: impl FnOnce(&mut Sink<'_>) -> Result<(), InputError>,
) -> Result<ReadOutcome, InputError> {
    let mut records = Vec::new();
    let mut push = |r| records.push(r);
    let mut sink = Sink {
        each: &mut push,
        rejected: Vec::new(),
    };
    read(&mut sink)?;
    let rejected = sink.rejected;
    Ok(ReadOutcome { records, rejected })
}

/// One input file as a staged run splits the inputs: its path, the name its records are
/// located by (as [`read_inputs`] names them), and its units: lines of a JSONL file, rows of
/// a Parquet file, 1 for a text file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct InputFile {
    pub path: PathBuf,
    pub name: String,
    pub units: usize,
}

/// The units `[from, to)` of one input file: a shard's share of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Piece {
    pub path: PathBuf,
    pub name: String,
    pub from: usize,
    pub to: usize,
}

/// The files [`read_inputs`] would read, in the same order, with their units. Standard
/// input cannot be split and is refused.
pub fn list_files(paths: &[PathBuf]) -> Result<Vec<InputFile>, InputError> {
    let mut named = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            return Err(InputError::BadRecord {
                location: Location {
                    file: "-".into(),
                    line: 0,
                },
                reason: "standard input cannot be split into shards; give files".into(),
            });
        } else if p.is_dir() {
            named.extend(dir_files(p)?);
        } else {
            named.push((p.clone(), p.to_string_lossy().to_string()));
        }
    }
    named
        .into_iter()
        .map(|(path, name)| {
            let units = count_units(&path)?;
            Ok(InputFile { path, name, units })
        })
        .collect()
}

/// The input files under a folder, in sorted order, each with the name its records are
/// located by (its path relative to the folder); an error when there are none.
fn dir_files(dir: &Path) -> Result<Vec<(PathBuf, String)>, InputError> {
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    if files.is_empty() {
        return Err(InputError::NoInputs(dir.to_path_buf()));
    }
    Ok(files
        .into_iter()
        .map(|f| {
            let rel = f
                .strip_prefix(dir)
                .unwrap_or(&f)
                .to_string_lossy()
                .to_string();
            (f, rel)
        })
        .collect())
}

fn count_units(path: &Path) -> Result<usize, InputError> {
    let io = |source| InputError::Io {
        path: path.to_path_buf(),
        source,
    };
    if parquet::is_parquet(path) {
        return parquet::row_count(path);
    }
    if !is_jsonl(path) {
        return Ok(1);
    }
    // As the reader counts them: lines ended by a newline, and the piece after the last one.
    let mut reader = std::io::BufReader::with_capacity(1 << 20, gzip::open(path).map_err(io)?);
    let mut newlines = 0;
    loop {
        let buf = std::io::BufRead::fill_buf(&mut reader).map_err(io)?;
        if buf.is_empty() {
            break;
        }
        newlines += buf.iter().filter(|&&b| b == b'\n').count();
        let n = buf.len();
        std::io::BufRead::consume(&mut reader, n);
    }
    Ok(newlines + 1)
}

/// Reads pieces of input files: the records and rejects whose unit lies in each piece, in
/// order. Unlike [`read_inputs`] it does not reject repeated ids: a staged run checks ids
/// across all shards at once. Only a piece's own units are parsed: JSONL lines outside it
/// are split off but not decoded, Parquet row groups outside it are not read at all.
pub fn read_pieces(pieces: &[Piece], opts: &InputOptions) -> Result<ReadOutcome, InputError> {
    collect(|out| read_pieces_into(pieces, opts, out))
}

/// [`read_pieces`] handing each record to `each` as it is read (a JSONL piece is never held
/// whole); returns the rejects.
pub fn read_pieces_each(
    pieces: &[Piece],
    opts: &InputOptions,
    each: &mut dyn FnMut(Record),
) -> Result<Vec<Rejected>, InputError> {
    let mut sink = Sink {
        each,
        rejected: Vec::new(),
    };
    read_pieces_into(pieces, opts, &mut sink)?;
    Ok(sink.rejected)
}

fn read_pieces_into(
    pieces: &[Piece],
    opts: &InputOptions,
    out: &mut Sink<'_>,
) -> Result<(), InputError> {
    for piece in pieces {
        read_file(&piece.path, &piece.name, opts, out, piece.from..piece.to)?;
    }
    Ok(())
}

/// Every unit of a file (lines of JSONL, rows of Parquet; a text file is one unit).
const ALL_UNITS: Range<usize> = 0..usize::MAX;

fn is_jsonl(p: &Path) -> bool {
    matches!(
        gzip::content_extension(p),
        Some("jsonl" | "json" | "ndjson")
    )
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), InputError> {
    let io = |source| InputError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io)?;
    entries.sort();
    for e in entries {
        if e.is_dir() {
            walk(&e, files)?;
        } else if is_jsonl(&e)
            || parquet::is_parquet(&e)
            || matches!(gzip::content_extension(&e), Some("txt" | "md"))
        {
            files.push(e);
        }
    }
    Ok(())
}

/// Reads the records of `path` whose unit (0-based line or row) lies in `units`.
fn read_file(
    path: &Path,
    name: &str,
    opts: &InputOptions,
    out: &mut Sink<'_>,
    units: Range<usize>,
) -> Result<(), InputError> {
    if parquet::is_parquet(path) {
        return parquet::read_file(path, name, opts, out, units);
    }
    if !units.contains(&0) && !is_jsonl(path) {
        return Ok(());
    }
    let io = |source| InputError::Io {
        path: path.to_path_buf(),
        source,
    };
    if is_jsonl(path) {
        // A plain file's lines can be read back from it by offset; a decompressed one's not.
        let verbatim = (!gzip::is_gz(path)).then(|| std::sync::Arc::<Path>::from(path));
        let reader = std::io::BufReader::with_capacity(1 << 20, gzip::open(path).map_err(io)?);
        return read_jsonl_lines(name, reader, verbatim, opts, out, units);
    }
    let bytes = gzip::read(path).map_err(io)?;
    let location = Location {
        file: name.to_string(),
        line: 0,
    };
    let decoded = encoding::decode_bytes(&bytes);
    let refused = if decoded.malformed > 0 {
        Some(format!(
            "{} byte sequence(s) cannot be decoded (best guess {})",
            decoded.malformed, decoded.encoding
        ))
    } else if let Some(reason) = encoding::binary_reason(&decoded.text) {
        Some(reason)
    } else if decoded.text.trim().is_empty() {
        Some("empty text".into())
    } else if decoded.text.len() > opts.max_record_bytes {
        Some(format!(
            "text is {} bytes, over the limit of {} (--max-record-bytes)",
            decoded.text.len(),
            opts.max_record_bytes
        ))
    } else {
        None
    };
    if let Some(reason) = refused {
        let id = Some(name.to_string());
        return reject(&mut out.rejected, opts, location, id, reason);
    }
    let raw = serde_json::to_vec(&serde_json::json!({"id": name, "text": decoded.text}))
        .unwrap_or_default();
    out.record(Record {
        id: name.to_string(),
        title: None,
        text: decoded.text,
        raw,
        fields: serde_json::Map::new(),
        location,
        encoding: decoded.encoding,
        parquet_row: None,
        raw_at: None,
    });
    Ok(())
}

/// Reads records given as JSONL bytes under the name `name` (records handed over by a
/// program rather than a file), with repeated ids rejected as [`read_inputs`] does.
pub fn read_jsonl_records(
    name: &str,
    bytes: &[u8],
    opts: &InputOptions,
) -> Result<ReadOutcome, InputError> {
    let source = Source::Bytes {
        name: name.to_string(),
        bytes: bytes.into(),
    };
    let mut records = Vec::new();
    let rejected = read_each(&[source], opts, &mut |r| records.push(r))?;
    Ok(ReadOutcome { records, rejected })
}

/// Reads the lines of JSONL whose 0-based index lies in `units`, a line at a time; `file`
/// names the file `reader` reads, verbatim, so that each record knows where its line lies in
/// it. A last line without a newline is read like any other (a truncated JSON object on it
/// is rejected as malformed, not dropped).
fn read_jsonl_lines(
    name: &str,
    mut reader: impl std::io::BufRead,
    file: Option<std::sync::Arc<Path>>,
    opts: &InputOptions,
    out: &mut Sink<'_>,
    units: Range<usize>,
) -> Result<(), InputError> {
    let mut buf = Vec::new();
    let mut offset = 0u64;
    for i in 0.. {
        if i >= units.end {
            break;
        }
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| InputError::Io {
                path: PathBuf::from(name),
                source,
            })?;
        if n == 0 {
            break;
        }
        let mut at = offset;
        offset += n as u64;
        if i < units.start {
            continue;
        }
        let mut line: &[u8] = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if i == 0 {
            if let Some(rest) = line.strip_prefix(b"\xEF\xBB\xBF") {
                line = rest;
                at += 3;
            }
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let location = Location {
            file: name.to_string(),
            line: i + 1,
        };
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        match parse_jsonl_record(line, opts) {
            Ok((id, title, text, fields)) => out.record(Record {
                id,
                title,
                text,
                raw: line.to_vec(),
                fields,
                location,
                encoding: "UTF-8",
                parquet_row: None,
                raw_at: file.as_ref().and_then(|path| {
                    Some(RawAt {
                        path: path.clone(),
                        offset: at,
                        len: u32::try_from(line.len()).ok()?,
                        hash: xxhash_rust::xxh3::xxh3_64(line),
                    })
                }),
            }),
            Err((id, reason)) => reject(&mut out.rejected, opts, location, id, reason)?,
        }
    }
    Ok(())
}

type Parsed = (
    String,
    Option<String>,
    String,
    serde_json::Map<String, serde_json::Value>,
);

fn parse_jsonl_record(
    line: &[u8],
    opts: &InputOptions,
) -> Result<Parsed, (Option<String>, String)> {
    let text = std::str::from_utf8(line).map_err(|e| {
        (
            None,
            format!("invalid UTF-8 at byte {} of the line", e.valid_up_to()),
        )
    })?;
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| (None, format!("malformed JSON: {e}")))?;
    let serde_json::Value::Object(fields) = value else {
        return Err((None, "not a JSON object".into()));
    };
    let id = match fields.get(&opts.id_field) {
        Some(serde_json::Value::String(s)) if !s.is_empty() => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err((
                None,
                format!(
                    "field \"{}\" must be a string or number, found {}",
                    opts.id_field,
                    kind(other)
                ),
            ))
        }
        None => return Err((None, format!("missing field \"{}\"", opts.id_field))),
    };
    let body = match fields.get(&opts.text_field) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => {
            return Err((
                Some(id),
                format!(
                    "field \"{}\" must be a string, found {}",
                    opts.text_field,
                    kind(other)
                ),
            ))
        }
        None => return Err((Some(id), format!("missing field \"{}\"", opts.text_field))),
    };
    if body.trim().is_empty() {
        return Err((Some(id), "empty text".into()));
    }
    if let Some(reason) = encoding::binary_reason(&body) {
        return Err((Some(id), reason));
    }
    if body.len() > opts.max_record_bytes {
        return Err((
            Some(id),
            format!(
                "text is {} bytes, over the limit of {} (--max-record-bytes)",
                body.len(),
                opts.max_record_bytes
            ),
        ));
    }
    let title = match fields.get(&opts.title_field) {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    };
    Ok((id, title, body, fields))
}

fn kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Why a record whose id was seen before is rejected.
pub fn duplicate_id_reason(id: &str, first_at: &Location) -> String {
    format!("duplicate id \"{id}\" (first at {first_at})")
}

/// Rejects every record whose id was already seen, naming where it was first seen.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_line_is_rejected_with_its_line_number() {
        let data = b"{\"id\":\"a\",\"text\":\"hello\"}\n\
{not json\n\
{\"id\":\"b\",\"text\":5}\n\
{\"id\":\"c\",\"text\":\"\"}\n\
{\"id\":\"d\",\"text\":\"bad \xff\"}\n\
{\"id\":\"a\",\"text\":\"again\"}\n\
{\"id\":\"e\",\"text\":\"trunc";
        let opts = InputOptions::default();
        let out = read_jsonl_records("f.jsonl", data, &opts).unwrap();
        assert_eq!(out.records.len(), 1);
        assert_eq!(out.total(), 7);
        let lines: Vec<usize> = out.rejected.iter().map(|r| r.location.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 7, 6]);
        assert!(out.rejected[5].reason.contains("duplicate id"));
    }

    #[test]
    fn fail_policy_stops_at_the_first_bad_line() {
        let opts = InputOptions {
            on_error: OnError::Fail,
            ..Default::default()
        };
        let err =
            read_jsonl_records("x.jsonl", b"{\"id\":1,\"text\":\"ok\"}\n[1]\n", &opts).unwrap_err();
        assert_eq!(err.to_string(), "x.jsonl:2: not a JSON object");
    }

    /// Records and rejects as (location, id) in the order they were read.
    fn seen(o: &ReadOutcome) -> (Vec<String>, Vec<String>) {
        (
            o.records
                .iter()
                .map(|r| format!("{} {}", r.location, r.id))
                .collect(),
            o.rejected.iter().map(|r| r.location.to_string()).collect(),
        )
    }

    #[test]
    fn pieces_read_exactly_their_own_lines_and_rows() {
        use arrow_array::{RecordBatch, StringArray};
        let dir = tempfile::tempdir().unwrap();
        let jsonl = dir.path().join("a.jsonl");
        let lines: Vec<String> = (0..7)
            .map(|i| match i {
                3 => "{broken".to_string(),
                _ => format!("{{\"id\":\"j{i}\",\"text\":\"text {i}\"}}"),
            })
            .collect();
        std::fs::write(&jsonl, lines.join("\n") + "\n").unwrap();
        // Parquet with row groups of 2 rows: a piece skips the groups outside it.
        let pq = dir.path().join("b.parquet");
        let ids: Vec<String> = (0..7).map(|i| format!("p{i}")).collect();
        let texts: Vec<Option<String>> = (0..7)
            .map(|i| (i != 4).then(|| format!("text {i}")))
            .collect();
        let batch = RecordBatch::try_from_iter([
            (
                "id",
                std::sync::Arc::new(StringArray::from(ids)) as arrow_array::ArrayRef,
            ),
            (
                "text",
                std::sync::Arc::new(StringArray::from(texts)) as arrow_array::ArrayRef,
            ),
        ])
        .unwrap();
        let props = ::parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(2))
            .build();
        let f = std::fs::File::create(&pq).unwrap();
        let mut w = ::parquet::arrow::ArrowWriter::try_new(f, batch.schema(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();

        let opts = InputOptions::default();
        let paths = vec![jsonl.clone(), pq.clone()];
        let whole = read_inputs(&paths, &opts).unwrap();
        for cuts in [vec![0, 8], vec![0, 3, 4, 8], vec![0, 1, 2, 5, 6, 8]] {
            let mut joined = ReadOutcome::default();
            for f in list_files(&paths).unwrap() {
                for w in cuts.windows(2) {
                    let piece = Piece {
                        path: f.path.clone(),
                        name: f.name.clone(),
                        from: w[0],
                        to: w[1],
                    };
                    let one = read_pieces(&[piece], &opts).unwrap();
                    // Each piece holds only its own units.
                    for l in one
                        .records
                        .iter()
                        .map(|r| &r.location)
                        .chain(one.rejected.iter().map(|r| &r.location))
                    {
                        assert!((w[0]..w[1]).contains(&(l.line - 1)), "{l} outside {w:?}");
                    }
                    joined.records.extend(one.records);
                    joined.rejected.extend(one.rejected);
                }
            }
            let sorted = |o: &ReadOutcome| {
                let (records, mut rejected) = seen(o);
                rejected.sort();
                (records, rejected)
            };
            assert_eq!(sorted(&joined), sorted(&whole), "cuts {cuts:?}");
        }
        assert_eq!(whole.records.len(), 12);
        assert_eq!(whole.rejected.len(), 2);
    }
}
