//! The o200k_base vocabulary as one hash map from a token's bytes to its rank, over bytes that
//! stay in the binary's read-only data.
//!
//! Why not `bpe-openai`'s tables: they carry three Aho-Corasick automata and pair tables for its
//! linear-time encoder, about 77 MB resident, most of routewise's memory. Counting needs only
//! "is this byte string a token, and of which rank" ([`super::merge`] does the rest), which this
//! answers in about 8 MB (the map; the token bytes stay in the binary).
//!
//! Two hand-written tables measured slower than this map with its `memcmp` calls, to count 300
//! tokens: keys packed into integers, 6.5 us against 4.1 us; and an open-addressing table of
//! `u64` slots (rank, length, offset and a hash tag in each, 4 MB) with an inline byte compare,
//! 4.0 us against 3.45 us.
//!
//! The data file is `data/o200k_base.tokens`, written by `scripts/o200k-table.py` from OpenAI's
//! `o200k_base.tiktoken`: for each rank from 0, one length byte and the token's bytes.

use rustc_hash::FxHashMap;
use std::sync::LazyLock;

static O200K_TOKENS: &[u8] = include_bytes!("../../data/o200k_base.tokens");

/// o200k_base has 199,998 ordinary tokens; the map is sized for them up front.
const O200K_SIZE: usize = 199_998;

pub(crate) static O200K: LazyLock<Vocabulary> =
    LazyLock::new(|| Vocabulary::parse(O200K_TOKENS, O200K_SIZE));

/// Token bytes to rank.
#[derive(Debug)]
pub(crate) struct Vocabulary {
    ranks: FxHashMap<&'static [u8], u32>,
}

impl Vocabulary {
    /// Reads length-prefixed tokens in rank order. The data is compiled in and checked by the
    /// tests below, so a truncated tail (which cannot happen) would only end the vocabulary.
    fn parse(data: &'static [u8], expected: usize) -> Self {
        let mut ranks = FxHashMap::with_capacity_and_hasher(expected, Default::default());
        let mut at = 0;
        let mut rank = 0u32;
        while let Some(&len) = data.get(at) {
            let Some(token) = data.get(at + 1..at + 1 + usize::from(len)) else {
                break;
            };
            ranks.insert(token, rank);
            rank += 1;
            at += 1 + usize::from(len);
        }
        Self { ranks }
    }

    /// The rank of the token whose bytes are exactly `bytes`, if there is one.
    pub(crate) fn rank(&self, bytes: &[u8]) -> Option<u32> {
        self.ranks.get(bytes).copied()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.ranks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_every_o200k_token_at_its_rank() {
        let reference = &bpe_openai::o200k_base().bpe;
        assert_eq!(O200K.len(), reference.num_tokens());
        assert_eq!(O200K.len(), O200K_SIZE);
        for id in 0..u32::try_from(reference.num_tokens()).unwrap_or(u32::MAX) {
            assert_eq!(
                O200K.rank(reference.token_bytes(id)),
                Some(id),
                "token {id}"
            );
        }
    }

    #[test]
    fn every_single_byte_is_a_token() {
        // Byte-level BPE: the merge starts from single bytes, so each must have a rank.
        for byte in 0..=u8::MAX {
            assert!(O200K.rank(&[byte]).is_some(), "byte {byte}");
        }
    }
}
