//! `similar` on a built and reopened index, `index add` of new and already-present records,
//! `ingest` against the index, removal, and the errors a user gets for a wrong model or a
//! second writer.

mod common;

use std::path::PathBuf;

use simdex::app::dedup::DedupJob;
use simdex::app::index::add_to_index;
use simdex::app::similar::{similar, Query};
use simdex::app::text_record;
use simdex::corpus::{prepare, PrepareOptions};
use simdex::dedup::{DedupOptions, Original};
use simdex::index::{Index, IndexMeta, Level};

fn seed_docs() -> Vec<simdex::corpus::PreparedDoc> {
    let records = common::seeds()
        .into_iter()
        .map(|(name, text)| text_record(&name, &text))
        .collect();
    prepare(records, &PrepareOptions::default())
}

#[test]
fn similar_answers_from_a_reopened_index() {
    let e = common::embedder();
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("idx");
    let docs = seed_docs();
    let rep = add_to_index(&idx, e, &docs, None, true, &mut |_, _| {}).unwrap();
    assert_eq!((rep.added, rep.documents_in_index), (5, 5));

    // Reopened from disk: a re-scrape of seed 1 finds seed 1 first, labelled duplicate.
    let index = Index::open(&idx, Some(&IndexMeta::of(e))).unwrap();
    let seeds = common::seeds();
    let query = Query::Text(common::rescrape(&seeds[1].1));
    let opts = DedupOptions::default();
    let hits = similar(
        &index,
        Some(e),
        query,
        3,
        Level::Article,
        &PrepareOptions::default(),
        &opts,
    )
    .unwrap();
    assert_eq!(hits[0].id, seeds[1].0);
    assert_eq!(hits[0].label, "duplicate");
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    // The other seeds are related reports, never duplicates of each other.
    for h in &hits[1..] {
        assert_ne!(h.label, "duplicate", "{h:?}");
    }

    // By id: the record itself is not among its neighbours.
    let hits = similar(
        &index,
        None,
        Query::Id(seeds[2].0.clone()),
        10,
        Level::Article,
        &PrepareOptions::default(),
        &opts,
    )
    .unwrap();
    assert_eq!(hits.len(), 4);
    assert!(hits.iter().all(|h| h.id != seeds[2].0));

    // Paragraph level: a paragraph of seed 3 finds its own paragraph.
    let para = docs[3].passages[2].clone();
    let hits = similar(
        &index,
        Some(e),
        Query::Text(para),
        1,
        Level::Passage,
        &PrepareOptions::default(),
        &opts,
    )
    .unwrap();
    assert_eq!(hits[0].id, seeds[3].0);
    assert!(hits[0].paragraph.is_some() && hits[0].score > 0.99);
}

#[test]
fn ingest_removes_what_the_index_holds_and_adds_the_rest() {
    let e = common::embedder();
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("idx");
    let seeds = common::seeds();
    // Day 1: three seeds.
    let docs = seed_docs();
    add_to_index(&idx, e, &docs[..3], None, true, &mut |_, _| {}).unwrap();
    // Day 2: the other two seeds, a re-scrape of seed 0 and a Traditional copy of seed 4.
    let batch = dir.path().join("day2");
    std::fs::create_dir(&batch).unwrap();
    std::fs::write(batch.join(&seeds[3].0), &seeds[3].1).unwrap();
    std::fs::write(batch.join(&seeds[4].0), &seeds[4].1).unwrap();
    std::fs::write(batch.join("r0.txt"), common::rescrape(&seeds[0].1)).unwrap();
    std::fs::write(
        batch.join("t4.txt"),
        common::traditional_with_pinyin(&seeds[4].1),
    )
    .unwrap();
    let index = Index::open(&idx, Some(&IndexMeta::of(e))).unwrap();
    let inputs = simdex::app::inputs::Inputs {
        paths: vec![batch.clone()],
        ..Default::default()
    };
    let job = DedupJob {
        inputs: &inputs,
        options: DedupOptions::default(),
        against: Some(&index),
        embedder: Some(e),
        needs_text: true,
    };
    let run = job.run(&mut |_, _, _, _| {}).unwrap();
    let id = |i: usize| run.docs[i].record.id.clone();
    let removed: Vec<(String, String)> = run
        .report
        .removed
        .iter()
        .map(|r| {
            let of = match &r.duplicate_of {
                Original::Input(i) => id(*i),
                Original::Indexed(s) => format!("index:{s}"),
            };
            (id(r.doc), of)
        })
        .collect();
    assert_eq!(
        removed,
        vec![
            ("r0.txt".to_string(), format!("index:{}", seeds[0].0)),
            ("t4.txt".to_string(), seeds[4].0.clone()),
        ]
    );
    drop(index);
    let kept: Vec<_> = run
        .report
        .kept
        .iter()
        .map(|&i| run.docs[i].clone())
        .collect();
    let vectors: Vec<_> = run
        .report
        .kept
        .iter()
        .map(|&i| run.report.vectors.get(i).unwrap())
        .collect();
    let rep = add_to_index(&idx, e, &kept, Some(&vectors), false, &mut |_, _| {}).unwrap();
    assert_eq!(
        (rep.added, rep.tokens_embedded, rep.documents_in_index),
        (2, 0, 5)
    );
    // Adding the same records again: all already present, nothing embedded.
    let rep = add_to_index(&idx, e, &kept, None, false, &mut |_, _| {}).unwrap();
    assert_eq!(
        (rep.added, rep.already_present.len(), rep.tokens_embedded),
        (0, 2, 0)
    );
}

#[test]
fn removed_records_are_never_answered_and_errors_are_clear() {
    let e = common::embedder();
    let dir = tempfile::tempdir().unwrap();
    let idx = dir.path().join("idx");
    let docs = seed_docs();
    add_to_index(&idx, e, &docs, None, true, &mut |_, _| {}).unwrap();
    let seeds = common::seeds();

    let mut w = Index::open_writer(&idx, None).unwrap();
    // A second writer is refused while the first holds the lock.
    let err = Index::open_writer(&idx, None)
        .err()
        .expect("second writer must fail");
    assert!(err.to_string().contains("locked by PID"), "{err}");
    assert_eq!(w.remove(&[seeds[1].0.clone()]).unwrap(), 1);
    w.commit().unwrap();
    let index = Index::open(&idx, None).unwrap();
    let q = Query::Text(seeds[1].1.clone());
    let hits = similar(
        &index,
        Some(e),
        q,
        10,
        Level::Article,
        &PrepareOptions::default(),
        &DedupOptions::default(),
    )
    .unwrap();
    assert_eq!(hits.len(), 4);
    assert!(hits.iter().all(|h| h.id != seeds[1].0));

    // An index made with other model settings is refused with both settings named.
    let other = IndexMeta {
        model: "intfloat/multilingual-e5-small".into(),
        settings_hash: "0000000000000000".into(),
        dim: 384,
        precision: IndexMeta::of(e).precision,
    };
    let err = Index::open(&idx, Some(&other))
        .err()
        .expect("settings mismatch must fail");
    let msg = err.to_string();
    assert!(
        msg.contains("0000000000000000") && msg.contains(&IndexMeta::of(e).settings_hash),
        "{msg}"
    );
    let _ = PathBuf::new();
}
