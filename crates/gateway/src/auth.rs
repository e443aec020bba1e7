//! Client authentication and per-key rate limits.
//!
//! Keys are configured as SHA-256 digests, so the config file never holds a usable key; a
//! presented key is hashed and looked up. Request and token limits are per process (governor);
//! tokens are charged for the prompt before the call and for the completion after it.

use crate::error::GatewayError;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
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
    name: String,
    requests: Option<DefaultDirectRateLimiter>,
    tokens: Option<DefaultDirectRateLimiter>,
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
        let limiter = |per_minute: Option<u32>| {
            per_minute
                .and_then(NonZeroU32::new)
                .map(|n| RateLimiter::direct(Quota::per_minute(n)))
        };
        let keys = keys
            .iter()
            .map(|key| {
                let entry = KeyEntry {
                    name: key.name.clone(),
                    tier: key.tier.clone(),
                    limits: Arc::new(KeyLimits {
                        name: key.name.clone(),
                        requests: limiter(key.requests_per_minute),
                        tokens: limiter(key.tokens_per_minute),
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

    /// Identifies the caller from `Authorization: Bearer` (or `x-api-key`) and takes one request
    /// from its request limit.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, GatewayError> {
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
        let presented = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
            .map(str::trim)
            .ok_or(GatewayError::Unauthorized)?;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let entry = self.keys.get(&digest).ok_or(GatewayError::Unauthorized)?;
        if let Some(requests) = &entry.limits.requests
            && let Err(not_until) = requests.check()
        {
            return Err(GatewayError::RateLimited {
                key: entry.name.clone(),
                limit: "requests per minute",
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            });
        }
        Ok(Caller {
            key_name: Some(entry.name.clone()),
            tier: claimed_tier.unwrap_or_else(|| entry.tier.clone()),
            limits: Some(Arc::clone(&entry.limits)),
        })
    }
}

impl Caller {
    /// Charges the prompt's tokens before the call; refuses when the key's token budget for the
    /// minute is spent (or the prompt alone exceeds it).
    pub fn charge_prompt(&self, tokens: u32) -> Result<(), GatewayError> {
        let Some(limits) = &self.limits else {
            return Ok(());
        };
        let (Some(limiter), Some(n)) = (&limits.tokens, NonZeroU32::new(tokens)) else {
            return Ok(());
        };
        let limited = |retry_after| GatewayError::RateLimited {
            key: limits.name.clone(),
            limit: "tokens per minute",
            retry_after,
        };
        match limiter.check_n(n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(limited(
                not_until.wait_time_from(DefaultClock::default().now()),
            )),
            Err(_) => Err(limited(std::time::Duration::from_secs(60))),
        }
    }

    /// Charges completion tokens after the call, as far as the budget goes: the answer is
    /// already delivered, so an overdraft only delays the key's next requests.
    pub fn charge_completion(&self, tokens: u64) {
        let Some(limiter) = self.limits.as_ref().and_then(|l| l.tokens.as_ref()) else {
            return;
        };
        let mut left = u32::try_from(tokens).unwrap_or(u32::MAX);
        while let Some(n) = NonZeroU32::new(left) {
            match limiter.check_n(n) {
                Ok(Ok(())) => return,
                // Spend what is available in halves until nothing more fits.
                _ if left > 1 => left /= 2,
                _ => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn no_keys_means_open_access_with_the_default_tier() {
        let store = KeyStore::new(&[], "standard", false);
        let mut headers = HeaderMap::new();
        headers.insert(TIER_HEADER, HeaderValue::from_static("premium"));
        let caller = store.authenticate(&headers).unwrap();
        assert_eq!(
            caller.tier, "standard",
            "the tier header is ignored unless trusted"
        );
        let trusting = KeyStore::new(&[], "standard", true);
        assert_eq!(trusting.authenticate(&headers).unwrap().tier, "premium");
    }

    #[test]
    fn keys_are_matched_by_hash() {
        let store = KeyStore::new(&[key("team", "sk-good", None, None)], "standard", false);
        let caller = store.authenticate(&bearer("sk-good")).unwrap();
        assert_eq!(caller.key_name.as_deref(), Some("team"));
        assert_eq!(caller.tier, "premium");
        assert!(matches!(
            store.authenticate(&bearer("sk-bad")),
            Err(GatewayError::Unauthorized)
        ));
        assert!(matches!(
            store.authenticate(&HeaderMap::new()),
            Err(GatewayError::Unauthorized)
        ));
    }

    #[test]
    fn request_and_token_limits_refuse_with_a_retry_delay() {
        let store = KeyStore::new(&[key("k", "s", Some(2), Some(100))], "standard", false);
        store.authenticate(&bearer("s")).unwrap();
        let caller = store.authenticate(&bearer("s")).unwrap();
        match store.authenticate(&bearer("s")) {
            Err(GatewayError::RateLimited { retry_after, .. }) => {
                assert!(retry_after > std::time::Duration::ZERO)
            }
            other => panic!("expected a rate limit, got {other:?}"),
        }
        caller.charge_prompt(60).unwrap();
        caller.charge_completion(30);
        assert!(matches!(
            caller.charge_prompt(60),
            Err(GatewayError::RateLimited { .. })
        ));
        assert!(
            caller.charge_prompt(500).is_err(),
            "larger than the whole budget"
        );
    }
}
