//! routewise-gateway: the OpenAI-compatible HTTP gateway.
//!
//! Request flow (one place each): [`http`] composes the route table and the layers every route
//! gets (request id, draining, authentication) -> [`pipeline`] (the named stages of a chat
//! completion, composed in one place) -> [`decide`] (memory, experiments, controllers, the
//! policy) -> [`execute`] (fallback chain, retries, deadlines, circuit breakers) -> [`account`]
//! (cost, baseline, overhead, metrics, the JSON log line) -> response ([`stream`] for SSE).
//!
//! A [`runtime::Runtime`] is one compiled config; [`reload`] builds a new one off the hot path
//! and swaps it in atomically. What must outlive a config lives in the [`Gateway`]: the
//! [`shared`] state (rate limits, circuits, cache) and the policies' [`learning`] state.
//! [`serve::run`] takes its listener and shutdown signal, so tests bind port 0 and run side by
//! side.

pub mod account;
pub mod alerts;
pub mod auth;
pub mod budget_sync;
pub mod control;
pub mod dashboard;
pub mod decide;
pub mod error;
pub mod execute;
pub mod experiments_report;
pub mod feedback;
pub mod http;
pub mod layers;
pub mod learning;
pub mod memory;
pub mod metrics;
pub mod persist;
pub mod pipeline;
pub mod records;
pub mod reload;
pub mod runtime;
pub mod serve;
pub mod shared;
pub mod state_sync;
pub mod stream;
pub mod trace;

pub use error::GatewayError;
pub use runtime::{BuildError, Runtime};
pub use serve::run;

use account::RequestLog;
use arc_swap::ArcSwap;
use control::Controllers;
use learning::{LearnedStates, StateChange};
use memory::Memory;
use records::RecordSink;
use routewise_config::server::CacheConfig;
use routewise_store::{RecordWriter, Store, WriterSettings};
use shared::{
    CircuitBreaker, LocalBus, LocalCircuits, LocalRateLimiter, LocalResponseCache, MemoryBus,
    RateLimiter, ResponseCache, SharedHealth, SpendBook,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// Builds the response cache for a config's cache settings.
pub type CacheFactory = Box<dyn Fn(CacheConfig) -> Arc<dyn ResponseCache> + Send + Sync>;

/// Where rate limits, circuits, the cache and memory changes live: in this process by default
/// ([`SharedState::local`]), or shared by replicas (the `routewise-redis` crate).
pub struct SharedState {
    pub limits: Arc<dyn RateLimiter>,
    pub circuits: Arc<dyn CircuitBreaker>,
    pub make_cache: CacheFactory,
    pub memory_bus: Arc<dyn MemoryBus>,
    /// Budget spend summed over replicas.
    pub spend: Arc<dyn SpendBook>,
    /// How a shared backend is doing; `None` in process.
    pub health: Option<Arc<dyn SharedHealth>>,
}

impl SharedState {
    /// Everything in this process.
    pub fn local() -> Self {
        Self {
            limits: Arc::new(LocalRateLimiter::default()),
            circuits: Arc::new(LocalCircuits::default()),
            make_cache: Box::new(|config| Arc::new(LocalResponseCache::new(config))),
            memory_bus: Arc::new(LocalBus),
            spend: Arc::new(shared::LocalSpend),
            health: None,
        }
    }
}

impl std::fmt::Debug for SharedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedState")
            .field("limits", &self.limits)
            .field("circuits", &self.circuits)
            .field("memory_bus", &self.memory_bus)
            .finish_non_exhaustive()
    }
}

/// A running gateway's state: the current runtime, and what outlives reloads (shared state,
/// learned state, whether it is draining). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    runtime: ArcSwap<Runtime>,
    state: SharedState,
    /// The cache and the settings it was built with, kept while they stay the same.
    cache: ArcSwap<Option<(CacheConfig, Arc<dyn ResponseCache>)>>,
    learned: LearnedStates,
    memory: Arc<Memory>,
    /// The store and its record writer, once attached (see [`Gateway::attach_store`]).
    store: OnceLock<StoreHandle>,
    draining: AtomicBool,
    request_log: RequestLog,
    clock: Clock,
    /// A clock set by hand ([`Gateway::set_time`], for `routewise simulate`); 0 when unused.
    manual_unix_ms: AtomicU64,
    controllers: Arc<Controllers>,
    pending_saves: persist::PendingSaves,
    synced: state_sync::SyncedStates,
    alerts: alerts::Alerts,
    dashboard: dashboard::api::Summaries,
}

/// A gateway that background tasks reach without keeping it alive.
#[derive(Debug, Clone)]
pub struct WeakGateway(std::sync::Weak<Shared>);

impl WeakGateway {
    pub fn upgrade(&self) -> Option<Gateway> {
        self.0.upgrade().map(|shared| Gateway { shared })
    }
}

/// Wall-clock time as the gateway counts it: the time it started plus what the runtime's
/// monotonic clock has counted since. It never jumps with the system clock, and a test with
/// paused time moves it (memory's time to live is tested that way).
#[derive(Debug, Clone, Copy)]
struct Clock {
    started_unix_ms: u64,
    started: tokio::time::Instant,
}

impl Clock {
    fn start() -> Self {
        Self {
            started_unix_ms: now_unix_ms(),
            started: tokio::time::Instant::now(),
        }
    }

    fn now_unix_ms(&self) -> u64 {
        let elapsed = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.started_unix_ms.saturating_add(elapsed)
    }
}

/// An attached store.
#[derive(Debug, Clone)]
pub struct StoreHandle {
    pub store: Arc<dyn Store>,
    pub writer: RecordWriter,
    /// The URL it was opened from (a reload that changes it needs a restart).
    pub url: String,
}

impl Gateway {
    /// A gateway whose request records go to `tracing` (see [`Gateway::with_request_log`]).
    pub fn new(runtime: Runtime) -> Self {
        Self::with_request_log(runtime, RequestLog::Tracing)
    }

    pub fn with_request_log(runtime: Runtime, request_log: RequestLog) -> Self {
        Self::with_state(runtime, request_log, SharedState::local())
    }

    pub fn with_state(runtime: Runtime, request_log: RequestLog, state: SharedState) -> Self {
        // Install the recorder before the first request records anything.
        let _ = metrics::handle();
        let memory = Arc::new(Memory::new(&runtime.config.memory));
        let alerts = alerts::Alerts::new(&runtime.config.alerts, now_unix_ms());
        let gateway = Self {
            shared: Arc::new(Shared {
                runtime: ArcSwap::from_pointee(runtime),
                state,
                cache: ArcSwap::from_pointee(None),
                learned: LearnedStates::default(),
                memory,
                store: OnceLock::new(),
                draining: AtomicBool::new(false),
                request_log,
                clock: Clock::start(),
                manual_unix_ms: AtomicU64::new(0),
                controllers: Arc::default(),
                pending_saves: persist::PendingSaves::default(),
                synced: state_sync::SyncedStates::default(),
                alerts,
                dashboard: dashboard::api::Summaries::default(),
            }),
        };
        gateway.adopt(&gateway.runtime());
        let sink = Arc::new(memory::ReplicaSink(gateway.downgrade()));
        gateway.shared.state.memory_bus.subscribe(sink);
        gateway
    }

    /// Builds a gateway for `config`, reading provider API keys from the process environment.
    pub fn from_config(
        config: routewise_config::Config,
        request_log: RequestLog,
    ) -> Result<Self, BuildError> {
        Self::from_config_with(config, request_log, SharedState::local())
    }

    /// [`Gateway::from_config`] with `state` shared by replicas (see `routewise-redis`).
    pub fn from_config_with(
        config: routewise_config::Config,
        request_log: RequestLog,
        state: SharedState,
    ) -> Result<Self, BuildError> {
        let runtime = Runtime::build(config, &|var| std::env::var(var).ok())?;
        Ok(Self::with_state(runtime, request_log, state))
    }

    pub fn request_log(&self) -> &RequestLog {
        &self.shared.request_log
    }

    /// The runtime in force; a request holds on to it for its whole life.
    pub fn runtime(&self) -> Arc<Runtime> {
        self.shared.runtime.load_full()
    }

    /// Replaces the runtime; requests in flight finish on the old one. Returns what became of
    /// each learning policy's state.
    pub fn swap(&self, runtime: Runtime) -> Vec<StateChange> {
        let changes = self.adopt(&runtime);
        self.shared.runtime.store(Arc::new(runtime));
        changes
    }

    /// Fits what outlives configs to `runtime`: learned states, the cache, limit buckets.
    fn adopt(&self, runtime: &Runtime) -> Vec<StateChange> {
        let changes = self.shared.learned.adopt(&runtime.config.routing.policies);
        let settings = runtime.cache_settings();
        let current = self.shared.cache.load();
        let unchanged = match (current.as_ref(), settings) {
            (Some((old, _)), Some(new)) => *old == new,
            (None, None) => true,
            _ => false,
        };
        if !unchanged {
            let cache = settings.map(|config| (config, (self.shared.state.make_cache)(config)));
            self.shared.cache.store(Arc::new(cache));
        }
        self.shared.state.limits.retain(&runtime.keys.buckets());
        changes
    }

    pub fn limits(&self) -> &Arc<dyn RateLimiter> {
        &self.shared.state.limits
    }

    pub fn circuits(&self) -> &Arc<dyn CircuitBreaker> {
        &self.shared.state.circuits
    }

    /// Carries memory changes to the other replicas.
    pub fn memory_bus(&self) -> &Arc<dyn MemoryBus> {
        &self.shared.state.memory_bus
    }

    /// Budget spend summed over replicas.
    pub fn spend_book(&self) -> &Arc<dyn SpendBook> {
        &self.shared.state.spend
    }

    /// How the shared state's backend is doing, when replicas share one.
    pub fn shared_health(&self) -> Option<shared::SharedReport> {
        self.shared.state.health.as_ref().map(|h| h.report())
    }

    /// The response cache, when a route caches.
    pub fn cache(&self) -> Option<Arc<dyn ResponseCache>> {
        self.shared
            .cache
            .load()
            .as_ref()
            .as_ref()
            .map(|(_, cache)| Arc::clone(cache))
    }

    /// The learning policies' state.
    pub fn learned(&self) -> &LearnedStates {
        &self.shared.learned
    }

    pub fn memory(&self) -> &Arc<Memory> {
        &self.shared.memory
    }

    /// Milliseconds since the Unix epoch, by the gateway's clock.
    pub fn now_unix_ms(&self) -> u64 {
        match self.shared.manual_unix_ms.load(Ordering::Relaxed) {
            0 => self.shared.clock.now_unix_ms(),
            manual => manual,
        }
    }

    /// Sets the gateway's clock by hand from now on: a simulation replays a day of traffic in
    /// seconds, and budgets, memory's time to live and records follow the simulated time.
    pub fn set_time(&self, unix_ms: u64) {
        self.shared
            .manual_unix_ms
            .store(unix_ms.max(1), Ordering::Relaxed);
    }

    pub(crate) fn pending_saves(&self) -> &persist::PendingSaves {
        &self.shared.pending_saves
    }

    pub(crate) fn synced_states(&self) -> &state_sync::SyncedStates {
        &self.shared.synced
    }

    /// A handle for background tasks that must not keep the gateway alive.
    pub fn downgrade(&self) -> WeakGateway {
        WeakGateway(Arc::downgrade(&self.shared))
    }

    /// The controllers' state (targets, budgets, model health).
    pub fn controllers(&self) -> &Arc<Controllers> {
        &self.shared.controllers
    }

    /// The built-in alerts' observations and states.
    pub fn alerts(&self) -> &alerts::Alerts {
        &self.shared.alerts
    }

    /// The attached store, if any.
    /// The dashboard's computed summaries.
    pub(crate) fn dashboard(&self) -> &dashboard::api::Summaries {
        &self.shared.dashboard
    }

    pub fn store(&self) -> Option<&StoreHandle> {
        self.shared.store.get()
    }

    /// Attaches `store` (opened from `url`): starts its record writer and restores memory
    /// from it (upgrades in force, the latest ratings). A gateway takes one store for its life.
    pub async fn attach_store(
        &self,
        store: Arc<dyn Store>,
        url: &str,
    ) -> Result<(), routewise_store::StoreError> {
        let runtime = self.runtime();
        let config = &runtime.config;
        let settings = WriterSettings {
            queue: config.store.queue,
            batch: config.store.batch,
            ..WriterSettings::default()
        };
        memory::restore(
            &self.shared.memory,
            store.as_ref(),
            &config.memory,
            self.now_unix_ms(),
        )
        .await?;
        persist::restore_states(self, store.as_ref()).await;
        persist::restore_spend(self, store.as_ref()).await;
        persist::restore_controller(self, store.as_ref()).await;
        let writer = RecordWriter::start(Arc::clone(&store), settings);
        let handle = StoreHandle {
            store,
            writer,
            url: url.to_owned(),
        };
        let shared_database = handle.store.backend() == "postgres";
        if self.shared.store.set(handle).is_err() {
            tracing::warn!("a store is attached already; keeping it");
            return Ok(());
        }
        // Other replicas may write to a PostgreSQL store: look for what they learned.
        if shared_database {
            tokio::spawn(state_sync::poll(self.downgrade()));
        }
        Ok(())
    }

    /// Where a request's record goes.
    pub fn record_sink(&self, runtime: &Arc<Runtime>) -> RecordSink {
        RecordSink {
            writer: self.store().map(|s| s.writer.clone()),
            memory: Arc::clone(&self.shared.memory),
            log_prompts: runtime.config.store.log_prompts,
            accounting: records::Accounting {
                gateway: self.clone(),
                runtime: Arc::clone(runtime),
            },
        }
    }

    /// Writes out queued decision records and the learning policies' state (at shutdown).
    pub async fn flush_records(&self) {
        if let Some(store) = self.store() {
            store.writer.flush().await;
            persist::save_all(self).await;
        }
    }

    /// Whether shutdown has begun (`/readyz` fails and new requests are refused).
    pub fn is_draining(&self) -> bool {
        self.shared.draining.load(Ordering::Relaxed)
    }

    fn start_draining(&self) {
        self.shared.draining.store(true, Ordering::Relaxed);
    }

    /// The axum application.
    pub fn app(&self) -> axum::Router {
        http::app(self.clone())
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}
