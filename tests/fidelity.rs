//! `simdex embed --level raw` reproduces the reference embeddings of an independent
//! implementation (PyTorch) at cosine ≥ 0.9999, with the same token counts.

mod common;

use simdex::model::{cosine, Role};

#[test]
fn raw_embeddings_match_the_reference_implementation() {
    let e = common::embedder();
    let text = std::fs::read_to_string(
        common::fixtures().join("reference/multilingual-e5-small-q4.reference.jsonl"),
    )
    .unwrap();
    let items: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(items.len(), 80);
    let mut worst = (1.0f32, String::new());
    for (prefix, role) in [("query: ", Role::Query), ("passage: ", Role::Passage)] {
        let sel: Vec<&serde_json::Value> = items.iter().filter(|v| v["prefix"] == prefix).collect();
        assert!(!sel.is_empty());
        let texts: Vec<&str> = sel.iter().map(|v| v["text"].as_str().unwrap()).collect();
        let vecs = e.embed_raw(&texts, role).unwrap();
        for (v, item) in vecs.iter().zip(&sel) {
            let reference: Vec<f32> = item["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            let ids = e
                .tokenizer
                .encode_truncated(&format!("{prefix}{}", item["text"].as_str().unwrap()))
                .unwrap();
            assert_eq!(ids.len() as u64, item["input_ids_len"].as_u64().unwrap());
            let head: Vec<u64> = item["input_ids_head"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
                .collect();
            assert_eq!(
                ids.iter().take(8).map(|&x| x as u64).collect::<Vec<_>>(),
                head
            );
            let c = cosine(v, &reference);
            if c < worst.0 {
                worst = (c, item["text"].as_str().unwrap().chars().take(30).collect());
            }
        }
    }
    println!("worst cosine {:.7} on {:?}", worst.0, worst.1);
    assert!(
        worst.0 >= 0.9999,
        "worst cosine {} on {:?}",
        worst.0,
        worst.1
    );
}

#[test]
fn the_same_text_gets_the_same_vector_alone_or_in_a_padded_batch() {
    let e = common::embedder();
    let short = "推动高质量发展，创新是核心动力。";
    let long = "新能源、新材料、生物医药、数字经济等新兴产业快速发展壮大;规划建设15平方公里的悦来湖数字经济产业园。";
    let alone = e.embed_raw(&[short], Role::Passage).unwrap();
    let batched = e.embed_raw(&[long, short], Role::Passage).unwrap();
    assert!(cosine(&alone[0], &batched[1]) > 0.99999);
}

#[test]
fn vectors_do_not_depend_on_thread_count_or_worker_layout() {
    use simdex::model::batch::Threading;
    let seeds = common::seeds();
    let texts: Vec<&str> = seeds.iter().map(|s| s.1.as_str()).collect();
    let (mut e, _) = simdex::app::load_embedder(
        None,
        &simdex::model::EncoderConfig::from_env(simdex::model::Precision::Auto).unwrap(),
    )
    .unwrap();
    let mut runs = Vec::new();
    for (workers, threads) in [(1, 1), (1, 2), (2, 1)] {
        e.threading = Threading {
            workers,
            threads_per_worker: threads,
        };
        runs.push(e.embed_raw(&texts, Role::Passage).unwrap());
    }
    assert_eq!(runs[0], runs[1], "one worker, 1 vs 2 threads");
    assert_eq!(runs[0], runs[2], "1 vs 2 workers");
}

/// A tokenizer built for some texts only (what `similar "…"` loads, several times faster)
/// gives exactly the full tokenizer's ids: for the texts it was built for, and for any other
/// text (which it hands to the full tokenizer).
#[test]
fn a_tokenizer_scoped_to_a_query_gives_the_full_tokenizers_ids() {
    use simdex::model::TextTokenizer;
    let path = common::model_dir().join("tokenizer.json");
    let full = TextTokenizer::load(&path, 512).unwrap();
    let mut texts: Vec<String> = vec![
        "query: 科技部發布產業(yè)創新政策，支持高新區發展".into(),
        "passage: Ｆｕｌｌ－ｗｉｄｔｈ　ＡＢＣ１２３ and ㎏ ① ﬁ ligatures".into(),
        "special tokens in text: <s> a </s> b <mask> c <unk> <pad>".into(),
        "rare and unknown: 𠀋𡈽 🦀🦀 \u{200b}zero\u{200b}width \u{0}nul \t tabs\n\nlines   spaces"
            .into(),
        "Ελληνικά, русский, العربية, हिन्दी, 日本語のテキスト, 한국어".into(),
        "鍙戝竷 mojibake Ã©tÃ© and ascii punctuation !?.,;:()[]{}".into(),
        String::new(),
    ];
    for (_, page) in common::seeds() {
        texts.extend(
            page.lines()
                .filter(|l| !l.trim().is_empty())
                .map(String::from),
        );
    }
    let scoped_to: Vec<&str> = texts.iter().map(String::as_str).collect();
    let scoped = TextTokenizer::load_scoped(&path, 512, &scoped_to).unwrap();
    assert!(scoped.is_scoped());
    for t in &texts {
        assert_eq!(
            scoped.content_ids(t).unwrap(),
            full.content_ids(t).unwrap(),
            "{t:?}"
        );
        assert_eq!(
            scoped.encode_truncated(t).unwrap(),
            full.encode_truncated(t).unwrap()
        );
    }
    // Scoped to one short query, other texts still get the full tokenizer's ids.
    let narrow = TextTokenizer::load_scoped(&path, 512, &["高新区"]).unwrap();
    for t in texts
        .iter()
        .take(6)
        .chain(std::iter::once(&"高新区".to_string()))
    {
        assert_eq!(
            narrow.content_ids(t).unwrap(),
            full.content_ids(t).unwrap(),
            "{t:?}"
        );
    }
}
