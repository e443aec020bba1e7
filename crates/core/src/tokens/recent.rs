//! The token counts of the pieces this thread counted last, in a small direct-mapped table.
//!
//! Why: counting a piece that is itself a token is one lookup in the o200k table, but that table
//! is 6.5 MB, so even a word counted a moment ago costs a walk through page tables the TLB no
//! longer holds and two dependent loads (control bytes, then the slot): about 40% of a 300-token
//! decision went to that lookup, at a third of the instruction rate of the rest. Text repeats its
//! words (English's most common thousand words are most of any prose), so the last piece that
//! hashed to each of 2,048 slots answers most lookups from 48 KB that stay in the L1 and L2
//! caches. Measured (`cargo bench -p routewise-core --bench decide`, one run): `tokens/o200k/
//! 300-tokens` 3.69 -> 2.93 us with 1,024 slots, 2.69 us with 2,048 or 4,096 (fewer of the
//! prompt's own words evict each other), 2.94 us with 512; 1,500 real benchmark prompts 8.9 ->
//! 8.0 ms with any of them.
//!
//! Exact: a slot holds the whole piece (pieces of up to 16 bytes, whose [`Key`] is all of their
//! bytes), so a hit is the same piece, never a collision. Longer pieces are not kept.

use super::vocabulary::{INLINE_LEN, Key};

/// Slots in the table (a power of two: the slot is the top bits of the piece's hash).
const SLOTS: usize = 1 << SLOT_BITS;
const SLOT_BITS: u32 = 11;

/// One remembered piece and its count; `len == 0` marks an empty slot (no piece is empty).
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    head: u64,
    tail: u64,
    len: u32,
    count: u32,
}

/// A thread's table of recently counted pieces.
#[derive(Debug)]
pub(super) struct RecentPieces {
    slots: Box<[Slot]>,
}

impl Default for RecentPieces {
    fn default() -> Self {
        Self {
            slots: vec![Slot::default(); SLOTS].into_boxed_slice(),
        }
    }
}

impl RecentPieces {
    /// The token count of `piece`: remembered, or worked out by `count` and remembered.
    pub(super) fn count(&mut self, piece: &[u8], count: impl FnOnce(&[u8]) -> usize) -> usize {
        if piece.is_empty() || piece.len() > INLINE_LEN {
            return count(piece);
        }
        let key = Key::of(piece);
        let index = (key.hash() >> (u64::BITS - SLOT_BITS)) as usize;
        let Some(slot) = self.slots.get_mut(index) else {
            return count(piece);
        };
        if slot.len as usize == key.len && slot.head == key.head && slot.tail == key.tail {
            return slot.count as usize;
        }
        let counted = count(piece);
        // A piece of at most 16 bytes has at most 16 tokens.
        if let (Ok(len), Ok(tokens)) = (u32::try_from(key.len), u32::try_from(counted)) {
            *slot = Slot {
                head: key.head,
                tail: key.tail,
                len,
                count: tokens,
            };
        }
        counted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_piece_is_answered_without_counting_and_others_are_not_confused_with_it() {
        let mut recent = RecentPieces::default();
        assert_eq!(recent.count(b" hello", |_| 1), 1);
        assert_eq!(recent.count(b" hello", |_| unreachable!("remembered")), 1);
        // Pieces that differ only in length, in a trailing zero byte, or past byte 8.
        for (piece, tokens) in [
            (&b" hell"[..], 2),
            (b" hello\0", 3),
            (b" hello world", 4),
            (b" hello worle", 5),
        ] {
            assert_eq!(recent.count(piece, |_| tokens), tokens);
            assert_eq!(recent.count(piece, |_| unreachable!("remembered")), tokens);
        }
        let long = [b'a'; INLINE_LEN + 1];
        let mut counted = 0;
        for _ in 0..2 {
            recent.count(&long, |_| {
                counted += 1;
                7
            });
        }
        assert_eq!(counted, 2, "a piece longer than a key is never kept");
    }

    #[test]
    fn every_slot_keeps_its_last_piece() {
        let mut recent = RecentPieces::default();
        // Far more pieces than slots: each count comes back right whether it was evicted or not.
        let pieces: Vec<String> = (0..5 * SLOTS).map(|i| format!(" w{i}")).collect();
        for (i, piece) in pieces.iter().enumerate() {
            recent.count(piece.as_bytes(), |_| i % 16 + 1);
        }
        for (i, piece) in pieces.iter().enumerate().rev() {
            assert_eq!(recent.count(piece.as_bytes(), |_| i % 16 + 1), i % 16 + 1);
        }
    }
}
