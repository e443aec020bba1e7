//! Replicas for the shared-state tests: each a gateway in front of its own mock upstream,
//! sharing one PostgreSQL schema and one Redis key prefix that are made for the test and
//! removed after it. PostgreSQL and Redis are the machine's (`ROUTEWISE_TEST_POSTGRES`,
//! `ROUTEWISE_TEST_REDIS`, defaults 127.0.0.1:5432 and 127.0.0.1:6379); without them the
//! tests are skipped with a note, unless `ROUTEWISE_REQUIRE_SERVICES=1` (CI sets it).
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test harness: a failure to set up is a failed test"
)]
#![allow(
    dead_code,
    unused_imports,
    reason = "each test binary uses a different part of the harness"
)]

#[path = "../../../gateway/tests/common/mod.rs"]
pub mod gateway_common;

pub use gateway_common::{Harness, SIMPLE, ask, config_text, header};

use redis::AsyncCommands;
use routewise_gateway::account::RequestLog;
use routewise_gateway::{Gateway, Runtime, SharedState};
use routewise_store::SqlStore;
use routewise_testkit::MockUpstream;
use sqlx::Executor;
use std::sync::Arc;

pub fn postgres_base() -> String {
    std::env::var("ROUTEWISE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

pub fn redis_base() -> String {
    std::env::var("ROUTEWISE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn required() -> bool {
    std::env::var("ROUTEWISE_REQUIRE_SERVICES").as_deref() == Ok("1")
}

/// One test's PostgreSQL schema and Redis prefix.
pub struct Services {
    pub schema: String,
    pub prefix: String,
    /// The store URL, pointing at the schema.
    pub store_url: String,
}

impl Services {
    /// Fresh services, or `None` (with a note) when the servers do not answer.
    pub async fn start() -> Option<Self> {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let schema = format!("rw_shared_{id}");
        let prefix = format!("rwtest-{id}");
        sqlx::any::install_default_drivers();
        let base = postgres_base();
        let admin = match sqlx::AnyPool::connect(&base).await {
            Ok(pool) => pool,
            Err(err) if required() => panic!("PostgreSQL at {base} is required: {err}"),
            Err(err) => {
                eprintln!("skipping: PostgreSQL at {base} does not answer ({err})");
                return None;
            }
        };
        if let Err(err) = redis_connection().await {
            if required() {
                panic!("Redis at {} is required: {err}", redis_base());
            }
            eprintln!(
                "skipping: Redis at {} does not answer ({err})",
                redis_base()
            );
            return None;
        }
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .await
            .unwrap();
        admin.close().await;
        let separator = if base.contains('?') { '&' } else { '?' };
        let store_url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
        Some(Self {
            schema,
            prefix,
            store_url,
        })
    }

    /// Drops the schema and every key under the prefix.
    pub async fn finish(self) {
        let admin = sqlx::AnyPool::connect(&postgres_base()).await.unwrap();
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA {} CASCADE",
                self.schema
            )))
            .await
            .unwrap();
        admin.close().await;
        let mut connection = redis_connection().await.unwrap();
        let keys: Vec<String> = connection.keys(format!("{}:*", self.prefix)).await.unwrap();
        if !keys.is_empty() {
            let _: () = connection.del(keys).await.unwrap();
        }
    }

    /// The `[store]` and `[shared]` sections for a replica; `redis` overrides the Redis URL
    /// (a proxy in front of it), `store` the store URL.
    pub fn sections(&self, redis: Option<&str>, store: Option<&str>) -> String {
        format!(
            "[store]\nurl = \"{}\"\n[shared]\nredis = \"{}\"\nprefix = \"{}\"\ntimeout_ms = 200\n",
            store.unwrap_or(&self.store_url),
            redis.map_or_else(redis_base, str::to_owned),
            self.prefix
        )
    }

    /// A Redis key of this test's.
    pub fn key(&self, part: &str) -> String {
        format!("{}:{part}", self.prefix)
    }
}

pub async fn redis_connection() -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(redis_base())?;
    client.get_multiplexed_async_connection().await
}

/// A replica on the test's services: `server` is its `[server]` TOML, `extra` more config
/// (routing, memory).
pub async fn replica(services: &Services, server: &str, extra: &str) -> Harness {
    replica_via(services, server, extra, None, None).await
}

/// [`replica`], reaching Redis at `redis` and the store at `store` when given (proxies).
pub async fn replica_via(
    services: &Services,
    server: &str,
    extra: &str,
    redis: Option<&str>,
    store: Option<&str>,
) -> Harness {
    let mock = MockUpstream::start().await.unwrap();
    let text = format!(
        "{}\n{extra}\n{}",
        config_text(&mock, server),
        services.sections(redis, store)
    );
    let config = routewise_config::from_str_with_env(&text, &|_| None).unwrap();
    let state = match &config.shared {
        Some(shared) => routewise_redis::connect(shared).unwrap(),
        None => SharedState::local(),
    };
    let store_url = store.unwrap_or(&services.store_url).to_owned();
    let runtime = Runtime::build(config, &|_| None).unwrap();
    let gateway = Gateway::with_state(runtime, RequestLog::Tracing, state);
    let store = SqlStore::open(&store_url).await.unwrap();
    gateway
        .attach_store(Arc::new(store), &store_url)
        .await
        .unwrap();
    Harness::serve(mock, gateway).await
}

pub async fn feedback(h: &Harness, body: serde_json::Value) -> reqwest::Response {
    h.client
        .post(format!("{}/v1/feedback", h.url))
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub async fn readyz(h: &Harness) -> serde_json::Value {
    h.client
        .get(format!("{}/readyz", h.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Polls `check` every 50 ms for up to `seconds`; whether it held.
pub async fn eventually<F, Fut>(seconds: u64, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}
