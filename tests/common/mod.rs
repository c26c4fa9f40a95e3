//! Shared helpers of the integration tests: the real model (loaded once per test binary from
//! the project's `models/` folder, built by `bash models/fetch.sh`) and fixtures made from
//! the real seed pages in `tests/fixtures/seeds/`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use simdex::model::Embedder;

/// Runs the built `simdex` binary as a user types it, from the repository root.
/// (`CARGO_BIN_EXE_simdex` is set for integration tests; examples that share this file do
/// not run the binary.)
pub fn run_simdex(args: &[&str]) -> std::process::Output {
    let Some(exe) = option_env!("CARGO_BIN_EXE_simdex") else {
        panic!("only integration tests run the binary");
    };
    std::process::Command::new(exe)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The real model. Tests fail (they never skip) when it is missing: the README's test
/// command fetches it first.
pub fn embedder() -> &'static Embedder {
    static E: OnceLock<Embedder> = OnceLock::new();
    E.get_or_init(|| {
        let (e, _) = simdex::app::load_embedder(
            None,
            &simdex::model::EncoderConfig::from_env(simdex::model::Precision::Auto).unwrap(),
        )
        .expect("model missing: run `bash models/fetch.sh` (the README's test command does)");
        e
    })
}

/// The folder of the real model (the one [`embedder`] loads).
pub fn model_dir() -> PathBuf {
    simdex::model::resolve_model_dir(None)
        .expect("model missing: run `bash models/fetch.sh` (the README's test command does)")
        .dir()
        .to_path_buf()
}

/// The five seed pages: (file name, text).
pub fn seeds() -> Vec<(String, String)> {
    let dir = fixtures().join("seeds");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

/// A re-scrape of a page by another site: the first line (breadcrumb) and the tail after
/// the body replaced by other chrome.
pub fn rescrape(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let body = &lines[1..lines.len() * 3 / 4];
    format!(
        "凤凰网首页 > 财经频道 > 滚动新闻\n\n分享到：微信 微博 QQ空间\n\n{}\n\n责任编辑：李明\n\n\
         相关阅读\n- 2024年经济工作会议召开 2024-01-02\n- 多地出台稳增长政策 2024-01-03\n\
         - 科技创新引领产业升级 2024-01-04\n- 高质量发展新篇章 2024-01-05\n- 数字经济蓬勃发展 2024-01-06\n\n\
         版权所有 © 2024 凤凰网 联系电话：010-12345678 地址：北京市朝阳区\n",
        body.join("\n")
    )
}

/// A mirror's copy: converted to Traditional characters, with pinyin annotations after
/// some two-character words, as SEO mirrors do (`產業(yè)`).
pub fn traditional_with_pinyin(text: &str) -> String {
    let t = simdex::clean::script::convert_to_traditional(text);
    t.replace("產業", "產業(yè)")
        .replace("發展", "發(fā)展")
        .replace("創新", "創(chuàng)新")
        .replace("經濟", "經(jīng)濟")
}

/// The long lines of a page (its body, without the short chrome lines).
pub fn body_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.chars().count() > 40).collect()
}

/// An excerpt: the first two thirds of the page's long lines, nothing else.
pub fn excerpt(text: &str) -> String {
    let body = body_lines(text);
    body[..(body.len() * 2 / 3).max(2).min(body.len())].join("\n\n")
}

/// A light edit: the long lines with numbers changed, the last sentence of the first line
/// dropped, and a sentence reworded.
pub fn edited(text: &str) -> String {
    let mut body: Vec<String> = body_lines(text).into_iter().map(String::from).collect();
    if let Some(first) = body.first_mut() {
        let sentences: Vec<&str> = first.split_inclusive('。').collect();
        if sentences.len() > 1 {
            *first = sentences[..sentences.len() - 1].concat();
        }
    }
    body.iter()
        .map(|l| {
            l.replace('1', "2")
                .replace('5', "6")
                .replace("近年来", "这几年")
                .replace("推动", "推进")
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}
