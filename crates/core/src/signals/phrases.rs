//! The lexicon's phrase matcher: leftmost-longest, ASCII case-insensitive, non-overlapping
//! matches, exactly those an Aho-Corasick automaton in that mode reports (the tests check it
//! against one).
//!
//! Why hand-written: the automaton ran on every byte of every user message and took 40% of
//! signal extraction, though most text matches nothing (a 300-token prompt took 2.9 us). A
//! DFA's step waits on the previous step's load, about 2 ns a byte. Here a position is first
//! checked against the set of the phrases' first three bytes, a bit test whose loads do not
//! depend on each other; only where one starts is the phrase trie walked.
//!
//! The filter is indexed by the three bytes' classes directly (the built-in lexicon has 46):
//! exact on the first three bytes for lists of up to 63 byte classes (no position passes whose
//! three bytes begin no phrase; the last two positions always go to the trie), and fewer
//! instructions per byte
//! than hashing them was (with the digit search of `scan`, signal extraction for a 300-token
//! prompt went from 9.5 to 8.0 us in one run).

/// Byte classes the prefix filter tells apart, six bits each; a phrase list with more classes
/// shares the last filter class among the rest, which can only add candidates.
const FILTER_CLASS_BITS: u32 = 6;
const FILTER_CLASSES: usize = 1 << FILTER_CLASS_BITS;
/// One word per pair of leading filter classes, one bit per third: 32 KB.
const PREFIX_WORDS: usize = FILTER_CLASSES * FILTER_CLASSES;

/// A match of phrase `pattern` (its index in the phrase list) over `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Match {
    pub(crate) pattern: usize,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Why a phrase list cannot be matched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PhraseError {
    #[error("phrase {0} is empty")]
    Empty(usize),
    #[error(
        "the phrases need more than 255 byte classes or {} trie nodes",
        u16::MAX
    )]
    TooMany,
}

/// Phrases compiled into a trie over byte classes and a prefix filter.
#[derive(Debug, Clone)]
pub(crate) struct PhraseMatcher {
    /// A byte, lower-cased, to its class: 0 for bytes in no phrase.
    class: [u8; 256],
    classes: usize,
    /// `node * classes + class` to the child node; 0 for none (the root is nobody's child).
    children: Vec<u16>,
    /// Per node: the phrase that ends there, plus one; 0 for none.
    accepts: Vec<u16>,
    /// A byte to its class as the prefix filter sees it: its class, capped.
    filter_class: [u8; 256],
    /// Per first two filter classes of a phrase, a bit for each third; a two-byte phrase sets
    /// all 64, as any byte may follow it.
    prefixes: Box<[u64; PREFIX_WORDS]>,
    /// Whether some phrase is a single byte: then every position is a candidate (the built-in
    /// lexicon has none).
    has_single: bool,
}

impl PhraseMatcher {
    pub(crate) fn new<'a>(phrases: impl IntoIterator<Item = &'a str>) -> Result<Self, PhraseError> {
        let phrases: Vec<Vec<u8>> = phrases
            .into_iter()
            .map(|p| p.bytes().map(|b| b.to_ascii_lowercase()).collect())
            .collect();
        let mut class = [0u8; 256];
        let mut classes = 1usize;
        for byte in phrases.iter().flatten() {
            if class[usize::from(*byte)] == 0 {
                class[usize::from(*byte)] =
                    u8::try_from(classes).map_err(|_| PhraseError::TooMany)?;
                classes += 1;
            }
        }
        // Upper-case letters share their lower-case letter's class.
        for upper in b'A'..=b'Z' {
            class[usize::from(upper)] = class[usize::from(upper.to_ascii_lowercase())];
        }
        let mut matcher = Self {
            class,
            classes,
            children: vec![0; classes],
            accepts: vec![0],
            filter_class: class.map(|c| c.min((FILTER_CLASSES - 1) as u8)),
            prefixes: Box::new([0; PREFIX_WORDS]),
            has_single: false,
        };
        for (index, phrase) in phrases.iter().enumerate() {
            matcher.insert(index, phrase)?;
        }
        Ok(matcher)
    }

    fn insert(&mut self, index: usize, phrase: &[u8]) -> Result<(), PhraseError> {
        if phrase.is_empty() {
            return Err(PhraseError::Empty(index));
        }
        let mut node = 0usize;
        for &byte in phrase {
            let slot = node * self.classes + usize::from(self.class[usize::from(byte)]);
            node = match self.children[slot] {
                0 => {
                    let child = self.accepts.len();
                    let id = u16::try_from(child).map_err(|_| PhraseError::TooMany)?;
                    self.children[slot] = id;
                    self.children.extend(std::iter::repeat_n(0, self.classes));
                    self.accepts.push(0);
                    child
                }
                child => usize::from(child),
            };
        }
        // The first of two equal phrases is the one reported, as the automaton does.
        if self.accepts[node] == 0 {
            self.accepts[node] = u16::try_from(index + 1).map_err(|_| PhraseError::TooMany)?;
        }
        let class = |b: u8| usize::from(self.filter_class[usize::from(b)]);
        match *phrase {
            [a, b, c, ..] => self.prefixes[class(a) * FILTER_CLASSES + class(b)] |= 1 << class(c),
            [a, b] => self.prefixes[class(a) * FILTER_CLASSES + class(b)] = u64::MAX,
            _ => self.has_single = true,
        }
        Ok(())
    }

    /// The first place at or after `from` where a phrase may start; the last two places of the
    /// text always may.
    fn next_candidate(&self, text: &[u8], from: usize) -> usize {
        if self.has_single {
            return from;
        }
        let (prefixes, filter_class) = (&*self.prefixes, &self.filter_class);
        let class = |b: u8| usize::from(filter_class[usize::from(b)]);
        // The filter classes of the two bytes before the third, the first in the high bits.
        let mut pair = text
            .get(from..from + 2)
            .map_or(0, |two| class(two[0]) << FILTER_CLASS_BITS | class(two[1]));
        for (offset, &third) in text.get(from + 2..).unwrap_or_default().iter().enumerate() {
            let third = class(third);
            if prefixes[pair % PREFIX_WORDS] >> third & 1 != 0 {
                return from + offset;
            }
            pair = pair << FILTER_CLASS_BITS | third;
        }
        // The last two places have no three bytes to filter by: the trie decides.
        text.len().saturating_sub(2).max(from)
    }

    /// The longest phrase starting at `at`: (phrase index, end).
    fn longest_at(&self, text: &[u8], at: usize) -> Option<(usize, usize)> {
        let mut node = 0usize;
        let mut found = None;
        for (offset, &byte) in text.get(at..)?.iter().enumerate() {
            let class = usize::from(self.class[usize::from(byte)]);
            if class == 0 {
                break;
            }
            node = match self.children.get(node * self.classes + class) {
                Some(&child) if child > 0 => usize::from(child),
                _ => break,
            };
            if let Some(accept) = self.accepts.get(node).filter(|a| **a > 0) {
                found = Some((usize::from(*accept) - 1, at + offset + 1));
            }
        }
        found
    }

    /// The matches in `text`, left to right, each the longest at the leftmost place one starts,
    /// none overlapping.
    pub(crate) fn find_iter<'a>(&'a self, text: &'a [u8]) -> impl Iterator<Item = Match> + 'a {
        let mut at = 0;
        std::iter::from_fn(move || {
            while at < text.len() {
                at = self.next_candidate(text, at);
                if let Some((pattern, end)) = self.longest_at(text, at) {
                    let found = Match {
                        pattern,
                        start: at,
                        end,
                    };
                    at = end;
                    return Some(found);
                }
                at += 1;
            }
            None
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::lexicon::LEXICON;
    use super::*;
    use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
    use proptest::prelude::*;
    use std::sync::LazyLock;

    /// The automaton the matcher replaces, built as signal extraction built it.
    static AUTOMATON: LazyLock<AhoCorasick> = LazyLock::new(|| {
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .build(LEXICON.iter().map(|(phrase, _, _)| phrase))
            .unwrap()
    });

    static MATCHER: LazyLock<PhraseMatcher> =
        LazyLock::new(|| PhraseMatcher::new(LEXICON.iter().map(|(phrase, _, _)| *phrase)).unwrap());

    /// The automaton's matches, as [`Match`]es.
    fn reference(automaton: &AhoCorasick, text: &str) -> Vec<Match> {
        automaton
            .find_iter(text)
            .map(|m| Match {
                pattern: m.pattern().as_usize(),
                start: m.start(),
                end: m.end(),
            })
            .collect()
    }

    fn both(text: &str) -> (Vec<Match>, Vec<Match>) {
        let ours = MATCHER.find_iter(text.as_bytes()).collect();
        (ours, reference(&AUTOMATON, text))
    }

    #[test]
    fn matches_like_the_automaton_on_tricky_cases() {
        for text in [
            "",
            "Why? WHY not... whyever, anywhy",
            "Explain the difference between A and B, step by step; step-by-step",
            "```rust\nfn main() {};\n``` </div> console.log(x); println!(\"{}\", 1)",
            "SELECT * FROM users; import os\nreturn x => y",
            "how does it work? how do I? how would you",
            "compare/contrast: comparisons",
            "};",
            "<",
            "</",
            "wh",
        ] {
            let (ours, reference) = both(text);
            assert_eq!(ours, reference, "text: {text:?}");
        }
    }

    /// Our matches and the automaton's for any phrase list.
    fn both_for(phrases: &[String], text: &str) -> (Vec<Match>, Vec<Match>) {
        let ours = PhraseMatcher::new(phrases.iter().map(String::as_str))
            .unwrap()
            .find_iter(text.as_bytes())
            .collect();
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::LeftmostLongest)
            .build(phrases)
            .unwrap();
        (ours, reference(&automaton, text))
    }

    #[test]
    fn equal_phrases_report_the_first() {
        let phrases = ["abc", "ABC", "ab"].map(str::to_owned);
        let (ours, reference) = both_for(&phrases, "xAbC");
        assert_eq!(ours, reference);
        assert_eq!(ours.first().map(|m| m.pattern), Some(0));
    }

    #[test]
    fn an_empty_phrase_is_an_error() {
        assert_eq!(
            PhraseMatcher::new(["a", ""]).err(),
            Some(PhraseError::Empty(1))
        );
    }

    /// Text made of lexicon phrases (in any case, cut short or joined), words and punctuation.
    fn texty() -> impl Strategy<Value = String> {
        // A phrase, maybe cut short by a byte or two, each letter maybe upper-cased.
        let phrase = (0..LEXICON.len(), 0usize..3, any::<u64>()).prop_map(|(i, cut, case)| {
            let phrase = LEXICON[i].0;
            let phrase = &phrase[..phrase.len().saturating_sub(cut).max(1)];
            phrase
                .bytes()
                .enumerate()
                .map(|(k, b)| {
                    if case >> (k % 64) & 1 == 1 {
                        b.to_ascii_uppercase()
                    } else {
                        b
                    }
                })
                .map(char::from)
                .collect::<String>()
        });
        let part = prop_oneof![
            4 => phrase,
            2 => "[a-zA-Z]{1,8}",
            2 => "[ ,.;:!?()\\[\\]{}<>/`'\"=*+#_-]{1,3}",
            1 => "[0-9]{1,3}",
            1 => "[\\n\\t ]{1,2}",
            1 => "\\PC{1,2}",
        ];
        proptest::collection::vec(part, 0..24).prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn matches_like_the_automaton(text in texty()) {
            let (ours, reference) = both(&text);
            prop_assert_eq!(ours, reference);
        }

        /// Any short list of phrases (single bytes, upper case, non-ASCII, duplicates) over a
        /// small alphabet, on text over the same alphabet, where matches are frequent.
        #[test]
        fn any_phrase_list_matches_like_the_automaton(
            phrases in proptest::collection::vec("[aAbB;é ]{1,4}", 1..8),
            text in "[aAbBcC;é <]{0,40}",
        ) {
            let (ours, reference) = both_for(&phrases, &text);
            prop_assert_eq!(ours, reference);
        }

        #[test]
        fn matches_like_the_automaton_on_any_text(text in "\\PC{0,80}") {
            let (ours, reference) = both(&text);
            prop_assert_eq!(ours, reference);
        }
    }

    proptest! {
        // Each case builds an automaton of up to 120 phrases.
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Phrases of two to four characters over more byte classes than the filter tells apart
        /// (printable ASCII and two-byte UTF-8: well over 63), no single-byte phrase, so the
        /// filter runs with its last class shared.
        #[test]
        fn many_byte_classes_match_like_the_automaton(
            phrases in proptest::collection::vec("[!-~\u{a1}-\u{17f}]{2,4}", 60..120),
            text in "[!-~\u{a1}-\u{17f} ]{0,120}",
        ) {
            let matcher = PhraseMatcher::new(phrases.iter().map(String::as_str)).unwrap();
            prop_assert!(!matcher.has_single);
            let (ours, reference) = both_for(&phrases, &text);
            prop_assert_eq!(ours, reference);
        }

        /// Text that is the phrases themselves, joined, so that matches are frequent.
        #[test]
        fn many_byte_classes_match_like_the_automaton_on_their_phrases(
            phrases in proptest::collection::vec("[!-~\u{a1}-\u{17f}]{2,4}", 60..120),
            picks in proptest::collection::vec(proptest::prelude::any::<proptest::sample::Index>(), 0..30),
        ) {
            let text: String = picks.iter().map(|pick| pick.get(&phrases).as_str()).collect();
            let (ours, reference) = both_for(&phrases, &text);
            prop_assert_eq!(ours, reference);
        }
    }
}
