//! The duplicate graph and its clustering. Clusters are stars around the record kept: records
//! are visited in keep-priority order, an unassigned record becomes a kept centre, and only
//! records with a direct duplicate edge to that centre join it; a member then moves to the
//! centre it duplicates most strongly. So A~B~C never merges A and C unless A~C itself
//! holds (no chaining), and the result is the same on every run.
//!
//! It decides nothing about what is a duplicate (that is the stages' job) and writes no files.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// Which stage found an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Identical compared text (after cleaning, normalisation and script folding).
    Exact,
    /// MinHash-LSH candidate verified on shingle sets.
    NearExact,
    /// Embedding neighbours whose aligned passages agree in their text.
    Semantic,
    /// `--semantic-redundancy`: article cosine within EPS of a kept record, whatever the
    /// wording (SemDeDup-style; off by default).
    SemanticRedundancy,
}

impl Stage {
    /// The stage's name in outputs and counts.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Exact => "exact",
            Stage::NearExact => "near_exact",
            Stage::Semantic => "semantic",
            Stage::SemanticRedundancy => "semantic_redundancy",
        }
    }
}

/// A passage of the shorter record aligned with a passage of the other (positions in each
/// record): the vectors' cosine and the share of the passage's shingles found in the aligned
/// passage and its neighbours on the other side (`shared`: the text agreement).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PassageMatch {
    pub a: usize,
    pub b: usize,
    pub cosine: f32,
    pub shared: f32,
}

/// Why two records are duplicates: every score that was computed for the pair.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Evidence {
    /// Article-vector cosine, when both were embedded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cosine: Option<f32>,
    /// Exact Jaccard of the shingle sets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jaccard: Option<f32>,
    /// Share of the shorter record's shingles found in the other.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub containment: Option<f32>,
    /// Share of the shorter record's tokens in passages whose vector matches one of the
    /// other's at the passage threshold (vector evidence only: reported, never decisive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passage_coverage: Option<f32>,
    /// Share of the shorter record's letters in passages whose text agrees with the aligned
    /// passage of the other (shared >= the passage-text threshold): the semantic stage's test.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_coverage: Option<f32>,
    /// Share of `a`'s shingles (character 5-grams of its compared text) found in `b`: how
    /// much of `a`'s text `b` holds. `a` may be removed for `b` only when this reaches the
    /// run's `removal_coverage`. Absent on exact copies (they hold each other whole).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub a_in_b: Option<f32>,
    /// Share of `b`'s shingles found in `a`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b_in_a: Option<f32>,
    /// Aligned passage pairs (passage numbers in each record), most shared text first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub passages: Vec<PassageMatch>,
}

/// One duplicate edge between records `a` and `b` (positions in the input).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DuplicateEdge {
    pub a: usize,
    pub b: usize,
    pub stage: Stage,
    /// The stage's score: 1 for exact, Jaccard for near-exact, cosine for semantic.
    pub score: f32,
    pub evidence: Evidence,
}

impl DuplicateEdge {
    /// The other end of the edge, seen from `me`.
    pub fn other(&self, me: usize) -> usize {
        if self.a == me {
            self.b
        } else {
            self.a
        }
    }

    /// How much of `member`'s text the other end holds (1 for exact copies).
    pub fn coverage_of(&self, member: usize) -> f32 {
        if self.stage == Stage::Exact {
            return 1.0;
        }
        let c = if self.a == member {
            self.evidence.a_in_b
        } else {
            self.evidence.b_in_a
        };
        c.unwrap_or(1.0)
    }

    /// Whether `member` may be removed for the other end: the other holds its text.
    pub fn may_remove(&self, member: usize, min_coverage: f32) -> bool {
        self.coverage_of(member) >= min_coverage
    }
}

/// A cluster: the kept record and its removed members, each with the edge that links it to
/// the kept record.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub kept: usize,
    pub members: Vec<(usize, DuplicateEdge)>,
}

/// When two records hold each other's text above the removal coverage, the one that holds
/// this much more of the other is the more complete version (an article and an excerpt of
/// most of it: 0.98 against 0.85) and is kept whatever the keep policy prefers; closer
/// than this (a copy with a few words changed), the keep policy decides.
pub const COMPLETENESS_MARGIN: f32 = 0.05;

/// Whether a record, `held` by the other record and holding `holds` of it, is the less
/// complete of the two: the other holds its text, and it does not hold the other's, or
/// holds clearly less of it (by [`COMPLETENESS_MARGIN`]).
pub fn less_complete(held: f32, holds: f32, min_coverage: f32) -> bool {
    held >= min_coverage && (holds < min_coverage || held - holds >= COMPLETENESS_MARGIN)
}

/// Star clustering over directed edges. `rank[i]` is record i's keep priority (lower is
/// kept first; ties must already be broken by the caller); a record joins a centre only
/// when the centre holds its text (`edge.may_remove(member, min_coverage)`). Records that
/// another record holds while they do not hold it, or hold clearly less of it (excerpts of
/// a fuller text, see [`COMPLETENESS_MARGIN`]), are visited after those that are held by
/// none, so the complete version becomes the centre whatever
/// the keep policy says. Returns clusters with at least one member, ordered by their kept
/// record's rank.
pub fn star_clusters(
    n: usize,
    edges: &[DuplicateEdge],
    rank: &[usize],
    min_coverage: f32,
) -> Vec<Cluster> {
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut held = vec![false; n];
    for (e_idx, e) in edges.iter().enumerate() {
        if e.a < n && e.b < n && e.a != e.b {
            adj[e.a].push(e_idx);
            adj[e.b].push(e_idx);
            let (ca, cb) = (e.coverage_of(e.a), e.coverage_of(e.b));
            held[e.a] |= less_complete(ca, cb, min_coverage);
            held[e.b] |= less_complete(cb, ca, min_coverage);
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| (held[i], rank[i], i));
    let mut assigned = vec![false; n];
    let mut clusters = Vec::new();
    for &centre in &order {
        if assigned[centre] {
            continue;
        }
        assigned[centre] = true;
        // The strongest edge per neighbour (stage order, then score), deterministic.
        let mut best: Vec<(usize, usize)> = Vec::new(); // (neighbour, edge index)
        for &e_idx in &adj[centre] {
            let e = &edges[e_idx];
            let other = e.other(centre);
            if assigned[other] || !e.may_remove(other, min_coverage) {
                continue;
            }
            match best.iter_mut().find(|(o, _)| *o == other) {
                Some(slot) => {
                    if stronger(e, &edges[slot.1]) {
                        slot.1 = e_idx;
                    }
                }
                None => best.push((other, e_idx)),
            }
        }
        best.sort_by_key(|&(o, _)| (rank[o], o));
        let members: Vec<(usize, DuplicateEdge)> = best
            .into_iter()
            .map(|(o, e_idx)| {
                assigned[o] = true;
                (o, edges[e_idx].clone())
            })
            .collect();
        clusters.push(Cluster {
            kept: centre,
            members,
        });
    }
    // Each member then goes with the kept record it duplicates most strongly (stage, then
    // score, then keep order) among those it has a direct edge to: an excerpt of B that
    // also quotes A goes with B, its source, even when A is kept first.
    let centre_no: std::collections::HashMap<usize, usize> = clusters
        .iter()
        .enumerate()
        .map(|(k, c)| (c.kept, k))
        .collect();
    let mut moves: Vec<(usize, usize, usize, DuplicateEdge)> = Vec::new(); // (from, member, to, edge)
    for (k, c) in clusters.iter().enumerate() {
        for (m, e) in &c.members {
            let mut best: Option<(usize, &DuplicateEdge)> = None;
            for &e_idx in &adj[*m] {
                let cand = &edges[e_idx];
                let other = cand.other(*m);
                let Some(&to) = centre_no.get(&other) else {
                    continue;
                };
                if !cand.may_remove(*m, min_coverage) {
                    continue;
                }
                if to == k {
                    continue;
                }
                let better_than_current = stronger(cand, e);
                let better_than_best = best.is_none_or(|(b, be)| {
                    stronger(cand, be)
                        || (!stronger(be, cand) && rank[clusters[to].kept] < rank[clusters[b].kept])
                });
                if better_than_current && better_than_best {
                    best = Some((to, cand));
                }
            }
            if let Some((to, cand)) = best {
                moves.push((k, *m, to, cand.clone()));
            }
        }
    }
    for (from, m, to, e) in moves {
        clusters[from].members.retain(|(x, _)| *x != m);
        clusters[to].members.push((m, e));
    }
    for c in &mut clusters {
        c.members.sort_by_key(|(o, _)| (rank[*o], *o));
    }
    clusters.retain(|c| !c.members.is_empty());
    clusters
}

fn stronger(x: &DuplicateEdge, y: &DuplicateEdge) -> bool {
    match x.stage.cmp(&y.stage) {
        Ordering::Less => true,
        Ordering::Greater => false,
        Ordering::Equal => x.score > y.score,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(a: usize, b: usize) -> DuplicateEdge {
        DuplicateEdge {
            a,
            b,
            stage: Stage::Semantic,
            score: 0.99,
            evidence: Evidence::default(),
        }
    }

    #[test]
    fn a_chain_does_not_merge_its_ends() {
        // A~B, B~C, but not A~C: A keeps B; C stays on its own.
        let clusters = star_clusters(3, &[edge(0, 1), edge(1, 2)], &[0, 1, 2], 0.8);
        assert_eq!(clusters.len(), 1);
        assert_eq!(clusters[0].kept, 0);
        assert_eq!(clusters[0].members.len(), 1);
        assert_eq!(clusters[0].members[0].0, 1);
    }

    #[test]
    fn every_member_is_linked_to_the_kept_record() {
        let edges = [edge(0, 1), edge(1, 2), edge(2, 3), edge(0, 2), edge(4, 3)];
        for rank in [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 0, 4, 1, 3]] {
            for c in star_clusters(5, &edges, &rank, 0.8) {
                for (m, e) in &c.members {
                    assert!((e.a == c.kept && e.b == *m) || (e.b == c.kept && e.a == *m));
                }
            }
        }
    }

    fn directed(a: usize, b: usize, a_in_b: f32, b_in_a: f32) -> DuplicateEdge {
        let mut e = edge(a, b);
        e.evidence.a_in_b = Some(a_in_b);
        e.evidence.b_in_a = Some(b_in_a);
        e
    }

    #[test]
    fn the_full_article_is_kept_over_its_excerpt_in_either_order() {
        // 0 is an excerpt of 1 (0 in 1: 0.95; 1 in 0: 0.3); keep order prefers 0.
        let c = star_clusters(2, &[directed(0, 1, 0.95, 0.3)], &[0, 1], 0.8);
        assert_eq!(c[0].kept, 1);
        assert_eq!(c[0].members[0].0, 0);
        let c = star_clusters(2, &[directed(0, 1, 0.3, 0.95)], &[0, 1], 0.8);
        assert_eq!(c[0].kept, 0);
    }

    #[test]
    fn partial_reuse_removes_nothing_and_a_chain_removes_only_for_a_direct_holder() {
        assert!(star_clusters(2, &[directed(0, 1, 0.5, 0.4)], &[0, 1], 0.8).is_empty());
        // A ⊃ B ⊃ C with no A-C edge: B goes with A, C stays (nothing holds it directly
        // among the kept records).
        let edges = [directed(1, 0, 0.9, 0.5), directed(2, 1, 0.9, 0.5)];
        let c = star_clusters(3, &edges, &[2, 1, 0], 0.8);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].kept, 0);
        assert_eq!(
            c[0].members.iter().map(|m| m.0).collect::<Vec<_>>(),
            vec![1]
        );
    }

    #[test]
    fn keep_priority_decides_the_centre() {
        let clusters = star_clusters(2, &[edge(0, 1)], &[1, 0], 0.8);
        assert_eq!(clusters[0].kept, 1);
    }
}
