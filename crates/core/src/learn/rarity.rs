//! Word rarity: how common the words of a query are in everyday English.
//!
//! Whether a multiple-choice question hinges on specialist knowledge (the case where a frontier
//! model beats a small one) shows in the vocabulary of its answer options. Unlike the words
//! themselves (the TF-IDF columns), rarity carries over to subjects never seen in training. Frequencies come from wordfreq's English list
//! (`crates/core/data/README.md`), compiled in so that nothing is read at run time.

use rustc_hash::FxHashMap;
use std::sync::LazyLock;

/// Zipf value (log10 of occurrences per billion words) below which a word counts as rare: less
/// than once per million words. The compiled list holds exactly the words at or above it.
pub const RARE_BELOW_ZIPF: f64 = 3.0;

/// Longest word in the list; longer runs of letters are unlisted (rare) without a lookup.
const LONGEST_WORD: usize = 24;

static ZIPF: LazyLock<FxHashMap<&'static str, f32>> = LazyLock::new(|| {
    let mut table = FxHashMap::default();
    for line in include_str!("../../data/english_word_zipf.txt").lines() {
        let mut fields = line.split(' ');
        let Some(Ok(zipf)) = fields.next().map(str::parse::<f32>) else {
            continue;
        };
        for word in fields {
            table.insert(word, zipf);
        }
    }
    table
});

/// Zipf value of a lowercase ASCII word; 0 when the list does not have it.
pub fn zipf(word: &str) -> f64 {
    ZIPF.get(word).copied().map_or(0.0, f64::from)
}

/// How rare the words of some text are. All zero when the text has no words.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct WordRarity {
    /// Mean Zipf value of the words.
    pub mean_zipf: f64,
    /// Share of words rarer than [`RARE_BELOW_ZIPF`].
    pub rare_share: f64,
}

impl WordRarity {
    /// Rarity of the words (runs of ASCII letters, case-folded) across `texts`.
    pub fn of<'a>(texts: impl IntoIterator<Item = &'a str>) -> Self {
        let (mut words, mut total, mut rare) = (0usize, 0.0, 0usize);
        for text in texts {
            for_each_word(text, |word| {
                let z = word.map_or(0.0, zipf);
                words += 1;
                total += z;
                rare += usize::from(z < RARE_BELOW_ZIPF);
            });
        }
        if words == 0 {
            return Self::default();
        }
        Self {
            mean_zipf: total / words as f64,
            rare_share: rare as f64 / words as f64,
        }
    }
}

/// The words of the query descriptors: maximal runs of ASCII letters (not case folded).
pub(super) fn letter_runs(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_alphabetic())
        .filter(|run| !run.is_empty())
}

/// Calls `visit` with every run of ASCII letters in `text`, lowercased, or `None` for a run too
/// long to be in the list.
fn for_each_word(text: &str, mut visit: impl FnMut(Option<&str>)) {
    let mut buffer = [0u8; LONGEST_WORD];
    for run in letter_runs(text) {
        let Some(lower) = buffer.get_mut(..run.len()) else {
            visit(None);
            continue;
        };
        lower.copy_from_slice(run.as_bytes());
        lower.make_ascii_lowercase();
        // Only ASCII letters were copied, so the bytes are valid UTF-8.
        visit(std::str::from_utf8(lower).ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_list_is_whole() {
        assert_eq!(ZIPF.len(), 28_001);
        assert!((zipf("the") - 7.7).abs() < 1e-6);
        assert!(zipf("photosynthesis") >= RARE_BELOW_ZIPF);
        assert_eq!(zipf("xylqz"), 0.0);
        assert!(ZIPF.keys().all(|w| w.len() <= LONGEST_WORD));
    }

    #[test]
    fn rarity_counts_letter_runs_case_folded() {
        let r = WordRarity::of(["The cat", "THE zzzq"]);
        let the = zipf("the");
        let cat = zipf("cat");
        assert!((r.mean_zipf - (2.0 * the + cat) / 4.0).abs() < 1e-9);
        assert!(
            (r.rare_share - 0.25).abs() < 1e-12,
            "one unlisted word of four"
        );
        assert_eq!(WordRarity::of(["12 + 7 = ?"]), WordRarity::default());
        let long = "a".repeat(LONGEST_WORD + 5);
        assert_eq!(WordRarity::of([long.as_str()]).rare_share, 1.0);
        // Non-ASCII letters split words: "café" reads as "caf".
        assert_eq!(WordRarity::of(["café"]).mean_zipf, zipf("caf"));
    }

    proptest::proptest! {
        #[test]
        fn words_are_the_runs_of_ascii_letters(text in "[ -~\n\u{e9}\u{3b1}]{0,80}") {
            let mut seen = Vec::new();
            for_each_word(&text, |w| seen.push(w.map(str::to_owned)));
            let expected: Vec<Option<String>> = regex::Regex::new("[A-Za-z]+")
                .unwrap()
                .find_iter(&text)
                .map(|m| (m.len() <= LONGEST_WORD).then(|| m.as_str().to_ascii_lowercase()))
                .collect();
            proptest::prop_assert_eq!(seen, expected);
        }
    }
}
