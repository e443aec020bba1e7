//! Token counting with a real BPE tokenizer (o200k_base, the GPT-4o family's), fully offline:
//! the vocabulary is compiled into the binary ([`vocabulary`]).
//!
//! Counting runs on every request. A text is split into pre-tokens (for ASCII text, most
//! prompts, by our own exact pre-tokeniser [`pretokenize`]; otherwise by tiktoken's regex,
//! [`regex_split`]); a piece that is itself a token (most English words with their leading
//! space) costs one hash lookup, and any other piece is merged by [`merge`], tiktoken's rule.
//! Counts are exactly tiktoken's: the tests check every part against `bpe-openai`.
//! Texts that come back with later requests (system prompts, earlier turns of a conversation)
//! are counted once per thread and then found by their hash ([`crate::repeated`]).

mod merge;
mod pretokenize;
mod recent;
mod regex_split;
mod vocabulary;

use crate::repeated::{self, Memo};
use recent::RecentPieces;
use rustc_hash::FxHashMap;
use std::cell::RefCell;
use vocabulary::Vocabulary;

/// Pieces this thread has merged, with their counts. Prompts repeat their words (and
/// traffic repeats its prompts), so a piece that is not a single token is merged once per
/// thread rather than once per occurrence. Per thread so that lookups take no lock; bounded
/// by clearing, which costs only merging again.
const PIECE_CACHE_CAPACITY: usize = 16_384;
/// Pieces longer than this are merged every time rather than kept.
const PIECE_CACHE_MAX_LEN: usize = 64;

thread_local! {
    /// Counts of whole texts likely to come back (see [`TokenCounter::count_repeated`]).
    static TEXT_COUNTS: RefCell<Memo<u32>> = RefCell::new(Memo::default());
    static PIECE_COUNTS: RefCell<FxHashMap<Box<[u8]>, u32>> = RefCell::new(FxHashMap::default());
    /// Counts of the pieces counted last, in front of the vocabulary (see [`recent`]).
    static RECENT_PIECES: RefCell<RecentPieces> = RefCell::new(RecentPieces::default());
}

/// Tokens OpenAI's chat format adds per message (role and separators) and once per reply.
const PER_MESSAGE_OVERHEAD: u32 = 3;
const PER_REPLY_OVERHEAD: u32 = 3;

/// Counts tokens. Cheap to copy: the vocabulary is a process-wide static.
#[derive(Clone, Copy)]
pub struct TokenCounter {
    vocabulary: &'static Vocabulary,
}

impl std::fmt::Debug for TokenCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCounter(o200k_base)")
    }
}

impl Default for TokenCounter {
    fn default() -> Self {
        Self::o200k()
    }
}

impl TokenCounter {
    pub fn o200k() -> Self {
        Self {
            vocabulary: &vocabulary::O200K,
        }
    }

    /// Tokens in a piece of text. Saturates at `u32::MAX` rather than wrapping.
    pub fn count(&self, text: &str) -> u32 {
        let count: usize = RECENT_PIECES.with_borrow_mut(|recent| {
            let mut count =
                |piece: &str| recent.count(piece.as_bytes(), |bytes| self.count_piece(bytes));
            if text.is_ascii() {
                pretokenize::split_ascii(text).map(&mut count).sum()
            } else {
                regex_split::split(text).map(&mut count).sum()
            }
        });
        u32::try_from(count).unwrap_or(u32::MAX)
    }

    /// [`count`](Self::count) for a text likely to be counted again, such as a system prompt or
    /// an earlier turn of a conversation: a long one is remembered by this thread, so that its
    /// next request finds its count instead of counting it (exactly; see [`crate::repeated`]).
    pub fn count_repeated(&self, text: &str) -> u32 {
        if text.len() < repeated::MIN_BYTES {
            return self.count(text);
        }
        TEXT_COUNTS.with_borrow_mut(|memo| memo.get_or_work_out(text, |text| self.count(text)))
    }

    fn count_piece(&self, piece: &[u8]) -> usize {
        if self.vocabulary.rank(piece).is_some() {
            return 1;
        }
        if piece.len() > PIECE_CACHE_MAX_LEN {
            return merge::count(self.vocabulary, piece);
        }
        PIECE_COUNTS.with_borrow_mut(|cache| {
            if let Some(&count) = cache.get(piece) {
                return count as usize;
            }
            let count = merge::count(self.vocabulary, piece);
            if cache.len() >= PIECE_CACHE_CAPACITY {
                cache.clear();
            }
            // A short piece's count always fits u32.
            if let Ok(small) = u32::try_from(count) {
                cache.insert(piece.into(), small);
            }
            count
        })
    }

    /// Tokens a chat prompt costs, given each message's text token count: the message tokens
    /// plus the chat format's fixed overhead.
    pub fn chat_overhead(messages: usize) -> u32 {
        let per_message = u32::try_from(messages)
            .unwrap_or(u32::MAX)
            .saturating_mul(PER_MESSAGE_OVERHEAD);
        per_message.saturating_add(PER_REPLY_OVERHEAD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_known_strings_like_tiktoken_o200k() {
        let counter = TokenCounter::o200k();
        assert_eq!(counter.count(""), 0);
        assert_eq!(counter.count("hello world"), 2);
        // Non-ASCII, emoji and CJK must count, not fail.
        assert!(counter.count("こんにちは世界 🌍 naïve café") > 5);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]

        #[test]
        fn counts_exactly_like_bpe_openai(text in "(?:[A-Za-z]{1,9}|[0-9]{1,6}|[ \t\n]{1,3}|[.,;:!?'\"()/-]{1,2}|\\PC)*") {
            let expected = bpe_openai::o200k_base().count(text.as_str());
            proptest::prop_assert_eq!(TokenCounter::o200k().count(&text) as usize, expected);
        }
    }

    #[test]
    fn counts_real_prose_exactly() {
        let prose = "It's 2026: routewise routes requests (JSON, SSE) to the CHEAPEST model that'll \
            answer well -- e.g. gpt-4o-mini vs. gpt-4o -- and explains why.\n\n  fn main() {}\r\n";
        let expected = bpe_openai::o200k_base().count(prose);
        assert_eq!(TokenCounter::o200k().count(prose) as usize, expected);
    }

    #[test]
    fn repeated_multi_token_pieces_count_the_same_from_the_cache() {
        let counter = TokenCounter::o200k();
        // " ingests" and "-series" are not single tokens, so they go through BPE and the cache.
        let text = "It ingests time-series readings. ".repeat(3);
        let expected = bpe_openai::o200k_base().count(text.as_str());
        for _ in 0..3 {
            assert_eq!(counter.count(&text) as usize, expected);
        }
        // Past the capacity the cache starts over and counts stay exact: distinct made-up
        // words, each one piece that BPE splits.
        let word = |mut i: usize| {
            let mut w = String::from(" qzx");
            loop {
                w.push(char::from(b'a' + (i % 26) as u8));
                i /= 26;
                if i == 0 {
                    break w;
                }
            }
        };
        let many: String = (0..PIECE_CACHE_CAPACITY + 10).map(word).collect();
        PIECE_COUNTS.with_borrow_mut(FxHashMap::clear);
        assert_eq!(
            counter.count(&many) as usize,
            bpe_openai::o200k_base().count(many.as_str())
        );
        let cached = PIECE_COUNTS.with_borrow(FxHashMap::len);
        assert!((1..PIECE_CACHE_CAPACITY).contains(&cached), "{cached}");
        assert_eq!(
            counter.count(&many) as usize,
            bpe_openai::o200k_base().count(many.as_str())
        );
        assert_eq!(counter.count(&text) as usize, expected);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Remembered or not, short or long, seen before or not: the count is the count.
        #[test]
        fn repeated_texts_count_exactly(words in proptest::collection::vec("[A-Za-z]{1,9}[ ,.\n]", 0..200), repeats in 1usize..3) {
            let text = words.concat();
            let counter = TokenCounter::o200k();
            for _ in 0..repeats {
                proptest::prop_assert_eq!(counter.count_repeated(&text), counter.count(&text));
            }
        }
    }

    #[test]
    fn chat_overhead_follows_the_openai_formula() {
        assert_eq!(TokenCounter::chat_overhead(1), 6);
        assert_eq!(TokenCounter::chat_overhead(3), 12);
    }
}
