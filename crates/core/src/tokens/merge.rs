//! Byte-pair merging: how many tokens a pre-tokenised piece encodes to.
//!
//! This is tiktoken's rule (start from single bytes; repeatedly merge the adjacent pair whose
//! joined bytes have the lowest rank, the leftmost on a tie; stop when no pair is a token)
//! hand-written because the crates that implement it either hold the 77 MB tables this module
//! exists to avoid (`bpe`) or scan all pairs after every merge (`tiktoken-rs`), which is
//! quadratic in a piece's length: a client's 1 MB run of letters is one piece. Here the pairs
//! wait in a min-heap keyed by (rank, position), so a piece of n bytes costs O(n log n). Ranks
//! are unique, and a part's pair only ever grows, so a heap entry is current exactly when its
//! rank is still the part's pair rank: stale entries are skipped when popped.

use super::vocabulary::Vocabulary;
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// No pair, or a pair that is not a token.
const NONE: u32 = u32::MAX;
/// No next or previous part.
const END: usize = usize::MAX;
/// Scratch kept per thread up to this many bytes of piece; a longer piece's is released.
const KEPT_SCRATCH: usize = 4096;

#[derive(Default)]
struct Scratch {
    /// Start of the next live part after the part starting at i (or END).
    next: Vec<usize>,
    /// Start of the previous live part (or END).
    prev: Vec<usize>,
    /// Rank of the part at i joined with its next part (NONE when not a token or dead).
    pair_rank: Vec<u32>,
    heap: BinaryHeap<Reverse<(u32, usize)>>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Tokens `piece` encodes to under `vocabulary`, which must hold every single byte.
pub(crate) fn count(vocabulary: &Vocabulary, piece: &[u8]) -> usize {
    if piece.len() <= 1 || vocabulary.rank(piece).is_some() {
        return piece.len().min(1);
    }
    SCRATCH.with_borrow_mut(|scratch| {
        let parts = scratch.merge(vocabulary, piece);
        if piece.len() > KEPT_SCRATCH {
            *scratch = Scratch::default();
        }
        parts
    })
}

impl Scratch {
    fn merge(&mut self, vocabulary: &Vocabulary, piece: &[u8]) -> usize {
        let n = piece.len();
        let rank = |from: usize, to: usize| {
            piece
                .get(from..to)
                .and_then(|bytes| vocabulary.rank(bytes))
                .unwrap_or(NONE)
        };
        self.next.clear();
        self.next.extend((1..n).chain([END]));
        self.prev.clear();
        self.prev.extend([END].into_iter().chain(0..n - 1));
        self.pair_rank.clear();
        self.pair_rank.extend((0..n - 1).map(|i| rank(i, i + 2)));
        self.pair_rank.push(NONE);
        self.heap.clear();
        self.heap.extend(
            self.pair_rank
                .iter()
                .enumerate()
                .filter(|&(_, &r)| r != NONE)
                .map(|(i, &r)| Reverse((r, i))),
        );
        let end_of = |next: &[usize], part: usize| match next[part] {
            END => n,
            after => after,
        };
        let mut parts = n;
        while let Some(Reverse((popped, part))) = self.heap.pop() {
            if self.pair_rank[part] != popped {
                continue;
            }
            // Join `part` with its next part, which disappears.
            let joined = self.next[part];
            let after = self.next[joined];
            self.next[part] = after;
            if after != END {
                self.prev[after] = part;
            }
            self.pair_rank[joined] = NONE;
            parts -= 1;
            self.pair_rank[part] = if after == END {
                NONE
            } else {
                rank(part, end_of(&self.next, after))
            };
            if self.pair_rank[part] != NONE {
                self.heap.push(Reverse((self.pair_rank[part], part)));
            }
            let before = self.prev[part];
            if before != END {
                self.pair_rank[before] = rank(before, end_of(&self.next, part));
                if self.pair_rank[before] != NONE {
                    self.heap.push(Reverse((self.pair_rank[before], before)));
                }
            }
        }
        parts
    }
}

#[cfg(test)]
mod tests {
    use super::super::vocabulary::O200K;
    use super::*;
    use proptest::prelude::*;

    fn reference(piece: &[u8]) -> usize {
        bpe_openai::o200k_base().bpe.count(piece)
    }

    #[test]
    fn counts_pieces_like_the_reference() {
        for piece in [
            &b" ingests"[..],
            b"-series",
            b" qzxabc",
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            b" antidisestablishmentarianism",
            "naïve".as_bytes(),
            "こんにちは世界".as_bytes(),
            "🌍🌍🌍".as_bytes(),
            b"\xff\xfe\x00",
        ] {
            assert_eq!(count(&O200K, piece), reference(piece), "{piece:?}");
        }
        assert_eq!(count(&O200K, b""), 0);
        assert_eq!(count(&O200K, b"x"), 1);
    }

    #[test]
    fn a_long_piece_counts_exactly() {
        // 200 kB of one letter run: quadratic merging would take minutes.
        let piece: Vec<u8> = b"abcdefghij"
            .iter()
            .copied()
            .cycle()
            .take(200_000)
            .collect();
        assert_eq!(count(&O200K, &piece), reference(&piece));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn matches_the_reference_on_any_bytes(piece in proptest::collection::vec(any::<u8>(), 0..40)) {
            prop_assert_eq!(count(&O200K, &piece), reference(&piece));
        }

        #[test]
        fn matches_the_reference_on_word_like_pieces(piece in " ?[a-zA-Z]{1,30}|[ -~]{1,24}|\\PC{1,12}") {
            prop_assert_eq!(count(&O200K, piece.as_bytes()), reference(piece.as_bytes()));
        }
    }
}
