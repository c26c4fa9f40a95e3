//! Does folding Traditional to Simplified before embedding help the model? For each seed
//! page, embeds the page and its Traditional conversion with folding on and off, and prints
//! the cosine of each copy to its original and the best cosine to the other reports.
//! Run: `cargo run --release --example fold_effect`.

#[path = "../tests/common/mod.rs"]
mod common;

use simdex::app::model::embed_prepared;
use simdex::app::text_record;
use simdex::clean::{script::convert_to_traditional, CleanOptions};
use simdex::corpus::{prepare, PrepareOptions};
use simdex::model::cosine;

fn main() {
    let e = common::embedder();
    let seeds = common::seeds();
    for fold in [true, false] {
        let mut records = Vec::new();
        for (name, text) in &seeds {
            records.push(text_record(name, text));
        }
        for (name, text) in &seeds {
            records.push(text_record(
                &format!("trad-{name}"),
                &convert_to_traditional(text),
            ));
        }
        let opts = PrepareOptions {
            clean: Some(CleanOptions {
                fold_script: fold,
                ..CleanOptions::default()
            }),
        };
        let docs = prepare(records, &opts);
        let v = embed_prepared(e, &docs, &mut |_, _| {}).unwrap();
        let n = seeds.len();
        let (mut same, mut other) = (Vec::new(), Vec::new());
        for i in 0..n {
            same.push(cosine(&v[i].article, &v[n + i].article));
            let best_other = (0..n)
                .filter(|&j| j != i)
                .map(|j| cosine(&v[j].article, &v[n + i].article))
                .fold(f32::MIN, f32::max);
            other.push(best_other);
        }
        let mean = |x: &[f32]| x.iter().sum::<f32>() / x.len() as f32;
        println!(
            "fold_script={fold}: copy vs its original: mean {:.4} min {:.4}; copy vs best other report: mean {:.4} max {:.4}",
            mean(&same),
            same.iter().copied().fold(f32::MAX, f32::min),
            mean(&other),
            other.iter().copied().fold(f32::MIN, f32::max)
        );
    }
}
