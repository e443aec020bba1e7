//! Memory of how routing went: which queries a cheap model answered badly (the upgrade memory,
//! which sends similar queries higher for a while) and how every model fared on rated queries
//! (the track record signal). Pure: the shell feeds it feedback and the time, persists its
//! entries, and asks it about each request.

mod fingerprint;
mod index;

pub use fingerprint::{Fingerprint, SLOTS};
pub use index::{EntryId, SimilarityIndex};

use rustc_hash::FxHashMap;
use serde::Serialize;

/// A remembered bad answer: requests similar to the rated one go to `min_tier` or above until
/// `expires_unix_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Upgrade {
    /// The request that was rated bad.
    pub rated_request: String,
    /// The model that answered it.
    pub rated_model: String,
    pub min_tier: usize,
    pub created_unix_ms: u64,
    pub expires_unix_ms: u64,
}

/// The floor memory puts under a request.
#[derive(Debug, Clone, PartialEq)]
pub struct Floor<'a> {
    pub upgrade: &'a Upgrade,
    pub similarity: f64,
}

/// Upgrades by similarity, at most one per rated request.
#[derive(Debug, Clone)]
pub struct UpgradeMemory {
    index: SimilarityIndex<Upgrade>,
    by_request: FxHashMap<String, EntryId>,
}

impl UpgradeMemory {
    pub fn new(capacity: usize) -> Self {
        Self {
            index: SimilarityIndex::new(capacity),
            by_request: FxHashMap::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Remembers an upgrade (replacing one for the same rated request).
    pub fn remember(&mut self, fingerprint: Fingerprint, upgrade: Upgrade) {
        self.release(&upgrade.rated_request);
        let request = upgrade.rated_request.clone();
        let (id, evicted) = self.index.insert(fingerprint, upgrade);
        if let Some(evicted) = evicted {
            self.by_request.remove(&evicted.rated_request);
        }
        if let Some(id) = id {
            self.by_request.insert(request, id);
        }
    }

    /// Forgets the upgrade that a rated request caused (good feedback on an upgraded request
    /// shows the upgrade did its job); true when there was one.
    pub fn release(&mut self, rated_request: &str) -> bool {
        match self.by_request.remove(rated_request) {
            Some(id) => self.index.remove(id).is_some(),
            None => false,
        }
    }

    /// The highest floor that upgrades still in force put under a query this similar (most
    /// similar first among equal floors).
    pub fn floor(
        &self,
        fingerprint: &Fingerprint,
        now_unix_ms: u64,
        min_similarity: f64,
    ) -> Option<Floor<'_>> {
        self.index
            .similar(fingerprint, min_similarity)
            .into_iter()
            .filter(|(_, _, upgrade)| upgrade.expires_unix_ms > now_unix_ms)
            .max_by(|a, b| {
                a.2.min_tier
                    .cmp(&b.2.min_tier)
                    .then(a.1.total_cmp(&b.1))
                    .then(b.2.rated_request.cmp(&a.2.rated_request))
            })
            .map(|(_, similarity, upgrade)| Floor {
                upgrade,
                similarity,
            })
    }

    /// Drops upgrades that have expired; how many.
    pub fn expire(&mut self, now_unix_ms: u64) -> usize {
        let expired: Vec<String> = self
            .index
            .values()
            .filter(|u| u.expires_unix_ms <= now_unix_ms)
            .map(|u| u.rated_request.clone())
            .collect();
        for request in &expired {
            self.release(request);
        }
        expired.len()
    }
}

/// How one model fared on the rated queries most similar to a request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackRecord {
    pub model: String,
    /// Mean feedback score, 0..1.
    pub mean_score: f64,
    /// How many similar rated requests it answered.
    pub count: u32,
}

/// A rated request: who answered it and how well.
#[derive(Debug, Clone, PartialEq)]
pub struct Rating {
    pub request: String,
    pub model: String,
    pub score: f64,
}

/// Every rated request's latest score, by similarity.
#[derive(Debug, Clone)]
pub struct RatedQueries {
    index: SimilarityIndex<Rating>,
    by_request: FxHashMap<String, EntryId>,
}

impl RatedQueries {
    pub fn new(capacity: usize) -> Self {
        Self {
            index: SimilarityIndex::new(capacity),
            by_request: FxHashMap::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Records a rating; a later rating of the same request replaces the earlier one.
    pub fn rate(&mut self, fingerprint: Fingerprint, rating: Rating) {
        if let Some(id) = self.by_request.remove(&rating.request) {
            self.index.remove(id);
        }
        let request = rating.request.clone();
        let (id, evicted) = self.index.insert(fingerprint, rating);
        if let Some(evicted) = evicted {
            self.by_request.remove(&evicted.request);
        }
        if let Some(id) = id {
            self.by_request.insert(request, id);
        }
    }

    /// Per model, the mean score over the `k` most similar rated requests (at least
    /// `min_similarity` similar), and how many there were; models in name order.
    pub fn track_record(
        &self,
        fingerprint: &Fingerprint,
        k: usize,
        min_similarity: f64,
    ) -> Vec<TrackRecord> {
        let mut similar = self.index.similar(fingerprint, min_similarity);
        similar.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.request.cmp(&b.2.request)));
        let mut by_model: std::collections::BTreeMap<&str, (f64, u32)> = Default::default();
        for (_, _, rating) in similar.into_iter().take(k) {
            let slot = by_model.entry(rating.model.as_str()).or_insert((0.0, 0));
            slot.0 += rating.score;
            slot.1 += 1;
        }
        by_model
            .into_iter()
            .map(|(model, (sum, count))| TrackRecord {
                model: model.to_owned(),
                mean_score: sum / f64::from(count),
                count,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
