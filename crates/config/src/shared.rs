//! `[shared]`: where replicas share what must hold across all of them (rate limits, circuit
//! breakers, the response cache, the upgrade memory's hot set). Absent: everything stays in the
//! process, as for a single gateway.

use crate::compile::Errors;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawShared {
    /// `redis://HOST:PORT[/DB]` or `rediss://...` (TLS).
    pub redis: Option<String>,
    /// Prefix of every key routewise writes, so that deployments can share one Redis.
    pub prefix: Option<String>,
    /// A Redis call slower than this counts as failed and the replica uses its own state.
    pub timeout_ms: Option<u64>,
}

/// The compiled `[shared]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedConfig {
    pub redis: String,
    pub prefix: String,
    pub timeout: Duration,
}

/// The default key prefix.
pub const DEFAULT_PREFIX: &str = "routewise";

/// `[shared]`; `None` when it names no Redis.
pub(crate) fn compile_shared(raw: &RawShared, errors: &mut Errors) -> Option<SharedConfig> {
    let prefix = raw
        .prefix
        .clone()
        .unwrap_or_else(|| DEFAULT_PREFIX.to_owned());
    if prefix.is_empty() || prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
        errors.push(
            "shared.prefix",
            format!("`{prefix}` must be a non-empty word without spaces (e.g. \"routewise-prod\")"),
        );
    }
    let timeout_ms = raw.timeout_ms.unwrap_or(50);
    if !(1..=60_000).contains(&timeout_ms) {
        errors.push(
            "shared.timeout_ms",
            format!("{timeout_ms} must be between 1 and 60000 (milliseconds)"),
        );
    }
    let url = raw.redis.as_deref()?.trim();
    let rest = url
        .strip_prefix("redis://")
        .or_else(|| url.strip_prefix("rediss://"));
    if rest.is_none_or(|r| r.is_empty() || r.chars().any(|c| c.is_whitespace() || c.is_control())) {
        errors.push(
            "shared.redis",
            format!("`{url}` is not a redis:// or rediss:// URL (e.g. \"redis://127.0.0.1:6379\")"),
        );
        return None;
    }
    Some(SharedConfig {
        redis: url.to_owned(),
        prefix,
        timeout: Duration::from_millis(timeout_ms),
    })
}
