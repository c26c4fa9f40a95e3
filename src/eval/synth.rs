//! The synthetic dedup benchmark: real news articles (the Sina 2018 set) as bases, each
//! with labelled variants of the kinds scraped corpora hold (re-scrapes with page chrome,
//! excerpts, sentence edits, number changes, paragraph reorders, Traditional conversion
//! with pinyin annotations, mojibake runs). A base and its variants form one gold cluster;
//! other bases of the same category and the same event are the hard negatives.
//!
//! Deterministic for a given seed (own PRNG, no thread-dependent order). It reads the
//! evaluation data from where it lies and never copies it into the project.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::clean::script::convert_to_traditional;

/// Bases are articles of at least this many characters (excerpts and reorders need a few
/// paragraphs)…
pub const MIN_BASE_CHARS: usize = 300;
/// …and at most this many (keeps the benchmark quick to embed; the median article has ~900).
pub const MAX_BASE_CHARS: usize = 1500;
/// Two articles are a natural near-duplicate (and only one of them becomes a base) when
/// their char 5-gram Jaccard reaches this…
pub const NATURAL_JACCARD: f64 = 0.3;
/// …or the shorter one's 5-grams lie in the other at this rate (an excerpt or re-post)…
pub const NATURAL_CONTAINMENT: f64 = 0.5;
/// …or their provided e5 vectors reach this cosine. Below it, same-event articles with
/// little shared text are independent reports (see the data's MANIFEST): hard negatives.
pub const NATURAL_COSINE: f32 = 0.98;
/// An event partner (a second base reporting the same event) has at least this cosine to
/// its base (and is below [`NATURAL_COSINE`]).
pub const EVENT_PARTNER_COSINE: f32 = 0.93;
/// Sentences per synthetic paragraph (the articles come as one line each).
const SENTENCES_PER_PARAGRAPH: (usize, usize) = (2, 4);

/// How a record of the benchmark was made from its base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VariantKind {
    /// The base article itself.
    Original,
    /// The same article on another page: navigation, share buttons, related links and a
    /// copyright footer around it, title as a text line, sometimes one unbroken line.
    Rescrape,
    /// The first 40–70% of the article.
    Excerpt,
    /// Some sentences deleted, one sentence from another article inserted.
    SentenceEdit,
    /// Numbers changed (an updated report).
    NumberChange,
    /// Paragraphs in another order.
    ParagraphReorder,
    /// Converted to Traditional characters, with pinyin annotations after some of them.
    Traditional,
    /// Runs of mis-decoded characters.
    Mojibake,
    /// A project seed page (tests/fixtures/seeds): related reports, never duplicates.
    Seed,
}

impl VariantKind {
    /// The variant kinds made from a base (all but `Original` and `Seed`).
    pub const VARIANTS: [VariantKind; 7] = [
        VariantKind::Rescrape,
        VariantKind::Excerpt,
        VariantKind::SentenceEdit,
        VariantKind::NumberChange,
        VariantKind::ParagraphReorder,
        VariantKind::Traditional,
        VariantKind::Mojibake,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VariantKind::Original => "original",
            VariantKind::Rescrape => "rescrape",
            VariantKind::Excerpt => "excerpt",
            VariantKind::SentenceEdit => "sentence_edit",
            VariantKind::NumberChange => "number_change",
            VariantKind::ParagraphReorder => "paragraph_reorder",
            VariantKind::Traditional => "traditional",
            VariantKind::Mojibake => "mojibake",
            VariantKind::Seed => "seed",
        }
    }
}

/// Benchmark settings.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Folder holding `sina_news_2018/` (articles and their provided vectors).
    pub data_dir: PathBuf,
    /// Base articles.
    pub bases: usize,
    /// PRNG seed.
    pub seed: u64,
}

/// One record of the benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct SynthDoc {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub text: String,
    /// Gold cluster: the index of the base (seeds get their own).
    pub gold: usize,
    pub kind: VariantKind,
    /// Id of the source article (or seed file).
    pub source: String,
    pub category: String,
}

/// A chosen base article.
#[derive(Debug, Clone, Serialize)]
pub struct Base {
    pub article: String,
    pub category: String,
    /// Another base reporting the same event (cosine ≥ [`EVENT_PARTNER_COSINE`]).
    pub event_partner: Option<usize>,
}

/// The generated benchmark.
#[derive(Debug, Clone)]
pub struct Benchmark {
    pub docs: Vec<SynthDoc>,
    pub bases: Vec<Base>,
    /// Candidates skipped as natural near-duplicates of a chosen base.
    pub natural_duplicates_skipped: usize,
}

/// Errors reading the evaluation data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {msg}")]
    Format {
        path: PathBuf,
        line: usize,
        msg: String,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Opens a file, gunzipping `.gz`.
pub fn open_data(path: &Path) -> Result<Box<dyn BufRead>, DataError> {
    let r = crate::input::gzip::open(path).map_err(io_err(path))?;
    Ok(Box::new(BufReader::new(r)))
}

pub use crate::test_support::Rng;

/// One Sina article.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Article {
    pub id: String,
    pub category: String,
    pub title: String,
    pub text: String,
}

/// Reads `sina_news_2018/articles.jsonl.gz`.
pub fn read_articles(data_dir: &Path) -> Result<Vec<Article>, DataError> {
    let path = data_dir.join("sina_news_2018/articles.jsonl.gz");
    let mut out = Vec::new();
    for (n, line) in open_data(&path)?.lines().enumerate() {
        let line = line.map_err(io_err(&path))?;
        if line.trim().is_empty() {
            continue;
        }
        let a: Article = serde_json::from_str(&line).map_err(|e| DataError::Format {
            path: path.clone(),
            line: n + 1,
            msg: e.to_string(),
        })?;
        out.push(a);
    }
    Ok(out)
}

/// Reads the provided article vectors (float16 `.npy`, rows in the order of `.ids.json`).
pub fn read_provided_vectors(data_dir: &Path) -> Result<HashMap<String, Vec<f32>>, DataError> {
    let npy = data_dir.join("sina_news_2018/e5_small_passage_f16.npy");
    let ids_path = data_dir.join("sina_news_2018/e5_small_passage_f16.ids.json");
    let ids: Vec<String> = serde_json::from_slice(
        &std::fs::read(&ids_path).map_err(io_err(&ids_path))?,
    )
    .map_err(|e| DataError::Format {
        path: ids_path.clone(),
        line: 1,
        msg: e.to_string(),
    })?;
    let bytes = std::fs::read(&npy).map_err(io_err(&npy))?;
    let bad = |msg: &str| DataError::Format {
        path: npy.clone(),
        line: 0,
        msg: msg.to_string(),
    };
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad("not a .npy file"));
    }
    let (header_len, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        )
    };
    let header = String::from_utf8_lossy(
        bytes
            .get(start..start + header_len)
            .ok_or_else(|| bad("short header"))?,
    );
    if !header.contains("'<f2'") || header.contains("'fortran_order': True") {
        return Err(bad("expected little-endian float16 in C order"));
    }
    let data = &bytes[start + header_len..];
    let rows = ids.len();
    if rows == 0 || data.len() % (2 * rows) != 0 {
        return Err(bad("size does not match the id list"));
    }
    let dim = data.len() / 2 / rows;
    let mut out = HashMap::with_capacity(rows);
    for (r, id) in ids.into_iter().enumerate() {
        let row = &data[r * dim * 2..(r + 1) * dim * 2];
        let mut v: Vec<f32> = row
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect();
        crate::model::normalize(&mut v);
        out.insert(id, v);
    }
    Ok(out)
}

/// Char 5-grams of a text without whitespace (the MANIFEST's Jaccard).
fn five_grams(text: &str) -> HashSet<u64> {
    let chars: Vec<char> = text.chars().filter(|c| !c.is_whitespace()).collect();
    chars
        .windows(5)
        .map(|w| xxhash_rust::xxh3::xxh3_64(w.iter().collect::<String>().as_bytes()))
        .collect()
}

fn overlap(a: &HashSet<u64>, b: &HashSet<u64>) -> (f64, f64) {
    let inter = a.intersection(b).count() as f64;
    let union = (a.len() + b.len()) as f64 - inter;
    let small = a.len().min(b.len()).max(1) as f64;
    (if union > 0.0 { inter / union } else { 0.0 }, inter / small)
}

/// Splits text into sentences, each keeping its end punctuation (and a closing quote).
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        cur.push(c);
        if matches!(c, '。' | '！' | '？' | '!' | '?' | '；') {
            while let Some(&q) = chars.peek() {
                if matches!(q, '”' | '’' | '」' | '"' | '）') {
                    cur.push(q);
                    chars.next();
                } else {
                    break;
                }
            }
            if !cur.trim().is_empty() {
                out.push(cur.trim().to_string());
            }
            cur.clear();
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// Groups sentences into paragraphs of 2–4 sentences.
fn paragraphs_of(text: &str, rng: &mut Rng) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    let mut want = rng.range(SENTENCES_PER_PARAGRAPH.0, SENTENCES_PER_PARAGRAPH.1);
    for s in text.lines().flat_map(sentences) {
        cur.push(s);
        if cur.len() >= want {
            out.push(std::mem::take(&mut cur));
            want = rng.range(SENTENCES_PER_PARAGRAPH.0, SENTENCES_PER_PARAGRAPH.1);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn join(ps: &[Vec<String>]) -> String {
    ps.iter().map(|p| p.concat()).collect::<Vec<_>>().join("\n")
}

/// Chooses bases: a seeded shuffle of the articles within the length limits; a candidate
/// that is a natural near-duplicate of a chosen base is skipped; every other chosen base
/// brings an event partner (its nearest article by the provided vectors with cosine in
/// [`EVENT_PARTNER_COSINE`]..[`NATURAL_COSINE`] that is no natural near-duplicate of any
/// chosen base), so that same-event reports are part of the benchmark as hard negatives.
fn choose_bases(
    articles: &[Article],
    vectors: &HashMap<String, Vec<f32>>,
    bases: usize,
    rng: &mut Rng,
) -> (Vec<(usize, Option<usize>)>, usize) {
    let eligible: Vec<usize> = (0..articles.len())
        .filter(|&i| {
            let n = articles[i].text.chars().count();
            (MIN_BASE_CHARS..=MAX_BASE_CHARS).contains(&n)
                && sentences(&articles[i].text).len() >= 4
                && vectors.contains_key(&articles[i].id)
        })
        .collect();
    let mut order = eligible.clone();
    rng.shuffle(&mut order);
    let mut chosen: Vec<(usize, Option<usize>)> = Vec::new();
    let mut chosen_set: HashSet<usize> = HashSet::new();
    let mut grams: Vec<HashSet<u64>> = Vec::new();
    let mut skipped = 0;
    let clashes = |i: usize, grams: &[HashSet<u64>], chosen: &[(usize, Option<usize>)]| {
        let g = five_grams(&articles[i].text);
        let v = &vectors[&articles[i].id];
        let clash = chosen.iter().zip(grams).any(|(&(j, _), gj)| {
            let c = crate::model::cosine(v, &vectors[&articles[j].id]);
            let (jac, cont) = overlap(&g, gj);
            c >= NATURAL_COSINE || jac >= NATURAL_JACCARD || cont >= NATURAL_CONTAINMENT
        });
        (clash, g)
    };
    for &i in &order {
        if chosen.len() >= bases {
            break;
        }
        if chosen_set.contains(&i) {
            continue;
        }
        let (clash, g) = clashes(i, &grams, &chosen);
        if clash {
            skipped += 1;
            continue;
        }
        chosen.push((i, None));
        chosen_set.insert(i);
        grams.push(g);
        let me = chosen.len() - 1;
        if chosen.len() % 2 == 1 && chosen.len() < bases {
            let v = &vectors[&articles[i].id];
            let mut near: Vec<(f32, usize)> = eligible
                .iter()
                .filter(|&&j| {
                    j != i
                        && !chosen_set.contains(&j)
                        && articles[j].category == articles[i].category
                })
                .map(|&j| (crate::model::cosine(v, &vectors[&articles[j].id]), j))
                .filter(|&(c, _)| (EVENT_PARTNER_COSINE..NATURAL_COSINE).contains(&c))
                .collect();
            near.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            for (_, j) in near {
                let (clash, g) = clashes(j, &grams, &chosen);
                if clash {
                    skipped += 1;
                    continue;
                }
                chosen.push((j, Some(me)));
                chosen_set.insert(j);
                grams.push(g);
                chosen[me].1 = Some(chosen.len() - 1);
                break;
            }
        }
    }
    (chosen, skipped)
}

/// Generates the benchmark: bases (see [`choose_bases`]), each with its original and two or
/// three variants; kinds are dealt round-robin so every kind has about the same count.
/// Records come out in a seeded random order.
pub fn generate(opts: &SynthOptions) -> Result<Benchmark, DataError> {
    let articles = read_articles(&opts.data_dir)?;
    let vectors = read_provided_vectors(&opts.data_dir)?;
    let mut rng = Rng::new(opts.seed);
    let (chosen, skipped) = choose_bases(&articles, &vectors, opts.bases, &mut rng);
    let by_category: HashMap<&str, Vec<usize>> =
        articles
            .iter()
            .enumerate()
            .fold(HashMap::new(), |mut m, (i, a)| {
                m.entry(a.category.as_str()).or_default().push(i);
                m
            });
    let mut docs = Vec::new();
    let mut bases = Vec::new();
    let mut next_kind = 0;
    for (b, &(ai, partner)) in chosen.iter().enumerate() {
        let a = &articles[ai];
        bases.push(Base {
            article: a.id.clone(),
            category: a.category.clone(),
            event_partner: partner,
        });
        let ps = paragraphs_of(&a.text, &mut rng);
        let mut add = |kind: VariantKind, title: Option<String>, text: String| {
            docs.push(SynthDoc {
                id: format!("b{b:04}-{}", kind.as_str()),
                title,
                text,
                gold: b,
                kind,
                source: a.id.clone(),
                category: a.category.clone(),
            })
        };
        add(VariantKind::Original, Some(a.title.clone()), join(&ps));
        let count = if b % 3 == 0 { 3 } else { 2 };
        for _ in 0..count {
            let kind = VariantKind::VARIANTS[next_kind % VariantKind::VARIANTS.len()];
            next_kind += 1;
            let same_category = &by_category[a.category.as_str()];
            let other = &articles[*rng.pick(same_category)];
            let (title, text) = make_variant(kind, a, &ps, other, &mut rng);
            add(kind, title, text);
        }
    }
    rng.shuffle(&mut docs);
    Ok(Benchmark {
        docs,
        bases,
        natural_duplicates_skipped: skipped,
    })
}

const CATEGORY_NAMES: [(&str, &str); 6] = [
    ("sports", "体育"),
    ("tech", "科技"),
    ("education", "教育"),
    ("entertainment", "娱乐"),
    ("fashion", "时尚"),
    ("health", "健康"),
];

fn make_variant(
    kind: VariantKind,
    a: &Article,
    ps: &[Vec<String>],
    other: &Article,
    rng: &mut Rng,
) -> (Option<String>, String) {
    let title = a.title.clone();
    match kind {
        VariantKind::Original | VariantKind::Seed => (Some(title), join(ps)),
        VariantKind::Rescrape => {
            let cat = CATEGORY_NAMES
                .iter()
                .find(|(k, _)| *k == a.category)
                .map_or("新闻", |(_, v)| v);
            let mut lines = vec![
                format!("新浪首页 > {cat} > 正文"),
                "登录 | 注册 | 新闻 | 体育 | 娱乐 | 财经 | 科技 | 时尚".to_string(),
                title.clone(),
                format!(
                    "2018年{}月{}日 {:02}:{:02}  新浪{cat}",
                    rng.range(10, 11),
                    rng.range(1, 28),
                    rng.range(0, 23),
                    rng.range(0, 59)
                ),
                "分享到：微博 微信 QQ空间".to_string(),
            ];
            if rng.chance(0.3) {
                lines.push(ps.iter().map(|p| p.concat()).collect());
            } else {
                lines.extend(ps.iter().map(|p| p.concat()));
            }
            lines.push(format!(
                "责任编辑：{}",
                rng.pick(&["张三", "李明", "王芳", "刘洋"])
            ));
            lines.push("相关阅读".to_string());
            lines.push(format!("- {}", other.title));
            lines.push("关注新浪微博 扫描二维码 点击加载更多".to_string());
            lines.push(
                "Copyright © 1996-2018 SINA Corporation, All Rights Reserved 新浪公司 版权所有"
                    .to_string(),
            );
            (None, lines.join("\n"))
        }
        VariantKind::Excerpt => {
            let total: usize = ps.iter().map(|p| p.concat().chars().count()).sum();
            let want = total * rng.range(40, 70) / 100;
            let mut out: Vec<Vec<String>> = Vec::new();
            let mut have = 0;
            for p in ps {
                if have >= want {
                    break;
                }
                let mut q = Vec::new();
                for s in p {
                    if have >= want {
                        break;
                    }
                    have += s.chars().count();
                    q.push(s.clone());
                }
                out.push(q);
            }
            (Some(title), join(&out))
        }
        VariantKind::SentenceEdit => {
            let mut out: Vec<Vec<String>> = ps
                .iter()
                .map(|p| {
                    p.iter()
                        .filter(|_| !rng.chance(0.15))
                        .cloned()
                        .collect::<Vec<_>>()
                })
                .filter(|p| !p.is_empty())
                .collect();
            let borrowed = sentences(&other.text);
            if !borrowed.is_empty() && !out.is_empty() {
                let s = rng.pick(&borrowed).clone();
                let p = rng.below(out.len());
                let at = rng.below(out[p].len() + 1);
                out[p].insert(at, s);
            }
            (Some(title), join(&out))
        }
        VariantKind::NumberChange => (
            Some(change_numbers(&title, rng)),
            change_numbers(&join(ps), rng),
        ),
        VariantKind::ParagraphReorder => {
            let mut out = ps.to_vec();
            if out.len() >= 2 {
                let before = out.clone();
                while out == before {
                    rng.shuffle(&mut out);
                }
            } else if let Some(p) = out.first_mut() {
                rng.shuffle(p);
            }
            (Some(title), join(&out))
        }
        VariantKind::Traditional => (
            Some(convert_to_traditional(&title)),
            annotate_pinyin(&convert_to_traditional(&join(ps)), rng),
        ),
        VariantKind::Mojibake => (Some(title), mojibake_runs(&join(ps), rng)),
    }
}

/// Every run of ASCII digits gets other digits (same length, no leading zero), with
/// probability 0.7 each.
fn change_numbers(s: &str, rng: &mut Rng) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String, rng: &mut Rng| {
        if !run.is_empty() {
            if rng.chance(0.7) {
                let n = run.len();
                for k in 0..n {
                    let d = if k == 0 && n > 1 {
                        rng.range(1, 9)
                    } else {
                        rng.range(0, 9)
                    };
                    out.push(char::from(b'0' + d as u8));
                }
            } else {
                out.push_str(run);
            }
            run.clear();
        }
    };
    for c in s.chars() {
        if c.is_ascii_digit() {
            run.push(c);
        } else {
            flush(&mut run, &mut out, rng);
            out.push(c);
        }
    }
    flush(&mut run, &mut out, rng);
    out
}

/// Traditional characters that pages annotate with pinyin (`產業(yè)`), and the syllable.
const PINYIN: [(char, &str); 24] = [
    ('業', "yè"),
    ('產', "chǎn"),
    ('發', "fā"),
    ('會', "huì"),
    ('這', "zhè"),
    ('國', "guó"),
    ('實', "shí"),
    ('進', "jìn"),
    ('現', "xiàn"),
    ('經', "jīng"),
    ('對', "duì"),
    ('設', "shè"),
    ('與', "yǔ"),
    ('關', "guān"),
    ('開', "kāi"),
    ('動', "dòng"),
    ('時', "shí"),
    ('來', "lái"),
    ('說', "shuō"),
    ('學', "xué"),
    ('員', "yuán"),
    ('報', "bào"),
    ('場', "chǎng"),
    ('區', "qū"),
];

fn annotate_pinyin(s: &str, rng: &mut Rng) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        out.push(c);
        if let Some((_, py)) = PINYIN.iter().find(|(k, _)| *k == c) {
            if rng.chance(0.5) {
                out.push('(');
                out.push_str(py);
                out.push(')');
            }
        }
    }
    out
}

/// Two to four runs of 2–5 ideographs replaced by a wrong decode: their UTF-8 bytes read
/// as GBK, or their GBK bytes read as UTF-8 (replacement characters).
fn mojibake_runs(s: &str, rng: &mut Rng) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let runs = rng.range(2, 4);
    for _ in 0..runs {
        let len = rng.range(2, 5);
        if chars.len() <= len + 1 {
            break;
        }
        let start = rng.below(chars.len() - len);
        let span: String = chars[start..start + len].iter().collect();
        if span.contains('\n') {
            continue;
        }
        let garbled = if rng.chance(0.5) {
            encoding_rs::GBK.decode(span.as_bytes()).0.into_owned()
        } else {
            let (bytes, _, _) = encoding_rs::GBK.encode(&span);
            String::from_utf8_lossy(&bytes).into_owned()
        };
        chars.splice(start..start + len, garbled.chars());
    }
    chars.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        assert_eq!(
            (0..5).map(|_| a.next_u64()).collect::<Vec<_>>(),
            (0..5).map(|_| b.next_u64()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn sentences_keep_punctuation_and_quotes() {
        assert_eq!(
            sentences("他说：“好。”然后走了！还有"),
            vec!["他说：“好。”", "然后走了！", "还有"]
        );
    }

    #[test]
    fn numbers_change_but_keep_length() {
        let mut rng = Rng::new(1);
        let s = change_numbers("2018年10月30日，共有1234人", &mut rng);
        assert_eq!(
            s.chars().count(),
            "2018年10月30日，共有1234人".chars().count()
        );
    }

    #[test]
    fn pinyin_annotations_are_stripped_by_the_cleaner() {
        let t = convert_to_traditional("产业发展会议");
        let annotated = annotate_pinyin(&t, &mut Rng::new(3));
        let (stripped, _) = crate::clean::script::strip_pinyin_annotations(&annotated);
        assert_eq!(stripped, t);
    }
}
