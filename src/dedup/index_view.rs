//! The view of an indexed record for the judge: its stored passages, vectors and token
//! counts, so an input record is judged against an indexed one exactly as against another
//! input record. It must not judge or write.

use super::judge::{DocView, RecordText};
use super::options::DedupOptions;
use crate::index::Index;

/// The lexical side of an indexed record, from its stored passages (the same text a batch
/// record's is taken from).
pub fn indexed_text(
    index: &Index,
    doc: u32,
    opts: &DedupOptions,
) -> Result<RecordText, crate::index::IndexError> {
    Ok(RecordText::of(
        &indexed_passages(index, doc)?,
        &opts.minhash,
    ))
}

/// The stored passage texts of an indexed record, in order.
pub fn indexed_passages(index: &Index, doc: u32) -> Result<Vec<String>, crate::index::IndexError> {
    let entry = index.document(doc)?;
    Ok(entry.paragraphs.iter().map(|p| p.text.clone()).collect())
}

/// The view of an indexed record: its stored vectors and passage token counts.
pub fn indexed_view<'a>(
    index: &'a Index,
    doc: u32,
    text: &'a RecordText,
) -> Result<DocView<'a>, crate::index::IndexError> {
    let entry = index.document(doc)?;
    Ok(DocView {
        article: Some(index.article_vector(doc)),
        passages: index.paragraph_vectors(doc).collect(),
        tokens: entry.paragraphs.iter().map(|p| p.tokens).collect(),
        shingles: &text.shingles,
        passage_text: &text.passages,
    })
}
