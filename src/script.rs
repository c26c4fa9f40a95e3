//! Character classes by script, one definition each for the whole crate: Han ideographs
//! (where spaces are noise and Traditional/Simplified folding applies) and the scripts
//! written without spaces between words (where shingles are character n-grams and
//! sentences end in full-width marks).
//!
//! Pure predicates on `char`: nothing here reads or changes text.

/// A Han ideograph: unified, Extension A, compatibility and Extensions B..G.
pub fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF      // Extension A
        | 0x4E00..=0x9FFF    // Unified ideographs
        | 0xF900..=0xFAFF    // Compatibility ideographs
        | 0x20000..=0x3134F  // Extensions B..G
    )
}

/// A letter of a script written without spaces between words: Han, kana, Hangul, Thai.
pub fn is_cjk(c: char) -> bool {
    is_han(c)
        || matches!(c as u32,
            0x3040..=0x30FF      // Hiragana, Katakana
            | 0xAC00..=0xD7AF    // Hangul syllables
            | 0x0E00..=0x0E7F    // Thai
        )
}
