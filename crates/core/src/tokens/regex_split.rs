//! o200k_base pre-tokenisation of any text, by regex: the path for text that is not all ASCII
//! (ASCII text takes [`super::pretokenize`], which is exact and several times faster).
//!
//! The pattern is tiktoken's, listed in [`super::pretokenize`]. Its one look-ahead,
//! `\s+(?!\S)`, is not supported by the `regex` engines, so it is matched as `\s+\s` (the run
//! and one more white-space character) with that last character given back: the same pieces,
//! since a run followed by a non-space then ends one character early, and a run that reaches
//! the end of the text is taken whole by the alternative before it.

use regex_automata::meta::Regex;
use regex_automata::{Anchored, Input};
use std::sync::LazyLock;

const WORDS_AND_SYMBOLS: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|\p{N}{1,3}",
    r"| ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"|\s*[\r\n]+",
    r"|\s+$",
);
/// `\s+(?!\S)` with its look-ahead character included: the match gives one character back.
const SPACE_BEFORE_SPACE: &str = r"\s+\s";
const SPACE: &str = r"\s+";
const GIVES_BACK_ONE: usize = 1;

/// The three patterns, tried leftmost-first in this order; `None` only if the fixed patterns
/// failed to compile, which the tests rule out.
static PATTERN: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new_many(&[WORDS_AND_SYMBOLS, SPACE_BEFORE_SPACE, SPACE]).ok());

/// Splits text into o200k_base pre-tokens. Text the pattern cannot split (none: the last
/// alternative takes any white space and the others everything else) would come back whole.
pub(crate) fn split(text: &str) -> impl Iterator<Item = &str> {
    let pattern = PATTERN.as_ref();
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= text.len() {
            return None;
        }
        let rest = text.get(start..)?;
        let found = pattern.and_then(|p| p.find(Input::new(rest).anchored(Anchored::Yes)));
        let mut end = found.map_or(text.len(), |m| start + m.end());
        if found.is_some_and(|m| m.pattern().as_usize() == GIVES_BACK_ONE) {
            let last = rest.get(..end - start).and_then(|m| m.chars().next_back());
            end -= last.map_or(0, char::len_utf8);
        }
        // Every alternative consumes at least one character (the give-back one two).
        let end = if end > start {
            end
        } else {
            start + rest.chars().next().map_or(1, char::len_utf8)
        };
        let piece = text.get(start..end);
        start = end;
        piece
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(text: &str) -> Vec<&str> {
        bpe_openai::o200k_base().split(text).collect()
    }

    #[test]
    fn the_pattern_compiles() {
        assert!(PATTERN.is_some());
    }

    #[test]
    fn splits_like_the_reference_on_tricky_cases() {
        for text in [
            "こんにちは世界 🌍 naïve café",
            "Ünïcödé  wörds\u{00a0}\u{00a0}x  \u{3000}y",
            "ΑΒΓ αβγ ΑΒγ Straße's I'LL",
            "١٢٣٤ ٥ 12345 ⅫⅣ",
            "e\u{301}\u{301}clair \u{200b}zero",
            "tabs\t\t\u{2003}\u{2003}end   ",
            "line\r\n\u{2028}next\n\n  ",
        ] {
            let ours: Vec<&str> = split(text).collect();
            assert_eq!(ours, reference(text), "text: {text:?}");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn matches_the_reference_on_any_text(text in "\\PC{0,40}|[ \t\n\r\u{a0}\u{3000}a-zA-Zé0-9'.,]{0,40}") {
            let ours: Vec<&str> = split(&text).collect();
            prop_assert_eq!(ours, reference(&text));
        }

        #[test]
        fn matches_the_reference_on_any_chars(text in any::<String>()) {
            let ours: Vec<&str> = split(&text).collect();
            prop_assert_eq!(ours, reference(&text));
        }
    }
}
