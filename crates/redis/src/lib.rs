//! routewise-redis: the state replicas share through Redis (`[shared] redis = "..."`).
//!
//! [`connect`] builds a gateway's [`SharedState`] over one Redis: per-key rate limits that hold
//! across replicas ([`limits`]), circuit breakers that open for all ([`circuits`]), the response
//! cache ([`cache`]), budget spend summed over replicas ([`spend`]) and the memory bus that
//! carries ratings and upgrades ([`bus`]). Every part
//! falls back to this replica's own state while Redis is out of reach, counts it
//! (`routewise_shared_state_errors_total`), says so in `/readyz`, and shares again when Redis
//! answers ([`client`]). Keys are `PREFIX:...`, so deployments (and tests) can share a Redis.

pub mod bus;
pub mod cache;
pub mod circuits;
pub mod client;
mod lease;
pub mod limits;
pub mod spend;

use routewise_config::shared::SharedConfig;
use routewise_gateway::SharedState;
use std::sync::Arc;

pub use client::Redis;

/// `[shared]` that names a Redis routewise cannot use.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the Redis at `{url}` ([shared] redis): {source}")]
pub struct SetupError {
    url: String,
    #[source]
    source: redis::RedisError,
}

/// The shared state over the Redis that `config` names. It does not wait for Redis: a replica
/// starts while Redis is down (degraded) and shares once it answers. Call within a Tokio
/// runtime.
pub fn connect(config: &SharedConfig) -> Result<SharedState, SetupError> {
    let redis = Redis::open(&config.redis, &config.prefix, config.timeout).map_err(|source| {
        SetupError {
            url: config.redis.clone(),
            source,
        }
    })?;
    Ok(state_over(redis))
}

/// The shared state over an open [`Redis`].
pub fn state_over(redis: Arc<Redis>) -> SharedState {
    let for_cache = Arc::clone(&redis);
    SharedState {
        limits: Arc::new(limits::RedisRateLimiter::new(Arc::clone(&redis))),
        circuits: Arc::new(circuits::RedisCircuits::new(Arc::clone(&redis))),
        make_cache: Box::new(move |config| {
            Arc::new(cache::RedisCache::new(Arc::clone(&for_cache), config))
        }),
        memory_bus: Arc::new(bus::RedisBus::new(Arc::clone(&redis))),
        spend: Arc::new(spend::RedisSpend::new(Arc::clone(&redis))),
        health: Some(redis),
    }
}
