//! From duplicate edges to the outcome, shared by every driver (the single-process pass and
//! the Ray pass): exact-copy groups, the second look's pairs, and the conclusion (star
//! clusters, every removal named with its coverage by the record kept for it). It must not
//! judge pairs.

use std::collections::HashMap;

use super::cluster::{self, DuplicateEdge, Evidence, Stage};
use super::outcome::{ClusterSummary, Original, Removal};

/// Exact copies among records given as (position, exact key) in keep order (the first is
/// kept first): each record whose key was seen before is a copy of the first record with
/// that key. Returns (representative, copy) pairs in the order visited.
pub fn exact_copies(in_keep_order: impl IntoIterator<Item = (usize, u128)>) -> Vec<(usize, usize)> {
    let mut groups: HashMap<u128, usize> = HashMap::new();
    let mut copies = Vec::new();
    for (i, key) in in_keep_order {
        match groups.get(&key) {
            Some(&r) => copies.push((r, i)),
            None => {
                groups.insert(key, i);
            }
        }
    }
    copies
}

/// The edge that makes `copy` an exact copy of `rep`.
pub fn copy_edge(rep: usize, copy: usize) -> DuplicateEdge {
    DuplicateEdge {
        a: rep,
        b: copy,
        stage: Stage::Exact,
        score: 1.0,
        evidence: Evidence::default(),
    }
}

/// The pairs of the second look (part of [`super::steps::Step::Conclude`]): a record
/// outside every cluster that has an edge to a member, paired with that member's kept
/// record. Sorted, lower position first.
pub fn second_look_pairs(
    n: usize,
    edges: &[DuplicateEdge],
    rank: &[usize],
    min_coverage: f32,
) -> std::collections::BTreeSet<(usize, usize)> {
    let clusters = cluster::star_clusters(n, edges, rank, min_coverage);
    let mut centre_of: HashMap<usize, usize> = HashMap::new();
    for c in &clusters {
        for (m, _) in &c.members {
            centre_of.insert(*m, c.kept);
        }
    }
    let mut todo = std::collections::BTreeSet::new();
    for e in edges {
        for (x, y) in [(e.a, e.b), (e.b, e.a)] {
            if centre_of.contains_key(&x) {
                continue;
            }
            if let Some(&c) = centre_of.get(&y) {
                if c != x {
                    todo.insert((x.min(c), x.max(c)));
                }
            }
        }
    }
    todo
}

/// What the clustering concludes: kept records in input order, removals by position,
/// clusters named `c1`, `c2`, … in keep order (then `index:ID` ones), and counts by stage.
#[derive(Debug, Default)]
pub struct Conclusion {
    pub kept: Vec<usize>,
    pub removed: Vec<Removal>,
    pub clusters: Vec<ClusterSummary>,
    pub stage_counts: HashMap<String, usize>,
}

/// Clusters the records not already removed against an index (stars around kept records,
/// in keep order, over the duplicate `edges` between representatives; exact `copies` follow
/// their representative) and names every removal and cluster. Shared by the single-process
/// pass and the staged one, so both conclude alike from the same edges.
pub fn conclude(
    n: usize,
    edges: Vec<DuplicateEdge>,
    copies: Vec<DuplicateEdge>,
    rank: &[usize],
    removed_by_index: HashMap<usize, Removal>,
    min_coverage: f32,
) -> Conclusion {
    let live_edges: Vec<DuplicateEdge> = edges
        .into_iter()
        .filter(|e| !removed_by_index.contains_key(&e.a) && !removed_by_index.contains_key(&e.b))
        .collect();
    let mut clusters = cluster::star_clusters(n, &live_edges, rank, min_coverage);
    // Exact copies follow their representative into its cluster (as member or kept
    // record), or form a cluster that it keeps: a star over copies would leave a copy of
    // a member outside the cluster that member joined.
    let mut cluster_of: HashMap<usize, usize> = HashMap::new();
    for (c_no, c) in clusters.iter().enumerate() {
        cluster_of.insert(c.kept, c_no);
        for (m, _) in &c.members {
            cluster_of.insert(*m, c_no);
        }
    }
    for e in copies
        .into_iter()
        .filter(|e| !removed_by_index.contains_key(&e.a))
    {
        let c_no = *cluster_of.entry(e.a).or_insert_with(|| {
            clusters.push(cluster::Cluster {
                kept: e.a,
                members: Vec::new(),
            });
            clusters.len() - 1
        });
        clusters[c_no].members.push((e.b, e));
    }
    clusters.sort_by_key(|c| (rank[c.kept], c.kept));
    for c in &mut clusters {
        c.members.sort_by_key(|(m, _)| (rank[*m], *m));
    }
    let mut out = Conclusion::default();
    let mut removed_flag = vec![false; n];
    let mut index_clusters: HashMap<String, Vec<usize>> = HashMap::new();
    let mut removals: Vec<Removal> = removed_by_index.into_values().collect();
    for r in &removals {
        removed_flag[r.doc] = true;
        if let Original::Indexed(id) = &r.duplicate_of {
            index_clusters.entry(id.clone()).or_default().push(r.doc);
        }
    }
    for (c_no, c) in clusters.iter().enumerate() {
        let name = format!("c{}", c_no + 1);
        // How much of each member's text the kept record holds: on its own edge, or for an
        // exact copy of another member, that member's (the copy's text is the same).
        let direct: HashMap<usize, f32> = c
            .members
            .iter()
            .filter(|(_, e)| e.a == c.kept || e.b == c.kept)
            .map(|(m, e)| (*m, e.coverage_of(*m)))
            .collect();
        for (m, e) in &c.members {
            removed_flag[*m] = true;
            let via = (e.stage == Stage::Exact && e.a != c.kept && e.b == *m).then_some(e.a);
            let coverage_in_kept = match via {
                Some(v) => direct.get(&v).copied().unwrap_or(1.0),
                None => direct.get(m).copied().unwrap_or(1.0),
            };
            removals.push(Removal {
                coverage_in_kept,
                keep_overridden: rank[*m] < rank[c.kept],
                doc: *m,
                duplicate_of: Original::Input(c.kept),
                cluster: name.clone(),
                stage: e.stage,
                score: e.score,
                evidence: e.evidence.clone(),
                exact_copy_of: via,
            });
        }
        out.clusters.push(ClusterSummary {
            cluster: name,
            kept: Original::Input(c.kept),
            members: std::iter::once(c.kept)
                .chain(c.members.iter().map(|m| m.0))
                .collect(),
        });
    }
    let mut ids: Vec<_> = index_clusters.into_iter().collect();
    ids.sort();
    for (id, mut members) in ids {
        members.sort();
        out.clusters.push(ClusterSummary {
            cluster: format!("index:{id}"),
            kept: Original::Indexed(id),
            members,
        });
    }
    removals.sort_by_key(|r| r.doc);
    for r in &removals {
        *out.stage_counts.entry(r.stage.name().into()).or_default() += 1;
    }
    out.kept = (0..n).filter(|&i| !removed_flag[i]).collect();
    out.removed = removals;
    out
}
