//! The single-process driver of the dedup pass: [`super::steps`]' steps, in their order,
//! over the whole corpus held in memory (one partition, in the staged pass's terms), and the
//! report they fill in. What it adds of its own: the in-memory record store the judging
//! steps look records up in, the vectors' source (embedded now or given, for the
//! evaluations), `--against` (an index's records as originals), the dry run's nearest
//! cosines and the memory account. It reads no files and writes none, and it must not
//! order the steps, gather candidates or judge a pair but through [`super::steps`].

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use super::cluster::DuplicateEdge;
use super::conclude::{conclude, copy_edge};
use super::error::DedupError;
use super::judge::{PairVerdict, RecordText};
use super::keep::{self, KeepKey};
use super::neighbours;
use super::options::{DedupOptions, KeepPolicy};
use super::outcome::{DedupReport, RelatedPair, Removal};
use super::pair_log::JudgedPair;
use super::spill::{spill_error, spill_path};
use super::stage_rules::{Judging, Kept};
use super::steps::{self, Records, Step, STEPS};
use super::vector_store::VectorStore;
use crate::corpus::PreparedDoc;
use crate::embed::{embed_documents_each, DocumentVectors};
use crate::index::Index;
use crate::model::{Embedder, ModelError, Role};

fn keep_rank_of(docs: &[PreparedDoc], keep: &KeepPolicy) -> Vec<usize> {
    let keys: Vec<KeepKey> = docs.iter().map(|d| KeepKey::of(d, keep)).collect();
    keep::keep_rank(&keys, keep)
}

/// Progress of a run, for a progress bar: (stage, done, total, tokens embedded).
pub type Progress<'a> = &'a mut dyn FnMut(&str, usize, usize, usize);

/// Where the semantic stage gets its vectors.
#[derive(Clone, Copy)]
pub enum VectorSource<'a> {
    /// Embed the records now.
    Embed(&'a Embedder),
    /// Vectors computed earlier, one per input record (`DedupReport::vectors` of an earlier
    /// run over the same records), so one batch can be re-judged under other settings.
    Given(&'a [Option<DocumentVectors>]),
}

/// Runs the dedup pass over prepared records. `embedder` enables the semantic stage;
/// `against` also removes records that duplicate an indexed record.
pub fn run(
    docs: &[PreparedDoc],
    embedder: Option<&Embedder>,
    against: Option<&Index>,
    opts: &DedupOptions,
    progress: Progress,
) -> Result<DedupReport, DedupError> {
    run_with(
        docs,
        embedder.map(VectorSource::Embed),
        against,
        opts,
        progress,
    )
}

/// [`run`] with the vectors' source made explicit: `None` runs the lexical steps only.
/// The steps run in [`STEPS`]' order, each over the whole corpus.
pub fn run_with(
    docs: &[PreparedDoc],
    source: Option<VectorSource>,
    against: Option<&Index>,
    opts: &DedupOptions,
    progress: Progress,
) -> Result<DedupReport, DedupError> {
    let mut pass = Pass::new(docs, opts);
    // Vectors are made for the semantic step and for `--against` (which also runs the
    // semantic step, as it always has).
    let source = source.filter(|_| opts.stages.semantic || against.is_some());
    let mut removed_by_index = HashMap::new();
    for &step in STEPS {
        if step.needs_vectors() && source.is_none() {
            continue;
        }
        let t = Instant::now();
        match step {
            Step::Exact => {
                if opts.stages.exact {
                    pass.exact_step();
                }
            }
            Step::NearExact => {
                pass.shingle_representatives();
                if opts.stages.near_exact {
                    pass.near_exact_step()?;
                }
            }
            Step::Embed => pass.embed(source.expect("checked above"), progress)?,
            Step::Semantic => {
                pass.semantic_step()?;
                // The neighbour graph is gone: its pages go back before the pairs are
                // concluded.
                crate::memory::release_free_memory();
            }
            Step::AgainstIndex => match against {
                Some(index) => removed_by_index = pass.against_index(index)?,
                None => continue,
            },
            Step::Conclude => {
                pass.second_look()?;
                return Ok(pass.finish(removed_by_index));
            }
        }
        pass.time(step.name(), t);
    }
    unreachable!("the last step concludes")
}

/// What the pass's judging steps look records up in: every record, in memory.
struct InMemory<'a> {
    docs: &'a [PreparedDoc],
    opts: &'a DedupOptions,
    /// Shingles of each representative's whole text; the passages' shingles are computed
    /// for the pair being judged ([`Records::text`]), never held for all records.
    text: Vec<RecordText>,
    /// Article vectors in memory, passage vectors in a temporary file.
    vectors: VectorStore,
}

impl Records for InMemory<'_> {
    type Error = DedupError;
    fn whole(&self, i: usize) -> &RecordText {
        &self.text[i]
    }
    /// Record `i`'s lexical side with its passages' shingles, for judging a pair with
    /// passage evidence (about 3 KB a record that a pass need not hold for all of them).
    fn text(&self, i: usize) -> RecordText {
        self.text[i].with_passages(&self.docs[i].passages, &self.opts.minhash)
    }
    fn vectors(&self, i: usize) -> Result<Option<DocumentVectors>, DedupError> {
        self.vectors.get(i).map_err(spill_error)
    }
    fn exact_key(&self, i: usize) -> u128 {
        self.docs[i].exact_key
    }
    fn working_on(&self, a: usize, b: usize) -> Option<crate::working_on::Working> {
        Some(crate::working_on::working_on(pair_name(self.docs, a, b)))
    }
}

/// What the pass has decided so far: the pairs judged, the duplicate edges and the report.
#[derive(Default)]
struct Decided {
    /// (representative, copy) edges: copies are not clustered on their own but follow their
    /// representative (see [`Pass::finish`]).
    copies: Vec<DuplicateEdge>,
    /// Pairs already judged, lower position first: none is judged twice.
    judged: HashSet<(usize, usize)>,
    /// Duplicate edges between representatives.
    edges: Vec<DuplicateEdge>,
    report: DedupReport,
}

impl Decided {
    /// Keeps what a judging step keeps of the verdict on `(a, b)` ([`Judging::kept`]).
    fn keep(
        &mut self,
        a: usize,
        b: usize,
        verdict: PairVerdict,
        kept: Kept,
    ) -> Result<(), DedupError> {
        if kept.settled {
            self.judged.insert((a, b));
        }
        self.edges.extend(kept.edge);
        self.report.related.extend(kept.related);
        if kept.listed {
            self.report
                .pairs
                .push(JudgedPair { a, b, verdict })
                .map_err(spill_error)?;
        }
        Ok(())
    }
}

/// One dedup pass as its steps fill it in: the records, which are exact copies of which,
/// and what has been decided.
struct Pass<'a> {
    records: InMemory<'a>,
    /// Keep order of each record (lower is kept first).
    rank: Vec<usize>,
    /// Each record's exact-copy representative (itself when it is one).
    rep_of: Vec<usize>,
    /// The representatives in input order: the records the later steps compare.
    reps: Vec<usize>,
    decided: Decided,
}

impl<'a> Pass<'a> {
    fn new(docs: &'a [PreparedDoc], opts: &'a DedupOptions) -> Pass<'a> {
        let n = docs.len();
        Pass {
            records: InMemory {
                docs,
                opts,
                text: vec![RecordText::default(); n],
                vectors: VectorStore::new(n, 0),
            },
            rank: keep_rank_of(docs, &opts.keep),
            rep_of: (0..n).collect(),
            reps: (0..n).collect(),
            decided: Decided::default(),
        }
    }

    fn docs(&self) -> &'a [PreparedDoc] {
        self.records.docs
    }

    fn opts(&self) -> &'a DedupOptions {
        self.records.opts
    }

    fn time(&mut self, stage: &str, since: Instant) {
        self.decided
            .report
            .timings
            .push((stage.into(), since.elapsed().as_secs_f64()));
    }

    /// Exact copies of the compared text. The best-ranked copy represents the group.
    fn exact_step(&mut self) {
        let docs = self.docs();
        let policy = &self.opts().keep;
        let rows = docs
            .iter()
            .enumerate()
            .map(|(i, d)| (KeepKey::of(d, policy), i, d.exact_key))
            .collect();
        for (r, i) in steps::exact(rows, policy) {
            self.rep_of[i] = r;
            self.decided.copies.push(copy_edge(r, i));
            self.decided.judged.insert((r.min(i), r.max(i)));
        }
        self.reps = (0..docs.len()).filter(|&i| self.rep_of[i] == i).collect();
    }

    /// Shingles of every representative's whole text: for the near-exact step and as
    /// evidence for semantic pairs.
    fn shingle_representatives(&mut self) {
        let (docs, opts) = (self.docs(), self.opts());
        for &i in &self.reps {
            self.records.text[i] = RecordText::whole(&docs[i].passages, &opts.minhash);
        }
    }

    /// MinHash-LSH candidates among the representatives, verified on the shingle sets.
    fn near_exact_step(&mut self) -> Result<(), DedupError> {
        let opts = self.opts();
        let rows = self
            .reps
            .iter()
            .flat_map(|&i| steps::band_rows(i, &self.records.text[i], opts));
        let pairs = steps::near_exact_candidates(rows);
        let decided = &mut self.decided;
        steps::judge_pairs(
            Judging::NearExact,
            pairs.into_iter().map(|(a, b)| (a, b, 0.0)),
            &self.records,
            opts,
            |a, b, v, kept| decided.keep(a, b, v, kept),
        )
    }

    /// Vectors of the representatives (embedded now or given), shared by their copies.
    fn embed(&mut self, source: VectorSource, progress: Progress) -> Result<(), DedupError> {
        match source {
            VectorSource::Embed(embedder) => {
                let docs = self.docs();
                let reps = &self.reps;
                let paragraphs: Vec<&[String]> =
                    reps.iter().map(|&i| docs[i].passages.as_slice()).collect();
                let total = reps.len();
                let store = &mut self.records.vectors;
                store.reserve(total, embedder.dim());
                let mut tokens = 0;
                embed_documents_each(
                    embedder,
                    &paragraphs,
                    Role::Passage,
                    |d, tok| progress("embedding", d, total, tok),
                    |k, v| {
                        tokens += v.passage_tokens.iter().sum::<usize>();
                        store.put(reps[k], &v).map_err(|source| ModelError::Io {
                            path: spill_path(),
                            source,
                        })
                    },
                )?;
                self.decided.report.tokens = tokens;
            }
            VectorSource::Given(given) => {
                for &i in &self.reps {
                    if let Some(v) = given.get(i).and_then(|v| v.as_ref()) {
                        self.records.vectors.put(i, v).map_err(spill_error)?;
                    }
                }
            }
        }
        // Exact copies get no vectors: vectors[i] always describe docs[i].passages. A copy
        // has the same text as its representative without white space, but it may be cut
        // into other passages (re-segmented, re-wrapped), so the representative's passage
        // vectors are not its own (that mismatch made the evidence index past the end of
        // a copy's passages). A copy is compared through its representative.
        Ok(())
    }

    /// Article-vector neighbours of each representative, judged with paragraph evidence;
    /// also finds the related pairs.
    fn semantic_step(&mut self) -> Result<(), DedupError> {
        let opts = self.opts();
        let vectors = &self.records.vectors;
        let arts: Vec<&[f32]> = self
            .reps
            .iter()
            .map(|&i| vectors.article(i).unwrap_or(&[]))
            .collect();
        let nn = neighbours::nearest(&arts, opts.neighbours)?;
        drop(arts);
        let nearest = nn.iter().filter_map(|list| list.first().map(|&(_, c)| c));
        self.decided.report.nearest_cosines.extend(nearest);
        let reps = &self.reps;
        let rows = nn
            .iter()
            .enumerate()
            .flat_map(|(x, list)| list.iter().map(move |&(y, c)| (reps[x], reps[y], c)));
        let judged = &self.decided.judged;
        let pairs = steps::semantic_candidates(rows, opts, |a, b| judged.contains(&(a, b)));
        drop(nn);
        let decided = &mut self.decided;
        steps::judge_pairs(
            Judging::Semantic,
            pairs,
            &self.records,
            opts,
            |a, b, v, kept| decided.keep(a, b, v, kept),
        )
    }

    /// Second look: a record left outside a cluster while it duplicates one of its members
    /// is judged against that cluster's kept record directly, and joins it only when that
    /// pair passes the same rule. So an excerpt of a removed copy still goes with the
    /// original it was copied from, without chaining (every member keeps a direct edge to
    /// the record it is removed for).
    fn second_look(&mut self) -> Result<(), DedupError> {
        let opts = self.opts();
        let judged = &self.decided.judged;
        let todo = steps::second_look_candidates(
            self.docs().len(),
            &self.decided.edges,
            &self.rank,
            opts,
            |a, b| judged.contains(&(a, b)),
        );
        let decided = &mut self.decided;
        steps::judge_pairs(
            Judging::SecondLook,
            todo,
            &self.records,
            opts,
            |a, b, v, kept| decided.keep(a, b, v, kept),
        )
    }

    /// Against an index: each representative that duplicates an indexed record is removed,
    /// with its exact copies, in favour of the best-scoring indexed record.
    fn against_index(&self, index: &Index) -> Result<HashMap<usize, Removal>, DedupError> {
        let mut removed = HashMap::new();
        for &i in &self.reps {
            if let Some((v, id)) = steps::against_index(i, &self.records, index, self.opts())? {
                for j in (0..self.docs().len()).filter(|&j| self.rep_of[j] == i) {
                    removed.insert(j, steps::against_removal(j, i, &v, &id));
                }
            }
        }
        Ok(removed)
    }

    /// Clusters the records not already removed against the index (stars around kept
    /// records, in keep order), and fills in the report's removals, clusters and counts.
    fn finish(mut self, removed_by_index: HashMap<usize, Removal>) -> DedupReport {
        let n = self.docs().len();
        let edges = std::mem::take(&mut self.decided.edges);
        let copies = std::mem::take(&mut self.decided.copies);
        let c = conclude(
            n,
            edges,
            copies,
            &self.rank,
            removed_by_index,
            self.opts().removal_coverage,
        );
        let mut report = self.decided.report;
        report.kept = c.kept;
        report.removed = c.removed;
        report.clusters = c.clusters;
        report.stage_counts = c.stage_counts;
        report.related.sort_by_key(|r| (r.a, r.b));
        report.pairs.sort();
        report.held_bytes = memory_account(
            self.records.docs,
            &self.records.text,
            &self.records.vectors,
            &report,
            self.decided.judged.len(),
        );
        report.vectors = self.records.vectors;
        report
    }
}

/// What a pass holds in memory at its end, by structure (bytes; an estimate from lengths
/// and capacities, allocator overhead not counted): the table of the README's "What a run
/// holds in memory". Passage vectors, in a temporary file, are listed apart.
fn memory_account(
    docs: &[PreparedDoc],
    text: &[RecordText],
    vectors: &VectorStore,
    report: &DedupReport,
    judged: usize,
) -> Vec<(String, usize)> {
    use std::mem::size_of;
    let records: usize = docs
        .iter()
        .map(|d| {
            let r = &d.record;
            size_of::<PreparedDoc>()
                + r.id.capacity()
                + r.title.as_ref().map_or(0, |t| t.capacity())
                + r.text.capacity()
                + r.raw.capacity()
        })
        .sum();
    let cleaning: usize = docs
        .iter()
        .filter_map(|d| d.cleaned.as_ref())
        .map(|c| {
            c.paragraphs
                .iter()
                .map(|p| p.text.capacity() + 48)
                .sum::<usize>()
                + c.removed
                    .iter()
                    .map(|l| l.text.capacity() + 48)
                    .sum::<usize>()
        })
        .sum();
    let passages: usize = docs
        .iter()
        .map(|d| {
            d.passages.iter().map(|p| p.capacity() + 24).sum::<usize>()
                + d.ranges.capacity() * size_of::<Option<(usize, usize)>>()
        })
        .sum();
    let shingles: usize = text
        .iter()
        .map(|t| {
            t.shingles.held_bytes()
                + t.passages
                    .iter()
                    .map(|p| p.shingles.held_bytes() + 8)
                    .sum::<usize>()
        })
        .sum();
    vec![
        ("records (id, title, text, raw line)".into(), records),
        (
            "cleaning report (cleaned lines, removed lines)".into(),
            cleaning,
        ),
        ("passages (compared text)".into(), passages),
        (
            "shingles (whole texts; passages' computed per judged pair)".into(),
            shingles,
        ),
        ("article vectors".into(), vectors.held_bytes()),
        (
            "judged pairs (positions; verdicts in a temporary file)".into(),
            report.pairs.held_bytes(),
        ),
        (
            "related pairs".into(),
            report.related.capacity() * size_of::<RelatedPair>(),
        ),
        // A hash set of (usize, usize): 16 bytes an entry, about twice that with its table.
        ("pairs-judged set".into(), judged * 32),
        (
            "passage vectors (temporary file, not memory)".into(),
            vectors.spilled_bytes() as usize,
        ),
        (
            "judged pairs' verdicts (temporary file, not memory)".into(),
            report.pairs.spilled_bytes() as usize,
        ),
    ]
}

/// How a pair of input records is named in a message: ids and where they were read.
pub fn pair_name(docs: &[PreparedDoc], a: usize, b: usize) -> String {
    let name = |i: usize| {
        docs.get(i).map_or(format!("#{i}"), |d| {
            format!("{:?} ({})", d.record.id, d.record.location)
        })
    };
    format!("records {} and {}", name(a), name(b))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::app::text_record;
    use crate::corpus::{prepare, PrepareOptions};
    use crate::dedup::cluster::Stage;
    use crate::dedup::options::Stages;
    use crate::dedup::outcome::Original;

    const A: &str = "推动高质量发展，创新是核心动力和关键变量。日前，市委经济工作会议召开，指出要深入实施创新驱动战略，围绕高水平国家创新型城市建设，深入实施省十大创新行动，全面落实市委、市政府强化创新驱动各项部署。";

    #[test]
    fn an_exact_copy_of_a_member_joins_its_cluster_and_says_through_whom() {
        let b = A.replace("十大", "十项");
        let records = vec![
            text_record("a", A),
            text_record("b", &b),
            text_record("c", &b),
            text_record("d", "济南地面站是齐鲁科创大走廊未来导航增强卫星系统的重要组成部分，今年九月完成建设并投入使用，可为区域用户提供高精度定位服务。"),
        ];
        let docs = prepare(records, &PrepareOptions::default());
        let opts = DedupOptions {
            stages: Stages {
                semantic: false,
                ..Stages::default()
            },
            ..DedupOptions::default()
        };
        let report = run(&docs, None, None, &opts, &mut |_, _, _, _| {}).unwrap();
        assert_eq!(report.kept, vec![0, 3]);
        assert_eq!(report.clusters.len(), 1);
        assert_eq!(report.clusters[0].members, vec![0, 1, 2]);
        let by_doc: HashMap<usize, &Removal> = report.removed.iter().map(|r| (r.doc, r)).collect();
        assert_eq!(by_doc[&1].stage, Stage::NearExact);
        assert_eq!(by_doc[&1].exact_copy_of, None);
        assert_eq!(by_doc[&2].duplicate_of, Original::Input(0));
        assert_eq!(by_doc[&2].exact_copy_of, Some(1));
    }
}
