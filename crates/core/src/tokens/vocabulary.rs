//! The o200k_base vocabulary as one hash map from a token's bytes to its rank, over bytes that
//! stay in the binary's read-only data.
//!
//! Why not `bpe-openai`'s tables: they carry three Aho-Corasick automata and pair tables for its
//! linear-time encoder, about 77 MB resident, most of routewise's memory. Counting needs only
//! "is this byte string a token, and of which rank" ([`super::merge`] does the rest), which this
//! answers in about 6.5 MB (the table; the token bytes stay in the binary).
//!
//! The table is hashbrown's, holding each token's first and last eight bytes inline, so that a
//! lookup of a token of up to 16 bytes reads no token bytes behind a pointer and calls no
//! `memcmp` (`tokens/o200k/300-tokens`, one run: 5.3 us with a map from byte slices, 4.4 us with this
//! and a one-multiply hash).
//! Two hand-written tables measured slower than that map, to count 300 tokens: keys packed
//! into integers, 6.5 us against 4.1 us; and an open-addressing table of `u64` slots (rank,
//! length, offset and a hash tag in each, 4 MB) with an inline byte compare, 4.0 us against
//! 3.45 us (no SIMD probing of tags, as hashbrown does).
//!
//! The data file is `data/o200k_base.tokens`, written by `scripts/o200k-table.py` from OpenAI's
//! `o200k_base.tiktoken`: for each rank from 0, one length byte and the token's bytes.

use hashbrown::HashTable;
use std::sync::LazyLock;

static O200K_TOKENS: &[u8] = include_bytes!("../../data/o200k_base.tokens");

/// o200k_base has 199,998 ordinary tokens; the map is sized for them up front.
const O200K_SIZE: usize = 199_998;

pub(crate) static O200K: LazyLock<Vocabulary> =
    LazyLock::new(|| Vocabulary::parse(O200K_TOKENS, O200K_SIZE));

/// Token bytes to rank.
#[derive(Debug)]
pub(crate) struct Vocabulary {
    slots: HashTable<Slot>,
    /// The length-prefixed token bytes the slots point into.
    data: &'static [u8],
}

/// A byte string as the table compares it: its length and its first and last eight bytes
/// (little-endian words, zero-padded when shorter), which for a string of up to 16 bytes (all
/// but a few hundred tokens) is the whole string. Comparing these instead of the bytes
/// behind a pointer saves a dependent load and a `memcmp` call per lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Key {
    pub(super) head: u64,
    pub(super) tail: u64,
    pub(super) len: usize,
}

/// Strings this long or shorter are compared by their [`Key`] alone.
pub(super) const INLINE_LEN: usize = 16;

impl Key {
    pub(super) fn of(bytes: &[u8]) -> Self {
        let len = bytes.len();
        let tail = if len > 8 { word(bytes, len - 8) } else { 0 };
        Self {
            head: head(bytes),
            tail,
            len,
        }
    }

    /// The words folded together, then one widening multiply whose high and low halves are
    /// XOR-ed: every bit of the folded word reaches both the low bits hashbrown takes the bucket
    /// from and the top seven it takes the tag from (a plain 64-bit product's top byte only
    /// sees the input's top byte, and its low bits only the input's low bits).
    pub(super) fn hash(&self) -> u64 {
        let folded = self.head ^ self.tail.rotate_left(31) ^ self.len as u64;
        let product = u128::from(folded) * 0x9e37_79b9_7f4a_7c15;
        (product as u64) ^ (product >> 64) as u64
    }
}

/// The first eight bytes, zero-padded. Shorter strings are read in overlapping loads and the
/// overlaps OR-ed together (they hold the same bytes), which needs no copy.
fn head(bytes: &[u8]) -> u64 {
    let byte = |at: usize| bytes.get(at).map_or(0, |b| u64::from(*b)) << (8 * at);
    match bytes.len() {
        0 => 0,
        len @ 1..=3 => byte(0) | byte(len / 2) | byte(len - 1),
        len @ 4..=7 => half(bytes, 0) | half(bytes, len - 4) << (8 * (len - 4)),
        _ => word(bytes, 0),
    }
}

fn word(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .and_then(|w| <[u8; 8]>::try_from(w).ok())
        .map_or(0, u64::from_le_bytes)
}

fn half(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 4)
        .and_then(|w| <[u8; 4]>::try_from(w).ok())
        .map_or(0, |w| u64::from(u32::from_le_bytes(w)))
}

/// A token in the table, in 24 bytes: its key's words, where its bytes start in the data, and
/// its rank and length in one word (ranks are under 2^24, lengths under 2^8).
#[derive(Debug)]
struct Slot {
    head: u64,
    tail: u64,
    offset: u32,
    rank_len: u32,
}

impl Slot {
    fn new(key: Key, offset: u32, rank: u32) -> Option<Self> {
        let len = u8::try_from(key.len).ok()?;
        (rank < 1 << 24).then_some(Self {
            head: key.head,
            tail: key.tail,
            offset,
            rank_len: rank << 8 | u32::from(len),
        })
    }

    fn key(&self) -> Key {
        Key {
            head: self.head,
            tail: self.tail,
            len: (self.rank_len & 0xff) as usize,
        }
    }

    fn rank(&self) -> u32 {
        self.rank_len >> 8
    }
}

impl Vocabulary {
    /// Reads length-prefixed tokens in rank order. The data is compiled in and checked by the
    /// tests below, so a truncated tail (which cannot happen) would only end the vocabulary.
    fn parse(data: &'static [u8], expected: usize) -> Self {
        let mut slots = HashTable::with_capacity(expected);
        let mut at = 0;
        let mut rank = 0u32;
        while let Some(&len) = data.get(at) {
            let (Some(token), Ok(offset)) = (
                data.get(at + 1..at + 1 + usize::from(len)),
                u32::try_from(at + 1),
            ) else {
                break;
            };
            let key = Key::of(token);
            let Some(slot) = Slot::new(key, offset, rank) else {
                break;
            };
            slots.insert_unique(key.hash(), slot, |slot| slot.key().hash());
            rank += 1;
            at += 1 + usize::from(len);
        }
        Self { slots, data }
    }

    /// The rank of the token whose bytes are exactly `bytes`, if there is one.
    pub(crate) fn rank(&self, bytes: &[u8]) -> Option<u32> {
        let key = Key::of(bytes);
        self.slots
            .find(key.hash(), |slot| {
                slot.key() == key && (key.len <= INLINE_LEN || self.bytes_of(slot) == Some(bytes))
            })
            .map(Slot::rank)
    }

    fn bytes_of(&self, slot: &Slot) -> Option<&[u8]> {
        let start = usize::try_from(slot.offset).ok()?;
        self.data.get(start..start + slot.key().len)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ranks of the tokens of more than 16 bytes, those compared by their bytes.
    static LONG_TOKENS: LazyLock<Vec<u32>> = LazyLock::new(|| {
        let reference = &bpe_openai::o200k_base().bpe;
        (0..u32::try_from(reference.num_tokens()).unwrap_or(u32::MAX))
            .filter(|&id| reference.token_bytes(id).len() > INLINE_LEN)
            .collect()
    });

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

    proptest::proptest! {
        /// Two strings of up to 16 bytes have equal keys exactly when they are equal: every
        /// length class, equal, differing in one byte, or one byte longer (a trailing zero
        /// must not look like padding).
        #[test]
        fn short_keys_are_equal_exactly_when_the_bytes_are(a in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..=16), flip in 0usize..17, longer in proptest::prelude::any::<bool>()) {
            let mut b = a.clone();
            proptest::prop_assert_eq!(Key::of(&a), Key::of(&b));
            if let Some(byte) = b.get_mut(flip) {
                *byte ^= 1 << (flip % 8);
            } else if longer {
                b.push(0);
            }
            proptest::prop_assert_eq!(Key::of(&a) == Key::of(&b), a == b);
        }

        /// A token longer than 16 bytes with one byte of its middle changed shares its key
        /// (length, first and last eight bytes) and is told apart by the bytes behind it.
        #[test]
        fn long_tokens_are_found_only_by_their_own_bytes(pick in proptest::prelude::any::<proptest::sample::Index>(), middle in proptest::prelude::any::<proptest::sample::Index>()) {
            let reference = &bpe_openai::o200k_base().bpe;
            let id = *pick.get(&LONG_TOKENS);
            let token = reference.token_bytes(id).to_vec();
            proptest::prop_assert_eq!(O200K.rank(&token), Some(id));
            let mut changed = token.clone();
            let at = 8 + middle.index(token.len() - 16);
            changed[at] ^= 0x20;
            proptest::prop_assert_eq!(Key::of(&changed), Key::of(&token));
            let expected = LONG_TOKENS.iter().copied().find(|&other| reference.token_bytes(other) == changed.as_slice());
            proptest::prop_assert_eq!(O200K.rank(&changed), expected);
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
