//! Token counts of texts that come back: a system prompt is sent with every request of an
//! application, and each turn of a conversation resends every earlier message. Counting is the
//! costly part of a decision (about 15 ns a token), so such a text is counted once per thread
//! and then found by its hash, at well under a tenth of the cost.
//!
//! Exact: an entry keeps its text, and a hit compares it in full (a `memcmp`, far cheaper than
//! counting), so two texts sharing a hash never share a count. Bounded: each thread keeps at
//! most [`BUDGET_BYTES`] of text and starts over when full, which costs only counting again.

use rustc_hash::{FxBuildHasher, FxHashMap};
use std::cell::RefCell;
use std::hash::BuildHasher;

/// Texts shorter than this are counted every time: they cost little to count and would fill
/// the table with entries that save nothing.
pub(crate) const MIN_BYTES: usize = 256;
/// Text kept per thread, in bytes; a text longer than this is never kept.
pub(crate) const BUDGET_BYTES: usize = 512 * 1024;

thread_local! {
    static COUNTS: RefCell<Counts> = RefCell::new(Counts::default());
}

/// Texts by hash, with their counts.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    entries: FxHashMap<u64, (Box<str>, u32)>,
    bytes: usize,
}

impl Counts {
    /// The count of `text` (whose hash is `hash`): remembered, or from `count` and then
    /// remembered unless another text holds the hash.
    pub(crate) fn get_or_count(
        &mut self,
        hash: u64,
        text: &str,
        count: impl FnOnce(&str) -> u32,
    ) -> u32 {
        if let Some((kept, tokens)) = self.entries.get(&hash) {
            if **kept == *text {
                return *tokens;
            }
            // A different text with the same hash: counted, and the first one stays.
            return count(text);
        }
        let tokens = count(text);
        if text.len() <= BUDGET_BYTES {
            if self.bytes + text.len() > BUDGET_BYTES {
                self.entries.clear();
                self.bytes = 0;
            }
            self.bytes += text.len();
            self.entries.insert(hash, (text.into(), tokens));
        }
        tokens
    }

    #[cfg(test)]
    pub(crate) fn kept_bytes(&self) -> usize {
        self.bytes
    }
}

/// The count of `text` from this thread's table, counting it with `count` when it is not there.
pub(crate) fn get_or_count(text: &str, count: impl FnOnce(&str) -> u32) -> u32 {
    let hash = FxBuildHasher.hash_one(text);
    COUNTS.with_borrow_mut(|counts| counts.get_or_count(hash, text, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_text_is_not_counted_again() {
        let mut counts = Counts::default();
        let mut calls = 0;
        for _ in 0..3 {
            let tokens = counts.get_or_count(7, "a system prompt", |_| {
                calls += 1;
                42
            });
            assert_eq!(tokens, 42);
        }
        assert_eq!(calls, 1);
    }

    #[test]
    fn texts_sharing_a_hash_keep_their_own_counts() {
        let mut counts = Counts::default();
        assert_eq!(counts.get_or_count(7, "first", |_| 1), 1);
        assert_eq!(counts.get_or_count(7, "second", |_| 2), 2);
        // The first is still the one kept, and the second is counted each time.
        assert_eq!(counts.get_or_count(7, "first", |_| 99), 1);
        assert_eq!(counts.get_or_count(7, "second", |_| 3), 3);
    }

    #[test]
    fn the_table_starts_over_at_its_budget_and_skips_texts_past_it() {
        let mut counts = Counts::default();
        let half = "x".repeat(BUDGET_BYTES / 2);
        let other = "y".repeat(BUDGET_BYTES / 2 + 1);
        counts.get_or_count(1, &half, |_| 1);
        assert_eq!(counts.kept_bytes(), half.len());
        counts.get_or_count(2, &other, |_| 2);
        assert_eq!(
            counts.kept_bytes(),
            other.len(),
            "the first text was dropped"
        );
        assert_eq!(
            counts.get_or_count(1, &half, |_| 5),
            5,
            "so it is counted again"
        );
        let huge = "z".repeat(BUDGET_BYTES + 1);
        counts.get_or_count(3, &huge, |_| 3);
        assert!(counts.kept_bytes() <= BUDGET_BYTES);
        assert_eq!(counts.get_or_count(3, &huge, |_| 4), 4, "never kept");
    }
}
