//! Learned state shared by replicas through the store, without lost updates.
//!
//! Each replica learns from the feedback it takes, in memory, and saves within a second. A save
//! is optimistic: it names the stored version its state descends from, and the store refuses it
//! when another replica saved since. The replica then merges (`Learner::merge`: the stored
//! state plus what it learned since its last sync, exact for the bandit's sufficient
//! statistics), saves over the newer version, and adopts the merge, keeping what it learned
//! while the save was in flight. Replicas on a shared database also poll the version every
//! [`POLL_EVERY`] and adopt what the others learned. So every outcome counts once, on every
//! replica, whichever replica took its feedback.

use crate::{Gateway, WeakGateway, metrics};
use routewise_core::policy::{LearnedState, Learner};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// How often replicas on a shared database look for what the others learned.
pub const POLL_EVERY: Duration = Duration::from_secs(1);

/// Saves refused in a row (other replicas saving at the same moment) before this sync gives up
/// until the next change or poll.
const ATTEMPTS: usize = 8;

/// Per policy, the state as last saved to or read from the store, and its stored version:
/// what a merge takes as the common ancestor.
#[derive(Debug, Default)]
pub struct SyncedStates(Mutex<HashMap<String, Synced>>);

#[derive(Debug, Clone)]
struct Synced {
    state: LearnedState,
    version: Option<i64>,
}

impl SyncedStates {
    fn get(&self, policy: &str) -> Option<Synced> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(policy)
            .cloned()
    }

    fn set(&self, policy: &str, state: LearnedState, version: Option<i64>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(policy.to_owned(), Synced { state, version });
    }

    /// After a restore: `state` is what version `version` holds.
    pub fn restored(&self, policy: &str, state: LearnedState, version: i64) {
        self.set(policy, state, Some(version));
    }
}

/// Why a sync did not complete.
#[derive(Debug)]
enum SyncError {
    Store(routewise_store::StoreError),
    Encode(String),
    Busy,
}

impl std::fmt::Display for SyncError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncError::Store(err) => write!(f, "{err}"),
            SyncError::Encode(why) => write!(f, "it cannot be encoded: {why}"),
            SyncError::Busy => write!(
                f,
                "{ATTEMPTS} saves in a row met a newer version; it is kept and retried"
            ),
        }
    }
}

/// Saves `policy`'s state, merged with what other replicas saved since; logs a failure (the
/// state stays in memory and goes with the next sync).
pub async fn sync(gateway: &Gateway, policy: &str) {
    let runtime = gateway.runtime();
    let Some(learner) = runtime
        .config
        .routing
        .policies
        .get(policy)
        .and_then(|e| e.policy.learner())
    else {
        return;
    };
    match try_sync(gateway, policy, learner).await {
        Ok(()) => {}
        Err(err) => {
            metrics::learning_state("save_failed");
            tracing::warn!("policy `{policy}`'s state could not be saved: {err}");
        }
    }
}

async fn try_sync(gateway: &Gateway, policy: &str, learner: &dyn Learner) -> Result<(), SyncError> {
    let Some(store) = gateway.store() else {
        return Ok(());
    };
    let synced = gateway.synced_states();
    for _ in 0..ATTEMPTS {
        let Some(mine) = gateway.learned().get(policy) else {
            return Ok(());
        };
        let base = synced.get(policy);
        let stored = store
            .store
            .load_versioned_state(policy)
            .await
            .map_err(SyncError::Store)?;
        let unchanged_here = base.as_ref().is_some_and(|b| b.state.same(&mine));
        let (merged, over) = match (&stored, &base) {
            (None, _) => (mine.clone(), None),
            (Some(row), Some(base)) if base.version == Some(row.version) => {
                if unchanged_here {
                    return Ok(());
                }
                (mine.clone(), Some(row.version))
            }
            (Some(row), _) => {
                let theirs = serde_json::from_str(&row.state)
                    .map_err(|e| e.to_string())
                    .and_then(|v| learner.decode(&v).map_err(|e| e.to_string()));
                match theirs {
                    Ok(theirs) if unchanged_here => {
                        // Only the others learned: adopt their state as it is.
                        adopt(gateway, policy, learner, &mine, &theirs, row.version);
                        metrics::learning_state("adopted");
                        return Ok(());
                    }
                    Ok(theirs) => {
                        let ancestor = base
                            .as_ref()
                            .map_or_else(|| learner.fresh(), |b| b.state.clone());
                        match learner.merge(&ancestor, &mine, &theirs) {
                            Ok(merged) => (merged, Some(row.version)),
                            Err(why) => {
                                tracing::warn!(
                                    "policy `{policy}`: another replica's state is replaced by this one's ({why})"
                                );
                                (mine.clone(), Some(row.version))
                            }
                        }
                    }
                    Err(why) => {
                        tracing::warn!(
                            "policy `{policy}`: the stored state does not fit ({why}); this replica's replaces it"
                        );
                        (mine.clone(), Some(row.version))
                    }
                }
            }
        };
        let encoded = learner
            .encode(&merged)
            .map(|v| v.to_string())
            .map_err(|e| SyncError::Encode(e.to_string()))?;
        let now = i64::try_from(gateway.now_unix_ms()).unwrap_or(i64::MAX);
        let saved = store
            .store
            .save_state_over(policy, &encoded, over, now)
            .await
            .map_err(SyncError::Store)?;
        match saved {
            Some(version) => {
                adopt(gateway, policy, learner, &mine, &merged, version);
                metrics::learning_state("saved");
                return Ok(());
            }
            None => metrics::learning_state("save_conflict"),
        }
    }
    Err(SyncError::Busy)
}

/// `merged` (version `version`) replaces `mine` as the common ancestor and as the live state;
/// outcomes that arrived since `mine` was read are merged on top, so none is lost.
fn adopt(
    gateway: &Gateway,
    policy: &str,
    learner: &dyn Learner,
    mine: &LearnedState,
    merged: &LearnedState,
    version: i64,
) {
    gateway
        .synced_states()
        .set(policy, merged.clone(), Some(version));
    gateway.learned().rebase(policy, learner, mine, merged);
}

/// Polls the stored versions every [`POLL_EVERY`] and adopts what other replicas saved, until
/// the gateway is dropped. Only useful on a database several replicas share.
pub async fn poll(gateway: WeakGateway) {
    let mut every = tokio::time::interval(POLL_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(gateway) = gateway.upgrade() else {
            return;
        };
        poll_once(&gateway).await;
    }
}

/// One look at every learning policy's stored version.
pub async fn poll_once(gateway: &Gateway) {
    let Some(store) = gateway.store() else {
        return;
    };
    let runtime = gateway.runtime();
    for entry in runtime.config.routing.policies.iter() {
        if entry.policy.learner().is_none() {
            continue;
        }
        let known = gateway
            .synced_states()
            .get(&entry.name)
            .and_then(|s| s.version);
        match store.store.state_version(&entry.name).await {
            Ok(Some(version)) if Some(version) != known => sync(gateway, &entry.name).await,
            Ok(_) => {}
            Err(err) => tracing::debug!("polling policy `{}`'s state failed: {err}", entry.name),
        }
    }
}
