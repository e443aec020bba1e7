//! Accounting for one request: cost from the upstream's usage, the counterfactual cost of the
//! always-large baseline, routewise's own overhead, metrics, and the one JSON log line.

use crate::execute::Attempt;
use crate::metrics;
use crate::records::{Finished, QueryFacts, RecordSink};
use routewise_core::{Decision, ModelSpec};
use routewise_openai::Usage;
use routewise_providers::Redactor;
use serde::Serialize;
use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// The log target of the per-request JSON lines when they go through `tracing`.
pub const REQUEST_LOG_TARGET: &str = "routewise::request";

/// Where the per-request JSON lines go.
#[derive(Debug, Clone)]
pub enum RequestLog {
    /// `tracing` events at [`REQUEST_LOG_TARGET`] (the library default, used by tests).
    Tracing,
    /// Stdout (or any writer) through a [`LineBuffer`]. Formatting through `tracing` escaped
    /// every character and showed up in profiles; this keeps the request path to one short
    /// lock and a copy.
    Buffered(Arc<LineBuffer>),
}

impl RequestLog {
    /// Lines go to stdout.
    pub fn stdout() -> std::io::Result<Self> {
        Self::to_writer(std::io::stdout())
    }

    /// Lines go to `out`, written by a dedicated thread (see [`LineBuffer`]).
    pub fn to_writer(out: impl Write + Send + 'static) -> std::io::Result<Self> {
        let buffer = Arc::new(LineBuffer {
            pending: Mutex::new(Vec::new()),
            grown: Condvar::new(),
            out: Mutex::new(Box::new(out)),
        });
        let writer = Arc::clone(&buffer);
        std::thread::Builder::new()
            .name("routewise-request-log".to_owned())
            .spawn(move || writer.run())?;
        Ok(Self::Buffered(buffer))
    }

    fn write(&self, line: &str) {
        match self {
            RequestLog::Tracing => tracing::info!(target: REQUEST_LOG_TARGET, "{line}"),
            RequestLog::Buffered(buffer) => buffer.push(line),
        }
    }

    /// Writes out every line logged so far (at shutdown, so none are lost with the process).
    pub fn flush(&self) {
        if let RequestLog::Buffered(buffer) = self {
            buffer.drain();
        }
    }
}

/// Request lines waiting for the writer thread.
///
/// The thread writes them out every [`FLUSH_INTERVAL`], or as soon as [`FLUSH_BYTES`] are
/// waiting, instead of being woken for every line: at 1,000 req/s a wake per request meant 1,000
/// extra context switches a second competing with the requests for the CPU, and on a busy
/// 2-core machine each one could delay the request that caused it.
pub struct LineBuffer {
    pending: Mutex<Vec<u8>>,
    /// Signalled when `pending` passes [`FLUSH_BYTES`].
    grown: Condvar,
    /// Held while writing, so chunks leave in the order they were logged.
    out: Mutex<Box<dyn Write + Send>>,
}

/// Bytes reserved for a request's log line up front: a routed request's line is about 1.1 KB,
/// and growing a buffer from empty to that copied it eight times.
const LOG_LINE_CAPACITY: usize = 2048;

/// Longest a line waits for the writer thread.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// Waiting bytes that wake the writer thread before [`FLUSH_INTERVAL`].
const FLUSH_BYTES: usize = 256 * 1024;

impl std::fmt::Debug for LineBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineBuffer").finish_non_exhaustive()
    }
}

impl LineBuffer {
    fn push(&self, line: &str) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let before = pending.len();
        pending.extend_from_slice(line.as_bytes());
        pending.push(b'\n');
        if before < FLUSH_BYTES && pending.len() >= FLUSH_BYTES {
            self.grown.notify_one();
        }
    }

    /// The writer thread: drains the buffer every [`FLUSH_INTERVAL`] or when it grows large,
    /// for the life of the process.
    fn run(&self) {
        loop {
            {
                let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                if pending.len() < FLUSH_BYTES {
                    // Woken early by `push`, by the timeout, or spuriously: all mean drain now.
                    let _ = self.grown.wait_timeout(pending, FLUSH_INTERVAL);
                }
            }
            self.drain();
        }
    }

    /// Writes out what is waiting. Write errors (a closed stdout) drop the lines: the request
    /// log must never hold up or fail a request.
    fn drain(&self) {
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        let chunk =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        if !chunk.is_empty() {
            let _ = out.write_all(&chunk);
            let _ = out.flush();
        }
    }
}

/// What is known about a request as it goes; finished exactly once. Stages tell it what they
/// learned through its methods; [`Ledger::finish`] turns it into metrics and the log line.
///
/// A ledger dropped unfinished (the client hung up and its request was dropped mid-way) finishes
/// itself as `client_disconnected`, so that every request that reached the pipeline is logged
/// and counted exactly once, with what it consumed.
#[derive(Debug)]
pub struct Ledger {
    log: RequestLog,
    /// Masks provider keys in the log line, whatever upstream text it quotes.
    redactor: Arc<Redactor>,
    /// Set once the record is written (or for the empty ledger [`Ledger::detach`] leaves).
    finished: bool,
    /// Tokens counted by routewise because the upstream reported no usage.
    usage_estimated: bool,
    /// Where the decision record goes, when the gateway keeps them.
    sink: Option<RecordSink>,
    /// What the record keeps of the query.
    query: Option<QueryFacts>,
    /// Wall-clock time the request arrived, for the record.
    started_unix_ms: i64,
    request_id: String,
    /// The W3C trace the request belongs to, when it is traced or the caller sent one.
    trace_id: Option<String>,
    started: Instant,
    route: Option<String>,
    key: Option<String>,
    user_tier: Option<String>,
    stream: bool,
    cached: bool,
    decision: Option<Decision>,
    model: Option<ModelSpec>,
    baseline: Option<ModelSpec>,
    attempts: Vec<Attempt>,
    upstream_time: Duration,
    /// Set when the response (or its headers, for streams) is ready.
    overhead: Option<Duration>,
    usage: Option<Usage>,
}

/// The JSON log line.
#[derive(Debug, Serialize)]
struct Record<'a> {
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<&'a str>,
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
    /// The token counts are routewise's own count, not the upstream's report (a stream cut
    /// short, or a client that left before the answer).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    usage_estimated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

impl Ledger {
    pub fn new(request_id: String, started: Instant, log: RequestLog) -> Self {
        Self::redacting(request_id, started, log, Arc::default())
    }

    /// A ledger whose log line masks the secrets `redactor` knows.
    pub fn redacting(
        request_id: String,
        started: Instant,
        log: RequestLog,
        redactor: Arc<Redactor>,
    ) -> Self {
        let started_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or_default();
        Self {
            log,
            redactor,
            finished: false,
            usage_estimated: false,
            sink: None,
            query: None,
            started_unix_ms,
            request_id,
            started,
            trace_id: None,
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

    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// Sends the finished request's record to `sink`.
    pub fn set_sink(&mut self, sink: RecordSink) {
        self.sink = Some(sink);
    }

    /// What the record keeps of the query.
    pub fn set_query(&mut self, query: QueryFacts) {
        self.query = Some(query);
    }

    pub fn log_prompts(&self) -> bool {
        self.sink.as_ref().is_some_and(|s| s.log_prompts)
    }

    /// Who called.
    pub fn set_caller(&mut self, key: Option<&str>, tier: &str) {
        self.key = key.map(str::to_owned);
        self.user_tier = Some(tier.to_owned());
    }

    pub fn set_stream(&mut self, stream: bool) {
        self.stream = stream;
    }

    /// The named route (`auto`, ...) the request took; none for an explicit model.
    pub fn set_trace_id(&mut self, trace_id: Option<String>) {
        self.trace_id = trace_id;
    }

    pub fn set_route(&mut self, route: &str) {
        self.route = Some(route.to_owned());
    }

    /// The model whose cost the request is compared with.
    pub fn set_baseline(&mut self, baseline: &ModelSpec) {
        self.baseline = Some(baseline.clone());
    }

    pub fn set_decision(&mut self, decision: Decision) {
        self.decision = Some(decision);
    }

    pub fn decision(&self) -> Option<&Decision> {
        self.decision.as_ref()
    }

    /// The model that answered, and every attempt it took.
    pub fn set_execution(&mut self, model: &ModelSpec, attempts: Vec<Attempt>, upstream: Duration) {
        self.model = Some(model.clone());
        self.attempts = attempts;
        self.upstream_time = upstream;
    }

    /// The model about to be called, so that a request dropped mid-call is accounted to it.
    pub fn set_attempting(&mut self, model: &ModelSpec) {
        self.model = Some(model.clone());
    }

    /// A failed execution: what was tried and how long it waited; no model answered.
    pub fn set_failure(&mut self, attempts: Vec<Attempt>, upstream: Duration) {
        self.model = None;
        self.attempts = attempts;
        self.upstream_time = upstream;
    }

    pub fn set_usage(&mut self, usage: Option<Usage>) {
        self.usage = usage;
    }

    pub fn usage(&self) -> Option<&Usage> {
        self.usage.as_ref()
    }

    /// Token counts routewise made itself, when the upstream reported none.
    pub fn set_estimated_usage(&mut self, usage: Usage) {
        self.usage = Some(usage);
        self.usage_estimated = true;
    }

    /// The prompt tokens the decision counted: what a call consumed at least, once sent.
    pub fn prompt_tokens(&self) -> Option<u64> {
        self.decision
            .as_ref()
            .map(|d| u64::from(d.signals.prompt_tokens))
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// The answer came from the cache.
    pub fn set_cached(&mut self, usage: Option<Usage>) {
        self.cached = true;
        self.usage = usage;
    }

    /// Moves the ledger out (to finish it, or to hand it to a stream), leaving an empty one
    /// that is never finished.
    pub fn detach(&mut self) -> Ledger {
        let mut empty = Ledger::new(String::new(), self.started, RequestLog::Tracing);
        empty.finished = true;
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
        self.write(outcome, status, error);
    }

    fn write(&mut self, outcome: &str, status: u16, error: Option<&str>) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
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
            trace_id: self.trace_id.as_deref(),
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
            usage_estimated: self.usage_estimated,
            error,
        };
        let Some(line) = self.log_line(&record) else {
            return;
        };
        self.log.write(&line);
        if let Some(sink) = &self.sink {
            sink.keep(Finished {
                request_id: &self.request_id,
                created_unix_ms: self.started_unix_ms,
                key: self.key.as_deref(),
                route: self.route.as_deref(),
                decision: self.decision.as_ref(),
                model: self.model.as_ref(),
                outcome,
                status,
                prompt_tokens: prompt,
                completion_tokens: completion,
                cost_usd: cost,
                baseline_cost_usd: baseline,
                latency_ms: latency.as_secs_f64() * 1000.0,
                overhead_ms: overhead.as_secs_f64() * 1000.0,
                query: self.query.as_ref(),
                attempts: &self.attempts,
                line,
            });
        }
    }
}

impl Ledger {
    /// The record as its JSON log line, secrets masked; `None` (logged) if it cannot serialise.
    fn log_line(&self, record: &Record<'_>) -> Option<String> {
        let mut line = Vec::with_capacity(LOG_LINE_CAPACITY);
        let serialised = serde_json::to_writer(&mut line, record)
            .map_err(|err| err.to_string())
            .and_then(|()| String::from_utf8(line).map_err(|err| err.to_string()));
        match serialised {
            Ok(mut line) => {
                self.redactor.redact_in_place(&mut line);
                Some(line)
            }
            Err(err) => {
                tracing::warn!("cannot serialise the request log record: {err}");
                None
            }
        }
    }
}

impl Drop for Ledger {
    fn drop(&mut self) {
        if !self.finished {
            // The request was dropped mid-way: its client went away. A call that was sent
            // consumed at least its prompt.
            if let (None, Some(_), Some(prompt)) = (&self.usage, &self.model, self.prompt_tokens())
            {
                self.set_estimated_usage(Usage::new(prompt, 0));
            }
            self.write(
                "client_disconnected",
                499,
                Some("the client closed the connection before the answer"),
            );
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
        ledger.set_execution(&spec("small", 1.0), Vec::new(), Duration::ZERO);
        ledger.set_baseline(&spec("large", 10.0));
        ledger.set_usage(Some(Usage::new(1_000_000, 500_000)));
        let (cost, baseline) = ledger.costs();
        assert!((cost - 2.0).abs() < 1e-9, "{cost}");
        assert!((baseline - 20.0).abs() < 1e-9, "{baseline}");
        ledger.set_cached(Some(Usage::new(1_000_000, 500_000)));
        assert_eq!(ledger.costs().0, 0.0);
    }

    /// A writer whose bytes the test can read back.
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Sink {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    #[test]
    fn flush_writes_every_line_in_order() {
        let sink = Sink::default();
        let log = RequestLog::to_writer(sink.clone()).unwrap();
        let lines: Vec<String> = (0..1000).map(|i| format!("{{\"n\":{i}}}")).collect();
        for line in &lines {
            log.clone().write(line);
        }
        log.flush();
        assert_eq!(sink.text(), lines.join("\n") + "\n");
    }

    #[test]
    fn the_writer_thread_writes_lines_without_a_flush() {
        let sink = Sink::default();
        let log = RequestLog::to_writer(sink.clone()).unwrap();
        log.write("{\"n\":1}");
        // Polls for the behaviour (the line arrives on its own), not for how soon.
        for _ in 0..500 {
            if !sink.text().is_empty() {
                break;
            }
            std::thread::sleep(FLUSH_INTERVAL / 5);
        }
        assert_eq!(sink.text(), "{\"n\":1}\n");
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
