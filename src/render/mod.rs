//! Rendering for people: the summary line of a run, the dry-run histogram, the `explain`
//! text, the `similar` table, the `index check` report and the `clean` listing. Each takes
//! what a library call returned and gives text.
//!
//! It must not compute a decision or read files: what it shows was decided elsewhere.

use crate::app::index::IndexReport;
use crate::app::similar::SimilarHit;
use crate::corpus::PreparedDoc;
use crate::dedup::explanation::Explanation;
use crate::dedup::summary::Summary;
use crate::dedup::{DedupOptions, DryRun, PairVerdict};
use crate::index::CheckReport;

/// The one-line summary of a dedup run (of every driver: the Ray pass's says its shards).
pub fn summary_line(s: &Summary, out: &std::path::Path) -> String {
    let by_stage = s
        .removed_by_stage
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    let by_stage = if by_stage.is_empty() {
        String::new()
    } else {
        format!(" ({by_stage})")
    };
    format!(
        "{} records: {} kept, {} duplicates removed{}, {} rejected; {} clusters, {} related pairs, {} repeated passages{}; removed {} characters, {} ({:.1}%) not held by the record kept for them -> {}",
        s.records_in,
        s.kept,
        s.removed,
        by_stage,
        s.rejected,
        s.clusters,
        s.related_pairs,
        s.passage_duplicates,
        s.shards
            .map(|n| format!("; {n} shard{} on Ray", if n == 1 { "" } else { "s" }))
            .unwrap_or_default(),
        s.removed_chars,
        s.lost_chars,
        100.0 * s.lost_share,
        out.display()
    )
}

/// What `index build` / `index add` did, in one line.
pub fn index_report_line(dir: &std::path::Path, rep: &IndexReport) -> String {
    format!(
        "{}: {} records read, {} added, {} already present, {} rejected; {} documents in the index",
        dir.display(),
        rep.records_in,
        rep.added,
        rep.already_present.len(),
        rep.rejected,
        rep.documents_in_index
    )
}

/// What `ingest` added to the index, in one line.
pub fn ingest_line(dir: &std::path::Path, rep: &IndexReport) -> String {
    format!(
        "{}: {} added, {} already present; {} documents in the index",
        dir.display(),
        rep.added,
        rep.already_present.len(),
        rep.documents_in_index
    )
}

/// `index check`'s report: counts, every problem, and `ok` or `CORRUPT`.
pub fn check_report(dir: &std::path::Path, report: &CheckReport) -> String {
    let mut s = format!(
        "{}: generation {}, {} documents ({} live), {} passages, {} files ({} bytes) checked\n",
        dir.display(),
        report.generation,
        report.docs,
        report.live_docs,
        report.paragraphs,
        report.files_checked,
        report.bytes_checked
    );
    for p in &report.problems {
        s.push_str(&format!("problem: {p}\n"));
    }
    s.push_str(if report.is_healthy() {
        "ok\n"
    } else {
        "CORRUPT\n"
    });
    s
}

/// The `--dry-run` text: a histogram of nearest-neighbour cosines and pairs near the
/// threshold with their evidence.
pub fn dry_run_report(run: &DryRun, o: &DedupOptions) -> String {
    let mut s = String::new();
    let c = &run.nearest_cosines;
    s.push_str(&format!(
        "nearest-neighbour cosine of {} records (threshold {}):\n",
        c.len(),
        o.threshold
    ));
    let bins: Vec<f32> = (0..=20).map(|i| 0.80 + 0.01 * i as f32).collect();
    let max = bins
        .windows(2)
        .map(|w| c.iter().filter(|&&x| x >= w[0] && x < w[1]).count())
        .max()
        .unwrap_or(1)
        .max(1);
    let below = c.iter().filter(|&&x| x < 0.80).count();
    s.push_str(&format!("  < 0.80  {below:>6}\n"));
    for w in bins.windows(2) {
        let n = c
            .iter()
            .filter(|&&x| x >= w[0] && (x < w[1] || w[1] >= 1.0))
            .count();
        let bar = "#".repeat((n * 40).div_ceil(max));
        let mark = if o.threshold >= w[0] && o.threshold < w[1] {
            " <- threshold"
        } else {
            ""
        };
        s.push_str(&format!("  {:.2}    {n:>6} {bar}{mark}\n", w[0]));
    }
    let mut near: Vec<&(String, String, PairVerdict)> = run.near_threshold.iter().collect();
    // Best cosine first; pairs of one cosine in input order (the order they were judged).
    near.sort_by(|x, y| {
        let (a, b) = (
            x.2.evidence.cosine.unwrap_or(0.0),
            y.2.evidence.cosine.unwrap_or(0.0),
        );
        b.total_cmp(&a)
    });
    s.push_str(&format!(
        "\n{} judged pairs within ±0.02 of the threshold (up to 20 shown):\n",
        near.len()
    ));
    for (a, b, v) in near.iter().take(20) {
        let e = &v.evidence;
        s.push_str(&format!(
            "  {:<10} cos {:.4}  text coverage {:.2}  jaccard {:.3}  containment {:.3}  {} ~ {}\n",
            v.duplicate.map_or("-", |st| st.name()),
            e.cosine.unwrap_or(0.0),
            e.text_coverage.unwrap_or(0.0),
            e.jaccard.unwrap_or(0.0),
            e.containment.unwrap_or(0.0),
            a,
            b
        ));
    }
    s.push_str(&format!(
        "\nwould remove {} of {} records ({} rejected)\n",
        run.removed, run.records_in, run.rejected
    ));
    s
}

/// `explain`'s text: the decision in words, every stage's scores, and each aligned passage
/// pair with the longest run of text it shares.
pub fn explanation(e: &Explanation, opts: &DedupOptions) -> String {
    let ev = &e.verdict.evidence;
    let mut s = format!(
        "A: {}  ({} passages)\nB: {}  ({} passages)\n",
        e.a.id,
        e.a.passages.len(),
        e.b.id,
        e.b.passages.len()
    );
    s.push_str(&format!("decision: {}\n", e.decision));
    s.push_str(&format!(
        "text held: B holds {:.0}% of A's text, A holds {:.0}% of B's (a record may be removed only for one that holds ≥ {:.0}% of it)\n",
        100.0 * ev.a_in_b.unwrap_or(if e.exact_match { 1.0 } else { 0.0 }),
        100.0 * ev.b_in_a.unwrap_or(if e.exact_match { 1.0 } else { 0.0 }),
        100.0 * opts.removal_coverage
    ));
    s.push_str(&format!(
        "stages: exact {}  |  near-exact: Jaccard {:.3}, containment {:.3}  |  semantic: cosine {:.4}, text coverage {:.2} (vector coverage {:.2})\n",
        if e.exact_match { "yes" } else { "no" },
        ev.jaccard.unwrap_or(0.0),
        ev.containment.unwrap_or(0.0),
        ev.cosine.unwrap_or(0.0),
        ev.text_coverage.unwrap_or(0.0),
        ev.passage_coverage.unwrap_or(0.0)
    ));
    s.push_str(
        "\naligned passages (each passage of the shorter record with its best match; '=' shares its wording, «…» is the longest shared run):\n",
    );
    let show = |t: &str| -> String {
        let n = t.chars().count();
        let head: String = t.chars().take(70).collect();
        if n > 70 {
            format!("{head}…")
        } else {
            head
        }
    };
    for p in &e.aligned {
        let mark = if p.shared >= opts.passage_shared {
            "="
        } else {
            " "
        };
        s.push_str(&format!(
            "  {mark} shared {:>3.0}%  cosine {:.4}\n      A#{:<3} {}\n      B#{:<3} {}\n      «{}»\n",
            100.0 * p.shared,
            p.cosine,
            p.a,
            show(&p.a_text),
            p.b,
            show(&p.b_text),
            show(&p.shared_run)
        ));
    }
    s
}

/// `similar`'s table: rank, cosine, label, id (with the passage number at passage level)
/// and the start of the title.
pub fn similar_table(hits: &[SimilarHit]) -> String {
    let mut s = format!(
        "{:>4}  {:>7}  {:<9}  {:<40}  title\n",
        "rank", "cosine", "label", "id"
    );
    for (r, h) in hits.iter().enumerate() {
        let id = match h.paragraph {
            Some(p) => format!("{} #{p}", h.id),
            None => h.id.clone(),
        };
        let title: String = h
            .title
            .clone()
            .unwrap_or_default()
            .chars()
            .take(40)
            .collect();
        s.push_str(&format!(
            "{:>4}  {:>7.4}  {:<9}  {:<40}  {}\n",
            r + 1,
            h.score,
            h.label,
            id,
            title
        ));
    }
    s
}

/// `clean`'s listing: each record's compared passages, headed by its id when there are
/// several records.
pub fn clean_listing(docs: &[PreparedDoc]) -> String {
    let mut s = String::new();
    for d in docs {
        if docs.len() > 1 {
            s.push_str(&format!("# {}\n", d.record.id));
        }
        for p in &d.passages {
            s.push_str(p);
            s.push('\n');
        }
        if docs.len() > 1 {
            s.push('\n');
        }
    }
    s
}

/// The line `simdex report` (and `dedup --report`) prints.
pub fn report_line(r: &crate::report::ReportSummary) -> String {
    format!(
        "report: {} clusters, {} related pairs, {} rejected; texts of {} of {} records ({} bytes) -> {}",
        r.clusters,
        r.related_pairs,
        r.rejected,
        r.texts_embedded,
        r.texts_total,
        r.bytes,
        r.path.display()
    )
}
