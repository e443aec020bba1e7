//! The response cache shared by replicas: a reply one replica stored is a hit on every other.
//! Entries are Redis strings with the configured time to live (Redis's own eviction policy
//! bounds its memory).
//!
//! Local first: each replica keeps the replies it stored or fetched in a near cache of its
//! own (`[server.cache] max_entries`), each until the moment its Redis copy expires, so a
//! reply asked for again on the same replica costs no round trip. The near cache is also what
//! the replica serves from while Redis is out of reach.

use crate::client::Redis;
use bytes::Bytes;
use futures::future::BoxFuture;
use moka::Expiry;
use moka::future::Cache;
use redis::AsyncCommands;
use routewise_config::server::CacheConfig;
use routewise_gateway::shared::{CacheKey, CachedReply, ResponseCache};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A reply as stored.
#[derive(Serialize, Deserialize)]
struct Stored {
    model: String,
    policy: String,
    reason: String,
    /// The response body (JSON, so text).
    body: String,
}

/// The longest a reply is kept near.
const NEAR_AT_MOST: Duration = Duration::from_secs(24 * 3600);

/// A reply held near, with when its shared copy expires.
#[derive(Debug, Clone)]
struct Near {
    reply: Arc<CachedReply>,
    expires_at: Instant,
}

/// Near entries live exactly as long as their Redis copy.
struct UntilShared;

impl Expiry<CacheKey, Near> for UntilShared {
    fn expire_after_create(
        &self,
        _key: &CacheKey,
        value: &Near,
        created_at: Instant,
    ) -> Option<Duration> {
        Some(value.expires_at.saturating_duration_since(created_at))
    }
}

#[derive(Debug)]
pub struct RedisCache {
    redis: Arc<Redis>,
    ttl: Duration,
    near: Cache<CacheKey, Near>,
}

impl RedisCache {
    pub fn new(redis: Arc<Redis>, config: CacheConfig) -> Self {
        Self {
            redis,
            ttl: config.ttl.max(Duration::from_millis(1)),
            near: Cache::builder()
                .max_capacity(config.max_entries)
                .expire_after(UntilShared)
                .build(),
        }
    }

    fn key(&self, key: &CacheKey) -> String {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        self.redis.key(&format!("cache:{hex}"))
    }

    async fn keep_near(&self, key: CacheKey, reply: Arc<CachedReply>, ttl: Duration) {
        // A near copy lasts at most a day (a longer time to live only means fetching again).
        let expires_at = Instant::now() + ttl.min(NEAR_AT_MOST);
        self.near.insert(key, Near { reply, expires_at }).await;
    }

    /// The reply Redis holds under `key`, with how long it has left; `None` for none (or
    /// while Redis is out of reach, or for an entry that does not decode).
    async fn fetch(&self, key: &CacheKey) -> Option<(Arc<CachedReply>, Duration)> {
        let name = self.key(key);
        let (text, left_ms) = self
            .redis
            .call("cache_get", |mut connection| async move {
                redis::pipe()
                    .atomic()
                    .get(&name)
                    .pttl(&name)
                    .query_async::<(Option<String>, i64)>(&mut connection)
                    .await
            })
            .await?;
        let left = Duration::from_millis(u64::try_from(left_ms).ok()?);
        let stored: Stored = serde_json::from_str(&text?).ok()?;
        let reply = Arc::new(CachedReply {
            body: Bytes::from(stored.body),
            model: stored.model,
            policy: stored.policy,
            reason: stored.reason,
        });
        Some((reply, left))
    }
}

impl ResponseCache for RedisCache {
    fn get<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Option<Arc<CachedReply>>> {
        Box::pin(async move {
            if let Some(near) = self.near.get(key).await {
                return Some(near.reply);
            }
            let (reply, left) = self.fetch(key).await?;
            self.keep_near(*key, Arc::clone(&reply), left).await;
            Some(reply)
        })
    }

    fn insert(&self, key: CacheKey, reply: CachedReply) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let reply = Arc::new(reply);
            self.keep_near(key, Arc::clone(&reply), self.ttl).await;
            // A body that is not text is not shared (JSON replies always are).
            let Ok(body) = std::str::from_utf8(&reply.body) else {
                return;
            };
            let stored = Stored {
                model: reply.model.clone(),
                policy: reply.policy.clone(),
                reason: reply.reason.clone(),
                body: body.to_owned(),
            };
            let Ok(text) = serde_json::to_string(&stored) else {
                return;
            };
            let name = self.key(&key);
            let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
            self.redis
                .call("cache_set", |mut connection| async move {
                    connection.pset_ex::<_, _, ()>(name, text, ttl_ms).await
                })
                .await;
        })
    }
}
