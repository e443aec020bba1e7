//! Accounting for one request: cost from the upstream's usage, the counterfactual cost of the
//! always-large baseline, routewise's own overhead, metrics, and the one JSON log line.

use crate::execute::Attempt;
use crate::metrics;
use routewise_core::{Decision, ModelSpec};
use routewise_openai::Usage;
use serde::Serialize;
use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;
use tokio::time::Instant;

/// The log target of the per-request JSON lines when they go through `tracing`.
pub const REQUEST_LOG_TARGET: &str = "routewise::request";

/// Where the per-request JSON lines go.
#[derive(Debug, Clone)]
pub enum RequestLog {
    /// `tracing` events at [`REQUEST_LOG_TARGET`] (the library default, used by tests).
    Tracing,
    /// Stdout, written by a dedicated thread through a buffer that is flushed whenever the queue
    /// runs dry. Formatting through `tracing` escaped every character and showed up in
    /// profiles; this keeps the request path to one channel send.
    Stdout(mpsc::Sender<String>),
}

impl RequestLog {
    /// Starts the stdout writer thread.
    pub fn stdout() -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::Builder::new()
            .name("routewise-request-log".to_owned())
            .spawn(move || {
                let mut out = std::io::BufWriter::new(std::io::stdout());
                // Ends when every sender (every gateway handle) is gone.
                while let Ok(line) = rx.recv() {
                    let mut next = Some(line);
                    while let Some(line) = next {
                        let _ = out.write_all(line.as_bytes());
                        let _ = out.write_all(b"\n");
                        next = rx.try_recv().ok();
                    }
                    let _ = out.flush();
                }
            })?;
        Ok(Self::Stdout(tx))
    }

    fn write(&self, line: String) {
        match self {
            RequestLog::Tracing => tracing::info!(target: REQUEST_LOG_TARGET, "{line}"),
            RequestLog::Stdout(tx) => {
                // The writer thread only stops at process exit; a lost line then is harmless.
                let _ = tx.send(line);
            }
        }
    }
}

/// What is known about a request as it goes; finished exactly once.
#[derive(Debug)]
pub struct Ledger {
    log: RequestLog,
    pub request_id: String,
    started: Instant,
    pub route: Option<String>,
    pub key: Option<String>,
    pub user_tier: Option<String>,
    pub stream: bool,
    pub cached: bool,
    pub decision: Option<Decision>,
    pub model: Option<ModelSpec>,
    pub baseline: Option<ModelSpec>,
    pub attempts: Vec<Attempt>,
    pub upstream_time: Duration,
    /// Set when the response (or its headers, for streams) is ready.
    overhead: Option<Duration>,
    pub usage: Option<Usage>,
}

/// The JSON log line.
#[derive(Debug, Serialize)]
struct Record<'a> {
    request_id: &'a str,
    outcome: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_tier: Option<&'a str>,
    stream: bool,
    cached: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    decision: Option<&'a Decision>,
    attempts: &'a [Attempt],
    prompt_tokens: u64,
    completion_tokens: u64,
    cost_usd: f64,
    baseline_cost_usd: f64,
    saving_usd: f64,
    latency_ms: f64,
    overhead_ms: f64,
    upstream_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

impl Ledger {
    pub fn new(request_id: String, started: Instant, log: RequestLog) -> Self {
        Self {
            log,
            request_id,
            started,
            route: None,
            key: None,
            user_tier: None,
            stream: false,
            cached: false,
            decision: None,
            model: None,
            baseline: None,
            attempts: Vec::new(),
            upstream_time: Duration::ZERO,
            overhead: None,
            usage: None,
        }
    }

    /// Moves the ledger out (to finish it, or to hand it to a stream), leaving an empty one
    /// that is never finished.
    pub fn detach(&mut self) -> Ledger {
        let empty = Ledger::new(String::new(), self.started, RequestLog::Tracing);
        std::mem::replace(self, empty)
    }

    /// Marks the moment the response is handed to the client: everything until now that was
    /// not spent waiting on an upstream is routewise's overhead.
    pub fn mark_ready(&mut self) {
        self.overhead = Some(self.started.elapsed().saturating_sub(self.upstream_time));
    }

    /// The actual cost and the baseline's cost for the same tokens (zero for a cache hit, which
    /// calls nobody, while the baseline still shows what it would have cost).
    pub fn costs(&self) -> (f64, f64) {
        let (prompt, completion) = self.tokens();
        let cost = match (&self.model, self.cached) {
            (Some(model), false) => model.cost_usd(prompt, completion),
            _ => 0.0,
        };
        let baseline = self
            .baseline
            .as_ref()
            .map_or(0.0, |b| b.cost_usd(prompt, completion));
        (cost, baseline)
    }

    fn tokens(&self) -> (u64, u64) {
        self.usage
            .as_ref()
            .map_or((0, 0), |u| (u.prompt_tokens, u.completion_tokens))
    }

    /// Emits metrics and the JSON log line.
    pub fn finish(mut self, outcome: &str, status: u16, error: Option<&str>) {
        if self.overhead.is_none() {
            self.mark_ready();
        }
        let overhead = self.overhead.unwrap_or_default();
        let latency = self.started.elapsed();
        let (cost, baseline) = self.costs();
        let (prompt, completion) = self.tokens();
        let model_label = self.model.as_ref().map_or("none", |m| m.name.as_str());
        let outcome_label = match outcome {
            "ok" => "ok",
            "cache_hit" => "cache_hit",
            "stream_error" => "stream_error",
            "client_disconnected" => "client_disconnected",
            _ => "error",
        };
        metrics::request(model_label, outcome_label, latency, overhead);
        if let Some(model) = &self.model {
            metrics::tokens(&model.name, prompt, completion);
            metrics::cost(&model.name, cost, baseline);
        }
        let record = Record {
            request_id: &self.request_id,
            outcome,
            status,
            route: self.route.as_deref(),
            client_key: self.key.as_deref(),
            user_tier: self.user_tier.as_deref(),
            stream: self.stream,
            cached: self.cached,
            model: self.model.as_ref().map(|m| m.name.as_str()),
            decision: self.decision.as_ref(),
            attempts: &self.attempts,
            prompt_tokens: prompt,
            completion_tokens: completion,
            cost_usd: cost,
            baseline_cost_usd: baseline,
            saving_usd: baseline - cost,
            latency_ms: latency.as_secs_f64() * 1000.0,
            overhead_ms: overhead.as_secs_f64() * 1000.0,
            upstream_ms: self.upstream_time.as_secs_f64() * 1000.0,
            error,
        };
        match serde_json::to_string(&record) {
            Ok(line) => self.log.write(line),
            Err(err) => tracing::warn!("cannot serialise the request log record: {err}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, price: f64) -> ModelSpec {
        ModelSpec {
            name: name.into(),
            provider: "p".into(),
            upstream_model: name.into(),
            tier: 0,
            input_usd_per_mtok: price,
            output_usd_per_mtok: price * 2.0,
            context_window: 1000,
            capabilities: vec![],
        }
    }

    #[tokio::test]
    async fn costs_use_upstream_usage_for_model_and_baseline() {
        let mut ledger = Ledger::new("r".into(), Instant::now(), RequestLog::Tracing);
        ledger.model = Some(spec("small", 1.0));
        ledger.baseline = Some(spec("large", 10.0));
        ledger.usage = Some(Usage::new(1_000_000, 500_000));
        let (cost, baseline) = ledger.costs();
        assert!((cost - 2.0).abs() < 1e-9, "{cost}");
        assert!((baseline - 20.0).abs() < 1e-9, "{baseline}");
        ledger.cached = true;
        assert_eq!(ledger.costs().0, 0.0);
    }

    #[tokio::test(start_paused = true)]
    async fn overhead_excludes_upstream_time() {
        let mut ledger = Ledger::new("r".into(), Instant::now(), RequestLog::Tracing);
        tokio::time::advance(Duration::from_millis(50)).await;
        ledger.upstream_time = Duration::from_millis(45);
        ledger.mark_ready();
        assert_eq!(ledger.overhead, Some(Duration::from_millis(5)));
    }
}
