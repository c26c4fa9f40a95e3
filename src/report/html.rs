//! Renders [`ReportData`] as one self-contained HTML page: the summary, the histograms
//! (inline SVG) and the threshold lists as static HTML; clusters, related pairs and rejected
//! records drawn lazily by the inline script from the embedded JSON.
//!
//! It only renders: no decision, no file access, no network resource (the page's Content
//! Security Policy forbids loading anything).

use std::fmt::Write;

use super::data::{Histogram, NearList, PairClass, ReportData};

const CSS: &str = include_str!("assets/report.css");
const JS: &str = include_str!("assets/report.js");

/// Colours of the decisions (duplicate, related, apart); the stylesheet uses the same ones.
const CLASS_COLOURS: [&str; 3] = ["#c8403a", "#e0a030", "#5a7fc8"];

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// JSON that is safe inside a `<script>` element: `<`, `>` and `&` written as escapes.
fn script_json(v: &impl serde::Serialize) -> String {
    let s = serde_json::to_string(v).unwrap_or_else(|_| "null".into());
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn num(v: Option<&serde_json::Value>) -> String {
    match v {
        Some(serde_json::Value::Number(n)) => n.to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Null) | None => "–".into(),
        Some(other) => other.to_string(),
    }
}

fn summary_html(d: &ReportData) -> String {
    let s = &d.summary;
    let mut h = String::new();
    let card = |h: &mut String, label: &str, value: String, id: &str| {
        let _ = write!(
            h,
            "<div class=\"card\" id=\"{id}\"><div class=\"v\">{}</div><div class=\"l\">{}</div></div>",
            esc(&value),
            esc(label)
        );
    };
    h.push_str("<div class=\"cards\">");
    card(&mut h, "records in", num(s.get("records_in")), "sum-in");
    card(&mut h, "kept", num(s.get("kept")), "sum-kept");
    card(&mut h, "removed", num(s.get("removed")), "sum-removed");
    card(&mut h, "rejected", num(s.get("rejected")), "sum-rejected");
    card(&mut h, "clusters", num(s.get("clusters")), "sum-clusters");
    card(
        &mut h,
        "related pairs",
        num(s.get("related_pairs")),
        "sum-related",
    );
    card(
        &mut h,
        "repeated passages",
        num(s.get("passage_duplicates")),
        "sum-passages",
    );
    card(
        &mut h,
        "characters removed",
        num(s.get("removed_chars")),
        "sum-removed-chars",
    );
    let lost_share = s.get("lost_share").and_then(|v| v.as_f64()).unwrap_or(0.0);
    card(
        &mut h,
        "characters lost (not in the record kept)",
        format!("{} ({:.1} %)", num(s.get("lost_chars")), 100.0 * lost_share),
        "sum-lost-chars",
    );
    h.push_str("</div>");

    h.push_str("<div class=\"grid\"><div><h3>Removed by stage</h3><table class=\"kv\">");
    let words = [
        (
            "exact",
            "identical compared text (after cleaning, normalisation, script folding)",
        ),
        (
            "near_exact",
            "shingle Jaccard or containment (MinHash-LSH candidates)",
        ),
        (
            "semantic",
            "embedding neighbours whose aligned passages share their wording",
        ),
        (
            "semantic_redundancy",
            "article cosine within --semantic-redundancy of a kept record",
        ),
    ];
    let by_stage = s.get("removed_by_stage").and_then(|v| v.as_object());
    for (stage, what) in words {
        let n = by_stage.and_then(|m| m.get(stage)).map(|v| num(Some(v)));
        let _ = write!(
            h,
            "<tr><th>{}</th><td class=\"n\">{}</td><td>{}</td></tr>",
            esc(stage),
            esc(&n.unwrap_or_else(|| "0".into())),
            esc(what)
        );
    }
    h.push_str("</table>");

    h.push_str("<h3>Rejected records by reason</h3>");
    if d.rejected.is_empty() {
        h.push_str("<p class=\"muted\">none</p>");
    } else {
        let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
        for r in &d.rejected {
            // The kind of reason: the text before its first detail (':' or '(').
            let kind = r
                .reason
                .split([':', '('])
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            *reasons.entry(kind).or_default() += 1;
        }
        let mut v: Vec<_> = reasons.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        h.push_str("<table class=\"kv\">");
        for (reason, n) in v {
            let _ = write!(
                h,
                "<tr><td class=\"n\">{n}</td><td dir=\"auto\">{}</td></tr>",
                esc(&reason)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</div><div><h3>Settings</h3><table class=\"kv\">");
    if let Some(o) = s.get("options").and_then(|v| v.as_object()) {
        for (k, v) in o {
            let shown = match v {
                serde_json::Value::Object(m) => m
                    .iter()
                    .map(|(k, v)| format!("{k} {}", num(Some(v))))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => num(Some(other)),
            };
            let _ = write!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&shown));
        }
    }
    if let Some(a) = s.get("against").and_then(|v| v.as_str()) {
        let _ = write!(h, "<tr><th>against</th><td>{}</td></tr>", esc(a));
    }
    h.push_str("</table><h3>Model</h3><table class=\"kv\">");
    match s.get("model").and_then(|v| v.as_object()) {
        Some(m) => {
            for (k, v) in m {
                let _ = write!(
                    h,
                    "<tr><th>{}</th><td>{}</td></tr>",
                    esc(k),
                    esc(&num(Some(v)))
                );
            }
        }
        None => h.push_str("<tr><td>none (lexical stages only)</td></tr>"),
    }
    let _ = write!(
        h,
        "<tr><th>tokens embedded</th><td>{}</td></tr></table><h3>Timings (s)</h3><table class=\"kv\">",
        esc(&num(s.get("tokens_embedded")))
    );
    if let Some(t) = s.get("timings_s").and_then(|v| v.as_object()) {
        for (k, v) in t {
            let secs = v.as_f64().map_or("–".into(), |x| format!("{x:.3}"));
            let _ = write!(h, "<tr><th>{}</th><td class=\"n\">{secs}</td></tr>", esc(k));
        }
    }
    h.push_str("</table></div></div>");
    let held = d.texts.iter().filter(|t| t.is_some()).count();
    if !d.explained {
        h.push_str("<p class=\"note\">This folder has no <code>explanations.jsonl</code> / <code>passages.jsonl</code> (written by dedup runs of this version): the report shows scores only, without texts. Re-run <code>simdex dedup</code> to see the texts side by side.</p>");
    } else if held < d.texts_total {
        let _ = write!(
            h,
            "<p class=\"note\">The page holds the texts of {held} of {} records named in clusters and related pairs (text budget reached); the others show their scores and reasons only (<code>simdex explain</code> shows them).</p>",
            d.texts_total
        );
    }
    h
}

/// A histogram as inline SVG: stacked bars by decision, thresholds as dashed lines.
pub fn histogram_svg(hist: &Histogram) -> String {
    let (w, h) = (720.0f32, 220.0f32);
    let (left, right, top, bottom) = (44.0f32, 12.0f32, 26.0f32, 34.0f32);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let max = hist
        .bins
        .iter()
        .map(|b| b.iter().sum::<usize>())
        .max()
        .unwrap_or(0)
        .max(1);
    let n = hist.bins.len().max(1) as f32;
    let bw = pw / n;
    let x_of = |v: f32| left + (v - hist.lo) / (hist.hi - hist.lo) * pw;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"hist\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        esc(&hist.title)
    );
    let _ = write!(
        s,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#888\"/>",
        top + ph,
        left + pw,
        top + ph
    );
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" class=\"ax\" text-anchor=\"end\">{max}</text><text x=\"{}\" y=\"{}\" class=\"ax\" text-anchor=\"end\">0</text>",
        left - 4.0,
        top + 4.0,
        left - 4.0,
        top + ph
    );
    for (i, b) in hist.bins.iter().enumerate() {
        let lo = hist.lo + (hist.hi - hist.lo) * i as f32 / n;
        let hi = hist.lo + (hist.hi - hist.lo) * (i + 1) as f32 / n;
        let mut y = top + ph;
        for (class, &count) in b.iter().enumerate() {
            if count == 0 {
                continue;
            }
            let bh = (count as f32 / max as f32 * ph).max(1.5);
            y -= bh;
            let name = [PairClass::Duplicate, PairClass::Related, PairClass::Apart][class].name();
            let _ = write!(
                s,
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{}\"><title>{lo:.3}–{hi:.3}: {count} {name}</title></rect>",
                left + bw * i as f32 + 0.5,
                (bw - 1.0).max(0.5),
                CLASS_COLOURS[class]
            );
        }
    }
    let ticks = 5;
    for t in 0..=ticks {
        let v = hist.lo + (hist.hi - hist.lo) * t as f32 / ticks as f32;
        let _ = write!(
            s,
            "<text x=\"{:.1}\" y=\"{}\" class=\"ax\" text-anchor=\"middle\">{v:.2}</text>",
            x_of(v),
            top + ph + 14.0
        );
    }
    for (k, (t, label)) in hist.thresholds.iter().enumerate() {
        if *t < hist.lo || *t > hist.hi {
            continue;
        }
        let x = x_of(*t);
        let _ = write!(
            s,
            "<line class=\"thr\" x1=\"{x:.1}\" y1=\"{}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#222\" stroke-dasharray=\"4 3\"/><text x=\"{x:.1}\" y=\"{}\" class=\"thr-label\" text-anchor=\"{}\">{} {t}</text>",
            top - 2.0,
            top + ph,
            top - 6.0 - 11.0 * (k % 2) as f32 + 11.0,
            if x > left + pw * 0.7 { "end" } else { "start" },
            esc(label)
        );
    }
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" class=\"ax\" text-anchor=\"middle\">{} pairs</text></svg>",
        left + pw / 2.0,
        h - 4.0,
        hist.pairs
    );
    s
}

fn near_html(list: &NearList) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<h4>Pairs nearest the {} threshold {}</h4>",
        esc(&list.what),
        list.threshold
    );
    if list.rows.is_empty() {
        h.push_str("<p class=\"muted\">no judged pair has this score</p>");
        return h;
    }
    h.push_str(
        "<table class=\"near\"><tr><th>score</th><th>decision</th><th>A</th><th>B</th></tr>",
    );
    for r in &list.rows {
        let side = if r.value >= list.threshold {
            "≥"
        } else {
            "<"
        };
        let attr = r.expl.map_or(String::new(), |e| {
            format!(" data-expl=\"{e}\" class=\"open\" title=\"open side by side\"")
        });
        let _ = write!(
            h,
            "<tr{attr}><td class=\"n\">{:.4} {side}</td><td><span class=\"dot {}\"></span>{}</td><td dir=\"auto\">{}</td><td dir=\"auto\">{}</td></tr>",
            r.value,
            r.class.name(),
            r.class.name(),
            esc(&r.a),
            esc(&r.b)
        );
    }
    h.push_str("</table>");
    h
}

/// The whole page.
pub fn render(d: &ReportData) -> String {
    let mut h = String::with_capacity(64 * 1024);
    let title = format!("simdex report: {}", d.title);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><link rel=\"icon\" href=\"data:,\">\
<title>{}</title><style>{CSS}</style></head><body>",
        esc(&title)
    );
    let _ = write!(
        h,
        "<header><h1>{}</h1><nav role=\"tablist\">\
<button role=\"tab\" data-tab=\"summary\" aria-selected=\"true\">Summary</button>\
<button role=\"tab\" data-tab=\"thresholds\">Thresholds</button>\
<button role=\"tab\" data-tab=\"clusters\">Clusters <span class=\"badge\">{}</span></button>\
<button role=\"tab\" data-tab=\"related\">Related pairs <span class=\"badge\">{}</span></button>\
<button role=\"tab\" data-tab=\"rejected\">Rejected <span class=\"badge\">{}</span></button>\
</nav></header><main>",
        esc(&title),
        d.clusters.len(),
        d.related.len(),
        d.rejected.len()
    );
    let _ = write!(
        h,
        "<section id=\"tab-summary\">{}</section>",
        summary_html(d)
    );

    h.push_str("<section id=\"tab-thresholds\" hidden><p class=\"legend\">");
    for (i, c) in [PairClass::Duplicate, PairClass::Related, PairClass::Apart]
        .iter()
        .enumerate()
    {
        let _ = write!(
            h,
            "<span><span class=\"dot {}\" style=\"background:{}\"></span>{}</span> ",
            c.name(),
            CLASS_COLOURS[i],
            c.name()
        );
    }
    h.push_str("</p>");
    for hist in &d.histograms {
        let _ = write!(
            h,
            "<figure><figcaption>{}</figcaption>{}</figure>",
            esc(&hist.title),
            histogram_svg(hist)
        );
    }
    h.push_str("<div class=\"nears\">");
    for n in &d.near {
        let _ = write!(h, "<div>{}</div>", near_html(n));
    }
    h.push_str("</div></section>");

    h.push_str(
        "<section id=\"tab-clusters\" hidden><div class=\"controls\">\
<input id=\"cluster-filter\" type=\"search\" placeholder=\"filter by id or text\" dir=\"auto\">\
<select id=\"cluster-stage\"><option value=\"\">every stage</option><option value=\"exact\">exact</option>\
<option value=\"near_exact\">near-exact</option><option value=\"semantic\">semantic</option>\
<option value=\"semantic_redundancy\">semantic redundancy</option></select>\
<label>sort <select id=\"cluster-sort\"><option value=\"order\">run order</option>\
<option value=\"size\">size (largest first)</option><option value=\"weakest\">weakest evidence first</option></select></label>\
<span id=\"cluster-count\" class=\"count\"></span></div>\
<div class=\"vhead crow\"><span>cluster</span><span>records</span><span>kept</span><span>stages</span><span>weakest evidence</span></div>\
<div id=\"cluster-list\" class=\"vlist\" tabindex=\"0\"></div><div id=\"cluster-detail\" class=\"detail\"></div></section>",
    );
    h.push_str(
        "<section id=\"tab-related\" hidden><div class=\"controls\">\
<input id=\"related-filter\" type=\"search\" placeholder=\"filter by id\" dir=\"auto\">\
<span id=\"related-count\" class=\"count\"></span></div>\
<div class=\"vhead rrow\"><span>cosine</span><span>A</span><span>B</span></div>\
<div id=\"related-list\" class=\"vlist\" tabindex=\"0\"></div><div id=\"related-detail\" class=\"detail\"></div></section>",
    );
    h.push_str(
        "<section id=\"tab-rejected\" hidden><div class=\"controls\">\
<input id=\"rejected-filter\" type=\"search\" placeholder=\"filter by file, id or reason\" dir=\"auto\">\
<span id=\"rejected-count\" class=\"count\"></span></div>\
<div class=\"vhead jrow\"><span>where</span><span>id</span><span>reason</span></div>\
<div id=\"rejected-list\" class=\"vlist\" tabindex=\"0\"></div></section>",
    );
    h.push_str("</main><div id=\"pair-dialog\" hidden><div class=\"dlg\"><button class=\"close\" aria-label=\"close\">×</button><div class=\"body\"></div></div></div>");
    let _ = writeln!(
        h,
        "<script type=\"application/json\" id=\"report-data\">{}</script><script>{JS}</script></body></html>",
        script_json(d)
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_json_cannot_close_its_script_element() {
        let s = script_json(&vec!["</script><b>&".to_string()]);
        assert!(!s.contains('<') && !s.contains('&'));
        let back: Vec<String> = serde_json::from_str(&s).unwrap();
        assert_eq!(back, vec!["</script><b>&".to_string()]);
    }

    #[test]
    fn a_histogram_draws_its_bars_and_its_threshold() {
        let hist = Histogram {
            title: "t".into(),
            lo: 0.0,
            hi: 1.0,
            bins: vec![[1, 0, 0], [0, 2, 3]],
            thresholds: vec![(0.8, "near-exact".into())],
            pairs: 6,
        };
        let svg = histogram_svg(&hist);
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains("class=\"thr\"") && svg.contains("near-exact 0.8"));
    }
}
