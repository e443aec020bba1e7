//! The gateway's memory of its decisions and how they went: the upgrade memory and the rated
//! queries behind the track record (both `routewise_core::memory` values, kept here behind
//! locks and persisted through the store), and the recent decisions that feedback refers to.
//!
//! A request is fingerprinted once, after its analysis ([`Memory::annotate`]): the fingerprint
//! finds its track record now, raises it above a remembered bad answer in the decision's
//! memory stage, and is kept with its record so that feedback on it can be remembered later.

use crate::WeakGateway;
use crate::shared::{MemoryChange, MemorySink};
use futures::future::BoxFuture;
use routewise_config::store::MemoryConfig;
use routewise_core::Analysis;
use routewise_core::memory::{Fingerprint, RatedQueries, Rating, Upgrade, UpgradeMemory};
use routewise_core::request::{ChatInput, Role};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;
use tokio::time::Instant;

/// How long a decision stays in the recent cache: it bridges the time until its record is
/// written (the writer's linger plus a transaction, more when the store is slow), after which
/// feedback finds the record in the store. Ten thousand entries of a few hundred bytes.
const RECENT_TTL: Duration = Duration::from_secs(600);
const RECENT_ENTRIES: usize = 10_000;

/// The last [`RECENT_ENTRIES`] decisions, oldest out first. A plain map under one lock rather
/// than a cache crate: one insert per request is all it does, and measured under load a
/// general-purpose cache's bookkeeping cost several times as much.
#[derive(Debug, Default)]
struct RecentDecisions {
    by_id: HashMap<String, (Instant, Arc<RatedDecision>)>,
    order: VecDeque<String>,
}

impl RecentDecisions {
    fn insert(&mut self, decision: RatedDecision) {
        let id = decision.request_id.clone();
        if self
            .by_id
            .insert(id.clone(), (Instant::now(), Arc::new(decision)))
            .is_none()
        {
            self.order.push_back(id);
        }
        while self.order.len() > RECENT_ENTRIES {
            if let Some(oldest) = self.order.pop_front() {
                self.by_id.remove(&oldest);
            }
        }
    }

    fn get(&self, id: &str) -> Option<Arc<RatedDecision>> {
        self.by_id
            .get(id)
            .filter(|(noted, _)| noted.elapsed() < RECENT_TTL)
            .map(|(_, decision)| Arc::clone(decision))
    }
}

/// What feedback needs to know about the request it rates.
#[derive(Debug, Clone, PartialEq)]
pub struct RatedDecision {
    pub request_id: String,
    /// The client key that sent it (a key rates only its own requests).
    pub key_name: Option<String>,
    /// The model that answered; `None` when none did (nothing to learn about a model then).
    pub model: Option<String>,
    pub tier: Option<usize>,
    pub fingerprint: Option<Fingerprint>,
    /// The rated request whose upgrade raised this one, if memory did.
    pub upgraded_by: Option<String>,
    /// The deciding policy, and its features of the request (for learning policies).
    pub policy: Option<String>,
    pub policy_features: Vec<f32>,
    pub cost_usd: f64,
}

/// What memory did with one feedback.
#[derive(Debug, Clone, PartialEq)]
pub enum Remembered {
    /// Similar requests go to at least this tier until the upgrade expires.
    Upgrade(Box<(Upgrade, Fingerprint)>),
    /// This request's good rating released the upgrade that `rated_request` caused.
    Released {
        rated_request: String,
    },
    Nothing,
}

/// The upgrade memory, the rated queries and the recent decisions of one gateway.
#[derive(Debug)]
pub struct Memory {
    upgrades: RwLock<UpgradeMemory>,
    rated: RwLock<RatedQueries>,
    recent: Mutex<RecentDecisions>,
}

impl Memory {
    pub fn new(config: &MemoryConfig) -> Self {
        Self {
            upgrades: RwLock::new(UpgradeMemory::new(config.max_entries)),
            rated: RwLock::new(RatedQueries::new(config.track_record_entries)),
            recent: Mutex::new(RecentDecisions::default()),
        }
    }

    /// The fingerprint of the user's query, and (with memory on) the track record of similar
    /// rated requests, into the analysis.
    pub fn annotate(&self, analysis: &mut Analysis, input: &ChatInput, config: &MemoryConfig) {
        let fingerprint = Fingerprint::of(query_text(input));
        if config.enabled {
            let rated = self.rated.read().unwrap_or_else(PoisonError::into_inner);
            if !rated.is_empty() {
                analysis.signals.track_record = rated.track_record(
                    &fingerprint,
                    config.track_record_k,
                    config.track_record_similarity,
                );
            }
        }
        analysis.fingerprint = Some(fingerprint);
    }

    /// The upgrade in force for a request this similar, as (minimum tier, rated request,
    /// rated model, similarity).
    pub fn floor(
        &self,
        fingerprint: &Fingerprint,
        now_unix_ms: u64,
        config: &MemoryConfig,
    ) -> Option<(usize, String, String, f64)> {
        let upgrades = self.upgrades.read().unwrap_or_else(PoisonError::into_inner);
        if upgrades.is_empty() {
            return None;
        }
        upgrades
            .floor(fingerprint, now_unix_ms, config.similarity)
            .map(|floor| {
                (
                    floor.upgrade.min_tier,
                    floor.upgrade.rated_request.clone(),
                    floor.upgrade.rated_model.clone(),
                    floor.similarity,
                )
            })
    }

    /// Keeps a finished decision for feedback on it.
    pub fn note_decision(&self, decision: RatedDecision) {
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(decision);
    }

    /// A recent decision, if still cached.
    pub fn recent(&self, request_id: &str) -> Option<Arc<RatedDecision>> {
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(request_id)
    }

    /// Learns from one feedback: the rating joins the track record, and a bad one on a model
    /// below the top tier lifts similar requests a tier above it, while a good one on a
    /// request that an upgrade raised (or that caused one) releases that upgrade.
    pub fn learn(
        &self,
        decision: &RatedDecision,
        score: f64,
        top_tier: usize,
        now_unix_ms: u64,
        config: &MemoryConfig,
    ) -> Remembered {
        let (Some(fingerprint), Some(model)) = (decision.fingerprint, decision.model.as_ref())
        else {
            return Remembered::Nothing;
        };
        self.rated
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .rate(
                fingerprint,
                Rating {
                    request: decision.request_id.clone(),
                    model: model.clone(),
                    score,
                },
            );
        if !config.enabled {
            return Remembered::Nothing;
        }
        let mut upgrades = self
            .upgrades
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let tier = decision.tier.unwrap_or(top_tier);
        if score < config.bad_below {
            if tier >= top_tier {
                return Remembered::Nothing;
            }
            let ttl_ms = u64::try_from(config.ttl.as_millis()).unwrap_or(u64::MAX);
            let upgrade = Upgrade {
                rated_request: decision.request_id.clone(),
                rated_model: model.clone(),
                min_tier: tier + 1,
                created_unix_ms: now_unix_ms,
                expires_unix_ms: now_unix_ms.saturating_add(ttl_ms),
            };
            upgrades.remember(fingerprint, upgrade.clone());
            return Remembered::Upgrade(Box::new((upgrade, fingerprint)));
        }
        // A good rating: of a request an upgrade raised, or of one that caused an upgrade
        // before (its latest rating is what counts).
        for rated_request in [decision.upgraded_by.as_deref(), Some(&decision.request_id)]
            .into_iter()
            .flatten()
        {
            if upgrades.release(rated_request) {
                return Remembered::Released {
                    rated_request: rated_request.to_owned(),
                };
            }
        }
        Remembered::Nothing
    }

    /// Restores an upgrade from the store (at start).
    pub fn restore_upgrade(&self, fingerprint: Fingerprint, upgrade: Upgrade) {
        self.upgrades
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remember(fingerprint, upgrade);
    }

    /// Restores a rating from the store (at start).
    pub fn restore_rating(&self, fingerprint: Fingerprint, rating: Rating) {
        self.rated
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .rate(fingerprint, rating);
    }

    /// Applies a change another replica made.
    pub fn apply(&self, change: MemoryChange) {
        match change {
            MemoryChange::Rated {
                fingerprint,
                rating,
            } => self.restore_rating(fingerprint, rating),
            MemoryChange::Upgraded {
                fingerprint,
                upgrade,
            } => self.restore_upgrade(fingerprint, upgrade),
            MemoryChange::Released { rated_request } => {
                self.upgrades
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .release(&rated_request);
            }
        }
    }

    /// Replaces every upgrade with `upgrades` (a resync from the store).
    fn replace_upgrades(&self, upgrades: UpgradeMemory) {
        *self
            .upgrades
            .write()
            .unwrap_or_else(PoisonError::into_inner) = upgrades;
    }

    /// Drops expired upgrades; how many.
    pub fn expire(&self, now_unix_ms: u64) -> usize {
        self.upgrades
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .expire(now_unix_ms)
    }

    /// Upgrades and rated requests held.
    pub fn sizes(&self) -> (usize, usize) {
        let upgrades = self
            .upgrades
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        let rated = self
            .rated
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        (upgrades, rated)
    }
}

/// The text memory compares: the user's query, i.e. the last user message (all text when
/// there is none), as the learned router reads it.
pub fn query_text(input: &ChatInput) -> &str {
    input
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .or_else(|| input.messages.last())
        .map_or("", |m| m.text.as_str())
}

/// Restores memory from a store: upgrades still in force, and the latest ratings for the
/// track record.
pub async fn restore(
    memory: &Memory,
    store: &dyn routewise_store::Store,
    config: &MemoryConfig,
    now_unix_ms: u64,
) -> Result<(), routewise_store::StoreError> {
    memory.replace_upgrades(live_upgrades(store, config, now_unix_ms).await?);
    // Oldest first, so that the newest survive when the index is full.
    let mut rated = store.rated(config.track_record_entries).await?;
    rated.reverse();
    for row in rated {
        if let Some(fingerprint) = Fingerprint::from_bytes(&row.fingerprint) {
            memory.restore_rating(
                fingerprint,
                Rating {
                    request: row.request_id,
                    model: row.model,
                    score: row.score,
                },
            );
        }
    }
    Ok(())
}

/// The upgrades in force in the store, as a memory of their own.
async fn live_upgrades(
    store: &dyn routewise_store::Store,
    config: &MemoryConfig,
    now_unix_ms: u64,
) -> Result<UpgradeMemory, routewise_store::StoreError> {
    let now = i64::try_from(now_unix_ms).unwrap_or(i64::MAX);
    let mut upgrades = UpgradeMemory::new(config.max_entries);
    for row in store.live_upgrades(now).await? {
        let Some(fingerprint) = Fingerprint::from_bytes(&row.fingerprint) else {
            continue;
        };
        upgrades.remember(
            fingerprint,
            Upgrade {
                rated_request: row.rated_request,
                rated_model: row.rated_model,
                min_tier: usize::try_from(row.min_tier).unwrap_or(0),
                created_unix_ms: u64::try_from(row.created_unix_ms).unwrap_or(0),
                expires_unix_ms: u64::try_from(row.expires_unix_ms).unwrap_or(0),
            },
        );
    }
    Ok(upgrades)
}

/// Where the memory bus delivers other replicas' changes: this gateway's memory.
#[derive(Debug)]
pub struct ReplicaSink(pub WeakGateway);

impl MemorySink for ReplicaSink {
    fn apply(&self, change: MemoryChange) {
        if let Some(gateway) = self.0.upgrade() {
            gateway.memory().apply(change);
        }
    }

    fn resync(&self) -> BoxFuture<'static, ()> {
        let gateway = self.0.clone();
        Box::pin(async move {
            let Some(gateway) = gateway.upgrade() else {
                return;
            };
            let Some(store) = gateway.store() else {
                return;
            };
            let runtime = gateway.runtime();
            let now = gateway.now_unix_ms();
            match restore(
                gateway.memory(),
                store.store.as_ref(),
                &runtime.config.memory,
                now,
            )
            .await
            {
                Ok(()) => tracing::info!("memory resynchronised from the store"),
                Err(err) => {
                    tracing::warn!("memory could not be resynchronised from the store: {err}")
                }
            }
        })
    }
}
