//! A bounded index of fingerprinted entries that finds those similar to a query quickly:
//! locality-sensitive hashing over the fingerprint's slots.
//!
//! A fingerprint's 64 slots form 32 bands of 2; two fingerprints land in a common bucket when
//! any band matches, which happens with probability `1 - (1 - J^2)^32` for Jaccard similarity
//! `J` (0.95 at J = 0.3, > 0.999 at J = 0.5). Only those candidates are compared slot by slot.
//! A bucket keeps its [`BUCKET_CAP`] newest entries, so a lookup compares at most
//! `32 x BUCKET_CAP` candidates however alike the remembered traffic is (templated queries
//! share bands); an older entry dropped from a crowded bucket is still found through its other
//! bands unless all of them are crowded, and then newer, as similar entries answer for it.
//! When the index is full, its oldest entry makes room.

use super::fingerprint::{Fingerprint, SLOTS};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

const ROWS: usize = 2;
const BANDS: usize = SLOTS / ROWS;
/// Entries a bucket keeps, newest first.
pub const BUCKET_CAP: usize = 32;

/// An entry's handle in its index: its slot and the slot's generation, so that a handle to a
/// removed entry never finds the entry that reused its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId {
    slot: u32,
    generation: u32,
}

#[derive(Debug, Clone)]
struct Entry<T> {
    fingerprint: Fingerprint,
    generation: u32,
    value: T,
}

/// Entries with fingerprints, at most `capacity` of them.
#[derive(Debug, Clone)]
pub struct SimilarityIndex<T> {
    slots: Vec<Option<Entry<T>>>,
    /// Generation of each slot's next entry.
    generations: Vec<u32>,
    free: Vec<u32>,
    buckets: FxHashMap<u64, VecDeque<u32>>,
    /// Insertion order, oldest first, for eviction (may name removed entries).
    order: VecDeque<EntryId>,
    len: usize,
    capacity: usize,
}

impl<T> SimilarityIndex<T> {
    pub fn new(capacity: usize) -> Self {
        Self {
            slots: Vec::new(),
            generations: Vec::new(),
            free: Vec::new(),
            buckets: FxHashMap::default(),
            order: VecDeque::new(),
            len: 0,
            capacity: capacity.clamp(1, u32::MAX as usize),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds an entry (an empty fingerprint is not indexed: it resembles nothing); returns its
    /// id and the value evicted to make room, if any.
    pub fn insert(&mut self, fingerprint: Fingerprint, value: T) -> (Option<EntryId>, Option<T>) {
        if fingerprint.is_empty() {
            return (None, None);
        }
        let evicted = if self.len >= self.capacity {
            self.evict_oldest()
        } else {
            None
        };
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(None);
                self.generations.push(0);
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        let index = slot as usize;
        let generation = self.generations[index];
        self.generations[index] = generation.wrapping_add(1);
        for key in band_keys(&fingerprint) {
            let bucket = self.buckets.entry(key).or_default();
            bucket.push_back(slot);
            if bucket.len() > BUCKET_CAP {
                bucket.pop_front();
            }
        }
        self.slots[index] = Some(Entry {
            fingerprint,
            generation,
            value,
        });
        self.len += 1;
        let id = EntryId { slot, generation };
        self.order.push_back(id);
        if self.order.len() > self.capacity.saturating_mul(2) {
            // Drop ids of entries removed since: the queue stays proportional to the index.
            let slots = &self.slots;
            self.order.retain(|id| live(slots, *id));
        }
        (Some(id), evicted)
    }

    fn evict_oldest(&mut self) -> Option<T> {
        while let Some(oldest) = self.order.pop_front() {
            if let Some(value) = self.remove(oldest) {
                return Some(value);
            }
        }
        None
    }

    /// Removes an entry; its value, if it was there.
    pub fn remove(&mut self, id: EntryId) -> Option<T> {
        if !live(&self.slots, id) {
            return None;
        }
        let entry = self.slots.get_mut(id.slot as usize)?.take()?;
        for key in band_keys(&entry.fingerprint) {
            if let Some(bucket) = self.buckets.get_mut(&key) {
                bucket.retain(|slot| *slot != id.slot);
                if bucket.is_empty() {
                    self.buckets.remove(&key);
                }
            }
        }
        self.free.push(id.slot);
        self.len -= 1;
        Some(entry.value)
    }

    pub fn get(&self, id: EntryId) -> Option<&T> {
        live(&self.slots, id)
            .then(|| self.slots.get(id.slot as usize))
            .flatten()
            .and_then(Option::as_ref)
            .map(|e| &e.value)
    }

    /// Entries at least `min_similarity` similar to `fingerprint`, with their similarity, each
    /// once, in no particular order.
    pub fn similar(
        &self,
        fingerprint: &Fingerprint,
        min_similarity: f64,
    ) -> Vec<(EntryId, f64, &T)> {
        if fingerprint.is_empty() || self.len == 0 {
            return Vec::new();
        }
        let mut candidates: Vec<u32> = Vec::new();
        for key in band_keys(fingerprint) {
            if let Some(bucket) = self.buckets.get(&key) {
                candidates.extend(bucket.iter().copied());
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates
            .into_iter()
            .filter_map(|slot| {
                let entry = self.slots.get(slot as usize)?.as_ref()?;
                let similarity = fingerprint.similarity(&entry.fingerprint);
                let id = EntryId {
                    slot,
                    generation: entry.generation,
                };
                (similarity >= min_similarity).then_some((id, similarity, &entry.value))
            })
            .collect()
    }

    /// Removes every entry for which `drop` holds; how many.
    pub fn remove_where(&mut self, drop: impl Fn(&T) -> bool) -> usize {
        let doomed: Vec<EntryId> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(slot, entry)| {
                let entry = entry.as_ref()?;
                drop(&entry.value).then(|| EntryId {
                    slot: u32::try_from(slot).unwrap_or(u32::MAX),
                    generation: entry.generation,
                })
            })
            .collect();
        for id in &doomed {
            self.remove(*id);
        }
        doomed.len()
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().flatten().map(|e| &e.value)
    }
}

fn live<T>(slots: &[Option<Entry<T>>], id: EntryId) -> bool {
    slots
        .get(id.slot as usize)
        .and_then(Option::as_ref)
        .is_some_and(|e| e.generation == id.generation)
}

fn band_keys(fingerprint: &Fingerprint) -> impl Iterator<Item = u64> + '_ {
    (0..BANDS).map(move |band| {
        let rows = &fingerprint.0[band * ROWS..(band + 1) * ROWS];
        let mut key = (band as u64) << 56;
        for (i, value) in rows.iter().enumerate() {
            key ^= u64::from(*value).rotate_left((i * 29) as u32);
        }
        key.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_similar_entries_and_not_others() {
        let mut index = SimilarityIndex::new(10);
        index.insert(Fingerprint::of("what is the capital of france"), "france");
        index.insert(
            Fingerprint::of("write a poem about the sea at night"),
            "poem",
        );
        let found = index.similar(&Fingerprint::of("What is the capital of France?"), 0.5);
        assert_eq!(found.len(), 1);
        assert_eq!(*found[0].2, "france");
        assert!(
            index
                .similar(
                    &Fingerprint::of("derive the quadratic formula step by step"),
                    0.5
                )
                .is_empty()
        );
    }

    #[test]
    fn a_full_index_evicts_its_oldest_entry_and_removal_unindexes() {
        let mut index = SimilarityIndex::new(2);
        let (first, _) = index.insert(Fingerprint::of("one two three"), 1);
        index.insert(Fingerprint::of("four five six"), 2);
        let (third, evicted) = index.insert(Fingerprint::of("seven eight nine"), 3);
        assert_eq!(evicted, Some(1));
        assert_eq!(index.len(), 2);
        assert!(
            index.get(first.unwrap()).is_none(),
            "a stale handle finds nothing"
        );
        assert_eq!(
            index.get(third.unwrap()),
            Some(&3),
            "even though the slot was reused"
        );
        assert!(
            index
                .similar(&Fingerprint::of("one two three"), 0.9)
                .is_empty()
        );
        assert_eq!(index.remove_where(|v| *v == 2), 1);
        assert!(
            index
                .similar(&Fingerprint::of("four five six"), 0.9)
                .is_empty()
        );
        let (none, _) = index.insert(Fingerprint::EMPTY, 9);
        assert!(none.is_none());
    }

    #[test]
    fn a_crowded_bucket_keeps_its_newest_entries() {
        let mut index = SimilarityIndex::new(1_000);
        let text = Fingerprint::of("reset my password please");
        for i in 0..(BUCKET_CAP * 3) {
            index.insert(text, i);
        }
        let found: Vec<usize> = index
            .similar(&text, 0.9)
            .into_iter()
            .map(|(_, _, v)| *v)
            .collect();
        assert_eq!(found.len(), BUCKET_CAP, "a lookup's cost is bounded");
        assert!(
            found.iter().all(|v| *v >= BUCKET_CAP * 2),
            "the newest answer: {found:?}"
        );
    }

    proptest! {
        /// While no bucket is crowded, the index finds exactly what a scan over every entry
        /// finds, for similarities high enough that banding misses them with negligible
        /// probability.
        #[test]
        fn lookups_agree_with_a_full_scan(
            texts in proptest::collection::vec(proptest::collection::vec("[a-e]{1,2}", 1..8), 1..30),
            query in proptest::collection::vec("[a-e]{1,2}", 1..8),
        ) {
            let mut index = SimilarityIndex::new(100);
            let mut all = Vec::new();
            for words in &texts {
                let fingerprint = Fingerprint::of(&words.join(" "));
                index.insert(fingerprint, all.len());
                all.push(fingerprint);
            }
            let q = Fingerprint::of(&query.join(" "));
            let mut found: Vec<usize> = index.similar(&q, 0.6).into_iter().map(|(_, _, v)| *v).collect();
            found.sort_unstable();
            let mut expected: Vec<usize> = all.iter().enumerate()
                .filter(|(_, f)| !f.is_empty() && q.similarity(f) >= 0.6)
                .map(|(i, _)| i).collect();
            expected.sort_unstable();
            prop_assert_eq!(found, expected);
        }
    }
}
