//! State that outlives a request and may be shared between replicas: per-key rate limits,
//! circuit breakers, the response cache, budget spend and the bus that carries memory changes. Each sits behind a trait with an in-process
//! implementation here, so that a shared one (Redis) can stand in without the pipeline
//! changing. A [`crate::Gateway`] holds them across config reloads: limits and circuits describe
//! clients and upstreams, not the config, and the cache is kept while its settings are unchanged.

pub mod bus;
pub mod cache;
pub mod circuits;
pub mod limits;
pub mod spend;

pub use bus::{LocalBus, MemoryBus, MemoryChange, MemorySink, SharedHealth, SharedReport};
pub use cache::{CacheKey, CachedReply, LocalResponseCache, ResponseCache, cache_key};
pub use circuits::{Admission, CircuitBreaker, CircuitSettings, LocalCircuits, Verdict};
pub use limits::{Bucket, Denied, LimitKind, LocalRateLimiter, RateLimiter};
pub use spend::{LocalSpend, SpendBook, SpendTotals};
