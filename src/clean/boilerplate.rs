//! Boilerplate detection for scraped Chinese news pages: line-level cues (short lines,
//! link and markup density, dates, sources, counters, menus, widgets, footers, runs of
//! headline-like lines that form "related articles" lists) and corpus-level repetition
//! ([`RepeatedParagraphs`]).
//!
//! It only decides which lines are compared; it must not rewrite body text beyond the
//! normalised copy, and must not look at other documents except through
//! [`RepeatedParagraphs`].

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::ops::Range;

use super::normalize::{compact_key, is_cjk, normalize};
use super::options::CleanOptions;
use super::reasons::RemovalReason;
use super::script::{fold_to_simplified, scan_mojibake, strip_pinyin_annotations, MojibakeScan};

/// Longest HTML tag that is removed as markup (longer `<...>` spans are left alone).
const MAX_TAG_CHARS: usize = 300;

/// Share widgets and contact prompts are only recognised on lines this short.
const WIDGET_MAX_CHARS: usize = 20;

/// Whitespace-separated menus: at least this many tokens ...
const MENU_MIN_TOKENS: usize = 4;
/// ... each of at most this many content characters.
const MENU_TOKEN_MAX_CHARS: usize = 4;

/// A code line is one where at most this share of characters are ideographs ...
const CODE_MAX_CJK_SHARE: f64 = 0.3;
/// ... and at least this share are code punctuation.
const CODE_MIN_PUNCT_SHARE: f64 = 0.2;

/// A code block that opens brackets swallows at most this many following lines.
const CODE_BLOCK_MAX_LINES: usize = 200;

/// Phone numbers have at least this many digits in one run (spaces and dashes allowed).
const PHONE_MIN_DIGITS: usize = 7;

/// One line of the original, with its normalised forms and cues.
#[derive(Clone, Debug)]
pub struct PreparedLine<'a> {
    /// The original line without its line break.
    pub raw: &'a str,
    /// 1-based line number.
    pub number: usize,
    /// Byte range of the trimmed line in the original text.
    pub byte_range: Range<usize>,
    /// Normalised, markup and pinyin annotations removed, script not folded.
    pub unfolded: String,
    /// `unfolded` folded to Simplified: what the cues look at.
    pub folded: String,
    /// Share of the normalised line that was markup (HTML tags, Markdown images, URLs of
    /// Markdown links).
    pub markup_fraction: f64,
    /// Pinyin annotations removed from this line.
    pub pinyin_annotations: usize,
    /// Mojibake found in this line.
    pub mojibake: MojibakeScan,
    /// Letters, digits and ideographs in `folded`.
    pub content_chars: usize,
}

/// Number of letters, digits and ideographs.
pub fn content_chars(s: &str) -> usize {
    s.chars().filter(|c| c.is_alphanumeric()).count()
}

/// Splits the text into lines and prepares each one.
pub fn prepare_lines(text: &str) -> Vec<PreparedLine<'_>> {
    let mut out = Vec::new();
    let mut offset = 0;
    for (i, segment) in text.split_inclusive('\n').enumerate() {
        let start = offset;
        offset += segment.len();
        let raw = segment.trim_end_matches(['\n', '\r']);
        let trimmed_start = raw.len() - raw.trim_start().len();
        let trimmed = raw.trim();
        let byte_range = start + trimmed_start..start + trimmed_start + trimmed.len();
        out.push(prepare_line(raw, i + 1, byte_range));
    }
    out
}

fn prepare_line(raw: &str, number: usize, byte_range: Range<usize>) -> PreparedLine<'_> {
    let normalised = normalize(&decode_entities(raw));
    let (without_markup, markup_chars) = strip_inline_markup(&normalised);
    let total = normalised.chars().count();
    let markup_fraction = if total == 0 {
        0.0
    } else {
        markup_chars as f64 / total as f64
    };
    let without_markup = normalize(&without_markup);
    let (unfolded, pinyin_annotations) = strip_pinyin_annotations(&without_markup);
    let mojibake = scan_mojibake(&unfolded);
    let folded = fold_to_simplified(&unfolded);
    let content = content_chars(&folded);
    PreparedLine {
        raw,
        number,
        byte_range,
        unfolded,
        folded,
        markup_fraction,
        pinyin_annotations,
        mojibake,
        content_chars: content,
    }
}

/// Replaces the HTML entities that scrapers leave behind, also in their broken form
/// without `&` (`ldquo;新星rdquo;`).
fn decode_entities(s: &str) -> String {
    if !s.contains(';') {
        return s.to_string();
    }
    const ENTITIES: [(&str, &str); 9] = [
        ("nbsp;", " "),
        ("ldquo;", "\""),
        ("rdquo;", "\""),
        ("lsquo;", "'"),
        ("rsquo;", "'"),
        ("hellip;", "..."),
        ("mdash;", "—"),
        ("quot;", "\""),
        ("middot;", "·"),
    ];
    let mut out = s.to_string();
    for (name, value) in ENTITIES {
        out = out.replace(&format!("&{name}"), value).replace(name, value);
    }
    out.replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

fn find_from(chars: &[char], from: usize, pattern: &[char]) -> Option<usize> {
    if pattern.is_empty() || chars.len() < pattern.len() {
        return None;
    }
    (from..=chars.len() - pattern.len()).find(|&i| chars.get(i..i + pattern.len()) == Some(pattern))
}

/// Removes Markdown images, HTML tags and the URL part of Markdown links; returns the
/// remaining text and the number of characters removed.
pub fn strip_inline_markup(s: &str) -> (String, usize) {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut removed = 0;
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        // Markdown image: ![alt](url) (the url may be cut off at the end of the line).
        if c == '!' && chars.get(i + 1) == Some(&'[') {
            if let Some(mid) = find_from(&chars, i + 2, &[']', '(']) {
                let end = find_from(&chars, mid + 2, &[')']).map_or(chars.len(), |e| e + 1);
                removed += end - i;
                i = end;
                continue;
            }
        }
        // Markdown link: [text](http...) keeps the text.
        if c == ']' && chars.get(i + 1) == Some(&'(') {
            let target: String = chars.iter().skip(i + 2).take(8).collect();
            if target.starts_with("http") || target.starts_with('/') {
                let end = find_from(&chars, i + 2, &[')']).map_or(chars.len(), |e| e + 1);
                removed += end - i;
                i = end;
                continue;
            }
        }
        // HTML tag: <b class='x'>, </b>, <!-- ... -->, <br/>.
        if c == '<'
            && chars
                .get(i + 1)
                .is_some_and(|&n| n.is_ascii_alphabetic() || n == '/' || n == '!')
        {
            let limit = (i + MAX_TAG_CHARS).min(chars.len());
            if let Some(close) = (i + 1..limit).find(|&j| chars.get(j) == Some(&'>')) {
                removed += close + 1 - i;
                i = close + 1;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    (out, removed)
}

/// Characters of the line that belong to URLs.
fn url_chars(s: &str) -> usize {
    let chars: Vec<char> = s.chars().collect();
    let lower: Vec<char> = s.to_lowercase().chars().collect();
    if lower.len() != chars.len() {
        return 0;
    }
    let mut count = 0;
    let mut i = 0;
    while i < chars.len() {
        let rest = &lower[i..];
        let starts = [
            &['h', 't', 't', 'p', ':'][..],
            &['h', 't', 't', 'p', 's', ':'],
            &['w', 'w', 'w', '.'],
        ]
        .iter()
        .any(|p| rest.starts_with(p));
        if starts {
            let len = chars[i..]
                .iter()
                .take_while(|&&c| !c.is_whitespace() && !is_cjk(c) && (c as u32) < 0x3000)
                .count();
            count += len;
            i += len.max(1);
        } else {
            i += 1;
        }
    }
    count
}

fn contains_any(s: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| s.contains(n))
}

fn count_any(s: &str, needles: &[&str]) -> usize {
    needles.iter().filter(|n| s.contains(*n)).count()
}

/// True if the text has a full date (`2024-04-16`, `2024/4/16`, `2024年4月16日`) or a
/// clock time (`22:29`).
pub fn has_date_or_time(s: &str) -> bool {
    let c: Vec<char> = s.chars().collect();
    let digits_at = |i: usize, min: usize, max: usize| -> usize {
        let n = c.iter().skip(i).take_while(|d| d.is_ascii_digit()).count();
        if n >= min && n <= max {
            n
        } else {
            0
        }
    };
    for i in 0..c.len() {
        if i > 0 && c.get(i - 1).is_some_and(|p| p.is_ascii_digit()) {
            continue;
        }
        // Year-month-day.
        if digits_at(i, 4, 4) == 4 {
            let j = i + 4;
            if c.get(j)
                .is_some_and(|&d| matches!(d, '-' | '/' | '.' | '年'))
            {
                let m = digits_at(j + 1, 1, 2);
                let k = j + 1 + m;
                if m > 0
                    && c.get(k)
                        .is_some_and(|&d| matches!(d, '-' | '/' | '.' | '月'))
                    && digits_at(k + 1, 1, 2) > 0
                {
                    return true;
                }
            }
        }
        // Clock time.
        let h = digits_at(i, 1, 2);
        if h > 0 && c.get(i + h) == Some(&':') && digits_at(i + h + 1, 2, 2) == 2 {
            return true;
        }
    }
    false
}

/// True if the text has a run of at least [`PHONE_MIN_DIGITS`] digits (spaces and dashes
/// inside allowed) that is not a span of years such as `2023-2025`.
fn has_phone_number(s: &str) -> bool {
    let mut digits = 0;
    let mut run = String::new();
    for c in s.chars().chain(std::iter::once('\u{0}')) {
        if c.is_ascii_digit() {
            digits += 1;
            run.push(c);
        } else if (c == ' ' || c == '-') && digits > 0 {
            run.push(c);
        } else {
            if digits >= PHONE_MIN_DIGITS {
                let is_year_span =
                    run.trim().len() == 9 && run.trim().as_bytes().get(4) == Some(&b'-');
                if !is_year_span {
                    return true;
                }
            }
            digits = 0;
            run.clear();
        }
    }
    false
}

fn has_email(s: &str) -> bool {
    let c: Vec<char> = s.chars().collect();
    c.iter().enumerate().any(|(i, &ch)| {
        ch == '@'
            && i > 0
            && c.get(i - 1)
                .is_some_and(|p| p.is_ascii_alphanumeric() || *p == '_')
            && c.iter()
                .skip(i + 1)
                .take_while(|x| x.is_ascii_alphanumeric() || matches!(x, '.' | '-' | '_'))
                .any(|&x| x == '.')
    })
}

fn is_sentence_end(s: &str) -> bool {
    s.ends_with('。') || s.ends_with("。\"") || s.ends_with("。)")
}

const FOOTER_CUES: &[&str] = &[
    "版权所有",
    "版权声明",
    "copyright",
    "©",
    "icp备",
    "icp证",
    "公网安备",
    "举报电话",
    "联系我们",
    "关于我们",
    "法律声明",
    "免责声明",
    "投稿邮箱",
    "服务热线",
    "客户服务",
    "转载请注明",
    "如需转载",
    "未经授权",
    "禁止转载",
    "本文链接",
    "原文标题",
    "文章出处",
    "运营商:",
    "网站地图",
    "广告服务",
    "all rights reserved",
];

const CONTACT_CUES: &[&str] = &[
    "电话", "热线", "手机", "微信", "联系", "地址", "邮箱", "传真", "qq", "租售", "咨询",
];

const PROMO_CUES: &[&str] = &[
    "微信号",
    "手机号",
    "联系人",
    "加微信",
    "公众号",
    "长按",
    "扫一扫",
    "二维码",
];

const SHARE_CUES: &[&str] = &[
    "分享至",
    "分享到",
    "分享给",
    "一键分享",
    "分享:",
    "扫一扫",
    "扫描二维码",
    "二维码",
    "推送至手机",
    "收藏本文",
    "打印本页",
    "打印此文",
    "关闭窗口",
    "字号",
    "返回顶部",
    "返回首页",
];

const COMMENT_CUES: &[&str] = &[
    "发布评论",
    "发表评论",
    "请先登录",
    "我要评论",
    "网友评论",
    "查看评论",
    "条评论",
    "参与评论",
    "跟帖",
    "评论区",
    "我来说两句",
];

const BYLINE_PREFIXES: &[&str] = &[
    "来源:",
    "来源 ",
    "作者:",
    "责任编辑",
    "编辑:",
    "记者:",
    "日期:",
    "发布时间",
    "发布日期",
    "时间:",
    "摄影:",
    "图片来源",
    "图源",
    "题图",
    "稿源",
    "出处:",
];

const BREADCRUMB_PREFIXES: &[&str] = &["当前位置", "您的位置", "您现在的位置", "所在位置", "位置:"];

const COUNTER_WORDS: &[&str] = &[
    "",
    "文章",
    "浏览量",
    "浏览",
    "阅读",
    "阅读量",
    "评论",
    "条评论",
    "点赞",
    "赞",
    "粉丝",
    "关注",
    "人关注",
    "次",
    "篇",
    "转发",
    "收藏",
    "分享",
    "播放",
    "次播放",
    "点击",
    "点击次",
    "热度",
    "人参与",
    "views",
];

const RELATED_HEADINGS: &[&str] = &[
    "相关推荐",
    "相关文章",
    "相关阅读",
    "相关新闻",
    "相关报道",
    "相关链接",
    "相关文章推荐",
    "热点推荐",
    "热门推荐",
    "推荐阅读",
    "延伸阅读",
    "猜你喜欢",
    "为你推荐",
    "热门文章",
    "热门新闻",
    "热门阅读",
    "精彩推荐",
    "更多精彩",
    "更多阅读",
    "今日推荐",
    "大家都在看",
    "最新文章",
    "往期回顾",
];

/// Longest related-list heading of the "…要闻" / "…推荐" form, in content characters.
const RELATED_HEADING_MAX_CHARS: usize = 6;

fn is_breadcrumb(s: &str) -> bool {
    if BREADCRUMB_PREFIXES.iter().any(|p| s.starts_with(p)) {
        return true;
    }
    let separators = s.matches(['>', '›', '»', '→']).count();
    if separators == 0 {
        return false;
    }
    let segments_short = s
        .split(['>', '›', '»', '→'])
        .all(|seg| content_chars(seg) <= 12);
    (s.contains("首页") || s.contains("正文")) || (separators >= 2 && segments_short)
}

fn is_counter(s: &str) -> bool {
    if has_date_or_time(s) {
        return false;
    }
    let has_digit_or_follow = s.chars().any(|c| c.is_ascii_digit()) || s.contains("关注");
    if !has_digit_or_follow {
        return false;
    }
    let rest: String = s
        .chars()
        .filter(|c| !(c.is_ascii_digit() || c.is_whitespace() || "+-,.:万wWkK".contains(*c)))
        .collect();
    COUNTER_WORDS.contains(&rest.as_str())
}

fn is_byline(s: &str, n: usize, opts: &CleanOptions) -> bool {
    if n > opts.chrome_max_chars {
        return false;
    }
    BYLINE_PREFIXES.iter().any(|p| s.starts_with(p))
        || (has_date_or_time(s) && !s.contains('。') && !s.contains(','))
}

fn is_footer(s: &str, lower: &str, n: usize, opts: &CleanOptions) -> bool {
    if n > opts.footer_max_chars {
        return false;
    }
    if contains_any(lower, FOOTER_CUES) {
        return true;
    }
    let contact = contains_any(lower, CONTACT_CUES);
    let phone = has_phone_number(s) && !has_date_or_time(s);
    if (phone || has_email(s)) && (contact || (n <= opts.chrome_max_chars && !s.contains('。'))) {
        return true;
    }
    count_any(s, PROMO_CUES) >= 2
}

fn is_share_widget(s: &str, n: usize) -> bool {
    n <= WIDGET_MAX_CHARS
        && (s == "分享" || contains_any(s, SHARE_CUES) || contains_any(s, PROMO_CUES))
}

fn is_comment_prompt(s: &str) -> bool {
    let bare = s.trim_end_matches([':', ' ']);
    bare == "评论" || bare == "评论列表" || contains_any(s, COMMENT_CUES)
}

fn is_menu_line(s: &str, opts: &CleanOptions) -> bool {
    let bars = s.matches('|').count();
    if bars >= 2
        && s.split('|')
            .all(|seg| content_chars(seg) <= opts.menu_item_max_chars)
    {
        return true;
    }
    let tokens: Vec<&str> = s.split_whitespace().collect();
    tokens.len() >= MENU_MIN_TOKENS
        && tokens.iter().all(|t| {
            let n = content_chars(t);
            n > 0
                && n <= MENU_TOKEN_MAX_CHARS
                && t.chars().all(|c| c.is_alphanumeric())
                && t.chars().any(is_cjk)
        })
}

fn is_code(s: &str) -> bool {
    let total = s.chars().count();
    if total == 0 {
        return false;
    }
    let cjk = s.chars().filter(|&c| is_cjk(c)).count();
    if cjk as f64 > CODE_MAX_CJK_SHARE * total as f64 {
        return false;
    }
    if s.starts_with("//") || s.starts_with("/*") || s.starts_with("<!--") {
        return true;
    }
    // CSS rules and statements: `.tech-con p{margin-bottom:30px}`, `color: red;`.
    if cjk == 0 && (s.contains('{') || s.ends_with(';')) {
        return true;
    }
    let punct = s
        .chars()
        .filter(|c| "{}()[];=<>'\"_:,/\\|&*+$#".contains(*c))
        .count();
    let keyword = contains_any(
        s,
        &[
            "function(",
            "function (",
            "var ",
            "document.",
            "window.",
            "!important",
            "=>",
        ],
    );
    punct as f64 >= CODE_MIN_PUNCT_SHARE * total as f64 && (punct >= 2 || keyword || total <= 2)
}

/// Net number of brackets a code line leaves open.
fn open_brackets(s: &str) -> i64 {
    s.chars()
        .map(|c| match c {
            '{' | '[' | '(' => 1,
            '}' | ']' | ')' => -1,
            _ => 0,
        })
        .sum()
}

fn is_bullet_item(s: &str, opts: &CleanOptions) -> bool {
    let bulleted = ["- ", "· ", "·", "•", "* ", "▪"]
        .iter()
        .any(|b| s.starts_with(b));
    bulleted && content_chars(s) <= opts.menu_item_max_chars
}

fn is_related_heading(s: &str, n: usize) -> bool {
    let bare = s.trim_end_matches([':', ' ', '>', '»']);
    RELATED_HEADINGS.contains(&bare)
        || (n <= RELATED_HEADING_MAX_CHARS && (bare.ends_with("要闻") || bare.ends_with("推荐")))
}

/// The cues that a single line shows on its own.
pub fn line_cue(line: &PreparedLine<'_>, opts: &CleanOptions) -> Option<RemovalReason> {
    let s = line.folded.as_str();
    let n = line.content_chars;
    if s.is_empty() {
        return Some(if line.markup_fraction > 0.0 {
            RemovalReason::ImageOrHtml
        } else {
            RemovalReason::Empty
        });
    }
    if line.markup_fraction > opts.max_markup_fraction {
        return Some(RemovalReason::ImageOrHtml);
    }
    if line.mojibake.suspicious_chars as f64 > opts.max_mojibake_fraction * n.max(1) as f64 {
        return Some(RemovalReason::Mojibake);
    }
    let total = s.chars().count();
    if url_chars(s) as f64 > opts.max_link_density * total as f64 {
        return Some(RemovalReason::LinkDense);
    }
    if is_code(s) {
        return Some(RemovalReason::Code);
    }
    let lower = s.to_lowercase();
    if is_footer(s, &lower, n, opts) {
        return Some(RemovalReason::Footer);
    }
    if n <= opts.chrome_max_chars {
        if is_breadcrumb(s) {
            return Some(RemovalReason::Breadcrumb);
        }
        if is_counter(s) {
            return Some(RemovalReason::Counter);
        }
        if is_share_widget(s, n) {
            return Some(RemovalReason::ShareWidget);
        }
        if is_comment_prompt(s) {
            return Some(RemovalReason::CommentPrompt);
        }
    }
    if is_byline(s, n, opts) {
        return Some(RemovalReason::Byline);
    }
    if is_menu_line(s, opts) {
        return Some(RemovalReason::Menu);
    }
    if n < opts.min_chars && !(is_sentence_end(s) && n > 1) {
        return Some(RemovalReason::ShortLine);
    }
    None
}

fn is_headline_like(line: &PreparedLine<'_>, opts: &CleanOptions) -> bool {
    let s = line.folded.as_str();
    line.content_chars >= opts.min_chars
        && line.content_chars <= opts.headline_max_chars
        && !s.contains('。')
        && !s.ends_with([',', ':', ';', '、'])
}

/// Decides for every line of one document whether it is removed and why (`None`: kept).
/// Blank lines get `None` and are skipped by the caller.
pub fn classify_document(
    lines: &[PreparedLine<'_>],
    opts: &CleanOptions,
) -> Vec<Option<RemovalReason>> {
    let mut verdicts: Vec<Option<RemovalReason>> = lines
        .iter()
        .map(|l| {
            if l.raw.trim().is_empty() {
                None
            } else {
                line_cue(l, opts)
            }
        })
        .collect();
    let content: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.raw.trim().is_empty())
        .map(|(i, _)| i)
        .collect();

    mark_code_blocks(lines, &content, &mut verdicts);
    mark_menu_runs(lines, &content, &mut verdicts, opts);
    mark_repeats(lines, &content, &mut verdicts, opts);
    mark_related_tail(lines, &content, &mut verdicts, opts);
    mark_headline_runs(lines, &content, &mut verdicts, opts);
    verdicts
}

fn set_if_kept(verdicts: &mut [Option<RemovalReason>], i: usize, reason: RemovalReason) {
    if let Some(v) = verdicts.get_mut(i) {
        if v.is_none() {
            *v = Some(reason);
        }
    }
}

/// A code line that leaves brackets open takes the following lines up to the matching
/// close with it (JavaScript objects spread over many lines).
fn mark_code_blocks(
    lines: &[PreparedLine<'_>],
    content: &[usize],
    verdicts: &mut [Option<RemovalReason>],
) {
    let mut k = 0;
    while let Some(&i) = content.get(k) {
        k += 1;
        if verdicts.get(i) != Some(&Some(RemovalReason::Code)) {
            continue;
        }
        let mut depth = lines.get(i).map_or(0, |l| open_brackets(&l.folded));
        let mut taken = 0;
        while depth > 0 && taken < CODE_BLOCK_MAX_LINES {
            let Some(&j) = content.get(k) else { break };
            let Some(line) = lines.get(j) else { break };
            depth += open_brackets(&line.folded);
            if let Some(v) = verdicts.get_mut(j) {
                *v = Some(RemovalReason::Code);
            }
            k += 1;
            taken += 1;
        }
    }
}

fn mark_menu_runs(
    lines: &[PreparedLine<'_>],
    content: &[usize],
    verdicts: &mut [Option<RemovalReason>],
    opts: &CleanOptions,
) {
    let mut run: Vec<usize> = Vec::new();
    for &i in content.iter().chain(std::iter::once(&usize::MAX)) {
        let bullet = lines
            .get(i)
            .is_some_and(|l| is_bullet_item(&l.folded, opts));
        if bullet {
            run.push(i);
            continue;
        }
        if run.len() >= opts.menu_min_run {
            for &j in &run {
                if let Some(v) = verdicts.get_mut(j) {
                    *v = Some(RemovalReason::Menu);
                }
            }
        }
        run.clear();
    }
}

/// A headline repeated on the next line (title, then the same title as a link) marks a
/// related-list entry; a kept line that already occurred earlier is a repeat.
fn mark_repeats(
    lines: &[PreparedLine<'_>],
    content: &[usize],
    verdicts: &mut [Option<RemovalReason>],
    opts: &CleanOptions,
) {
    let keys: Vec<String> = content
        .iter()
        .map(|&i| {
            lines
                .get(i)
                .map_or(String::new(), |l| compact_key(&l.folded))
        })
        .collect();
    for (k, pair) in content.windows(2).enumerate() {
        let (Some(a), Some(b)) = (keys.get(k), keys.get(k + 1)) else {
            continue;
        };
        let short = lines
            .get(pair[0])
            .is_some_and(|l| l.content_chars <= opts.headline_max_chars);
        if a == b && !a.is_empty() && short {
            set_if_kept(verdicts, pair[0], RemovalReason::RelatedList);
            set_if_kept(verdicts, pair[1], RemovalReason::RelatedList);
        }
    }
    let mut seen: HashSet<&str> = HashSet::new();
    for (&i, key) in content.iter().zip(&keys) {
        if key.is_empty() {
            continue;
        }
        if !seen.insert(key.as_str()) {
            set_if_kept(verdicts, i, RemovalReason::RepeatedInDocument);
        }
    }
}

/// A "related articles" heading after enough body text starts the page tail.
fn mark_related_tail(
    lines: &[PreparedLine<'_>],
    content: &[usize],
    verdicts: &mut [Option<RemovalReason>],
    opts: &CleanOptions,
) {
    let mut body_chars = 0;
    for (k, &i) in content.iter().enumerate() {
        let Some(line) = lines.get(i) else { continue };
        if is_related_heading(&line.folded, line.content_chars) {
            if let Some(v) = verdicts.get_mut(i) {
                *v = Some(RemovalReason::RelatedList);
            }
            if body_chars >= opts.related_tail_min_body_chars {
                for &j in content.iter().skip(k + 1) {
                    set_if_kept(verdicts, j, RemovalReason::RelatedList);
                }
                return;
            }
            continue;
        }
        if verdicts.get(i).is_some_and(|v| v.is_none()) {
            body_chars += line.content_chars;
        }
    }
}

/// Runs of headline-like kept lines, with only removed lines between them, are lists of
/// related or hot articles.
fn mark_headline_runs(
    lines: &[PreparedLine<'_>],
    content: &[usize],
    verdicts: &mut [Option<RemovalReason>],
    opts: &CleanOptions,
) {
    let mut run: Vec<usize> = Vec::new();
    let flush = |run: &mut Vec<usize>, verdicts: &mut [Option<RemovalReason>]| {
        if run.len() >= opts.related_min_run {
            for &j in run.iter() {
                set_if_kept(verdicts, j, RemovalReason::RelatedList);
            }
        }
        run.clear();
    };
    for &i in content {
        let Some(line) = lines.get(i) else { continue };
        let kept = verdicts.get(i).is_some_and(|v| v.is_none());
        if !kept {
            continue;
        }
        if is_headline_like(line, opts) {
            run.push(i);
        } else {
            flush(&mut run, verdicts);
        }
    }
    flush(&mut run, verdicts);
}

/// Paragraphs that occur in many unrelated documents of one run (site slogans, ads,
/// disclaimers). Documents count as unrelated when their longest other paragraph differs,
/// so that copies of one article do not make its own paragraphs look like boilerplate.
#[derive(Clone, Debug, Default)]
pub struct RepeatedParagraphs {
    /// Hashes of the compact keys of the repeated paragraphs.
    repeated: HashSet<u64>,
}

fn hash_key(s: &str) -> u64 {
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// What the corpus pass counts of one document: (paragraph key hash, context hash) for each
/// distinct non-empty paragraph, the context being the document's longest other paragraph.
pub fn document_contexts(doc: &[String]) -> Vec<(u64, u64)> {
    let keys: Vec<String> = doc
        .iter()
        .map(|p| compact_key(p))
        .filter(|k| !k.is_empty())
        .collect();
    // The two longest distinct paragraphs identify the document's content.
    let mut by_len: Vec<&String> = keys.iter().collect();
    by_len.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    by_len.dedup();
    let first = by_len.first().copied();
    let second = by_len.get(1).copied();
    let distinct: std::collections::BTreeSet<&String> = keys.iter().collect();
    distinct
        .into_iter()
        .map(|key| {
            let context = match (first, second) {
                (Some(f), _) if f != key => hash_key(f),
                (_, Some(s)) => hash_key(s),
                _ => hash_key(key),
            };
            (hash_key(key), context)
        })
        .collect()
}

impl RepeatedParagraphs {
    /// Builds the set from the normalised paragraphs of every document of the run. A
    /// paragraph is repeated when it occurs in at least `min_docs` unrelated documents and
    /// in at least `min_fraction` of all documents.
    pub fn from_documents<'a>(
        docs: impl Iterator<Item = &'a [String]>,
        min_docs: usize,
        min_fraction: f64,
    ) -> Self {
        let mut n_docs = 0usize;
        let mut contexts = Vec::new();
        for doc in docs {
            n_docs += 1;
            contexts.extend(document_contexts(doc));
        }
        Self::from_contexts(contexts, n_docs, min_docs, min_fraction)
    }

    /// Builds the set from the [`document_contexts`] of a run of `n_docs` documents (or of
    /// any subset of paragraph keys with all their contexts: a staged run counts each part
    /// of the key space apart and joins the sets with [`RepeatedParagraphs::from_keys`]).
    pub fn from_contexts(
        contexts: impl IntoIterator<Item = (u64, u64)>,
        n_docs: usize,
        min_docs: usize,
        min_fraction: f64,
    ) -> Self {
        let mut by_key: HashMap<u64, HashSet<u64>> = HashMap::new();
        for (key, ctx) in contexts {
            by_key.entry(key).or_default().insert(ctx);
        }
        let needed = (min_fraction * n_docs as f64)
            .ceil()
            .max(min_docs as f64)
            .max(1.0) as usize;
        let repeated = by_key
            .into_iter()
            .filter(|(_, ctx)| ctx.len() >= needed)
            .map(|(k, _)| k)
            .collect();
        RepeatedParagraphs { repeated }
    }

    /// A set made of paragraph key hashes found repeated (by one or more parts of a run).
    pub fn from_keys(keys: impl IntoIterator<Item = u64>) -> Self {
        RepeatedParagraphs {
            repeated: keys.into_iter().collect(),
        }
    }

    /// The paragraph key hashes in the set, sorted.
    pub fn keys(&self) -> Vec<u64> {
        let mut k: Vec<u64> = self.repeated.iter().copied().collect();
        k.sort_unstable();
        k
    }

    /// Whether this paragraph (normalised; white space is ignored) is boilerplate.
    pub fn is_repeated(&self, paragraph: &str) -> bool {
        self.repeated.contains(&hash_key(&compact_key(paragraph)))
    }

    /// Number of distinct repeated paragraphs.
    pub fn len(&self) -> usize {
        self.repeated.len()
    }

    /// True when no paragraph is repeated.
    pub fn is_empty(&self) -> bool {
        self.repeated.is_empty()
    }
}
