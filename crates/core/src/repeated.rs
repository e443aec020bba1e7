//! What was worked out from texts that come back: a system prompt is sent with every request of
//! an application, and each turn of a conversation resends every earlier message. Counting a
//! text's tokens (about 15 ns a token) and scanning it for cue phrases are the costly parts of a
//! decision, so for such a text they are done once per thread and then found by its hash.
//!
//! Exact: an entry keeps its text, and a hit compares it in full (a `memcmp`, far cheaper than
//! the work it saves), so two texts sharing a hash never share a result. Bounded: each table
//! keeps at most [`BUDGET_BYTES`] of text and starts over when full, which costs only doing
//! the work again.

use rustc_hash::{FxBuildHasher, FxHashMap};
use std::hash::BuildHasher;

/// Texts shorter than this are worked out every time: they cost little and would fill the table
/// with entries that save nothing.
pub(crate) const MIN_BYTES: usize = 256;
/// Text kept per table, in bytes; a text longer than this is never kept.
pub(crate) const BUDGET_BYTES: usize = 512 * 1024;

/// Texts by hash, with what was worked out from each. One per thread and kind of result (the
/// callers keep them in thread-locals), so that lookups take no lock.
#[derive(Debug)]
pub(crate) struct Memo<V> {
    entries: FxHashMap<u64, (Box<str>, V)>,
    bytes: usize,
}

impl<V> Default for Memo<V> {
    fn default() -> Self {
        Self {
            entries: FxHashMap::default(),
            bytes: 0,
        }
    }
}

impl<V: Clone> Memo<V> {
    /// What `work` gives for `text`: remembered, or worked out and then remembered unless
    /// another text holds its hash.
    pub(crate) fn get_or_work_out(&mut self, text: &str, work: impl FnOnce(&str) -> V) -> V {
        self.get_or_work_out_hashed(FxBuildHasher.hash_one(text), text, work)
    }

    fn get_or_work_out_hashed(&mut self, hash: u64, text: &str, work: impl FnOnce(&str) -> V) -> V {
        if let Some((kept, value)) = self.entries.get(&hash) {
            if **kept == *text {
                return value.clone();
            }
            // A different text with the same hash: worked out, and the first one stays.
            return work(text);
        }
        let value = work(text);
        if text.len() <= BUDGET_BYTES {
            if self.bytes + text.len() > BUDGET_BYTES {
                self.entries.clear();
                self.bytes = 0;
            }
            self.bytes += text.len();
            self.entries.insert(hash, (text.into(), value.clone()));
        }
        value
    }

    #[cfg(test)]
    pub(crate) fn kept_bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_text_is_not_worked_out_again() {
        let mut memo = Memo::default();
        let mut calls = 0;
        for _ in 0..3 {
            let value = memo.get_or_work_out("a system prompt", |_| {
                calls += 1;
                42
            });
            assert_eq!(value, 42);
        }
        assert_eq!(calls, 1);
    }

    #[test]
    fn texts_sharing_a_hash_keep_their_own_results() {
        let mut memo = Memo::default();
        assert_eq!(memo.get_or_work_out_hashed(7, "first", |_| 1), 1);
        assert_eq!(memo.get_or_work_out_hashed(7, "second", |_| 2), 2);
        // The first is still the one kept, and the second is worked out each time.
        assert_eq!(memo.get_or_work_out_hashed(7, "first", |_| 99), 1);
        assert_eq!(memo.get_or_work_out_hashed(7, "second", |_| 3), 3);
    }

    #[test]
    fn the_table_starts_over_at_its_budget_and_skips_texts_past_it() {
        let mut memo = Memo::default();
        let half = "x".repeat(BUDGET_BYTES / 2);
        let other = "y".repeat(BUDGET_BYTES / 2 + 1);
        memo.get_or_work_out_hashed(1, &half, |_| 1);
        assert_eq!(memo.kept_bytes(), half.len());
        memo.get_or_work_out_hashed(2, &other, |_| 2);
        assert_eq!(memo.kept_bytes(), other.len(), "the first text was dropped");
        assert_eq!(
            memo.get_or_work_out_hashed(1, &half, |_| 5),
            5,
            "so it is worked out again"
        );
        let huge = "z".repeat(BUDGET_BYTES + 1);
        memo.get_or_work_out_hashed(3, &huge, |_| 3);
        assert!(memo.kept_bytes() <= BUDGET_BYTES);
        assert_eq!(
            memo.get_or_work_out_hashed(3, &huge, |_| 4),
            4,
            "never kept"
        );
    }
}
