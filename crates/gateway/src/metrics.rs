//! Prometheus metrics (the names docs/SERVE.md lists): names, buckets, and the recorder behind `GET /metrics`.
//!
//! The `metrics` facade has one global recorder per process, so every gateway in a process
//! (tests run several) shares one registry; labels keep their series apart.

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use rustc_hash::FxHashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

/// Latency buckets in seconds: fine below a millisecond for routewise's own overhead, up to
/// minutes for long generations.
const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    10.0, 60.0,
];

/// Feedback scores are 0..1.
const SCORE_BUCKETS: [f64; 10] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the Prometheus recorder once per process; `None` if another recorder was installed
/// first (then `/metrics` says so instead of serving stale numbers).
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&BUCKETS)
                .ok()?
                .set_buckets_for_metric(
                    Matcher::Full("routewise_feedback_score".to_owned()),
                    &SCORE_BUCKETS,
                )
                .ok()?
                .install_recorder()
                .ok()
        })
        .as_ref()
}

/// The outcomes a finished request is counted under (`routewise_requests_total{outcome}`).
const OUTCOMES: [&str; 5] = [
    "ok",
    "cache_hit",
    "stream_error",
    "client_disconnected",
    "error",
];

/// The most models whose series handles are kept; past it (never, with a sane catalog) series
/// are looked up per call as before.
const MAX_CACHED_MODELS: usize = 4096;

/// One model's labelled series, each registered on first use (so /metrics shows the same
/// series as before: none until it moves). Building a `metrics` key (owned label strings,
/// hashed) for every series on every request cost about 7,000 instructions a request, a
/// twentieth of the gateway's work per request; a kept handle is an `Arc` to the series.
struct ModelSeries {
    model: Box<str>,
    requests: [OnceLock<Counter>; OUTCOMES.len()],
    prompt_tokens: OnceLock<Counter>,
    completion_tokens: OnceLock<Counter>,
    cost_usd: OnceLock<Gauge>,
    upstream: OnceLock<Histogram>,
}

impl ModelSeries {
    fn new(model: &str) -> Self {
        Self {
            model: model.into(),
            requests: Default::default(),
            prompt_tokens: OnceLock::new(),
            completion_tokens: OnceLock::new(),
            cost_usd: OnceLock::new(),
            upstream: OnceLock::new(),
        }
    }

    /// The request counter of `outcome`; `None` for an outcome outside [`OUTCOMES`].
    fn requests(&self, outcome: &'static str) -> Option<&Counter> {
        let index = OUTCOMES.iter().position(|&known| known == outcome)?;
        let cell = self.requests.get(index)?;
        Some(cell.get_or_init(|| {
            counter!("routewise_requests_total", "model" => self.model.to_string(), "outcome" => outcome)
        }))
    }

    fn tokens(&self, kind: &'static str) -> &Counter {
        let cell = if kind == "prompt" {
            &self.prompt_tokens
        } else {
            &self.completion_tokens
        };
        cell.get_or_init(|| {
            counter!("routewise_tokens_total", "model" => self.model.to_string(), "kind" => kind)
        })
    }

    fn cost_usd(&self) -> &Gauge {
        self.cost_usd
            .get_or_init(|| gauge!("routewise_cost_usd_total", "model" => self.model.to_string()))
    }

    fn upstream(&self) -> &Histogram {
        self.upstream.get_or_init(
            || histogram!("routewise_upstream_duration_seconds", "model" => self.model.to_string()),
        )
    }
}

static MODEL_SERIES: OnceLock<RwLock<FxHashMap<Box<str>, Arc<ModelSeries>>>> = OnceLock::new();
static REQUEST_DURATION: OnceLock<Histogram> = OnceLock::new();
static OVERHEAD_DURATION: OnceLock<Histogram> = OnceLock::new();
static BASELINE_COST: OnceLock<Gauge> = OnceLock::new();

/// Handles are kept only once the recorder is in: before that the facade hands out no-op
/// handles, and keeping one would lose its series for good.
fn recorder_installed() -> bool {
    HANDLE.get().is_some_and(Option::is_some)
}

fn model_series(model: &str) -> Arc<ModelSeries> {
    if !recorder_installed() {
        return Arc::new(ModelSeries::new(model));
    }
    let map = MODEL_SERIES.get_or_init(RwLock::default);
    if let Some(series) = map.read().ok().and_then(|m| m.get(model).cloned()) {
        return series;
    }
    let series = Arc::new(ModelSeries::new(model));
    if let Ok(mut map) = map.write()
        && map.len() < MAX_CACHED_MODELS
    {
        map.entry(model.into())
            .or_insert_with(|| Arc::clone(&series));
    }
    series
}

/// An unlabelled series' handle: kept in `cell` once the recorder is in.
fn unlabelled<H: Clone>(cell: &'static OnceLock<H>, register: impl FnOnce() -> H) -> H {
    if recorder_installed() {
        cell.get_or_init(register).clone()
    } else {
        register()
    }
}

/// One finished client request.
pub fn request(model: &str, outcome: &'static str, duration: Duration, overhead: Duration) {
    let series = model_series(model);
    match series.requests(outcome) {
        Some(requests) => requests.increment(1),
        None => {
            counter!("routewise_requests_total", "model" => model.to_owned(), "outcome" => outcome)
                .increment(1)
        }
    }
    unlabelled(&REQUEST_DURATION, || {
        histogram!("routewise_request_duration_seconds")
    })
    .record(duration.as_secs_f64());
    unlabelled(&OVERHEAD_DURATION, || {
        histogram!("routewise_overhead_duration_seconds")
    })
    .record(overhead.as_secs_f64());
}

pub fn decision(model: &str, policy: &str, reason: &str) {
    counter!("routewise_routing_decisions_total", "model" => model.to_owned(),
        "policy" => policy.to_owned(), "reason" => reason.to_owned())
    .increment(1);
}

/// Spend is fractional, and the `metrics` facade's counters count whole numbers, so spend is a
/// float running total kept as a gauge that only grows; [`render`] declares it a counter.
pub fn cost(model: &str, cost_usd: f64, baseline_usd: f64) {
    model_series(model).cost_usd().increment(cost_usd);
    unlabelled(&BASELINE_COST, || {
        gauge!("routewise_baseline_cost_usd_total")
    })
    .increment(baseline_usd);
}

pub fn tokens(model: &str, prompt: u64, completion: u64) {
    let series = model_series(model);
    series.tokens("prompt").increment(prompt);
    series.tokens("completion").increment(completion);
}

pub fn upstream(model: &str, duration: Duration) {
    model_series(model)
        .upstream()
        .record(duration.as_secs_f64());
}

pub fn fallback(from: &str, to: &str, reason: &'static str) {
    counter!("routewise_fallbacks_total", "from" => from.to_owned(), "to" => to.to_owned(),
        "reason" => reason)
    .increment(1);
}

/// Running totals kept as gauges because they are fractional (see [`cost`]).
const FLOAT_COUNTERS: [&str; 2] = [
    "routewise_cost_usd_total",
    "routewise_baseline_cost_usd_total",
];

/// The Prometheus text of every metric, with the float running totals typed `counter` (what
/// they are: they only grow, so `rate()` and `increase()` apply).
pub fn render(handle: &PrometheusHandle) -> String {
    let mut text = handle.render();
    for name in FLOAT_COUNTERS {
        text = text.replace(
            &format!("# TYPE {name} gauge\n"),
            &format!("# TYPE {name} counter\n"),
        );
    }
    text
}

pub fn cache_hit() {
    counter!("routewise_cache_hits_total").increment(1);
}

pub fn reload(outcome: &'static str) {
    counter!("routewise_config_reloads_total", "outcome" => outcome).increment(1);
}

/// A client connection was accepted.
pub fn connection_opened() {
    counter!("routewise_connections_total").increment(1);
    gauge!("routewise_connections_open").increment(1.0);
}

/// A client connection ended: `closed` (normally), `header_timeout` (too slow to send a
/// request, or idle too long), `error`.
pub fn connection_closed(reason: &'static str) {
    gauge!("routewise_connections_open").decrement(1.0);
    counter!("routewise_connections_closed_total", "reason" => reason).increment(1);
}

/// A connection had to wait because `max_connections` were open.
pub fn connections_at_limit() {
    counter!("routewise_connections_at_limit_total").increment(1);
}

/// A request whose body did not arrive within the body read timeout.
pub fn body_timeout() {
    counter!("routewise_body_timeouts_total").increment(1);
}

/// One committed feedback on a request `model` answered.
pub fn feedback(model: &str, source: &'static str, score: f64) {
    counter!("routewise_feedback_total", "model" => model.to_owned(), "source" => source)
        .increment(1);
    histogram!("routewise_feedback_score", "model" => model.to_owned()).record(score);
}

/// Memory learned from feedback: `upgrade` or `release`.
pub fn memory(change: &'static str) {
    counter!("routewise_memory_changes_total", "change" => change).increment(1);
}

/// The store writer's totals, set when metrics are scraped.
pub fn store(stats: &routewise_store::WriterStats, queued: usize) {
    use std::sync::atomic::Ordering::Relaxed;
    counter!("routewise_store_records_written_total").absolute(stats.written.load(Relaxed));
    counter!("routewise_store_dropped_total", "reason" => "queue_full")
        .absolute(stats.dropped_full.load(Relaxed));
    counter!("routewise_store_dropped_total", "reason" => "store_failed")
        .absolute(stats.dropped_failed.load(Relaxed));
    counter!("routewise_store_failed_batches_total").absolute(stats.failed_batches.load(Relaxed));
    gauge!("routewise_store_queued_records").set(queued as f64);
}

/// A controller's state: the bias it puts on routing and what it measures.
pub fn controller(name: &'static str, bias: f64, measured: f64) {
    gauge!("routewise_controller_bias", "controller" => name).set(bias);
    gauge!("routewise_controller_measured", "controller" => name).set(measured);
}

/// A budget's spend in its current period and its pace against plan (1 = on plan).
pub fn budget(scope: &str, spent_usd: f64, pace: f64) {
    gauge!("routewise_budget_spent_usd", "scope" => scope.to_owned()).set(spent_usd);
    gauge!("routewise_budget_pace", "scope" => scope.to_owned()).set(pace);
}

/// A learning policy's state could not be saved or restored.
pub fn learning_state(outcome: &'static str) {
    counter!("routewise_learning_state_total", "outcome" => outcome).increment(1);
}

/// One request of an experiment, by arm (`none` for an experiment of shadows only), and what
/// its shadow policies would have served.
pub fn experiment(experiment: &str, arm: Option<&str>, shadows: &[routewise_core::ShadowDecision]) {
    counter!("routewise_experiment_requests_total", "experiment" => experiment.to_owned(),
        "arm" => arm.unwrap_or("none").to_owned())
    .increment(1);
    for shadow in shadows {
        counter!("routewise_shadow_decisions_total", "experiment" => experiment.to_owned(),
            "policy" => shadow.policy.clone(), "model" => shadow.model.clone())
        .increment(1);
    }
}

/// A shadow policy failed to decide (the request was served regardless).
pub fn shadow_error(experiment: &str, policy: &str) {
    counter!("routewise_shadow_errors_total", "experiment" => experiment.to_owned(),
        "policy" => policy.to_owned())
    .increment(1);
}

/// Whether a built-in alert is firing (1) or not (0).
pub fn alert_firing(alert: &'static str, firing: bool) {
    gauge!("routewise_alert_firing", "alert" => alert).set(if firing { 1.0 } else { 0.0 });
}

/// One alert change's webhook delivery: `ok`, `failed` (after its retries) or `dropped`.
pub fn alert_webhook(outcome: &'static str) {
    counter!("routewise_alert_webhook_total", "outcome" => outcome).increment(1);
}
