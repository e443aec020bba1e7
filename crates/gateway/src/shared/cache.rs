//! The exact-match response cache for non-streamed requests on routes that opt in, behind
//! [`ResponseCache`].
//!
//! The key is a SHA-256 over the route, the caller's tier (routing may depend on it) and the
//! request body re-serialised from its parsed form (object keys sorted), so formatting and key
//! order do not cause misses while any change in content does. A request that cannot be
//! serialised has no key and is not cached: sharing one key between such requests could hand
//! one caller another's answer.

use bytes::Bytes;
use futures::future::BoxFuture;
use moka::future::Cache;
use routewise_config::server::CacheConfig;
use routewise_openai::ChatCompletionRequest;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// A stored answer, with what the response headers need.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedReply {
    pub body: Bytes,
    pub model: String,
    pub policy: String,
    pub reason: String,
}

/// Cache key: a digest of route, tier and request.
pub type CacheKey = [u8; 32];

/// The key of a request on a route for a caller's tier; `None` when the request cannot be
/// serialised (it is then not cached).
pub fn cache_key(route: &str, tier: &str, request: &ChatCompletionRequest) -> Option<CacheKey> {
    key_of(route, tier, request)
}

fn key_of(route: &str, tier: &str, request: &impl Serialize) -> Option<CacheKey> {
    let body = serde_json::to_vec(request).ok()?;
    let mut hasher = Sha256::new();
    for part in [route.as_bytes(), b"\0", tier.as_bytes(), b"\0", &body] {
        hasher.update(part);
    }
    Some(hasher.finalize().into())
}

/// Stored answers, shared by every request of a gateway (and, implemented over a shared store,
/// by every replica).
pub trait ResponseCache: std::fmt::Debug + Send + Sync {
    fn get<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Option<Arc<CachedReply>>>;

    fn insert(&self, key: CacheKey, reply: CachedReply) -> BoxFuture<'_, ()>;
}

/// Answers kept in this process (moka: bounded, with a time to live).
#[derive(Debug, Clone)]
pub struct LocalResponseCache {
    entries: Cache<CacheKey, Arc<CachedReply>>,
}

impl LocalResponseCache {
    pub fn new(config: CacheConfig) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(config.max_entries)
                .time_to_live(config.ttl)
                .build(),
        }
    }
}

impl ResponseCache for LocalResponseCache {
    fn get<'a>(&'a self, key: &'a CacheKey) -> BoxFuture<'a, Option<Arc<CachedReply>>> {
        Box::pin(self.entries.get(key))
    }

    fn insert(&self, key: CacheKey, reply: CachedReply) -> BoxFuture<'_, ()> {
        Box::pin(self.entries.insert(key, Arc::new(reply)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn request(json: &str) -> ChatCompletionRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn key_ignores_formatting_but_not_content_route_or_tier() {
        let a = request(
            r#"{"model":"auto","temperature":0,"messages":[{"role":"user","content":"hi"}]}"#,
        );
        let b = request(
            r#"{ "messages": [ {"content": "hi", "role": "user"} ], "temperature": 0, "model": "auto" }"#,
        );
        let c = request(
            r#"{"model":"auto","temperature":1,"messages":[{"role":"user","content":"hi"}]}"#,
        );
        let key = cache_key("auto", "standard", &a);
        assert!(key.is_some());
        assert_eq!(key, cache_key("auto", "standard", &b));
        assert_ne!(key, cache_key("auto", "standard", &c));
        assert_ne!(key, cache_key("auto", "premium", &a));
        assert_ne!(key, cache_key("cheap", "standard", &a));
    }

    /// Something whose serialisation fails, as a request's could.
    struct Unserialisable(u8);

    impl Serialize for Unserialisable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom(format!(
                "cannot serialise {}",
                self.0
            )))
        }
    }

    /// Before the fix, every request that failed to serialise hashed an empty body, so they
    /// all shared one key and one could be answered with another's cached reply.
    #[test]
    fn a_request_that_cannot_be_serialised_has_no_key() {
        assert_eq!(key_of("auto", "standard", &Unserialisable(1)), None);
        assert_eq!(key_of("auto", "standard", &Unserialisable(2)), None);
    }

    #[tokio::test]
    async fn stores_and_returns_replies() {
        let cache = LocalResponseCache::new(CacheConfig {
            ttl: Duration::from_secs(60),
            max_entries: 10,
        });
        let reply = CachedReply {
            body: Bytes::from_static(b"{}"),
            model: "small".into(),
            policy: "rules".into(),
            reason: "rule:x".into(),
        };
        assert!(cache.get(&[1; 32]).await.is_none());
        cache.insert([1; 32], reply.clone()).await;
        assert_eq!(cache.get(&[1; 32]).await.as_deref(), Some(&reply));
    }
}
