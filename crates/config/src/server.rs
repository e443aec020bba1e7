//! The `[server]` section: how `routewise serve` listens, executes, authenticates, caches and
//! reloads. Raw serde structs and their compiled form live together here so that the gateway's
//! settings stay out of the routing config.
//!
//! Every key is optional; an absent `[server]` serves on `127.0.0.1:8080` with no client auth,
//! no cache, two retries and fallback on.

use crate::error::FieldError;
use crate::policies::PolicyRegistry;
use routewise_core::Catalog;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// The most `[server] max_connections` accepted.
pub const MAX_CONNECTIONS: usize = 1_000_000;

/// The most `[server] worker_threads` accepted: far past any core count, well short of a typo
/// that would start a million threads.
pub const MAX_WORKER_THREADS: usize = 1024;

/// The model value that is always a route: the configured `[routing] policy`.
pub const AUTO_ROUTE: &str = "auto";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// `host:port`; default `127.0.0.1:8080`.
    pub listen: Option<String>,
    /// Largest accepted request body; default 4 MiB.
    pub max_body_bytes: Option<usize>,
    /// Largest accepted request headers, all together; default 64 KiB.
    pub max_header_bytes: Option<usize>,
    /// Most request headers accepted; default 100.
    pub max_headers: Option<usize>,
    /// How long in-flight requests and streams may run after a shutdown signal; default 30 s.
    pub shutdown_grace_secs: Option<u64>,
    /// Time for a connection to send a request's headers, from when it opens or its previous
    /// response ends (so also how long an idle keep-alive connection stays); default 30 s.
    pub header_read_timeout_secs: Option<u64>,
    /// Time for a request's whole body to arrive once its headers have; default 30 s.
    pub body_read_timeout_secs: Option<u64>,
    /// Keep connections open between requests; default true.
    pub keep_alive: Option<bool>,
    /// Client connections open at once; more wait in the listen backlog. Default 4096.
    pub max_connections: Option<usize>,
    /// Threads that serve requests; default one per CPU.
    pub worker_threads: Option<usize>,
    /// Accept the `x-routewise-user-tier` request header; off by default, because a client could
    /// otherwise raise its own tier.
    pub trust_tier_header: Option<bool>,
    /// Tier of unauthenticated callers (and of keys without one); default `standard`.
    pub default_user_tier: Option<String>,
    /// Reload when the config file changes (SIGHUP always reloads); default true.
    pub watch_config: Option<bool>,
    /// Require a client key for `GET /metrics` too (when client keys are configured); default
    /// false, so a Prometheus scraper needs no key.
    pub metrics_auth: Option<bool>,
    #[serde(default)]
    pub routes: Vec<RawRoute>,
    #[serde(default)]
    pub cache: RawCache,
    #[serde(default)]
    pub client_keys: Vec<RawClientKey>,
    #[serde(default)]
    pub execution: RawExecution,
}

/// A named route: a `model` value that clients send instead of `auto`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub name: String,
    /// A configured policy's name (`rules`, `complexity`, `learned` or a `[policies.NAME]`);
    /// default: `[routing] policy`.
    pub policy: Option<String>,
    /// Serve repeated identical non-streamed requests from the response cache.
    #[serde(default)]
    pub cache: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    pub ttl_secs: Option<u64>,
    pub max_entries: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClientKey {
    /// A label for logs and metrics (the key itself is never logged).
    pub name: String,
    /// Hex SHA-256 of the key: `printf %s "$KEY" | sha256sum`.
    pub key_sha256: String,
    pub tier: Option<String>,
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExecution {
    pub connect_timeout_ms: Option<u64>,
    pub first_byte_timeout_ms: Option<u64>,
    pub total_timeout_ms: Option<u64>,
    /// Attempts on one model after the first, for connection errors, timeouts, 429 and 5xx.
    pub max_retries: Option<u32>,
    pub backoff_base_ms: Option<u64>,
    pub backoff_max_ms: Option<u64>,
    /// A `Retry-After` longer than this is not waited for: the next tier is tried instead.
    pub max_retry_after_secs: Option<u64>,
    /// Escalate to the next tier when a model fails; default true.
    pub fallback: Option<bool>,
    /// Consecutive failed calls that open a model's circuit; default 5.
    pub circuit_failure_threshold: Option<u32>,
    /// How long an open circuit routes around its model; default 30 s.
    pub circuit_cooldown_secs: Option<u64>,
    /// Per-model overrides of the timeouts, keyed by catalog model name.
    #[serde(default)]
    pub models: HashMap<String, RawModelTimeouts>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModelTimeouts {
    /// A model with its own connect timeout gets its own connection pool.
    pub connect_timeout_ms: Option<u64>,
    pub first_byte_timeout_ms: Option<u64>,
    pub total_timeout_ms: Option<u64>,
}

/// The compiled `[server]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub shutdown_grace: Duration,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub keep_alive: bool,
    pub max_connections: usize,
    /// Threads of the serving runtime; `None` is one per CPU. Read at start only.
    pub worker_threads: Option<usize>,
    pub trust_tier_header: bool,
    pub default_user_tier: String,
    pub watch_config: bool,
    pub metrics_auth: bool,
    /// Always contains [`AUTO_ROUTE`].
    pub routes: Vec<RouteConfig>,
    pub cache: CacheConfig,
    /// Empty means no client authentication.
    pub client_keys: Vec<ClientKey>,
    pub execution: ExecutionConfig,
}

impl ServerConfig {
    pub fn route(&self, name: &str) -> Option<&RouteConfig> {
        self.routes.iter().find(|r| r.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConfig {
    pub name: String,
    /// The name of the policy that decides, in the config's policy registry.
    pub policy: String,
    pub cache: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheConfig {
    pub ttl: Duration,
    pub max_entries: u64,
}

#[derive(Clone, PartialEq, Eq)]
pub struct ClientKey {
    pub name: String,
    pub key_sha256: [u8; 32],
    pub tier: String,
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u32>,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey")
            .field("name", &self.name)
            .field("tier", &self.tier)
            .field("requests_per_minute", &self.requests_per_minute)
            .field("tokens_per_minute", &self.tokens_per_minute)
            .finish_non_exhaustive()
    }
}

/// Time limits of one upstream call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To open a connection (TCP and TLS).
    pub connect: Duration,
    /// Until the response headers.
    pub first_byte: Duration,
    /// Until the last byte.
    pub total: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionConfig {
    /// The defaults, for models without overrides.
    pub timeouts: Timeouts,
    pub model_timeouts: HashMap<String, Timeouts>,
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub max_retry_after: Duration,
    pub fallback: bool,
    pub circuit_failure_threshold: u32,
    pub circuit_cooldown: Duration,
}

impl ExecutionConfig {
    /// The timeouts of a catalog model: its override, else the defaults.
    pub fn timeouts_for(&self, model: &str) -> Timeouts {
        self.model_timeouts
            .get(model)
            .copied()
            .unwrap_or(self.timeouts)
    }
}

/// Compiles `[server]`, appending problems to `errors` with their field paths.
pub(crate) fn compile_server(
    raw: &RawServer,
    default_policy: &str,
    policies: &PolicyRegistry,
    catalog: &Catalog,
    errors: &mut Vec<FieldError>,
) -> ServerConfig {
    let listen = compile_listen(raw, errors);
    let default_user_tier = raw
        .default_user_tier
        .clone()
        .unwrap_or_else(|| "standard".to_owned())
        .to_lowercase();
    let routes = compile_routes(raw, default_policy, policies, catalog, errors);
    let cache = compile_cache(raw, errors);
    let client_keys = compile_client_keys(raw, &default_user_tier, errors);
    let execution = compile_execution(raw, catalog, errors);
    let server = ServerConfig {
        listen,
        max_body_bytes: raw.max_body_bytes.unwrap_or(4 * 1024 * 1024),
        max_header_bytes: raw.max_header_bytes.unwrap_or(64 * 1024),
        max_headers: raw.max_headers.unwrap_or(100),
        shutdown_grace: Duration::from_secs(raw.shutdown_grace_secs.unwrap_or(30)),
        header_read_timeout: Duration::from_secs(raw.header_read_timeout_secs.unwrap_or(30)),
        body_read_timeout: Duration::from_secs(raw.body_read_timeout_secs.unwrap_or(30)),
        keep_alive: raw.keep_alive.unwrap_or(true),
        max_connections: raw.max_connections.unwrap_or(4096),
        worker_threads: raw.worker_threads,
        trust_tier_header: raw.trust_tier_header.unwrap_or(false),
        default_user_tier,
        watch_config: raw.watch_config.unwrap_or(true),
        metrics_auth: raw.metrics_auth.unwrap_or(false),
        routes,
        cache,
        client_keys,
        execution,
    };
    check_connection_limits(&server, errors);
    server
}

fn compile_listen(raw: &RawServer, errors: &mut Vec<FieldError>) -> SocketAddr {
    let mut error = |path: &str, message: String| errors.push(FieldError::new(path, message));
    let listen_text = raw.listen.as_deref().unwrap_or("127.0.0.1:8080");
    listen_text.parse().unwrap_or_else(|_| {
        error(
            "server.listen",
            format!("`{listen_text}` is not a socket address such as 127.0.0.1:8080"),
        );
        SocketAddr::from(([127, 0, 0, 1], 8080))
    })
}

/// The connection settings must be within their bounds.
fn check_connection_limits(server: &ServerConfig, errors: &mut Vec<FieldError>) {
    let mut error = |path: &str, message: String| errors.push(FieldError::new(path, message));
    let &ServerConfig {
        max_body_bytes,
        max_header_bytes,
        max_headers,
        header_read_timeout,
        body_read_timeout,
        max_connections,
        ..
    } = server;
    for (field, value, least) in [
        ("max_header_bytes", max_header_bytes, 1024),
        ("max_headers", max_headers, 8),
    ] {
        if value < least {
            error(
                &format!("server.{field}"),
                format!(
                    "{value} is too small: HTTP clients send several headers; use at least {least}"
                ),
            );
        }
    }
    for (field, zero) in [
        ("header_read_timeout_secs", header_read_timeout.is_zero()),
        ("body_read_timeout_secs", body_read_timeout.is_zero()),
        ("max_connections", max_connections == 0),
    ] {
        if zero {
            error(&format!("server.{field}"), "must be at least 1".to_owned());
        }
    }
    if max_connections > MAX_CONNECTIONS {
        error(
            "server.max_connections",
            format!(
                "{max_connections} is more connections than a process can hold open (one file descriptor each); use at most {MAX_CONNECTIONS}"
            ),
        );
    }
    if max_body_bytes == 0 {
        error("server.max_body_bytes", "must be at least 1".to_owned());
    }
    match server.worker_threads {
        Some(0) => error(
            "server.worker_threads",
            "must be at least 1; leave it out for one thread per CPU".to_owned(),
        ),
        Some(n) if n > MAX_WORKER_THREADS => error(
            "server.worker_threads",
            format!("{n} threads is more than any machine needs; use at most {MAX_WORKER_THREADS}"),
        ),
        _ => {}
    }
}

fn compile_routes(
    raw: &RawServer,
    default_policy: &str,
    policies: &PolicyRegistry,
    catalog: &Catalog,
    errors: &mut Vec<FieldError>,
) -> Vec<RouteConfig> {
    let mut error = |path: &str, message: String| errors.push(FieldError::new(path, message));
    let mut routes = Vec::new();
    for (i, route) in raw.routes.iter().enumerate() {
        let path = format!("server.routes[{i}]");
        if route.name.trim().is_empty() {
            error(&format!("{path}.name"), "must not be empty".to_owned());
        }
        if catalog.model(&route.name).is_some() {
            error(
                &format!("{path}.name"),
                format!(
                    "`{}` is a catalog model; a route needs its own name",
                    route.name
                ),
            );
        }
        if raw.routes[..i].iter().any(|r| r.name == route.name) {
            error(
                &format!("{path}.name"),
                format!("route `{}` is declared twice", route.name),
            );
        }
        let policy = match route.policy.as_deref() {
            None => default_policy.to_owned(),
            Some(name) => {
                if policies.get(name).is_none() {
                    error(&format!("{path}.policy"), policies.unknown(name));
                }
                name.to_owned()
            }
        };
        routes.push(RouteConfig {
            name: route.name.clone(),
            policy,
            cache: route.cache,
        });
    }
    if !routes.iter().any(|r| r.name == AUTO_ROUTE) {
        routes.push(RouteConfig {
            name: AUTO_ROUTE.to_owned(),
            policy: default_policy.to_owned(),
            cache: false,
        });
    }
    routes
}

fn compile_cache(raw: &RawServer, errors: &mut Vec<FieldError>) -> CacheConfig {
    let cache = CacheConfig {
        ttl: Duration::from_secs(raw.cache.ttl_secs.unwrap_or(300)),
        max_entries: raw.cache.max_entries.unwrap_or(10_000),
    };
    if cache.ttl.is_zero() {
        errors.push(FieldError::new(
            "server.cache.ttl_secs",
            "must be at least 1".to_owned(),
        ));
    }
    cache
}

/// What a `key_sha256` must be.
pub(crate) const SHA256_HINT: &str = "must be 64 hex digits: the SHA-256 of the key (`printf %s \"$KEY\" | sha256sum`), never the key itself";

/// A key's digest from its 64 hex digits.
pub(crate) fn sha256_hex(hex: &str) -> Option<[u8; 32]> {
    let mut digest = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (pair, byte) in hex.as_bytes().chunks(2).zip(digest.iter_mut()) {
        let text = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(text, 16).ok()?;
    }
    Some(digest)
}

fn compile_client_keys(
    raw: &RawServer,
    default_user_tier: &str,
    errors: &mut Vec<FieldError>,
) -> Vec<ClientKey> {
    let mut error = |path: &str, message: String| errors.push(FieldError::new(path, message));
    let mut client_keys = Vec::new();
    for (i, key) in raw.client_keys.iter().enumerate() {
        let path = format!("server.client_keys[{i}]");
        let decoded = sha256_hex(&key.key_sha256);
        if decoded.is_none() {
            error(&format!("{path}.key_sha256"), SHA256_HINT.to_owned());
        }
        let digest = decoded.unwrap_or_default();
        for (field, value) in [
            ("requests_per_minute", key.requests_per_minute),
            ("tokens_per_minute", key.tokens_per_minute),
        ] {
            if value == Some(0) {
                error(
                    &format!("{path}.{field}"),
                    "must be at least 1 (omit it for no limit)".to_owned(),
                );
            }
        }
        if raw.client_keys[..i].iter().any(|k| k.name == key.name) {
            error(
                &format!("{path}.name"),
                format!("client key `{}` is declared twice", key.name),
            );
        }
        client_keys.push(ClientKey {
            name: key.name.clone(),
            key_sha256: digest,
            tier: key
                .tier
                .clone()
                .map(|t| t.to_lowercase())
                .unwrap_or_else(|| default_user_tier.to_owned()),
            requests_per_minute: key.requests_per_minute,
            tokens_per_minute: key.tokens_per_minute,
        });
    }
    client_keys
}

fn compile_execution(
    raw: &RawServer,
    catalog: &Catalog,
    errors: &mut Vec<FieldError>,
) -> ExecutionConfig {
    let mut error = |path: &str, message: String| errors.push(FieldError::new(path, message));
    let exec = &raw.execution;
    let ms = Duration::from_millis;
    let timeouts = Timeouts {
        connect: ms(exec.connect_timeout_ms.unwrap_or(5_000)),
        first_byte: ms(exec.first_byte_timeout_ms.unwrap_or(30_000)),
        total: ms(exec.total_timeout_ms.unwrap_or(300_000)),
    };
    let mut model_timeouts = HashMap::new();
    for (model, overrides) in &exec.models {
        if catalog.model(model).is_none() {
            error(
                &format!("server.execution.models.{model}"),
                format!("`{model}` is not a catalog model"),
            );
        }
        model_timeouts.insert(
            model.clone(),
            Timeouts {
                connect: overrides.connect_timeout_ms.map_or(timeouts.connect, ms),
                first_byte: overrides
                    .first_byte_timeout_ms
                    .map_or(timeouts.first_byte, ms),
                total: overrides.total_timeout_ms.map_or(timeouts.total, ms),
            },
        );
    }
    let execution = ExecutionConfig {
        timeouts,
        model_timeouts,
        max_retries: exec.max_retries.unwrap_or(2),
        backoff_base: ms(exec.backoff_base_ms.unwrap_or(100)),
        backoff_max: ms(exec.backoff_max_ms.unwrap_or(5_000)),
        max_retry_after: Duration::from_secs(exec.max_retry_after_secs.unwrap_or(30)),
        fallback: exec.fallback.unwrap_or(true),
        circuit_failure_threshold: exec.circuit_failure_threshold.unwrap_or(5),
        circuit_cooldown: Duration::from_secs(exec.circuit_cooldown_secs.unwrap_or(30)),
    };
    for (path, value) in [
        ("server.execution.connect_timeout_ms", timeouts.connect),
        (
            "server.execution.first_byte_timeout_ms",
            timeouts.first_byte,
        ),
        ("server.execution.total_timeout_ms", timeouts.total),
    ] {
        if value.is_zero() {
            error(path, "must be at least 1 ms".to_owned());
        }
    }
    if execution.circuit_failure_threshold == 0 {
        error(
            "server.execution.circuit_failure_threshold",
            "must be at least 1".to_owned(),
        );
    }
    execution
}

#[cfg(test)]
mod tests {
    use crate::{ConfigError, from_str_with_env};
    use std::time::Duration;

    const CATALOG: &str = r#"
tiers = ["economy", "frontier"]
[[providers]]
name = "local"
kind = "openai"
base_url = "http://127.0.0.1:8000/v1"
[[models]]
name = "small"
provider = "local"
tier = "economy"
input_usd_per_mtok = 0.1
output_usd_per_mtok = 0.2
context_window = 8000
[[models]]
name = "large"
provider = "local"
tier = "frontier"
input_usd_per_mtok = 1.0
output_usd_per_mtok = 2.0
context_window = 8000
"#;

    #[test]
    fn defaults_without_a_server_section() {
        let config = from_str_with_env(CATALOG, &|_| None).unwrap();
        let server = &config.server;
        assert_eq!(server.listen.to_string(), "127.0.0.1:8080");
        assert!(server.client_keys.is_empty());
        assert!(!server.trust_tier_header);
        let auto = server.route("auto").unwrap();
        assert_eq!((auto.policy.as_str(), auto.cache), ("rules", false));
        assert_eq!(server.execution.max_retries, 2);
    }

    #[test]
    fn compiles_routes_keys_and_model_timeouts() {
        let text = format!(
            r#"{CATALOG}
[server]
listen = "0.0.0.0:9000"
[[server.routes]]
name = "cheap"
policy = "complexity"
cache = true
[[server.client_keys]]
name = "team"
key_sha256 = "{}"
tier = "Premium"
requests_per_minute = 60
[server.execution]
first_byte_timeout_ms = 1000
[server.execution.models.large]
total_timeout_ms = 9000
connect_timeout_ms = 250
"#,
            "ab".repeat(32)
        );
        let config = from_str_with_env(&text, &|_| None).unwrap();
        let server = &config.server;
        assert_eq!(server.route("cheap").unwrap().policy, "complexity");
        assert!(server.route("auto").is_some());
        assert_eq!(server.client_keys[0].key_sha256, [0xab; 32]);
        assert_eq!(server.client_keys[0].tier, "premium");
        let large = server.execution.timeouts_for("large");
        assert_eq!(large.first_byte, Duration::from_secs(1));
        assert_eq!(large.total, Duration::from_secs(9));
        assert_eq!(large.connect, Duration::from_millis(250));
        assert_eq!(
            server.execution.timeouts_for("small").connect,
            Duration::from_secs(5)
        );
        assert!(!format!("{:?}", server.client_keys[0]).contains("abab"));
    }

    #[test]
    fn reports_every_server_error_with_its_path() {
        let text = format!(
            r#"{CATALOG}
[server]
listen = "nowhere"
[[server.routes]]
name = "small"
policy = "magic"
[[server.client_keys]]
name = "k"
key_sha256 = "sk-live-plaintext"
[server.execution.models.huge]
total_timeout_ms = 1
"#
        );
        let Err(ConfigError::Invalid { errors, .. }) = from_str_with_env(&text, &|_| None) else {
            panic!("expected an invalid config")
        };
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        for expected in [
            "server.listen",
            "server.routes[0].name",
            "server.routes[0].policy",
            "server.client_keys[0].key_sha256",
            "server.execution.models.huge",
        ] {
            assert!(
                paths.contains(&expected),
                "{expected} missing from {paths:?}"
            );
        }
    }
}
