//! The cleaning's settings ([`CleanOptions`]): the thresholds of chrome detection and the
//! corpus pass, with their documented defaults.
//!
//! It must not clean: it only says how.

use serde::Serialize;

/// Thresholds of the cleaning stage. Lengths count "content characters": letters,
/// digits and ideographs, not punctuation or spaces.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CleanOptions {
    /// A line with fewer content characters is dropped as too short to be body text
    /// (image captions, tags, author names), unless it ends a sentence with `。`.
    pub min_chars: usize,
    /// A line whose share of characters inside URLs is above this is a link line.
    pub max_link_density: f64,
    /// A line whose share of characters inside HTML tags or Markdown images is above
    /// this is dropped as markup (inline markup in body lines is removed from the
    /// compared text either way).
    pub max_markup_fraction: f64,
    /// Cues for widgets, counters, breadcrumbs, bylines and comment prompts only apply to
    /// lines with at most this many content characters.
    pub chrome_max_chars: usize,
    /// Footer cues (copyright, contact, reprint notices) only apply to lines with at most
    /// this many content characters.
    pub footer_max_chars: usize,
    /// A line of at most this many content characters without a `。` looks like a headline.
    pub headline_max_chars: usize,
    /// This many headline-like lines in a row (chrome lines between them allowed) form a
    /// related-articles list.
    pub related_min_run: usize,
    /// A "related articles" heading after at least this many kept content characters
    /// starts the page tail: everything after it is dropped.
    pub related_tail_min_body_chars: usize,
    /// Bulleted (`- item`) lines of at most `menu_item_max_chars` content characters in a
    /// run of at least this many are a menu.
    pub menu_min_run: usize,
    /// Longest menu item, in content characters.
    pub menu_item_max_chars: usize,
    /// A line whose share of mojibake characters is above this is dropped as unreadable.
    pub max_mojibake_fraction: f64,
    /// Corpus pass: a paragraph must occur in at least this many unrelated documents to be
    /// boilerplate.
    pub repeated_min_docs: usize,
    /// Corpus pass: ... and in at least this share of all documents.
    pub repeated_min_fraction: f64,
    /// Corpus pass: with fewer documents than this the pass does nothing.
    pub corpus_min_docs: usize,
    /// Fold Traditional characters to Simplified in the compared text.
    pub fold_script: bool,
}

impl Default for CleanOptions {
    fn default() -> Self {
        CleanOptions {
            min_chars: 8,
            max_link_density: 0.5,
            max_markup_fraction: 0.5,
            chrome_max_chars: 40,
            footer_max_chars: 150,
            headline_max_chars: 50,
            related_min_run: 5,
            related_tail_min_body_chars: 100,
            menu_min_run: 3,
            menu_item_max_chars: 12,
            max_mojibake_fraction: 0.3,
            repeated_min_docs: 5,
            repeated_min_fraction: 0.01,
            corpus_min_docs: 20,
            fold_script: true,
        }
    }
}
