//! A query's fingerprint: a one-permutation MinHash of its word 1- and 2-grams, so that the
//! share of equal slots between two fingerprints estimates the Jaccard similarity of their
//! word sets.
//!
//! Each n-gram is hashed once; its hash picks one of [`SLOTS`] slots and competes for that
//! slot's minimum (one-permutation hashing). Empty slots borrow the value of the next filled
//! one, shifted by the distance (rotation densification), so that short queries still compare
//! well. Words are ASCII-lowercased runs of letters and digits. Hand-written rather than a
//! crate: it is a few lines, and the hash must stay the same across builds because
//! fingerprints are stored.

use serde::{Deserialize, Serialize};

/// Slots in a fingerprint: the similarity estimate's resolution is 1/64.
pub const SLOTS: usize = 64;

/// Words of a query looked at; a longer query is fingerprinted on its first words.
const MAX_WORDS: usize = 512;

/// A query's fingerprint; [`Fingerprint::EMPTY`] for a query without words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fingerprint(#[serde(with = "slots")] pub [u32; SLOTS]);

const EMPTY_SLOT: u32 = u32::MAX;

impl Fingerprint {
    pub const EMPTY: Fingerprint = Fingerprint([EMPTY_SLOT; SLOTS]);

    /// The fingerprint of `text`.
    pub fn of(text: &str) -> Self {
        let mut slots = [EMPTY_SLOT; SLOTS];
        let mut previous: Option<u64> = None;
        for word in words(text).take(MAX_WORDS) {
            let unigram = hash_word(word);
            place(&mut slots, unigram);
            if let Some(previous) = previous {
                place(&mut slots, mix(previous.rotate_left(17) ^ unigram));
            }
            previous = Some(unigram);
        }
        densify(&mut slots);
        Fingerprint(slots)
    }

    pub fn is_empty(&self) -> bool {
        self.0[0] == EMPTY_SLOT
    }

    /// The estimated Jaccard similarity of the two word sets, in [0, 1] (0 when either is
    /// empty).
    pub fn similarity(&self, other: &Fingerprint) -> f64 {
        if self.is_empty() || other.is_empty() {
            return 0.0;
        }
        let equal = self.0.iter().zip(&other.0).filter(|(a, b)| a == b).count();
        equal as f64 / SLOTS as f64
    }

    /// The 256-byte form kept in a store.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|s| s.to_le_bytes()).collect()
    }

    /// The stored form back; `None` when it is not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != SLOTS * 4 {
            return None;
        }
        let mut slots = [0u32; SLOTS];
        for (slot, chunk) in slots.iter_mut().zip(bytes.chunks_exact(4)) {
            *slot = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        Some(Fingerprint(slots))
    }
}

/// Words: runs of ASCII letters and digits, lower-cased; other bytes separate them.
fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
}

fn hash_word(word: &str) -> u64 {
    // FNV-1a over the lower-cased bytes, then a finalising mix: stable across builds.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in word.bytes() {
        hash = (hash ^ u64::from(byte.to_ascii_lowercase())).wrapping_mul(0x0100_0000_01b3);
    }
    mix(hash)
}

/// SplitMix64's finaliser: spreads every input bit over the output.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn place(slots: &mut [u32; SLOTS], hash: u64) {
    let slot = (hash >> 58) as usize; // the top 6 bits: 64 slots
    // The low 32 bits compete; EMPTY_SLOT is kept for "empty".
    let value = (hash as u32).min(EMPTY_SLOT - 1);
    if value < slots[slot] {
        slots[slot] = value;
    }
}

/// Fills every empty slot from the next filled one to its right (wrapping), shifted by the
/// distance so that borrowed values differ from the originals.
fn densify(slots: &mut [u32; SLOTS]) {
    if slots.iter().all(|&s| s == EMPTY_SLOT) {
        return;
    }
    let filled = *slots;
    for i in 0..SLOTS {
        if filled[i] != EMPTY_SLOT {
            continue;
        }
        let mut distance = 1;
        let mut j = (i + 1) % SLOTS;
        while filled[j] == EMPTY_SLOT {
            j = (j + 1) % SLOTS;
            distance += 1;
        }
        slots[i] =
            (mix(u64::from(filled[j]) ^ ((distance as u64) << 32)) as u32).min(EMPTY_SLOT - 1);
    }
}

/// Serde for the slot array (serde derives arrays only up to 32 elements).
mod slots {
    use super::SLOTS;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(slots: &[u32; SLOTS], s: S) -> Result<S::Ok, S::Error> {
        slots.as_slice().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u32; SLOTS], D::Error> {
        let values = Vec::<u32>::deserialize(d)?;
        values
            .try_into()
            .map_err(|v: Vec<u32>| serde::de::Error::invalid_length(v.len(), &"64 slots"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn similar_queries_are_close_and_unlike_ones_far() {
        let a = Fingerprint::of("What is the capital of France?");
        let b = Fingerprint::of("what is the capital of France");
        let c = Fingerprint::of("Write a haiku about autumn leaves falling in the rain");
        assert_eq!(a.similarity(&b), 1.0, "case and punctuation do not matter");
        assert!(a.similarity(&c) < 0.2, "{}", a.similarity(&c));
        let d = Fingerprint::of("What is the capital of Spain?");
        let s = a.similarity(&d);
        assert!(s > 0.4 && s < 1.0, "one word of six differs: {s}");
    }

    #[test]
    fn empty_text_has_an_empty_fingerprint_that_matches_nothing() {
        let empty = Fingerprint::of("  ... !!! ");
        assert!(empty.is_empty());
        assert_eq!(empty.similarity(&empty), 0.0);
        assert_eq!(Fingerprint::of("x").similarity(&empty), 0.0);
    }

    #[test]
    fn the_hash_is_stable_across_builds() {
        // A stored fingerprint must keep its meaning: pin one.
        let f = Fingerprint::of("hello world");
        assert_eq!(f.0[0], Fingerprint::of("HELLO, world!").0[0]);
        let again = Fingerprint::from_bytes(&f.to_bytes()).unwrap();
        assert_eq!(again, f);
        assert_eq!(Fingerprint::from_bytes(&[1, 2, 3]), None);
    }

    /// How many distinct 1- and 2-grams a text has.
    fn jaccard_grams(text: &str) -> usize {
        let w: Vec<String> = words(text).map(|w| w.to_ascii_lowercase()).collect();
        let mut set: std::collections::BTreeSet<String> = w.iter().cloned().collect();
        for pair in w.windows(2) {
            set.insert(format!("{} {}", pair[0], pair[1]));
        }
        set.len()
    }

    /// The exact Jaccard similarity of two texts' 1- and 2-gram sets.
    fn jaccard(a: &str, b: &str) -> f64 {
        let grams = |t: &str| {
            let w: Vec<String> = words(t).map(|w| w.to_ascii_lowercase()).collect();
            let mut set: std::collections::BTreeSet<String> = w.iter().cloned().collect();
            for pair in w.windows(2) {
                set.insert(format!("{} {}", pair[0], pair[1]));
            }
            set
        };
        let (x, y) = (grams(a), grams(b));
        if x.is_empty() || y.is_empty() {
            return 0.0;
        }
        x.intersection(&y).count() as f64 / x.union(&y).count() as f64
    }

    proptest! {
        #[test]
        fn similarity_is_symmetric_bounded_and_one_for_equal_texts(
            a in "[a-z ]{0,80}", b in "[a-z ]{0,80}"
        ) {
            let (fa, fb) = (Fingerprint::of(&a), Fingerprint::of(&b));
            let s = fa.similarity(&fb);
            prop_assert!((0.0..=1.0).contains(&s));
            prop_assert_eq!(s, fb.similarity(&fa));
            if !fa.is_empty() {
                prop_assert_eq!(fa.similarity(&fa), 1.0);
            }
        }

    }

    proptest! {
        // A statistical bound on a randomised estimate fails for some inputs however wide it
        // is: a fixed seed keeps the 256 cases the same on every run, so CI cannot go red by
        // chance. (Unseeded, this test once failed in CI-like runs: its old bound assumed all
        // 64 slots hold a draw, which short texts do not; see the tolerance below.)
        #![proptest_config(proptest::test_runner::Config {
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x6d69_6e68_6173_6821),
            ..proptest::test_runner::Config::default()
        })]

        #[test]
        fn the_estimate_tracks_the_exact_jaccard_similarity(
            shared in proptest::collection::vec("[a-z]{3,8}", 5..40),
            own_a in proptest::collection::vec("[a-z]{3,8}", 0..20),
            own_b in proptest::collection::vec("[a-z]{3,8}", 0..20),
        ) {
            let a = [shared.clone(), own_a].concat().join(" ");
            let b = [shared, own_b].concat().join(" ");
            let estimate = Fingerprint::of(&a).similarity(&Fingerprint::of(&b));
            let exact = jaccard(&a, &b);
            // Each slot holds one gram at most, so the estimate rests on min(slots, grams)
            // independent draws: a standard error of at most 0.5 / sqrt(that). Short texts
            // fill few slots (densification copies the rest), so their estimate is coarser;
            // allow four standard errors.
            let grams = jaccard_grams(&a).min(jaccard_grams(&b)).clamp(1, SLOTS);
            let tolerance = 4.0 * 0.5 / (grams as f64).sqrt();
            prop_assert!(
                (estimate - exact).abs() < tolerance,
                "estimate {estimate}, exact {exact}, tolerance {tolerance}"
            );
        }
    }
}
