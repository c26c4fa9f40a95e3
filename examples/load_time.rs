//! Times the parts of model loading (for the cold-start budget of `simdex similar`).
use std::time::Instant;
fn main() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/multilingual-e5-small");
    let t = Instant::now();
    let enc = simdex::model::BertEncoder::load(&dir, simdex::model::KernelPath::best()).unwrap();
    println!("encoder load {:?}", t.elapsed());
    let t = Instant::now();
    let tok = simdex::model::TextTokenizer::load(&dir.join("tokenizer.json"), 512).unwrap();
    println!("tokenizer load {:?}", t.elapsed());
    let t = Instant::now();
    let ids = tok.encode_truncated("query: 科技创新 高新区").unwrap();
    let v = enc.embed_batch(&[&ids]).unwrap();
    println!("one query {:?} ({} dims)", t.elapsed(), v[0].len());
}
