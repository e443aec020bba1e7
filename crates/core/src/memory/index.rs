//! A bounded index of fingerprinted entries that finds those similar to a query quickly:
//! locality-sensitive hashing over the fingerprint's slots.
//!
//! A fingerprint's 64 slots form 32 bands of 2; two fingerprints land in a common bucket when
//! any band matches, which happens with probability `1 - (1 - J^2)^32` for Jaccard similarity
//! `J` (0.95 at J = 0.3, > 0.999 at J = 0.5). Only those candidates are compared slot by slot,
//! so a lookup costs the candidates, not the size of the index. When full, the oldest entry
//! makes room.

use super::fingerprint::{Fingerprint, SLOTS};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;

const ROWS: usize = 2;
const BANDS: usize = SLOTS / ROWS;

/// An entry's handle in its index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId(u64);

#[derive(Debug, Clone)]
struct Entry<T> {
    fingerprint: Fingerprint,
    value: T,
}

/// Entries with fingerprints, at most `capacity` of them.
#[derive(Debug, Clone)]
pub struct SimilarityIndex<T> {
    entries: FxHashMap<EntryId, Entry<T>>,
    buckets: FxHashMap<u64, Vec<EntryId>>,
    /// Insertion order, oldest first, for eviction (may name removed entries).
    order: VecDeque<EntryId>,
    next: u64,
    capacity: usize,
}

impl<T> SimilarityIndex<T> {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: FxHashMap::default(),
            buckets: FxHashMap::default(),
            order: VecDeque::new(),
            next: 0,
            capacity: capacity.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds an entry (an empty fingerprint is not indexed: it resembles nothing); returns its
    /// id and the value evicted to make room, if any.
    pub fn insert(&mut self, fingerprint: Fingerprint, value: T) -> (Option<EntryId>, Option<T>) {
        if fingerprint.is_empty() {
            return (None, None);
        }
        let evicted = if self.entries.len() >= self.capacity {
            self.evict_oldest()
        } else {
            None
        };
        let id = EntryId(self.next);
        self.next += 1;
        for key in band_keys(&fingerprint) {
            self.buckets.entry(key).or_default().push(id);
        }
        self.entries.insert(id, Entry { fingerprint, value });
        self.order.push_back(id);
        if self.order.len() > self.capacity.saturating_mul(2) {
            // Drop ids of entries removed since: the queue stays proportional to the index.
            let entries = &self.entries;
            self.order.retain(|id| entries.contains_key(id));
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
        let entry = self.entries.remove(&id)?;
        for key in band_keys(&entry.fingerprint) {
            if let Some(bucket) = self.buckets.get_mut(&key) {
                bucket.retain(|other| *other != id);
                if bucket.is_empty() {
                    self.buckets.remove(&key);
                }
            }
        }
        Some(entry.value)
    }

    pub fn get(&self, id: EntryId) -> Option<&T> {
        self.entries.get(&id).map(|e| &e.value)
    }

    /// Every entry at least `min_similarity` similar to `fingerprint`, with its similarity,
    /// each once, in no particular order.
    pub fn similar(
        &self,
        fingerprint: &Fingerprint,
        min_similarity: f64,
    ) -> Vec<(EntryId, f64, &T)> {
        if fingerprint.is_empty() || self.entries.is_empty() {
            return Vec::new();
        }
        let mut seen: Vec<EntryId> = Vec::new();
        for key in band_keys(fingerprint) {
            if let Some(bucket) = self.buckets.get(&key) {
                seen.extend_from_slice(bucket);
            }
        }
        seen.sort_unstable();
        seen.dedup();
        seen.into_iter()
            .filter_map(|id| {
                let entry = self.entries.get(&id)?;
                let similarity = fingerprint.similarity(&entry.fingerprint);
                (similarity >= min_similarity).then_some((id, similarity, &entry.value))
            })
            .collect()
    }

    /// Removes every entry for which `drop` holds.
    pub fn remove_where(&mut self, drop: impl Fn(&T) -> bool) -> usize {
        let doomed: Vec<EntryId> = self
            .entries
            .iter()
            .filter(|(_, e)| drop(&e.value))
            .map(|(id, _)| *id)
            .collect();
        for id in &doomed {
            self.remove(*id);
        }
        doomed.len()
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.entries.values().map(|e| &e.value)
    }
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
        let (_, evicted) = index.insert(Fingerprint::of("seven eight nine"), 3);
        assert_eq!(evicted, Some(1));
        assert_eq!(index.len(), 2);
        assert!(index.get(first.unwrap()).is_none());
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

    proptest! {
        /// The index finds exactly what a scan over every entry finds, for similarities high
        /// enough that banding misses them with negligible probability.
        #[test]
        fn lookups_agree_with_a_full_scan(
            texts in proptest::collection::vec(proptest::collection::vec("[a-e]{1,2}", 1..8), 1..40),
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
