//! Document vectors: each passage is embedded (windows of at most the model's length, with
//! overlap, for long ones) and the article vector is the token-weighted mean of its chunk
//! vectors, renormalised, so no token is embedded twice.
//!
//! Tokenization runs on its own thread, one block ahead of the encoder, so the cores never
//! wait for it. This module must not clean text or decide duplicates.

use std::sync::mpsc::sync_channel;

use crate::model::{normalize, Embedder, ModelError, Role};

/// Documents tokenized ahead of the encoder in one block.
pub const TOKENIZE_BLOCK_DOCS: usize = 64;

/// The vectors of one document.
#[derive(Debug, Clone)]
pub struct DocumentVectors {
    /// Unit article vector (zero-length input gives a zero vector).
    pub article: Vec<f32>,
    /// One unit vector per passage, in order.
    pub passages: Vec<Vec<f32>>,
    /// Content tokens of each passage (prefix and special tokens excluded).
    pub passage_tokens: Vec<usize>,
}

/// One encoder input: a window of one paragraph of one document.
struct Chunk {
    doc: usize,
    paragraph: usize,
    /// Tokens this window adds that the previous window of its paragraph did not cover.
    new_tokens: usize,
    ids: Vec<u32>,
}

/// Splits a paragraph's content ids into windows that fit `room` content tokens, each
/// overlapping the previous by `overlap`; returns (start, end) ranges.
pub fn windows(len: usize, room: usize, overlap: usize) -> Vec<(usize, usize)> {
    if len <= room {
        return vec![(0, len)];
    }
    let stride = room.saturating_sub(overlap).max(1);
    let mut out = Vec::new();
    let mut start = 0;
    loop {
        let end = (start + room).min(len);
        out.push((start, end));
        if end == len {
            break;
        }
        start += stride;
    }
    out
}

/// The encoder inputs of one block of documents, and each paragraph's content tokens.
struct TokenizedBlock {
    first_doc: usize,
    chunks: Vec<Chunk>,
    token_counts: Vec<Vec<usize>>,
}

fn tokenize_block<D: AsRef<[String]>>(
    embedder: &Embedder,
    docs: &[D],
    first_doc: usize,
    prefix_ids: &[u32],
) -> Result<TokenizedBlock, ModelError> {
    let tok = &embedder.tokenizer;
    let room = tok.max_content().saturating_sub(prefix_ids.len()).max(1);
    let overlap = embedder.settings.window_overlap.min(room / 2);
    let mut chunks = Vec::new();
    let mut token_counts = Vec::with_capacity(docs.len());
    for (d, paragraphs) in docs.iter().enumerate() {
        let mut counts = Vec::with_capacity(paragraphs.as_ref().len());
        for (p, text) in paragraphs.as_ref().iter().enumerate() {
            let ids = tok.content_ids(text)?;
            counts.push(ids.len());
            let mut prev_end = 0;
            for (s, e) in windows(ids.len(), room, overlap) {
                let mut content = Vec::with_capacity(prefix_ids.len() + e - s);
                content.extend_from_slice(prefix_ids);
                content.extend_from_slice(&ids[s..e]);
                chunks.push(Chunk {
                    doc: first_doc + d,
                    paragraph: p,
                    new_tokens: e - prev_end.max(s),
                    ids: tok.wrap(&content),
                });
                prev_end = e;
            }
        }
        token_counts.push(counts);
    }
    Ok(TokenizedBlock {
        first_doc,
        chunks,
        token_counts,
    })
}

/// Embeds documents given as their paragraphs (what is compared, after cleaning).
/// `on_progress` is called with (documents done, tokens done) after each block.
pub fn embed_documents<D: AsRef<[String]> + Sync>(
    embedder: &Embedder,
    docs: &[D],
    role: Role,
    on_progress: impl FnMut(usize, usize),
) -> Result<Vec<DocumentVectors>, ModelError> {
    let mut out = Vec::with_capacity(docs.len());
    embed_documents_each(embedder, docs, role, on_progress, |_, v| {
        out.push(v);
        Ok(())
    })?;
    Ok(out)
}

/// [`embed_documents`] handing each document's vectors to `each` (with its position) as
/// soon as its block is done, in order, so a caller that stores them elsewhere never holds
/// more than one block's vectors.
pub fn embed_documents_each<D: AsRef<[String]> + Sync>(
    embedder: &Embedder,
    docs: &[D],
    role: Role,
    mut on_progress: impl FnMut(usize, usize),
    mut each: impl FnMut(usize, DocumentVectors) -> Result<(), ModelError>,
) -> Result<(), ModelError> {
    let prefix = embedder.settings.prefix(role).trim_end().to_string();
    let prefix_ids = embedder.tokenizer.content_ids(&prefix)?;
    let dim = embedder.dim();
    let (mut done_docs, mut done_tokens) = (0usize, 0usize);

    std::thread::scope(|scope| -> Result<(), ModelError> {
        let (tx, rx) = sync_channel(1);
        let prefix_ids = &prefix_ids;
        scope.spawn(move || {
            for (b, block) in docs.chunks(TOKENIZE_BLOCK_DOCS).enumerate() {
                let r = tokenize_block(embedder, block, b * TOKENIZE_BLOCK_DOCS, prefix_ids);
                let stop = r.is_err();
                if tx.send(r).is_err() || stop {
                    break;
                }
            }
        });
        for block in rx {
            let TokenizedBlock {
                first_doc: first,
                chunks,
                token_counts: counts,
            } = block?;
            let mut out: Vec<DocumentVectors> = counts
                .iter()
                .map(|c| DocumentVectors {
                    article: vec![0.0; dim],
                    passages: vec![vec![0.0; dim]; c.len()],
                    passage_tokens: Vec::new(),
                })
                .collect();
            let seqs: Vec<Vec<u32>> = chunks.iter().map(|c| c.ids.clone()).collect();
            let vecs = embedder.embed_sequences(&seqs)?;
            for (c, v) in chunks.iter().zip(&vecs) {
                let w = c.new_tokens.max(1) as f32;
                let doc = &mut out[c.doc - first];
                for (a, x) in doc.passages[c.paragraph].iter_mut().zip(v) {
                    *a += w * x;
                }
                for (a, x) in doc.article.iter_mut().zip(v) {
                    *a += w * x;
                }
                done_tokens += c.ids.len();
            }
            let n = counts.len();
            for (i, (mut doc, cs)) in out.into_iter().zip(counts).enumerate() {
                // Normalising divides out the summed weights: the weighted mean's direction.
                normalize(&mut doc.article);
                doc.passages.iter_mut().for_each(|p| normalize(p));
                doc.passage_tokens = cs;
                each(first + i, doc)?;
            }
            done_docs += n;
            on_progress(done_docs, done_tokens);
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::windows;

    #[test]
    fn windows_cover_everything_with_overlap() {
        assert_eq!(windows(10, 20, 4), vec![(0, 10)]);
        let w = windows(1000, 400, 50);
        assert_eq!(w.first(), Some(&(0, 400)));
        assert_eq!(w.last().map(|x| x.1), Some(1000));
        for pair in w.windows(2) {
            assert_eq!(pair[0].1 - pair[1].0, 50);
        }
    }
}
