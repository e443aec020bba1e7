//! Memory changes every replica applies, behind [`MemoryBus`]: a rating for the track record,
//! an upgrade that lifts similar requests, the release of one. Feedback taken by one replica
//! changes memory there at once; the bus carries the change to the others (over Redis, within
//! milliseconds), and a replica that lost the bus for a while rebuilds memory from the store
//! when it returns ([`MemorySink::resync`]).

use futures::future::BoxFuture;
use routewise_core::memory::{Fingerprint, Rating, Upgrade};
use std::sync::Arc;

/// One change to memory.
#[derive(Debug, Clone, PartialEq)]
pub enum MemoryChange {
    Rated {
        fingerprint: Fingerprint,
        rating: Rating,
    },
    Upgraded {
        fingerprint: Fingerprint,
        upgrade: Upgrade,
    },
    Released {
        rated_request: String,
    },
}

/// Where a replica applies the other replicas' changes.
pub trait MemorySink: Send + Sync {
    fn apply(&self, change: MemoryChange);

    /// Rebuilds memory from the store: changes sent while this replica could not hear them
    /// were missed.
    fn resync(&self) -> BoxFuture<'static, ()>;
}

/// Carries memory changes between replicas.
pub trait MemoryBus: std::fmt::Debug + Send + Sync {
    /// Tells the other replicas; never blocks (a shared bus sends in the background).
    fn publish(&self, change: MemoryChange);

    /// Delivers the other replicas' changes to `sink` from now on (called once, at start).
    fn subscribe(&self, sink: Arc<dyn MemorySink>);
}

/// No other replica: nothing to carry.
#[derive(Debug, Default)]
pub struct LocalBus;

impl MemoryBus for LocalBus {
    fn publish(&self, _change: MemoryChange) {}

    fn subscribe(&self, _sink: Arc<dyn MemorySink>) {}
}

/// How the shared state's backend is doing, for `/readyz` and the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedReport {
    /// `redis`.
    pub backend: &'static str,
    /// The backend failed lately: this replica serves from its own limits, circuits and cache.
    pub degraded: bool,
    /// Calls that failed or timed out since start.
    pub errors: u64,
    pub last_error: Option<String>,
}

/// A shared backend that can say how it is doing.
pub trait SharedHealth: std::fmt::Debug + Send + Sync {
    fn report(&self) -> SharedReport;
}
