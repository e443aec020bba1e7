//! routewise-gateway: the OpenAI-compatible HTTP gateway.
//!
//! Request flow (one place each): [`http`] routes and thin handlers -> [`pipeline`]
//! (authenticate, parse, resolve the model, cache, decide) -> [`execute`] (fallback chain,
//! retries, deadlines, [`circuit`] breakers) -> [`account`] (cost, baseline, overhead, metrics,
//! the JSON log line) -> response ([`stream`] for SSE). A [`runtime::Runtime`] is one compiled
//! config; [`reload`] builds a new one off the hot path and swaps it in atomically. [`serve::run`]
//! takes its listener and shutdown signal, so tests bind port 0 and run side by side.

pub mod account;
pub mod auth;
pub mod cache;
pub mod circuit;
pub mod error;
pub mod execute;
pub mod http;
pub mod metrics;
pub mod pipeline;
pub mod reload;
pub mod runtime;
pub mod serve;
pub mod stream;

pub use error::GatewayError;
pub use runtime::{BuildError, Runtime};
pub use serve::run;

use account::RequestLog;
use arc_swap::ArcSwap;
use circuit::Circuits;
use routewise_config::Config;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A running gateway's shared state: the current runtime, circuit breakers (which outlive
/// reloads) and whether it is draining. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    runtime: ArcSwap<Runtime>,
    circuits: Circuits,
    draining: AtomicBool,
    request_log: RequestLog,
}

impl Gateway {
    /// A gateway whose request records go to `tracing` (see [`Gateway::with_request_log`]).
    pub fn new(runtime: Runtime) -> Self {
        Self::with_request_log(runtime, RequestLog::Tracing)
    }

    pub fn with_request_log(runtime: Runtime, request_log: RequestLog) -> Self {
        // Install the recorder before the first request records anything.
        let _ = metrics::handle();
        Self {
            shared: Arc::new(Shared {
                runtime: ArcSwap::from_pointee(runtime),
                circuits: Circuits::default(),
                draining: AtomicBool::new(false),
                request_log,
            }),
        }
    }

    /// Builds a gateway for `config`, reading provider API keys from the process environment.
    pub fn from_config(config: Config, request_log: RequestLog) -> Result<Self, BuildError> {
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

    /// Replaces the runtime; requests in flight finish on the old one.
    pub fn swap(&self, runtime: Runtime) {
        self.shared.runtime.store(Arc::new(runtime));
    }

    pub fn circuits(&self) -> &Circuits {
        &self.shared.circuits
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
