//! The staged pass (the stages the Ray driver schedules) run in this process, stage after
//! stage, writes the output folder `simdex dedup` writes, every file byte for byte
//! (`summary.json` apart from driver metadata), at 1 and 3 shards: on the example corpus
//! (ten text files) and on JSONL records of copies, excerpts, edits and bad lines made from
//! the seed pages. So the staged stages are tested without Ray, in `cargo test`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use simdex::dedup::staged;

/// Every file of a folder with its bytes (summary.json as JSON without driver metadata).
fn folder(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        let mut bytes = std::fs::read(&p).unwrap();
        if name == "summary.json" {
            let mut s: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            for k in [
                "timings_s",
                "held_bytes",
                "shards",
                "run_settings",
                "wall_s",
                "ray",
            ] {
                s.as_object_mut().unwrap().remove(k);
            }
            bytes = serde_json::to_vec_pretty(&s).unwrap();
        }
        out.insert(name, bytes);
    }
    out
}

/// JSONL records: the seeds, copies (one re-wrapped), excerpts, edits, a repeated id and
/// two bad lines.
fn records(path: &Path) {
    let seeds = common::seeds();
    let mut lines = Vec::new();
    let mut push = |id: String, text: &str| {
        lines.push(serde_json::json!({"id": id, "text": text}).to_string());
    };
    for (i, (_, text)) in seeds.iter().enumerate() {
        push(format!("seed{i}"), text);
        push(format!("copy{i}"), text);
        push(format!("wrapped{i}"), &text.replace('。', "。\n"));
        push(format!("excerpt{i}"), &common::excerpt(text));
        push(format!("edited{i}"), &common::edited(text));
        push(format!("rescrape{i}"), &common::rescrape(text));
    }
    push("seed0".into(), "a repeated id");
    lines.push("{not json".into());
    lines.push(r#"{"id": "empty", "text": ""}"#.into());
    std::fs::write(path, lines.join("\n") + "\n").unwrap();
}

fn simdex(args: &[&std::ffi::OsStr]) {
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_simdex"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success(), "simdex {args:?}");
}

fn cli(input: &Path, out: &Path) {
    cli_with(input, out, &[]);
}

/// `simdex dedup INPUT --out OUT` with more flags.
fn cli_with(input: &Path, out: &Path, flags: &[&str]) {
    let mut args: Vec<&std::ffi::OsStr> = vec!["dedup".as_ref(), input.as_ref()];
    args.extend(flags.iter().map(std::ffi::OsStr::new));
    args.extend(["--out".as_ref(), out.as_os_str()]);
    simdex(&args);
}

fn staged_run(input: &Path, out: &Path, work: &Path, shards: usize) {
    let settings = staged::Settings {
        model: Some(common::model_dir()),
        ..Default::default()
    };
    staged_run_with(input, out, work, shards, settings);
}

fn staged_run_with(
    input: &Path,
    out: &Path,
    work: &Path,
    shards: usize,
    settings: staged::Settings,
) {
    let against = settings.against.clone();
    staged::plan(work, &[input.to_path_buf()], shards, out, settings).unwrap();
    let timings = staged::run_in_process(work).unwrap();
    let ran: Vec<&str> = staged::stages()
        .iter()
        .filter(|s| staged::stage_runs(work, s.name).unwrap())
        .map(|s| s.name)
        .collect();
    assert_eq!(ran.contains(&"against"), against.is_some());
    assert_eq!(timings.len(), ran.len());
}

/// Runs the staged stages over `input` with `settings` (the test model's folder added) at 1
/// and 3 shards, and asserts each writes the CLI's folder `cli` byte for byte.
fn staged_writes_what_cli_wrote(cli: &Path, input: &Path, settings: staged::Settings, what: &str) {
    let want = folder(cli);
    let dir = cli.parent().unwrap();
    for shards in [1, 3] {
        let out = dir.join(format!("staged-{shards}"));
        let work = dir.join(format!("staged-{shards}.work"));
        let settings = staged::Settings {
            model: Some(common::model_dir()),
            ..settings.clone()
        };
        staged_run_with(input, &out, &work, shards, settings);
        same_folder(&want, &out, &format!("{what}, {shards} shards"));
    }
}

/// Asserts that `got` holds the files of `want`, byte for byte.
fn same_folder(want: &BTreeMap<String, Vec<u8>>, got: &Path, what: &str) {
    let got = folder(got);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: files"
    );
    for (file, bytes) in want {
        assert!(
            &got[file] == bytes,
            "{what}: {file} differs from simdex dedup's"
        );
    }
}

#[test]
fn against_an_index_the_staged_stages_remove_what_simdex_dedup_removes() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("SIMDEX_CACHE_DIR", dir.path().join("cache"));
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/news");
    let index = dir.path().join("index");
    let ingested = dir.path().join("ingested");
    simdex(&[
        "ingest".as_ref(),
        examples.as_os_str(),
        "--index".as_ref(),
        index.as_os_str(),
        "--out".as_ref(),
        ingested.as_os_str(),
    ]);
    let jsonl = dir.path().join("records.jsonl");
    records(&jsonl);
    let want = dir.path().join("cli");
    cli_with(&jsonl, &want, &["--against", index.to_str().unwrap()]);
    let dups = std::fs::read_to_string(want.join("duplicates.jsonl")).unwrap();
    let in_index = dups
        .lines()
        .filter(|l| l.contains("\"in_index\":true"))
        .count();
    assert!(
        in_index >= 5,
        "{in_index} removals for indexed records:\n{dups}"
    );
    let settings = staged::Settings {
        against: Some(index.clone()),
        ..Default::default()
    };
    staged_writes_what_cli_wrote(&want, &jsonl, settings, "--against");
}

#[test]
fn with_repeated_passages_stripped_the_staged_stages_write_the_kept_text_simdex_dedup_writes() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("SIMDEX_CACHE_DIR", dir.path().join("cache"));
    let jsonl = dir.path().join("records.jsonl");
    records(&jsonl);
    let want = dir.path().join("cli");
    cli_with(&jsonl, &want, &["--strip-repeated-passages"]);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(want.join("summary.json")).unwrap()).unwrap();
    assert!(
        summary["passage_duplicates"].as_u64().unwrap() > 0,
        "{summary}"
    );
    let as_read = dir.path().join("as-read");
    cli(&jsonl, &as_read);
    assert_ne!(
        std::fs::read(want.join("kept.jsonl")).unwrap(),
        std::fs::read(as_read.join("kept.jsonl")).unwrap(),
        "some kept text was cut"
    );
    let settings = staged::Settings {
        strip_repeated_passages: true,
        ..Default::default()
    };
    staged_writes_what_cli_wrote(&want, &jsonl, settings, "stripped");
}

#[test]
fn the_staged_stages_in_process_write_the_folder_simdex_dedup_writes() {
    let dir = tempfile::tempdir().unwrap();
    // One embedding cache for every run here: the CLI fills it, the stages read it.
    std::env::set_var("SIMDEX_CACHE_DIR", dir.path().join("cache"));
    let jsonl = dir.path().join("records.jsonl");
    records(&jsonl);
    let examples = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/news");
    for (name, input) in [("examples", examples), ("records", jsonl)] {
        let want = dir.path().join(format!("{name}-cli"));
        cli(&input, &want);
        let want = folder(&want);
        assert!(want.len() >= 10, "{name}: {:?}", want.keys());
        for shards in [1, 3] {
            let out = dir.path().join(format!("{name}-{shards}"));
            let work = dir.path().join(format!("{name}-{shards}.work"));
            staged_run(&input, &out, &work, shards);
            same_folder(&want, &out, &format!("{name}, {shards} shards"));
        }
    }
}

#[test]
fn a_dry_run_of_the_staged_stages_shows_what_simdex_dedup_dry_run_shows_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("SIMDEX_CACHE_DIR", dir.path().join("cache"));
    let jsonl = dir.path().join("records.jsonl");
    records(&jsonl);
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_simdex"))
        .args(["dedup".as_ref(), jsonl.as_os_str(), "--dry-run".as_ref()])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(cli.status.success());
    let want = String::from_utf8(cli.stdout).unwrap();
    assert!(want.contains("would remove"), "{want}");
    for shards in [1, 3] {
        let out = dir.path().join(format!("staged-{shards}"));
        let work = dir.path().join(format!("staged-{shards}.work"));
        let settings = staged::Settings {
            model: Some(common::model_dir()),
            dry_run: true,
            ..Default::default()
        };
        staged::plan(&work, std::slice::from_ref(&jsonl), shards, &out, settings).unwrap();
        staged::run_in_process(&work).unwrap();
        let options = staged::Work::open(&work).unwrap().plan.settings.options;
        let got = simdex::render::dry_run_report(&staged::dry_run(&work).unwrap(), &options);
        assert_eq!(got, want, "{shards} shards");
        assert!(!out.exists(), "a dry run writes no output folder");
    }
}

/// The records of [`records`] that parse, as a Parquet file with an integer column (`views`)
/// beside id and text, in row groups of 4.
fn records_parquet(jsonl: &Path, path: &Path) {
    use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use std::sync::Arc;
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(jsonl)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let col = |k: &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r[k].as_str().unwrap().to_string()),
        ))
    };
    let views: ArrayRef = Arc::new(Int64Array::from_iter_values(
        (0..rows.len() as i64).map(|i| 1000 + 7 * i),
    ));
    let batch =
        RecordBatch::try_from_iter([("id", col("id")), ("text", col("text")), ("views", views)])
            .unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(4))
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

#[test]
fn from_parquet_inputs_the_staged_stages_write_the_kept_rows_simdex_dedup_writes_in_their_own_types(
) {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("SIMDEX_CACHE_DIR", dir.path().join("cache"));
    let jsonl = dir.path().join("records.jsonl");
    records(&jsonl);
    let input = dir.path().join("records.parquet");
    records_parquet(&jsonl, &input);
    for strip in [false, true] {
        let want = dir.path().join(format!("cli-{strip}"));
        let flags: &[&str] = if strip {
            &["--format", "parquet", "--strip-repeated-passages"]
        } else {
            &["--format", "parquet"]
        };
        cli_with(&input, &want, flags);
        // The CLI's kept.parquet holds the input's columns in their own types.
        let kept = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            std::fs::File::open(want.join("kept.parquet")).unwrap(),
        )
        .unwrap();
        let views = kept.schema().field_with_name("views").unwrap().clone();
        assert_eq!(views.data_type(), &arrow_schema::DataType::Int64);
        let settings = staged::Settings {
            format: simdex::tables::OutputFormat::Parquet,
            strip_repeated_passages: strip,
            ..Default::default()
        };
        let what = format!("parquet, strip {strip}");
        staged_writes_what_cli_wrote(&want, &input, settings, &what);
    }
}
