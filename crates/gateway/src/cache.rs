//! The exact-match response cache for non-streamed requests on routes that opt in.
//!
//! The key is a SHA-256 over the route, the caller's tier (routing may depend on it) and the
//! request body re-serialised from its parsed form (object keys sorted), so formatting and key
//! order do not cause misses while any change in content does.

use bytes::Bytes;
use moka::future::Cache;
use routewise_config::server::CacheConfig;
use routewise_openai::ChatCompletionRequest;
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

#[derive(Debug, Clone)]
pub struct ResponseCache {
    entries: Cache<CacheKey, Arc<CachedReply>>,
}

impl ResponseCache {
    pub fn new(config: CacheConfig) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(config.max_entries)
                .time_to_live(config.ttl)
                .build(),
        }
    }

    pub fn key(route: &str, tier: &str, request: &ChatCompletionRequest) -> CacheKey {
        let mut hasher = Sha256::new();
        for part in [route.as_bytes(), b"\0", tier.as_bytes(), b"\0"] {
            hasher.update(part);
        }
        // Serialising a parsed request cannot fail (string keys, finite numbers); an empty body
        // would only make distinct requests share a miss, never a hit with wrong content.
        hasher.update(serde_json::to_vec(request).unwrap_or_default());
        hasher.finalize().into()
    }

    pub async fn get(&self, key: &CacheKey) -> Option<Arc<CachedReply>> {
        self.entries.get(key).await
    }

    pub async fn insert(&self, key: CacheKey, reply: CachedReply) {
        self.entries.insert(key, Arc::new(reply)).await;
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
        let key = ResponseCache::key("auto", "standard", &a);
        assert_eq!(key, ResponseCache::key("auto", "standard", &b));
        assert_ne!(key, ResponseCache::key("auto", "standard", &c));
        assert_ne!(key, ResponseCache::key("auto", "premium", &a));
        assert_ne!(key, ResponseCache::key("cheap", "standard", &a));
    }

    #[tokio::test]
    async fn stores_and_returns_replies() {
        let cache = ResponseCache::new(CacheConfig {
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
