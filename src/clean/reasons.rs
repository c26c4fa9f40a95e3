//! Why a line was left out of the compared text ([`RemovalReason`]), with the names the
//! outputs use for each reason.
//!
//! It must not decide that a line goes: the rules are [`super::boilerplate`]'s.

use serde::Serialize;

/// Why a line was left out of the compared text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalReason {
    /// `首页 > 频道 > 正文`, `当前位置:`.
    Breadcrumb,
    /// `分享至`, `扫一扫`, QR-code and contact prompts.
    ShareWidget,
    /// Navigation menus and category lists.
    Menu,
    /// Related, recommended or hot article lists and the page tail after their heading.
    RelatedList,
    /// Follow buttons and counters: `+关注`, `1796文章`, `47683浏览量`, lone numbers.
    Counter,
    /// `发布评论请先登录`, `评论`.
    CommentPrompt,
    /// Copyright, contact, reprint and provenance notices.
    Footer,
    /// Source, author, date and click-count lines.
    Byline,
    /// Markdown images, HTML fragments.
    ImageOrHtml,
    /// CSS and JavaScript.
    Code,
    /// Too few content characters to be body text.
    ShortLine,
    /// Mostly URLs.
    LinkDense,
    /// A line that already occurred earlier in the same document.
    RepeatedInDocument,
    /// A paragraph that occurs in many unrelated documents of the run.
    RepeatedInCorpus,
    /// Mostly mojibake.
    Mojibake,
    /// Nothing left after normalisation (only invisible characters or markup).
    Empty,
}

impl RemovalReason {
    /// The snake_case name used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            RemovalReason::Breadcrumb => "breadcrumb",
            RemovalReason::ShareWidget => "share_widget",
            RemovalReason::Menu => "menu",
            RemovalReason::RelatedList => "related_list",
            RemovalReason::Counter => "counter",
            RemovalReason::CommentPrompt => "comment_prompt",
            RemovalReason::Footer => "footer",
            RemovalReason::Byline => "byline",
            RemovalReason::ImageOrHtml => "image_or_html",
            RemovalReason::Code => "code",
            RemovalReason::ShortLine => "short_line",
            RemovalReason::LinkDense => "link_dense",
            RemovalReason::RepeatedInDocument => "repeated_in_document",
            RemovalReason::RepeatedInCorpus => "repeated_in_corpus",
            RemovalReason::Mojibake => "mojibake",
            RemovalReason::Empty => "empty",
        }
    }

    /// Whether the removed line is not text at all (page code, markup, mojibake, URL lists):
    /// such lines are never compared, not even when cleaning leaves nothing else.
    pub fn is_not_text(self) -> bool {
        matches!(
            self,
            RemovalReason::Code
                | RemovalReason::ImageOrHtml
                | RemovalReason::Mojibake
                | RemovalReason::LinkDense
        )
    }

    /// Whether this removal counts as page chrome for the "cleanest copy" keep policy
    /// (lines that are merely short, empty or repeated do not).
    pub fn is_chrome(self) -> bool {
        !matches!(
            self,
            RemovalReason::ShortLine
                | RemovalReason::Empty
                | RemovalReason::RepeatedInDocument
                | RemovalReason::RepeatedInCorpus
        )
    }
}

impl std::fmt::Display for RemovalReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
