//! Client authentication: who is calling, with which tier and which limits.
//!
//! Keys are configured as SHA-256 digests, so the config file never holds a usable key; a
//! presented key is hashed and looked up. The key's request and token limits are buckets of
//! the gateway's [`RateLimiter`] (see [`crate::shared::limits`]): a request takes one request
//! on arrival, its prompt's tokens before the call and its completion's tokens after it.

use crate::error::GatewayError;
use crate::shared::{Bucket, Denied, LimitKind, RateLimiter};
use http::HeaderMap;
use routewise_config::server::ClientKey;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

/// The header a trusted client may use to state its tier (`[server] trust_tier_header`).
pub const TIER_HEADER: &str = "x-routewise-user-tier";

/// Who is calling.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The client key's configured name; `None` when auth is off.
    pub key_name: Option<String>,
    pub tier: String,
    limits: Option<Arc<KeyLimits>>,
}

#[derive(Debug)]
struct KeyLimits {
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
}

#[derive(Debug)]
struct KeyEntry {
    name: String,
    tier: String,
    limits: Arc<KeyLimits>,
}

/// The configured client keys. Empty means authentication is off.
#[derive(Debug)]
pub struct KeyStore {
    keys: HashMap<[u8; 32], KeyEntry>,
    default_tier: String,
    trust_tier_header: bool,
}

impl KeyStore {
    pub fn new(keys: &[ClientKey], default_tier: &str, trust_tier_header: bool) -> Self {
        let bucket = |name: &str, kind, per_minute: Option<u32>| {
            per_minute
                .and_then(NonZeroU32::new)
                .map(|per_minute| Bucket {
                    key: name.to_owned(),
                    kind,
                    per_minute,
                })
        };
        let keys = keys
            .iter()
            .map(|key| {
                let entry = KeyEntry {
                    name: key.name.clone(),
                    tier: key.tier.clone(),
                    limits: Arc::new(KeyLimits {
                        requests: bucket(&key.name, LimitKind::Requests, key.requests_per_minute),
                        tokens: bucket(&key.name, LimitKind::Tokens, key.tokens_per_minute),
                    }),
                };
                (key.key_sha256, entry)
            })
            .collect();
        Self {
            keys,
            default_tier: default_tier.to_owned(),
            trust_tier_header,
        }
    }

    /// Whether any client key is configured (requests without one are refused).
    pub fn is_enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Every limit bucket the keys use (the others can be forgotten after a reload).
    pub fn buckets(&self) -> Vec<Bucket> {
        self.keys
            .values()
            .flat_map(|k| [k.limits.requests.clone(), k.limits.tokens.clone()])
            .flatten()
            .collect()
    }

    /// Identifies the caller from `Authorization: Bearer` (the scheme in any case) or
    /// `x-api-key`, without taking anything from its limits.
    pub fn identify(&self, headers: &HeaderMap) -> Result<Caller, GatewayError> {
        let claimed_tier = self
            .trust_tier_header
            .then(|| headers.get(TIER_HEADER)?.to_str().ok())
            .flatten()
            .map(|t| t.trim().to_lowercase())
            .filter(|t| !t.is_empty());
        if self.keys.is_empty() {
            return Ok(Caller {
                key_name: None,
                tier: claimed_tier.unwrap_or_else(|| self.default_tier.clone()),
                limits: None,
            });
        }
        let presented = presented_key(headers).ok_or(GatewayError::Unauthorized)?;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let entry = self.keys.get(&digest).ok_or(GatewayError::Unauthorized)?;
        Ok(Caller {
            key_name: Some(entry.name.clone()),
            tier: claimed_tier.unwrap_or_else(|| entry.tier.clone()),
            limits: Some(Arc::clone(&entry.limits)),
        })
    }

    /// Identifies the caller and takes one request from its request limit.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        limiter: &dyn RateLimiter,
    ) -> Result<Caller, GatewayError> {
        let caller = self.identify(headers)?;
        self.admit(&caller, limiter).await?;
        Ok(caller)
    }

    /// Takes one request from an identified caller's request limit.
    pub async fn admit(
        &self,
        caller: &Caller,
        limiter: &dyn RateLimiter,
    ) -> Result<(), GatewayError> {
        match caller.limits.as_ref().and_then(|l| l.requests.as_ref()) {
            Some(bucket) => take(limiter, bucket, NonZeroU32::MIN).await,
            None => Ok(()),
        }
    }
}

/// The key a client presented: `Authorization: <scheme> <key>` where the scheme is `Bearer`
/// in any case (RFC 9110 makes schemes case-insensitive), else `x-api-key`.
/// Whether the request presents the key whose SHA-256 is `digest` (`[dashboard] key_sha256`).
pub fn presents_key(headers: &HeaderMap, digest: &[u8; 32]) -> bool {
    presented_key(headers)
        .is_some_and(|key| <[u8; 32]>::from(Sha256::digest(key.as_bytes())) == *digest)
}

fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, key) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(key)
        });
    bearer
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|key| !key.is_empty())
}

async fn take(
    limiter: &dyn RateLimiter,
    bucket: &Bucket,
    n: NonZeroU32,
) -> Result<(), GatewayError> {
    match limiter.acquire(bucket, n).await {
        Ok(()) => Ok(()),
        Err(Denied::Wait(retry_after)) => Err(GatewayError::RateLimited {
            key: bucket.key.clone(),
            limit: bucket.kind.describe(),
            retry_after,
        }),
        Err(Denied::Never) => Err(GatewayError::ExceedsLimit {
            key: bucket.key.clone(),
            limit: bucket.kind.describe(),
            requested: n.get(),
            per_minute: bucket.per_minute.get(),
        }),
    }
}

impl Caller {
    /// A caller with no key and no limits (auth off), for tools and tests.
    pub fn anonymous(tier: &str) -> Self {
        Self {
            key_name: None,
            tier: tier.to_owned(),
            limits: None,
        }
    }

    /// Charges the prompt's tokens before the call; refuses when the key's token budget for the
    /// minute is spent, and for good when the prompt alone exceeds it.
    pub async fn charge_prompt(
        &self,
        limiter: &dyn RateLimiter,
        tokens: u32,
    ) -> Result<(), GatewayError> {
        let (Some(bucket), Some(n)) = (self.token_bucket(), NonZeroU32::new(tokens)) else {
            return Ok(());
        };
        take(limiter, bucket, n).await
    }

    /// Charges completion tokens after the call, as far as the budget goes: the answer is
    /// already delivered, so an overdraft only delays the key's next requests.
    pub fn charge_completion(&self, limiter: &dyn RateLimiter, tokens: u64) {
        if let Some(bucket) = self.token_bucket() {
            limiter.spend(bucket, u32::try_from(tokens).unwrap_or(u32::MAX));
        }
    }

    fn token_bucket(&self) -> Option<&Bucket> {
        self.limits.as_ref().and_then(|l| l.tokens.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shared::LocalRateLimiter;
    use http::HeaderValue;

    fn key(name: &str, secret: &str, rpm: Option<u32>, tpm: Option<u32>) -> ClientKey {
        ClientKey {
            name: name.to_owned(),
            key_sha256: Sha256::digest(secret.as_bytes()).into(),
            tier: "premium".to_owned(),
            requests_per_minute: rpm,
            tokens_per_minute: tpm,
        }
    }

    fn bearer(secret: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {secret}")).unwrap(),
        );
        headers
    }

    #[tokio::test]
    async fn no_keys_means_open_access_with_the_default_tier() {
        let limits = LocalRateLimiter::default();
        let store = KeyStore::new(&[], "standard", false);
        let mut headers = HeaderMap::new();
        headers.insert(TIER_HEADER, HeaderValue::from_static("premium"));
        let caller = store.authenticate(&headers, &limits).await.unwrap();
        assert_eq!(
            caller.tier, "standard",
            "the tier header is ignored unless trusted"
        );
        let trusting = KeyStore::new(&[], "standard", true);
        assert_eq!(
            trusting.authenticate(&headers, &limits).await.unwrap().tier,
            "premium"
        );
    }

    #[tokio::test]
    async fn keys_are_matched_by_hash() {
        let limits = LocalRateLimiter::default();
        let store = KeyStore::new(&[key("team", "sk-good", None, None)], "standard", false);
        let caller = store
            .authenticate(&bearer("sk-good"), &limits)
            .await
            .unwrap();
        assert_eq!(caller.key_name.as_deref(), Some("team"));
        assert_eq!(caller.tier, "premium");
        assert!(matches!(
            store.authenticate(&bearer("sk-bad"), &limits).await,
            Err(GatewayError::Unauthorized)
        ));
        assert!(matches!(
            store.authenticate(&HeaderMap::new(), &limits).await,
            Err(GatewayError::Unauthorized)
        ));
    }

    #[tokio::test]
    async fn request_and_token_limits_refuse_with_a_retry_delay() {
        let limits = LocalRateLimiter::default();
        let store = KeyStore::new(&[key("k", "s", Some(2), Some(100))], "standard", false);
        store.authenticate(&bearer("s"), &limits).await.unwrap();
        let caller = store.authenticate(&bearer("s"), &limits).await.unwrap();
        match store.authenticate(&bearer("s"), &limits).await {
            Err(GatewayError::RateLimited { retry_after, .. }) => {
                assert!(retry_after > std::time::Duration::ZERO)
            }
            other => panic!("expected a rate limit, got {other:?}"),
        }
        caller.charge_prompt(&limits, 60).await.unwrap();
        caller.charge_completion(&limits, 30);
        assert!(matches!(
            caller.charge_prompt(&limits, 60).await,
            Err(GatewayError::RateLimited { .. })
        ));
        assert!(
            caller.charge_prompt(&limits, 500).await.is_err(),
            "larger than the whole budget"
        );
    }

    /// Before the fix, a prompt larger than the key's whole per-minute budget got a 429 with
    /// a retry delay, which SDKs retry forever; it can never pass.
    #[tokio::test]
    async fn a_prompt_larger_than_the_whole_budget_is_refused_for_good() {
        let limits = LocalRateLimiter::default();
        let store = KeyStore::new(&[key("k", "s", None, Some(100))], "standard", false);
        let caller = store.authenticate(&bearer("s"), &limits).await.unwrap();
        assert!(matches!(
            caller.charge_prompt(&limits, 500).await,
            Err(GatewayError::ExceedsLimit {
                requested: 500,
                per_minute: 100,
                ..
            })
        ));
    }

    #[tokio::test]
    async fn the_bearer_scheme_is_case_insensitive() {
        let limits = LocalRateLimiter::default();
        let store = KeyStore::new(&[key("team", "sk-good", None, None)], "standard", false);
        for scheme in ["bearer", "BEARER", "Bearer"] {
            let mut headers = HeaderMap::new();
            headers.insert(
                http::header::AUTHORIZATION,
                HeaderValue::from_str(&format!("{scheme} sk-good")).unwrap(),
            );
            let caller = store.authenticate(&headers, &limits).await.unwrap();
            assert_eq!(caller.key_name.as_deref(), Some("team"), "{scheme}");
        }
        let mut basic = HeaderMap::new();
        basic.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Basic sk-good"),
        );
        assert!(store.authenticate(&basic, &limits).await.is_err());
    }
}
