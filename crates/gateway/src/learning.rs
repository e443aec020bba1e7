//! Learned state of the configured policies, kept outside the compiled config so that it
//! survives reloads: decisions read a snapshot, outcomes swap in the learner's update.
//!
//! After a reload, [`LearnedStates::adopt`] keeps the state of every policy whose learner
//! still accepts it (same arms, same features) and starts the others afresh, and says which.

use arc_swap::ArcSwap;
use routewise_config::PolicyRegistry;
use routewise_core::policy::{LearnedState, Learner, Outcome};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// What a reload did to one learning policy's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateChange {
    /// A new learning policy: it starts from its prior.
    Started { policy: String },
    /// The state carried over.
    Kept { policy: String },
    /// The policy's settings changed so that its old state no longer fits: it starts afresh.
    Reset { policy: String, why: String },
}

impl std::fmt::Display for StateChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateChange::Started { policy } => {
                write!(f, "policy `{policy}` starts learning from its prior")
            }
            StateChange::Kept { policy } => write!(f, "policy `{policy}` keeps what it learned"),
            StateChange::Reset { policy, why } => write!(
                f,
                "policy `{policy}` starts learning afresh: its learned state no longer fits ({why})"
            ),
        }
    }
}

type Slots = HashMap<String, Arc<ArcSwap<LearnedState>>>;

/// Every learning policy's current state, by policy name. Decisions read it without a lock
/// (the map and each state are swapped whole); only [`LearnedStates::adopt`] and
/// [`LearnedStates::set`] change the map, one at a time.
#[derive(Debug, Default)]
pub struct LearnedStates {
    states: ArcSwap<Slots>,
    writing: Mutex<()>,
}

impl LearnedStates {
    /// The current state of `policy`, if it learns.
    pub fn get(&self, policy: &str) -> Option<LearnedState> {
        let states = self.states.load();
        if states.is_empty() {
            return None;
        }
        states
            .get(policy)
            .map(|state| LearnedState::clone(&state.load()))
    }

    /// Folds one outcome into `policy`'s state. Concurrent outcomes all count: the update is a
    /// pure function, retried on a lost race.
    pub fn observe(&self, policy: &str, learner: &dyn Learner, outcome: &Outcome<'_>) {
        if let Some(slot) = self.states.load().get(policy) {
            slot.rcu(|current| learner.observe(current, outcome));
        }
    }

    /// After a sync: `merged` replaces `synced` (the state the sync read), and outcomes folded
    /// in since then are merged on top, so none is lost.
    pub fn rebase(
        &self,
        policy: &str,
        learner: &dyn Learner,
        synced: &LearnedState,
        merged: &LearnedState,
    ) {
        if let Some(slot) = self.states.load().get(policy) {
            slot.rcu(|current| {
                if current.same(synced) {
                    return merged.clone();
                }
                learner
                    .merge(synced, current, merged)
                    .unwrap_or_else(|_| LearnedState::clone(current))
            });
        }
    }

    /// Replaces `policy`'s state (restored from the store).
    pub fn set(&self, policy: &str, state: LearnedState) {
        let _writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.states.load_full();
        match current.get(policy) {
            Some(slot) => slot.store(Arc::new(state)),
            None => {
                let mut states = Slots::clone(&current);
                states.insert(policy.to_owned(), Arc::new(ArcSwap::from_pointee(state)));
                self.states.store(Arc::new(states));
            }
        }
    }

    /// Fits the states to the policies of a new config: what each learning policy keeps.
    /// States of policies no longer configured are dropped.
    pub fn adopt(&self, policies: &PolicyRegistry) -> Vec<StateChange> {
        let _writing = self.writing.lock().unwrap_or_else(PoisonError::into_inner);
        let mut previous = Slots::clone(&self.states.load_full());
        let mut kept = Slots::new();
        let mut changes = Vec::new();
        for entry in policies.iter() {
            let Some(learner) = entry.policy.learner() else {
                continue;
            };
            let policy = entry.name.clone();
            let (slot, change) = match previous.remove(&entry.name) {
                None => (
                    Arc::new(ArcSwap::from_pointee(learner.fresh())),
                    StateChange::Started { policy },
                ),
                Some(slot) => match learner.fits(&slot.load()) {
                    Ok(()) => (slot, StateChange::Kept { policy }),
                    Err(why) => (
                        Arc::new(ArcSwap::from_pointee(learner.fresh())),
                        StateChange::Reset {
                            policy,
                            why: why.to_string(),
                        },
                    ),
                },
            };
            kept.insert(entry.name.clone(), slot);
            changes.push(change);
        }
        self.states.store(Arc::new(kept));
        changes
    }
}
