//! The response cache shared by replicas: a reply one replica stored is a hit on every other.
//! Entries are Redis strings with the configured time to live (Redis's own eviction policy
//! bounds its memory; `[server.cache] max_entries` bounds the local fallback, used while Redis
//! is out of reach).

use crate::client::Redis;
use bytes::Bytes;
use futures::future::BoxFuture;
use redis::AsyncCommands;
use routewise_config::server::CacheConfig;
use routewise_gateway::shared::{CacheKey, CachedReply, LocalResponseCache, ResponseCache};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A reply as stored.
#[derive(Serialize, Deserialize)]
struct Stored {
    model: String,
    policy: String,
    reason: String,
    /// The response body (JSON, so text).
    body: String,
}

#[derive(Debug)]
pub struct RedisCache {
    redis: Arc<Redis>,
    ttl_ms: u64,
    local: LocalResponseCache,
}

impl RedisCache {
    pub fn new(redis: Arc<Redis>, config: CacheConfig) -> Self {
        Self {
            redis,
            ttl_ms: u64::try_from(config.ttl.as_millis())
                .unwrap_or(u64::MAX)
                .max(1),
            local: LocalResponseCache::new(config),
        }
    }

    fn key(&self, key: &CacheKey) -> String {
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        self.redis.key(&format!("cache:{hex}"))
    }
}

impl ResponseCache for RedisCache {
    fn get<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Option<Arc<CachedReply>>> {
        Box::pin(async move {
            let name = self.key(key);
            let found = self
                .redis
                .call("cache_get", |mut connection| async move {
                    connection.get::<_, Option<String>>(name).await
                })
                .await;
            match found {
                Some(Some(text)) => {
                    let stored: Stored = serde_json::from_str(&text).ok()?;
                    Some(Arc::new(CachedReply {
                        body: Bytes::from(stored.body),
                        model: stored.model,
                        policy: stored.policy,
                        reason: stored.reason,
                    }))
                }
                Some(None) => None,
                None => self.local.get(key).await,
            }
        })
    }

    fn insert(&self, key: CacheKey, reply: CachedReply) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // A body that is not text is not shared (JSON replies always are).
            let Ok(body) = String::from_utf8(reply.body.to_vec()) else {
                return self.local.insert(key, reply).await;
            };
            let stored = Stored {
                model: reply.model.clone(),
                policy: reply.policy.clone(),
                reason: reply.reason.clone(),
                body,
            };
            let Ok(text) = serde_json::to_string(&stored) else {
                return self.local.insert(key, reply).await;
            };
            let name = self.key(&key);
            let ttl_ms = self.ttl_ms;
            let stored = self
                .redis
                .call("cache_set", |mut connection| async move {
                    connection.pset_ex::<_, _, ()>(name, text, ttl_ms).await
                })
                .await;
            if stored.is_none() {
                self.local.insert(key, reply).await;
            }
        })
    }
}
