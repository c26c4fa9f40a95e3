//! Parquet in and out, through the built `simdex` binary as a user types it. The Parquet
//! inputs are made here with the `parquet`/`arrow` crates from the example corpus
//! (`examples/news/*.txt`, read with simdex's own text reader so the GB18030 page is decoded),
//! with an integer column (`views`) and a date column (`published`) beside id and text.

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float32Type, Int64Type};
use arrow_array::{
    Array, ArrayRef, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use serde_json::{json, Value};

fn simdex(args: &[&str]) -> Output {
    common::run_simdex(args)
}

fn ok(args: &[&str]) -> (String, String) {
    let o = simdex(args);
    assert!(
        o.status.success(),
        "simdex {} failed ({}):\n{}",
        args.join(" "),
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn jsonl(p: &Path) -> Vec<Value> {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// One example page: its id (file name), text, and the two extra columns.
struct Page {
    id: String,
    text: String,
    views: i64,
    /// Days since 1970-01-01.
    published: i32,
}

/// The ten example pages, in file order.
fn pages() -> Vec<Page> {
    let read = simdex::input::read_inputs(
        &[PathBuf::from("examples/news")],
        &simdex::input::InputOptions::default(),
    )
    .unwrap();
    assert_eq!(read.records.len(), 10);
    read.records
        .into_iter()
        .enumerate()
        .map(|(i, r)| Page {
            id: r.id,
            text: r.text,
            views: 1000 + i as i64 * 7,
            published: 19_723 + i as i32, // 2024-01-01 + i days
        })
        .collect()
}

fn date(days: i32) -> String {
    arrow_array::temporal_conversions::date32_to_datetime(days)
        .unwrap()
        .date()
        .to_string()
}

/// Writes columns as a Parquet file with row groups of at most `row_group` rows.
fn write_parquet(path: &Path, columns: Vec<(&str, ArrayRef)>, row_group: usize) {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(row_group))
        .build();
    let mut w =
        ArrowWriter::try_new(File::create(path).unwrap(), batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// The pages as a Parquet file: id, text, views (int64), published (date32).
fn pages_parquet(path: &Path, pages: &[Page], row_group: usize) {
    write_parquet(
        path,
        vec![
            (
                "id",
                Arc::new(StringArray::from_iter_values(pages.iter().map(|p| &p.id))) as ArrayRef,
            ),
            (
                "text",
                Arc::new(StringArray::from_iter_values(pages.iter().map(|p| &p.text))),
            ),
            (
                "views",
                Arc::new(Int64Array::from_iter_values(pages.iter().map(|p| p.views))),
            ),
            (
                "published",
                Arc::new(Date32Array::from_iter_values(
                    pages.iter().map(|p| p.published),
                )),
            ),
        ],
        row_group,
    );
}

/// The same pages as JSONL, the date as `YYYY-MM-DD`.
fn pages_jsonl(path: &Path, pages: &[Page]) {
    let lines: Vec<String> = pages
        .iter()
        .map(|p| {
            json!({"id": p.id, "text": p.text, "views": p.views, "published": date(p.published)})
                .to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

/// Every batch of a Parquet file, and its row group count.
fn read_parquet(path: &Path) -> (Vec<RecordBatch>, usize) {
    let b = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let groups = b.metadata().num_row_groups();
    (b.build().unwrap().map(|b| b.unwrap()).collect(), groups)
}

/// A string column of a Parquet file, all batches.
fn strings(batches: &[RecordBatch], col: &str) -> Vec<Option<String>> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b.column_by_name(col).unwrap().as_string::<i32>().clone();
            (0..a.len())
                .map(move |i| (!a.is_null(i)).then(|| a.value(i).to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// What a dedup run decided: kept ids, (id, duplicate_of) pairs, clusters (kept, members).
type Decisions = (
    Vec<String>,
    Vec<(String, String)>,
    Vec<(String, Vec<String>)>,
);

fn jsonl_decisions(out: &Path) -> Decisions {
    let str_of = |v: &Value| v.as_str().unwrap().to_string();
    (
        jsonl(&out.join("kept.jsonl"))
            .iter()
            .map(|r| str_of(&r["id"]))
            .collect(),
        jsonl(&out.join("duplicates.jsonl"))
            .iter()
            .map(|r| (str_of(&r["id"]), str_of(&r["duplicate_of"])))
            .collect(),
        jsonl(&out.join("clusters.jsonl"))
            .iter()
            .map(|r| {
                let members = r["members"].as_array().unwrap().iter().map(str_of);
                (str_of(&r["kept"]), members.collect())
            })
            .collect(),
    )
}

#[test]
fn dedup_of_a_parquet_file_decides_as_dedup_of_the_same_records_as_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let pages = pages();
    let (pq, jl) = (
        dir.path().join("news.parquet"),
        dir.path().join("news.jsonl"),
    );
    pages_parquet(&pq, &pages, 1 << 20);
    pages_jsonl(&jl, &pages);
    let (o_pq, o_jl) = (dir.path().join("o_pq"), dir.path().join("o_jl"));
    let (line_pq, _) = ok(&["dedup", s(&pq), "--out", s(&o_pq), "--keep-by", "published"]);
    let (line_jl, _) = ok(&["dedup", s(&jl), "--out", s(&o_jl), "--keep-by", "published"]);
    let (kept, dups, clusters) = jsonl_decisions(&o_pq);
    let (kept_jl, dups_jl, clusters_jl) = jsonl_decisions(&o_jl);
    assert_eq!(kept, kept_jl);
    assert_eq!(dups, dups_jl);
    assert_eq!(clusters, clusters_jl);
    assert_eq!(kept.len(), 5, "{line_pq}");
    assert_eq!(dups.len(), 5, "{line_pq}");
    assert_eq!(
        line_pq.replace(s(&o_pq), "OUT"),
        line_jl.replace(s(&o_jl), "OUT")
    );
    // kept.jsonl of the Parquet input is the faithful JSONL of its rows: every column.
    let by_id: BTreeMap<String, Value> = jsonl(&o_jl.join("kept.jsonl"))
        .into_iter()
        .map(|r| (r["id"].as_str().unwrap().to_string(), r))
        .collect();
    for r in jsonl(&o_pq.join("kept.jsonl")) {
        assert_eq!(&r, &by_id[r["id"].as_str().unwrap()]);
    }
}

#[test]
fn dedup_format_parquet_writes_kept_rows_with_every_input_column_and_type() {
    let dir = tempfile::tempdir().unwrap();
    let pages = pages();
    let pq = dir.path().join("news.parquet");
    pages_parquet(&pq, &pages, 1 << 20);
    let (o_pq, o_jl) = (dir.path().join("o_pq"), dir.path().join("o_jl"));
    let (line, _) = ok(&[
        "dedup",
        s(&pq),
        "--out",
        s(&o_pq),
        "--format",
        "parquet",
        "--report",
    ]);
    let (line_jl, _) = ok(&["dedup", s(&pq), "--out", s(&o_jl), "--report"]);
    assert!(line.contains("report: 5 clusters"), "{line}");
    assert_eq!(
        line.replace(s(&o_pq), "OUT"),
        line_jl.replace(s(&o_jl), "OUT")
    );
    assert!(o_pq.join("report.html").exists());
    for gone in ["kept.jsonl", "duplicates.jsonl", "clusters.jsonl"] {
        assert!(
            !o_pq.join(gone).exists(),
            "{gone} written with --format parquet"
        );
    }
    assert!(o_pq.join("rejected.jsonl").exists() && o_pq.join("summary.json").exists());
    let (kept, dups, clusters) = jsonl_decisions(&o_jl);

    // kept.parquet: the kept rows, in order, with id, text, views (int64), published (date32).
    let (batches, _) = read_parquet(&o_pq.join("kept.parquet"));
    let schema = batches[0].schema();
    let types: Vec<(String, DataType)> = schema
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().clone()))
        .collect();
    assert_eq!(
        types,
        [
            ("id".to_string(), DataType::Utf8),
            ("text".to_string(), DataType::Utf8),
            ("views".to_string(), DataType::Int64),
            ("published".to_string(), DataType::Date32),
        ]
    );
    let ids: Vec<String> = strings(&batches, "id").into_iter().flatten().collect();
    assert_eq!(ids, kept);
    let page = |id: &str| pages.iter().find(|p| p.id == id).unwrap();
    let mut row = 0;
    for b in &batches {
        let texts = b.column_by_name("text").unwrap().as_string::<i32>();
        let views = b
            .column_by_name("views")
            .unwrap()
            .as_primitive::<Int64Type>();
        let published = b.column_by_name("published").unwrap();
        let published = published.as_primitive::<Date32Type>();
        for i in 0..b.num_rows() {
            let p = page(&ids[row]);
            assert_eq!(texts.value(i), p.text);
            assert_eq!(views.value(i), p.views);
            assert_eq!(published.value(i), p.published);
            row += 1;
        }
    }

    // duplicates.parquet and clusters.parquet: the rows of their JSONL versions.
    let (d, _) = read_parquet(&o_pq.join("duplicates.parquet"));
    let pairs: Vec<(String, String)> = strings(&d, "id")
        .into_iter()
        .zip(strings(&d, "duplicate_of"))
        .map(|(a, b)| (a.unwrap(), b.unwrap()))
        .collect();
    assert_eq!(pairs, dups);
    let similarity = d[0].column_by_name("similarity").unwrap();
    assert_eq!(similarity.data_type(), &DataType::Float64);
    let first: Value = serde_json::from_str(strings(&d, "evidence")[0].as_deref().unwrap())
        .expect("evidence is JSON text");
    assert!(first.is_object(), "{first}");
    let (c, _) = read_parquet(&o_pq.join("clusters.parquet"));
    let kept_of = strings(&c, "kept");
    let mut members = Vec::new();
    for b in &c {
        let list = b.column_by_name("members").unwrap().as_list::<i32>();
        for i in 0..b.num_rows() {
            let m = list.value(i);
            let m = m.as_string::<i32>();
            members.push((0..m.len()).map(|j| m.value(j).to_string()).collect());
        }
    }
    let got: Vec<(String, Vec<String>)> = kept_of
        .into_iter()
        .map(Option::unwrap)
        .zip(members)
        .collect();
    assert_eq!(got, clusters);
}

#[test]
fn a_null_text_and_a_wrongly_typed_id_column_are_rejected_naming_file_and_row() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    std::fs::create_dir_all(&inputs).unwrap();
    let pages = pages();
    let texts: Vec<Option<&str>> = pages[..5]
        .iter()
        .enumerate()
        .map(|(i, p)| (i != 2).then_some(p.text.as_str()))
        .collect();
    let bad_text = inputs.join("bad_text.parquet");
    write_parquet(
        &bad_text,
        vec![
            (
                "id",
                Arc::new(StringArray::from_iter_values(
                    pages[..5].iter().map(|p| &p.id),
                )) as ArrayRef,
            ),
            ("text", Arc::new(StringArray::from(texts))),
        ],
        1 << 20,
    );
    write_parquet(
        &inputs.join("float_ids.parquet"),
        vec![
            (
                "id",
                Arc::new(Float64Array::from(vec![1.5, 2.5])) as ArrayRef,
            ),
            (
                "text",
                Arc::new(StringArray::from_iter_values(
                    pages[5..7].iter().map(|p| &p.text),
                )),
            ),
        ],
        1 << 20,
    );
    let out = dir.path().join("o");
    let (line, err) = ok(&["dedup", s(&inputs), "--no-semantic", "--out", s(&out)]);
    assert!(line.contains("3 rejected"), "{line}");
    assert!(
        err.contains("bad_text.parquet:3: row 3: null text in column \"text\""),
        "{err}"
    );
    let rejected = jsonl(&out.join("rejected.jsonl"));
    assert_eq!(rejected.len(), 3, "{rejected:?}");
    assert_eq!(rejected[0]["file"], "bad_text.parquet");
    assert_eq!(rejected[0]["line"], 3);
    assert_eq!(rejected[0]["id"], pages[2].id.as_str());
    for (r, row) in rejected[1..].iter().zip([1, 2]) {
        assert_eq!(r["file"], "float_ids.parquet");
        assert_eq!(r["line"], row);
        assert_eq!(
            r["reason"],
            format!("row {row}: column \"id\" must be a string or integer column, found Float64")
        );
    }
    assert_eq!(jsonl(&out.join("kept.jsonl")).len(), 4);

    // --on-error fail stops at the first bad row, naming the file and the row.
    let o = simdex(&[
        "dedup",
        s(&bad_text),
        "--no-semantic",
        "--on-error",
        "fail",
        "--out",
        s(&dir.path().join("f")),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains(&format!("{}:3: row 3: null text", bad_text.display())),
        "{err}"
    );

    // A file that is not Parquet at all is an error naming it, not a panic.
    let junk = dir.path().join("junk.parquet");
    std::fs::write(&junk, b"{\"id\": 1}\n").unwrap();
    let o = simdex(&["dedup", s(&junk), "--no-semantic", "--out", s(&out)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && !err.contains("panicked"), "{err}");
    assert!(
        err.contains("junk.parquet: not a readable Parquet file"),
        "{err}"
    );
}

#[test]
fn a_folder_of_two_parquet_files_reads_both_and_writes_kept_rows_back_from_both() {
    let dir = tempfile::tempdir().unwrap();
    let inputs = dir.path().join("in");
    std::fs::create_dir_all(&inputs).unwrap();
    let pages = pages();
    // The originals in one file, the planted copies in the other (read in name order).
    pages_parquet(&inputs.join("a_originals.parquet"), &pages[..5], 1 << 20);
    pages_parquet(&inputs.join("b_copies.parquet"), &pages[5..], 1 << 20);
    let out = dir.path().join("o");
    let (line, _) = ok(&["dedup", s(&inputs), "--out", s(&out), "--format", "parquet"]);
    assert!(line.contains("10 records"), "{line}");
    let (batches, _) = read_parquet(&out.join("kept.parquet"));
    let kept: Vec<String> = strings(&batches, "id").into_iter().flatten().collect();
    let originals: Vec<String> = pages[..5].iter().map(|p| p.id.clone()).collect();
    assert_eq!(kept, originals, "{line}");
    let (d, _) = read_parquet(&out.join("duplicates.parquet"));
    let sources: Vec<String> = strings(&d, "source").into_iter().flatten().collect();
    assert_eq!(sources.len(), 5);
    assert!(
        sources.iter().all(|s| s.starts_with("b_copies.parquet:")),
        "{sources:?}"
    );
}

#[test]
fn embed_format_parquet_writes_the_jsonl_vectors_as_fixed_size_lists() {
    let dir = tempfile::tempdir().unwrap();
    let pages = pages();
    let pq = dir.path().join("news.parquet");
    pages_parquet(&pq, &pages, 1 << 20);
    let (vec_pq, vec_jl) = (dir.path().join("v.parquet"), dir.path().join("v.jsonl"));
    ok(&["embed", s(&pq), "--format", "parquet", "--out", s(&vec_pq)]);
    ok(&["embed", s(&pq), "--out", s(&vec_jl)]);
    let want = jsonl(&vec_jl);
    assert_eq!(want.len(), 10);
    let (batches, _) = read_parquet(&vec_pq);
    let schema = batches[0].schema();
    let vector = schema.field_with_name("vector").unwrap();
    match vector.data_type() {
        DataType::FixedSizeList(item, 384) => assert_eq!(item.data_type(), &DataType::Float32),
        other => panic!("vector column is {other}"),
    }
    let mut n = 0;
    for b in &batches {
        let ids = b.column_by_name("id").unwrap().as_string::<i32>();
        let levels = b.column_by_name("level").unwrap().as_string::<i32>();
        let passages = b.column_by_name("passage").unwrap();
        let vectors = b.column_by_name("vector").unwrap().as_fixed_size_list();
        for i in 0..b.num_rows() {
            let w = &want[n];
            assert_eq!(ids.value(i), w["id"].as_str().unwrap());
            assert_eq!(levels.value(i), "article");
            assert!(passages.is_null(i));
            let v = vectors.value(i);
            let got: Vec<f32> = v.as_primitive::<Float32Type>().values().to_vec();
            let expected: Vec<f32> = w["vector"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(got, expected, "vector of {}", w["id"]);
            n += 1;
        }
    }
    assert_eq!(n, 10);
    // Parquet needs a file to write to.
    let o = simdex(&["embed", s(&pq), "--format", "parquet"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--out"));
}

#[test]
fn a_parquet_file_of_many_small_row_groups_reads_fully_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let pages = pages();
    let pq = dir.path().join("news.parquet");
    pages_parquet(&pq, &pages, 3);
    let (_, groups) = read_parquet(&pq);
    assert_eq!(groups, 4, "10 rows in row groups of 3");
    let (listing, _) = ok(&["clean", "--json", s(&pq)]);
    let ids: Vec<String> = listing
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let want: Vec<String> = pages.iter().map(|p| p.id.clone()).collect();
    assert_eq!(ids, want);
    // And the kept rows written back come out of the same row groups in order.
    let out = dir.path().join("o");
    ok(&[
        "dedup",
        s(&pq),
        "--no-semantic",
        "--out",
        s(&out),
        "--format",
        "parquet",
    ]);
    let (batches, _) = read_parquet(&out.join("kept.parquet"));
    let kept: Vec<String> = strings(&batches, "id").into_iter().flatten().collect();
    let listed: Vec<String> = jsonl_ids_in_order(&want, &kept);
    assert_eq!(kept, listed);
    assert!(kept.len() >= 5, "{kept:?}");
}

/// `kept` must be a subsequence of `all`: the ids of `all` that are in `kept`, in order.
fn jsonl_ids_in_order(all: &[String], kept: &[String]) -> Vec<String> {
    all.iter().filter(|id| kept.contains(id)).cloned().collect()
}

#[test]
fn stripped_repeated_passages_replace_the_text_of_kept_parquet_rows_in_its_own_type() {
    let dir = tempfile::tempdir().unwrap();
    let pages = pages();
    // Two different reports opening with the same three paragraphs of a third.
    let shared: Vec<&str> = pages[2]
        .text
        .lines()
        .filter(|l| l.chars().count() > 40)
        .collect();
    let shared = shared[..3].join("\n\n");
    let texts: Vec<String> = [0, 1]
        .iter()
        .map(|&i| format!("{shared}\n\n{}", pages[i].text))
        .collect();
    let pq = dir.path().join("shared.parquet");
    write_parquet(
        &pq,
        vec![
            (
                "id",
                Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
            ),
            (
                "text",
                Arc::new(arrow_array::LargeStringArray::from_iter_values(&texts)),
            ),
            ("n", Arc::new(Int64Array::from(vec![1, 2]))),
        ],
        1 << 20,
    );
    let (o_pq, o_jl) = (dir.path().join("o_pq"), dir.path().join("o_jl"));
    let strip = "--strip-repeated-passages";
    let (line, _) = ok(&[
        "dedup",
        s(&pq),
        "--out",
        s(&o_pq),
        "--format",
        "parquet",
        strip,
    ]);
    assert!(!line.contains(" 0 repeated passages"), "{line}");
    ok(&["dedup", s(&pq), "--out", s(&o_jl), strip]);
    let want: Vec<String> = jsonl(&o_jl.join("kept.jsonl"))
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_string())
        .collect();
    assert!(
        want[1].len() < texts[1].len(),
        "b lost the shared paragraphs"
    );
    let (batches, _) = read_parquet(&o_pq.join("kept.parquet"));
    let text = batches[0].column_by_name("text").unwrap();
    assert_eq!(text.data_type(), &DataType::LargeUtf8);
    let got: Vec<String> = (0..text.len())
        .map(|i| text.as_string::<i64>().value(i).to_string())
        .collect();
    assert_eq!(got, want);
    let n = batches[0]
        .column_by_name("n")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(n.values().to_vec(), [1, 2]);
}
