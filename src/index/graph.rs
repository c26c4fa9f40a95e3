//! HNSW graphs: built and extended with hnsw_rs (whose dump is kept so a writer can extend it),
//! and exported to a flat, memory-mapped adjacency file that readers search without loading.
//! Must not store documents or vectors of its own (it borrows the vector files), nor use threads:
//! insertion is serial so that the same input always gives the same graph.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use hnsw_rs::prelude::{AnnT, Distance, Hnsw, HnswIo};

use super::error::{corrupt, IndexError};
use super::manifest::{seal_file, FileEntry, FileSink};
use super::meta::GraphSettings;
use super::vectors::{dot, MappedFile, VectorFile};

/// Magic at the start of a flat graph file written with layer 0 in fixed-width rows (format
/// 1, still read).
const GRAPH_MAGIC_V1: &[u8; 8] = b"SDXHNSW1";
/// Magic of the current layout: layer 0 as variable-length rows holding hnsw_rs's neighbours
/// plus the reverse links (see [`write_flat`]).
const GRAPH_MAGIC: &[u8; 8] = b"SDXHNSW2";
/// hnsw_rs names its dump files `<basename>` + these.
const HNSW_GRAPH_SUFFIX: &str = ".hnsw.graph";
const HNSW_DATA_SUFFIX: &str = ".hnsw.data";
/// Padding in fixed-width neighbour lists.
const NO_NEIGHBOUR: u32 = u32::MAX;

/// Cosine distance for L2-normalised vectors, `1 - dot`, clamped at 0.
///
/// hnsw_rs's own `DistDot` asserts `dot <= 1`, which rounding breaks for identical vectors
/// (exactly the near-duplicates simdex looks for), so the index uses this one.
#[derive(Debug, Default, Clone, Copy)]
pub struct CosineDistance;

impl Distance<f32> for CosineDistance {
    fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
        let d = 1.0 - dot(va, vb);
        if d > 0.0 {
            d
        } else {
            0.0 // also maps NaN (from a corrupt vector) to a number hnsw_rs can order
        }
    }
}

/// The files a level's graph occupies in one generation.
pub(crate) struct GraphFiles {
    pub flat: FileEntry,
    pub hnsw_graph: Option<FileEntry>,
    pub hnsw_data: Option<FileEntry>,
}

/// File names for one level of a new generation.
pub(crate) struct LevelNames {
    /// Basename of the hnsw_rs dump (it appends `.hnsw.graph` and `.hnsw.data`).
    pub dump_basename: String,
    /// Name of the flat graph file.
    pub flat: String,
}

/// Builds the graph of one level for a new generation: loads `previous` (an hnsw_rs dump's
/// graph file, already checksummed) if given, inserts `vectors[first_new..]` one by one with
/// their row numbers as ids, then dumps it and writes the flat file `flat_name`.
pub(crate) fn build_level(
    dir: &Path,
    previous: Option<&FileEntry>,
    vectors: &dyn Fn(usize) -> Vec<f32>,
    first_new: usize,
    total: usize,
    settings: &GraphSettings,
    names: LevelNames,
) -> Result<GraphFiles, IndexError> {
    let LevelNames {
        dump_basename,
        flat: flat_name,
    } = names;
    let dump_basename = dump_basename.as_str();
    let mut loader = previous.map(|entry| {
        let basename = entry
            .name
            .strip_suffix(HNSW_GRAPH_SUFFIX)
            .unwrap_or(&entry.name);
        HnswIo::new(dir, basename)
    });
    let graph_error = |reason: String| IndexError::Graph {
        path: dir.join(dump_basename),
        reason,
    };
    let hnsw: Hnsw<'_, f32, CosineDistance> = match loader.as_mut() {
        Some(io) => catch_unwind(AssertUnwindSafe(move || {
            let io = io; // moved in, so the closure is FnOnce and the borrow may escape
            io.load_hnsw::<f32, CosineDistance>()
        }))
        .map_err(|_| graph_error("hnsw_rs panicked while loading the previous graph".into()))?
        .map_err(|e| graph_error(format!("cannot load the previous graph: {e}")))?,
        None => Hnsw::new(
            settings.max_nb_connection,
            total.max(1),
            settings.max_layer,
            settings.ef_construction,
            CosineDistance,
        ),
    };
    if hnsw.get_nb_point() != first_new {
        return Err(graph_error(format!(
            "previous graph holds {} points, expected {first_new}",
            hnsw.get_nb_point()
        )));
    }
    for id in first_new..total {
        let v = vectors(id);
        hnsw.insert_slice((&v, id));
    }
    let mut flat = FileSink::create(dir, flat_name)?;
    write_flat(&hnsw, total, &mut flat, dir)?;
    let flat = flat.finish()?;
    if total == 0 {
        return Ok(GraphFiles {
            flat,
            hnsw_graph: None,
            hnsw_data: None,
        });
    }
    let basename = catch_unwind(AssertUnwindSafe(|| hnsw.file_dump(dir, dump_basename)))
        .map_err(|_| graph_error("hnsw_rs panicked while dumping the graph".into()))?
        .map_err(|e| graph_error(format!("cannot dump the graph: {e}")))?;
    let hnsw_graph = seal_file(dir, format!("{basename}{HNSW_GRAPH_SUFFIX}"))?;
    let hnsw_data = seal_file(dir, format!("{basename}{HNSW_DATA_SUFFIX}"))?;
    drop(hnsw);
    drop(loader);
    Ok(GraphFiles {
        flat,
        hnsw_graph: Some(hnsw_graph),
        hnsw_data: Some(hnsw_data),
    })
}

/// Flat file: magic, `n`, `layers`, `entry` (u64 each), per layer `nodes` and `stride` (u64;
/// 0 for layer 0), then for layers ≥ 1 their sorted node ids (u32); then layer 0 as `n + 1`
/// row offsets (u64, as two u32 words, low first) and the rows' neighbour ids (u32); then per
/// layer ≥ 1 `nodes × stride` neighbour ids (u32, padded with `u32::MAX`). Layer 0 holds
/// every node, in id order.
///
/// A layer-0 row is the point's hnsw_rs neighbours followed by the points that list it (in
/// id order) and do not appear already. HNSW's diversity heuristic links each of many
/// near-copies of one record to that record only, and the record keeps only its
/// `2 × max_nb_connection` nearest copies: without the reverse links the other copies were
/// unreachable (recall@10 0.62 at 1,000,000 vectors with 89 copies per article).
fn write_flat(
    hnsw: &Hnsw<'_, f32, CosineDistance>,
    total: usize,
    sink: &mut FileSink,
    dir: &Path,
) -> Result<(), IndexError> {
    let points = hnsw.get_point_indexation();
    let n = points.get_nb_point();
    let bad = |reason: String| IndexError::Graph {
        path: dir.to_path_buf(),
        reason,
    };
    if n != total {
        return Err(bad(format!("graph holds {n} points, expected {total}")));
    }
    let layers = if n == 0 {
        0
    } else {
        usize::from(points.get_max_level_observed()) + 1
    };
    let mut per_layer: Vec<Vec<(u32, Vec<u32>)>> = vec![Vec::new(); layers];
    // hnsw_rs's point iterator panics on an empty graph: `layers` is 0 then.
    let all_points = (layers > 0)
        .then(|| points.into_iter())
        .into_iter()
        .flatten();
    for point in all_points {
        let id = point.get_origin_id();
        let id = u32::try_from(id)
            .ok()
            .filter(|&id| (id as usize) < n)
            .ok_or_else(|| bad(format!("point id {id} out of range")))?;
        let level = usize::from(point.get_point_id().0);
        let neighbourhood = point.get_neighborhood_id();
        for (l, layer) in per_layer.iter_mut().enumerate().take(level + 1) {
            let ids = neighbourhood
                .get(l)
                .map(|ns| ns.iter().map(|nb| nb.d_id as u32).collect())
                .unwrap_or_default();
            layer.push((id, ids));
        }
    }
    let mut entry = 0u64;
    if layers > 0 {
        let top = points
            .get_layer_iterator(layers - 1)
            .next()
            .ok_or_else(|| bad("top layer is empty".into()))?;
        entry = top.get_origin_id() as u64;
    }
    for layer in &mut per_layer {
        layer.sort_by_key(|(id, _)| *id);
    }
    if let Some(base) = per_layer.first() {
        if base.len() != n
            || base
                .iter()
                .enumerate()
                .any(|(i, (id, _))| *id as usize != i)
        {
            return Err(bad("layer 0 does not hold every point once".into()));
        }
    }
    let layer0 = with_reverse_links(per_layer.first().map_or(&[][..], |l| l.as_slice()));
    let strides: Vec<usize> = per_layer
        .iter()
        .enumerate()
        .map(|(l, layer)| match l {
            0 => 0,
            _ => layer.iter().map(|(_, ns)| ns.len()).max().unwrap_or(0),
        })
        .collect();
    let mut header = Vec::new();
    header.extend_from_slice(GRAPH_MAGIC);
    for v in [n as u64, layers as u64, entry] {
        header.extend_from_slice(&v.to_le_bytes());
    }
    for (layer, stride) in per_layer.iter().zip(&strides) {
        header.extend_from_slice(&(layer.len() as u64).to_le_bytes());
        header.extend_from_slice(&(*stride as u64).to_le_bytes());
    }
    sink.write(&header)?;
    let mut words = Vec::new();
    for layer in per_layer.iter().skip(1) {
        words.clear();
        for (id, _) in layer {
            words.extend_from_slice(&id.to_le_bytes());
        }
        sink.write(&words)?;
    }
    if !per_layer.is_empty() {
        words.clear();
        let mut offset = 0u64;
        for row in std::iter::once(&[][..]).chain(layer0.iter().map(Vec::as_slice)) {
            offset += row.len() as u64;
            words.extend_from_slice(&(offset as u32).to_le_bytes());
            words.extend_from_slice(&((offset >> 32) as u32).to_le_bytes());
        }
        sink.write(&words)?;
        for row in &layer0 {
            words.clear();
            for id in row {
                words.extend_from_slice(&id.to_le_bytes());
            }
            sink.write(&words)?;
        }
    }
    for (layer, &stride) in per_layer.iter().zip(&strides).skip(1) {
        for (_, ns) in layer {
            words.clear();
            for i in 0..stride {
                words.extend_from_slice(&ns.get(i).copied().unwrap_or(NO_NEIGHBOUR).to_le_bytes());
            }
            sink.write(&words)?;
        }
    }
    Ok(())
}

/// Layer-0 rows: each point's neighbours, then the points that list it and are not there
/// yet (in id order). `layer` is sorted by id and holds every point.
fn with_reverse_links(layer: &[(u32, Vec<u32>)]) -> Vec<Vec<u32>> {
    let mut reverse: Vec<Vec<u32>> = vec![Vec::new(); layer.len()];
    for (id, ns) in layer {
        for &nb in ns {
            if let Some(r) = reverse.get_mut(nb as usize) {
                r.push(*id);
            }
        }
    }
    layer
        .iter()
        .zip(reverse)
        .map(|((id, ns), mut rev)| {
            rev.sort_unstable();
            rev.dedup();
            let mut row = ns.clone();
            rev.retain(|r| r != id && !ns.contains(r));
            row.extend(rev);
            row
        })
        .collect()
}

struct LayerView {
    nodes: usize,
    /// Fixed row width; 0 for layer 0 of a format-2 file, whose rows are in `rows`.
    stride: usize,
    /// Word offsets of the row offsets and of the neighbour ids of variable-length rows.
    rows: Option<(usize, usize)>,
    /// Word offset of the sorted node ids (layers ≥ 1).
    ids_at: usize,
    /// Word offset of the neighbour lists.
    neighbours_at: usize,
}

/// A flat graph file, mapped.
pub(crate) struct FlatGraph {
    file: MappedFile,
    n: usize,
    entry: u32,
    layers: Vec<LayerView>,
}

fn header_u64(bytes: &[u8], i: usize) -> Option<u64> {
    let at = GRAPH_MAGIC.len() + 8 * i;
    Some(u64::from_le_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

impl FlatGraph {
    /// Maps and checks the layout; layer-0 neighbour ids are range-checked when read.
    pub fn open(file: MappedFile, expected_points: usize) -> Result<FlatGraph, IndexError> {
        let path = file.path().to_path_buf();
        let bytes = file.bytes();
        let variable_rows = match bytes.get(..GRAPH_MAGIC.len()) {
            Some(m) if m == GRAPH_MAGIC => true,
            Some(m) if m == GRAPH_MAGIC_V1 => false,
            _ => return Err(corrupt(&path, "not a simdex graph file (bad magic)")),
        };
        let field = |i| header_u64(bytes, i).ok_or_else(|| corrupt(&path, "header is truncated"));
        let n = field(0)? as usize;
        let layer_count = field(1)? as usize;
        let entry = field(2)?;
        if n != expected_points {
            return Err(corrupt(
                &path,
                format!("graph holds {n} points, expected {expected_points}"),
            ));
        }
        if layer_count > 64 || (n > 0) != (layer_count > 0) || (n > 0 && entry >= n as u64) {
            return Err(corrupt(&path, "implausible header"));
        }
        let header_words = (GRAPH_MAGIC.len() + 8 * (3 + 2 * layer_count)) / 4;
        let mut layers = Vec::with_capacity(layer_count);
        let mut at = header_words;
        for l in 0..layer_count {
            let nodes = field(3 + 2 * l)? as usize;
            let stride = field(4 + 2 * l)? as usize;
            if (l == 0 && nodes != n)
                || nodes > n
                || stride > 4096
                || (l == 0 && variable_rows && stride != 0)
            {
                return Err(corrupt(&path, format!("implausible size of layer {l}")));
            }
            let ids_at = at;
            if l > 0 {
                at += nodes;
            }
            layers.push(LayerView {
                nodes,
                stride,
                rows: None,
                ids_at,
                neighbours_at: 0,
            });
        }
        let all_words = file.as_u32s()?;
        for (l, layer) in layers.iter_mut().enumerate() {
            if l == 0 && variable_rows {
                let offsets_at = at;
                let edges = all_words
                    .get(at + 2 * n..at + 2 * n + 2)
                    .map(|w| u64::from(w[0]) | (u64::from(w[1]) << 32))
                    .ok_or_else(|| corrupt(&path, "layer 0 row offsets are truncated"))?;
                at += 2 * (n + 1);
                layer.rows = Some((offsets_at, at));
                layer.neighbours_at = at;
                at = usize::try_from(edges)
                    .ok()
                    .and_then(|e| at.checked_add(e))
                    .ok_or_else(|| corrupt(&path, "implausible layer 0 size"))?;
            } else {
                layer.neighbours_at = at;
                at += layer.nodes * layer.stride;
            }
        }
        let graph = FlatGraph {
            file,
            n,
            entry: entry as u32,
            layers,
        };
        let words = graph.file.as_u32s()?;
        if words.len() != at {
            return Err(corrupt(
                &path,
                format!("holds {} words, the header implies {at}", words.len()),
            ));
        }
        if let Some((offsets_at, _)) = graph.layers.first().and_then(|l| l.rows) {
            let mut previous = 0u64;
            for i in 0..=n {
                let o = row_offset(words, offsets_at, i);
                if (i == 0 && o != 0) || o < previous {
                    return Err(corrupt(&path, "layer 0 row offsets are out of order"));
                }
                previous = o;
            }
        }
        for l in 1..graph.layers.len() {
            let ids = graph.layer_ids(words, l);
            if ids.windows(2).any(|w| w[0] >= w[1])
                || ids.last().is_some_and(|&id| id as usize >= n)
            {
                return Err(corrupt(
                    &path,
                    format!("node ids of layer {l} are out of order"),
                ));
            }
        }
        if let Some(top) = graph.layers.len().checked_sub(1) {
            if top > 0
                && graph
                    .layer_ids(words, top)
                    .binary_search(&graph.entry)
                    .is_err()
            {
                return Err(corrupt(&path, "entry point is not in the top layer"));
            }
        }
        Ok(graph)
    }

    fn layer_ids<'w>(&self, words: &'w [u32], l: usize) -> &'w [u32] {
        let layer = &self.layers[l];
        words
            .get(layer.ids_at..layer.ids_at + layer.nodes)
            .unwrap_or(&[])
    }

    fn neighbours<'w>(&self, words: &'w [u32], l: usize, node: u32) -> &'w [u32] {
        let Some(layer) = self.layers.get(l) else {
            return &[];
        };
        if let Some((offsets_at, edges_at)) = layer.rows {
            let start = row_offset(words, offsets_at, node as usize) as usize;
            let end = row_offset(words, offsets_at, node as usize + 1) as usize;
            return words.get(edges_at + start..edges_at + end).unwrap_or(&[]);
        }
        let row = if l == 0 {
            node as usize
        } else {
            match self.layer_ids(words, l).binary_search(&node) {
                Ok(row) => row,
                Err(_) => return &[],
            }
        };
        let start = layer.neighbours_at + row * layer.stride;
        let list = words.get(start..start + layer.stride).unwrap_or(&[]);
        let len = list
            .iter()
            .position(|&x| x == NO_NEIGHBOUR)
            .unwrap_or(list.len());
        &list[..len]
    }

    /// Full structural check (every neighbour id in range), for `Index::check`.
    pub fn verify(&self) -> Result<(), IndexError> {
        let words = self.file.as_u32s()?;
        for (l, layer) in self.layers.iter().enumerate() {
            let len = match layer.rows {
                Some((offsets_at, _)) => row_offset(words, offsets_at, self.n) as usize,
                None => layer.nodes * layer.stride,
            };
            let all = words
                .get(layer.neighbours_at..layer.neighbours_at + len)
                .unwrap_or(&[]);
            if let Some(bad) = all
                .iter()
                .find(|&&x| x != NO_NEIGHBOUR && x as usize >= self.n)
            {
                return Err(corrupt(
                    self.file.path(),
                    format!("layer {l} names point {bad}, beyond {}", self.n),
                ));
            }
        }
        Ok(())
    }

    /// The `k` best live points for `query` (ids and cosine scores, best first, ties by id),
    /// searching the upper layers with a beam of `upper_ef` and layer 0 with one of `ef`. Dead
    /// points are walked through but not returned.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        (ef, upper_ef): (usize, usize),
        vectors: &VectorFile,
        is_dead: &dyn Fn(usize) -> bool,
    ) -> Vec<(u32, f32)> {
        let Ok(words) = self.file.as_u32s() else {
            return Vec::new();
        };
        if self.n == 0 || k == 0 || vectors.len() != self.n {
            return Vec::new();
        }
        let ef = ef.max(k);
        let score = |id: u32| {
            let s = dot(query, vectors.get(id as usize));
            Scored {
                score: if s.is_nan() { f32::NEG_INFINITY } else { s },
                id,
            }
        };
        let upper_ef = upper_ef.clamp(1, ef);
        let mut entries = vec![score(self.entry)];
        for l in (1..self.layers.len()).rev() {
            entries = self.beam(words, l, &entries, upper_ef, &score, &|_| false);
        }
        let mut found = self.beam(words, 0, &entries, ef, &score, is_dead);
        found.truncate(k);
        found.into_iter().map(|s| (s.id, s.score)).collect()
    }

    /// Beam search of one layer from `entries`: the best `ef` points found (best first), of
    /// those not `is_dead` (dead points are walked through but not returned).
    fn beam(
        &self,
        words: &[u32],
        layer: usize,
        entries: &[Scored],
        ef: usize,
        score: &dyn Fn(u32) -> Scored,
        is_dead: &dyn Fn(usize) -> bool,
    ) -> Vec<Scored> {
        let mut visited = vec![0u64; self.n.div_ceil(64)];
        let mut mark = |id: u32| {
            let (w, b) = (id as usize / 64, 1u64 << (id % 64));
            let fresh = visited[w] & b == 0;
            visited[w] |= b;
            fresh
        };
        let mut candidates = BinaryHeap::new(); // best first
        let mut results: BinaryHeap<std::cmp::Reverse<Scored>> = BinaryHeap::new(); // worst first
        for &e in entries {
            if !mark(e.id) {
                continue;
            }
            candidates.push(e);
            if !is_dead(e.id as usize) {
                results.push(std::cmp::Reverse(e));
                if results.len() > ef {
                    results.pop();
                }
            }
        }
        while let Some(current) = candidates.pop() {
            if results.len() >= ef && results.peek().is_some_and(|w| current < w.0) {
                break;
            }
            for &nb in self.neighbours(words, layer, current.id) {
                if nb as usize >= self.n || !mark(nb) {
                    continue;
                }
                let s = score(nb);
                if results.len() < ef || results.peek().is_some_and(|w| s > w.0) {
                    candidates.push(s);
                    if !is_dead(nb as usize) {
                        results.push(std::cmp::Reverse(s));
                        if results.len() > ef {
                            results.pop();
                        }
                    }
                }
            }
        }
        let mut found: Vec<Scored> = results.into_iter().map(|r| r.0).collect();
        found.sort_by(|a, b| b.cmp(a));
        found
    }
}

/// Row offset `i` of variable-length rows whose offsets start at word `offsets_at` (0 when
/// out of range; `FlatGraph::open` checked the table).
fn row_offset(words: &[u32], offsets_at: usize, i: usize) -> u64 {
    let at = offsets_at + 2 * i;
    match words.get(at..at + 2) {
        Some(w) => u64::from(w[0]) | (u64::from(w[1]) << 32),
        None => 0,
    }
}

/// A point and its score; greater is better (higher score, then lower id).
#[derive(Clone, Copy, Debug)]
struct Scored {
    score: f32,
    id: u32,
}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.id.cmp(&self.id))
    }
}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Scored {}
