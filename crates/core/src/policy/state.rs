//! Learned state: what a learning policy knows from outcomes, held by the shell as a value.
//!
//! A policy that learns exposes a [`Learner`]. The shell keeps the current [`LearnedState`]
//! of each configured policy outside the compiled config (so a reload does not lose it), hands
//! a snapshot to every choice, and swaps in `learner.observe(state, outcome)` when an outcome
//! arrives. States are immutable values behind an `Arc`: a choice never sees half an update,
//! and the update is a pure function that property tests can drive.

use serde_json::Value;
use std::any::Any;
use std::fmt;
use std::sync::Arc;
use thiserror::Error;

/// One learning policy's state: opaque to everyone but its own [`Learner`].
#[derive(Clone)]
pub struct LearnedState(Arc<dyn Any + Send + Sync>);

impl LearnedState {
    pub fn new<T: Any + Send + Sync>(value: T) -> Self {
        Self(Arc::new(value))
    }

    /// The state as its learner's own type; `None` for another learner's state.
    pub fn downcast<T: Any>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }

    /// Whether both are the same value (no update happened between them).
    pub fn same(&self, other: &LearnedState) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl fmt::Debug for LearnedState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LearnedState").finish_non_exhaustive()
    }
}

/// How one served request turned out: what a learner learns from.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome<'a> {
    /// The catalog model that served it.
    pub model: &'a str,
    /// The policy's features of the request, as recorded with the decision.
    pub features: &'a [f32],
    /// Quality in [0, 1] (feedback score, or a benchmark's score in simulation).
    pub quality: f64,
    /// What the call cost.
    pub cost_usd: f64,
}

/// Why a stored state cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StateError {
    #[error("the stored state is not this policy's: {0}")]
    Mismatch(String),
    #[error("the stored state is not valid: {0}")]
    Corrupt(String),
}

/// The learning side of a policy. Every method is pure.
pub trait Learner: fmt::Debug + Send + Sync {
    /// The state before any outcome: the prior (a sensible cold start).
    fn fresh(&self) -> LearnedState;

    /// Whether a state learned under an earlier config still fits this policy (same arms,
    /// same features). A reload keeps a state that fits and starts afresh otherwise, and says so.
    fn fits(&self, state: &LearnedState) -> Result<(), StateError>;

    /// The state after one more outcome.
    fn observe(&self, state: &LearnedState, outcome: &Outcome<'_>) -> LearnedState;

    /// The state as JSON, to persist it.
    fn encode(&self, state: &LearnedState) -> Result<Value, StateError>;

    /// A persisted state, checked as [`Learner::fits`] would.
    fn decode(&self, value: &Value) -> Result<LearnedState, StateError>;

    /// Three-way merge for replicas that learn side by side: `theirs` plus what `mine` learned
    /// since `base` (both descend from it). A learner whose state is a sum of what each
    /// outcome adds makes this exact, so no replica's outcomes are lost or counted twice. The
    /// default refuses: the shell then keeps the last writer's state and says so.
    fn merge(
        &self,
        base: &LearnedState,
        mine: &LearnedState,
        theirs: &LearnedState,
    ) -> Result<LearnedState, StateError> {
        let _ = (base, mine, theirs);
        Err(StateError::Mismatch(
            "this policy's state cannot be merged between replicas".to_owned(),
        ))
    }
}
