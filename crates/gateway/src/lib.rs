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
pub mod auth;
pub mod decide;
pub mod error;
pub mod execute;
pub mod http;
pub mod layers;
pub mod learning;
pub mod metrics;
pub mod pipeline;
pub mod reload;
pub mod runtime;
pub mod serve;
pub mod shared;
pub mod stream;

pub use error::GatewayError;
pub use runtime::{BuildError, Runtime};
pub use serve::run;

use account::RequestLog;
use arc_swap::ArcSwap;
use learning::{LearnedStates, StateChange};
use routewise_config::server::CacheConfig;
use shared::{
    CircuitBreaker, LocalCircuits, LocalRateLimiter, LocalResponseCache, RateLimiter, ResponseCache,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Builds the response cache for a config's cache settings.
pub type CacheFactory = Box<dyn Fn(CacheConfig) -> Arc<dyn ResponseCache> + Send + Sync>;

/// Where rate limits, circuits and the cache live: in this process by default
/// ([`SharedState::local`]).
pub struct SharedState {
    pub limits: Arc<dyn RateLimiter>,
    pub circuits: Arc<dyn CircuitBreaker>,
    pub make_cache: CacheFactory,
}

impl SharedState {
    /// Everything in this process.
    pub fn local() -> Self {
        Self {
            limits: Arc::new(LocalRateLimiter::default()),
            circuits: Arc::new(LocalCircuits::default()),
            make_cache: Box::new(|config| Arc::new(LocalResponseCache::new(config))),
        }
    }
}

impl std::fmt::Debug for SharedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedState")
            .field("limits", &self.limits)
            .field("circuits", &self.circuits)
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
    draining: AtomicBool,
    request_log: RequestLog,
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
        let gateway = Self {
            shared: Arc::new(Shared {
                runtime: ArcSwap::from_pointee(runtime),
                state,
                cache: ArcSwap::from_pointee(None),
                learned: LearnedStates::default(),
                draining: AtomicBool::new(false),
                request_log,
            }),
        };
        gateway.adopt(&gateway.runtime());
        gateway
    }

    /// Builds a gateway for `config`, reading provider API keys from the process environment.
    pub fn from_config(
        config: routewise_config::Config,
        request_log: RequestLog,
    ) -> Result<Self, BuildError> {
        let runtime = Runtime::build(config, &|var| std::env::var(var).ok())?;
        Ok(Self::with_request_log(runtime, request_log))
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
