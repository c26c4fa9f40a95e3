//! Checks the forward pass against stored reference embeddings.
//!
//! Usage: cargo run --release --example fidelity -- MODEL_DIR REFERENCE.jsonl
//! Each reference line has `prefix` (`query: ` or `passage: `), `text` and `embedding`; the
//! example embeds every text through `Embedder::embed_raw`, prints the worst cosine, and
//! exits non-zero when it is below 0.9999 (the project's fidelity requirement).

use std::path::Path;

use anyhow::{bail, Context, Result};
use simdex::model::{cosine, Embedder, Role};

/// Lowest acceptable cosine against a reference embedding.
const MIN_COSINE: f32 = 0.9999;

/// One reference line: its number, text and embedding.
type Reference = (usize, String, Vec<f32>);

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        bail!("usage: fidelity MODEL_DIR REFERENCE.jsonl");
    }
    let embedder = Embedder::load(
        Path::new(&args[1]),
        simdex::model::DEFAULT_MODEL,
        &simdex::model::EncoderConfig::from_env(simdex::model::Precision::Auto)?,
    )?;
    let text = std::fs::read_to_string(&args[2]).with_context(|| args[2].clone())?;
    let mut worst = (f32::INFINITY, 0usize);
    let mut n = 0;
    // Each text alone, then all texts of a role in one call (packed batches of many lengths).
    let mut by_role: Vec<(Role, Vec<Reference>)> =
        vec![(Role::Query, Vec::new()), (Role::Passage, Vec::new())];
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("line {}", i + 1))?;
        let role = match v["prefix"].as_str() {
            Some("query: ") => Role::Query,
            Some("passage: ") => Role::Passage,
            other => bail!("line {}: unknown prefix {other:?}", i + 1),
        };
        let t = v["text"].as_str().context("text")?;
        let reference: Vec<f32> = serde_json::from_value(v["embedding"].clone())?;
        let got = embedder.embed_raw(&[t], role)?;
        let c = cosine(&got[0], &reference);
        if c < worst.0 {
            worst = (c, i + 1);
        }
        n += 1;
        let slot = if role == Role::Query { 0 } else { 1 };
        by_role[slot].1.push((i + 1, t.to_string(), reference));
    }
    for (role, items) in &by_role {
        let texts: Vec<&str> = items.iter().map(|(_, t, _)| t.as_str()).collect();
        let got = embedder.embed_raw(&texts, *role)?;
        for ((line, _, reference), v) in items.iter().zip(&got) {
            let c = cosine(v, reference);
            if c < worst.0 {
                worst = (c, *line);
            }
        }
    }
    println!(
        "fidelity: {n} references, worst cosine {:.7} (line {})",
        worst.0, worst.1
    );
    if worst.0 < MIN_COSINE {
        bail!("worst cosine {} below {MIN_COSINE}", worst.0);
    }
    Ok(())
}
