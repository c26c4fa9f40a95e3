//! Writes the example corpus `examples/news/`: the five real seed pages plus five planted
//! duplicates made the same way the tests make them (a re-scrape with other chrome, a
//! Traditional copy with pinyin annotations, a GB18030-encoded copy, an excerpt, a light
//! edit with changed numbers).
//! Run: `cargo run --release --example make_news_corpus`.

#[path = "../tests/common/mod.rs"]
mod common;

fn main() -> std::io::Result<()> {
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/news");
    std::fs::create_dir_all(&out)?;
    let seeds = common::seeds();
    for (name, text) in &seeds {
        std::fs::write(out.join(name), text)?;
    }
    std::fs::write(
        out.join("101_rescrape_of_001.txt"),
        common::rescrape(&seeds[1].1),
    )?;
    std::fs::write(
        out.join("102_traditional_of_000.txt"),
        common::traditional_with_pinyin(&seeds[0].1),
    )?;
    let (gb, _, _) = encoding_rs::GB18030.encode(&seeds[3].1);
    std::fs::write(out.join("103_gb18030_of_003.txt"), gb)?;
    std::fs::write(
        out.join("104_excerpt_of_004.txt"),
        common::excerpt(&seeds[4].1),
    )?;
    std::fs::write(
        out.join("105_edited_of_002.txt"),
        common::edited(&seeds[2].1),
    )?;
    println!("wrote {}", out.display());
    Ok(())
}
