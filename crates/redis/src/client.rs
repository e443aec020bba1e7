//! One replica's connection to Redis and what it knows of Redis's health.
//!
//! Every call is bounded by `[shared] timeout_ms`. A call that fails or times out marks Redis
//! degraded: from then on calls are not even tried (each would cost the request a timeout)
//! and the callers use this replica's own state, until a probe ([`PROBE_EVERY`]) gets an
//! answer again. Recovering wakes whoever waits on [`Redis::recovered`] (the memory bus
//! resynchronises).

use metrics::{counter, gauge};
use redis::RedisResult;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use routewise_gateway::shared::{SharedHealth, SharedReport};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;
use tokio::sync::Notify;

/// How often a degraded replica asks whether Redis is back.
pub const PROBE_EVERY: Duration = Duration::from_millis(500);

/// A subscription established within this long, or the attempt counts as failed.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A connection (re)established within this long, or the attempt counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Redis as one replica reaches it. Cheap to share (`Arc`).
pub struct Redis {
    client: redis::Client,
    connection: ConnectionManager,
    prefix: String,
    timeout: Duration,
    health: Health,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("degraded", &self.health.degraded.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Health {
    degraded: AtomicBool,
    errors: AtomicU64,
    /// Calls sent on the shared connection (not the pub/sub subscriptions).
    calls: AtomicU64,
    last_error: Mutex<Option<String>>,
    recovered: Notify,
}

impl Redis {
    /// A lazy connection: nothing is sent until the first call, so a replica starts (degraded)
    /// while Redis is down. Starts the probe that notices Redis coming back.
    pub fn open(url: &str, prefix: &str, timeout: Duration) -> RedisResult<Arc<Self>> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        let redis = Arc::new(Self {
            client,
            connection,
            prefix: prefix.to_owned(),
            timeout,
            health: Health::default(),
        });
        tokio::spawn(probe(Arc::downgrade(&redis)));
        Ok(redis)
    }

    /// `PREFIX:part`.
    pub fn key(&self, part: &str) -> String {
        format!("{}:{part}", self.prefix)
    }

    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// A subscription to `channel` on a connection of its own, within [`SUBSCRIBE_TIMEOUT`];
    /// `None` (and the failure recorded) when Redis does not answer.
    pub async fn subscribe(&self, channel: &str) -> Option<redis::aio::PubSub> {
        let subscribed = async {
            let mut pubsub = self.client.get_async_pubsub().await?;
            pubsub.subscribe(channel).await?;
            RedisResult::Ok(pubsub)
        };
        match tokio::time::timeout(SUBSCRIBE_TIMEOUT, subscribed).await {
            Ok(Ok(pubsub)) => Some(pubsub),
            Ok(Err(err)) => {
                self.failed("subscribe", &err.to_string());
                None
            }
            Err(_) => {
                self.failed(
                    "subscribe",
                    &format!("no answer within {SUBSCRIBE_TIMEOUT:?}"),
                );
                None
            }
        }
    }

    /// Runs one call on the shared connection within the timeout; `None` (and Redis marked
    /// degraded) when it fails, and at once while Redis is degraded.
    pub async fn call<T, F, Fut>(&self, op: &'static str, call: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        if self.is_degraded() {
            return None;
        }
        self.health.calls.fetch_add(1, Ordering::Relaxed);
        self.attempt(op, call(self.connection.clone())).await
    }

    /// Runs `call` within the timeout, recording a failure.
    pub async fn attempt<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Option<T> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(err)) => {
                self.failed(op, &err.to_string());
                None
            }
            Err(_) => {
                self.failed(op, &format!("no answer within {:?}", self.timeout));
                None
            }
        }
    }

    /// Calls this replica has sent to Redis on its shared connection: what local-first
    /// admission saves is visible here.
    pub fn calls(&self) -> u64 {
        self.health.calls.load(Ordering::Relaxed)
    }

    pub fn is_degraded(&self) -> bool {
        self.health.degraded.load(Ordering::Relaxed)
    }

    /// Counts a failed call and marks Redis degraded.
    pub fn failed(&self, op: &'static str, error: &str) {
        self.health.errors.fetch_add(1, Ordering::Relaxed);
        counter!("routewise_shared_state_errors_total", "op" => op).increment(1);
        *self
            .health
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(format!("{op}: {error}"));
        if !self.health.degraded.swap(true, Ordering::Relaxed) {
            gauge!("routewise_shared_state_degraded").set(1.0);
            tracing::warn!(
                "Redis is out of reach ({op}: {error}): serving with this replica's own rate limits, circuits and cache until it answers again"
            );
        }
    }

    fn recover(&self) {
        if self.health.degraded.swap(false, Ordering::Relaxed) {
            gauge!("routewise_shared_state_degraded").set(0.0);
            tracing::info!("Redis answers again: rate limits, circuits and cache are shared again");
            self.health.recovered.notify_waiters();
        }
    }

    /// Resolves the next time Redis recovers from being degraded.
    pub async fn recovered(&self) {
        self.health.recovered.notified().await;
    }
}

impl SharedHealth for Redis {
    fn report(&self) -> SharedReport {
        SharedReport {
            backend: "redis",
            degraded: self.is_degraded(),
            errors: self.health.errors.load(Ordering::Relaxed),
            last_error: self
                .health
                .last_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}

/// While Redis is degraded, pings it every [`PROBE_EVERY`]; the first answer recovers it. Ends
/// when the replica drops its handle.
async fn probe(redis: Weak<Redis>) {
    let mut every = tokio::time::interval(PROBE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(redis) = redis.upgrade() else {
            return;
        };
        if !redis.is_degraded() {
            continue;
        }
        let mut connection = redis.connection.clone();
        let ping = async move {
            redis::cmd("PING")
                .query_async::<String>(&mut connection)
                .await
        };
        if redis.attempt("ping", ping).await.is_some() {
            redis.recover();
        }
    }
}
