//! Executing a decision: the fallback chain, retries with jittered exponential backoff that
//! honour `Retry-After`, per-model deadlines, and circuit breakers. Every attempt is recorded.
//!
//! A streamed reply counts as successful once its first chunk has arrived; that chunk is what
//! the client sees first, so fallback never happens after the client has received a byte.

use crate::error::GatewayError;
use crate::metrics;
use crate::runtime::Runtime;
use crate::shared::circuits::ProbeGuard;
use crate::shared::{Admission, CircuitBreaker, CircuitSettings, Verdict};
use crate::trace::{self, CallerTrace};
use axum::http::StatusCode;
use backon::{BackoffBuilder, ExponentialBuilder};
use futures::StreamExt;
use routewise_config::server::ExecutionConfig;
use routewise_core::{Catalog, ModelSet, ModelSpec};
use routewise_openai::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest};
use routewise_providers::{CallOptions, ChunkStream, Deadlines, ProviderError, ProviderReply};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tracing::Instrument;

/// One call (or skipped call) to one model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Attempt {
    pub model: String,
    /// 1-based attempt number on this model.
    pub attempt: u32,
    /// `ok`, `circuit_open`, or the provider error kind (`status_429`, `timeout_first_byte`, ...).
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A reply that is ready for the client.
pub enum Served {
    Complete(ChatCompletion),
    /// The first chunk has arrived; the rest follows.
    Stream {
        first: ChatCompletionChunk,
        rest: ChunkStream,
    },
}

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Served::Complete(c) => f.debug_tuple("Complete").field(c).finish(),
            Served::Stream { first, .. } => f.debug_struct("Stream").field("first", first).finish(),
        }
    }
}

/// A successful execution.
#[derive(Debug)]
pub struct Execution {
    /// The catalog model that answered.
    pub model: ModelSpec,
    pub served: Served,
    pub attempts: Vec<Attempt>,
    /// Time spent waiting on upstreams and backoff, which is not routewise's overhead.
    pub upstream_time: Duration,
}

/// A failed execution: the client error, and what was tried.
#[derive(Debug)]
pub struct Failure {
    pub error: GatewayError,
    pub upstream_time: Duration,
}

/// The models to try, in order: the chosen one, then (when `fallback` is on) every model of a
/// higher tier that meets the request's hard constraints (`eligible`), cheapest tier first.
pub fn chain<'a>(
    catalog: &'a Catalog,
    chosen: &str,
    eligible: &ModelSet,
    fallback: bool,
) -> Vec<&'a ModelSpec> {
    let Some(first) = catalog.model(chosen) else {
        return Vec::new();
    };
    let mut models = vec![first];
    if fallback {
        models.extend(
            catalog
                .models_by_preference()
                .iter()
                .filter(|&&id| eligible.contains(id))
                .filter_map(|&id| catalog.get(id))
                .filter(|m| m.tier > first.tier),
        );
    }
    models
}

/// Runs `request` down `models` until one answers.
pub async fn execute(
    runtime: &Runtime,
    circuits: &Arc<dyn CircuitBreaker>,
    models: &[&ModelSpec],
    request: &ChatCompletionRequest,
    caller_trace: &CallerTrace,
) -> Result<Execution, Failure> {
    let exec = &runtime.config.server.execution;
    let mut chain = ChainProgress::default();
    for (position, model) in models.iter().enumerate() {
        if position > 0 {
            let reason = chain
                .last_error
                .as_ref()
                .map_or("circuit_open", ProviderError::kind);
            metrics::fallback(&models[position - 1].name, &model.name, reason);
        }
        let Some(provider) = runtime.provider_for(model) else {
            continue;
        };
        let mut upstream_request = request.clone();
        upstream_request.model.clone_from(&model.upstream_model);
        let call = ModelCall {
            exec,
            circuits,
            provider: provider.as_ref(),
            model,
            request: upstream_request,
            is_fallback: position > 0,
            caller_trace,
        };
        match call.run(&mut chain).await {
            ModelResult::Served(served) => {
                return Ok(Execution {
                    model: (*model).clone(),
                    served,
                    attempts: chain.attempts,
                    upstream_time: chain.upstream_time,
                });
            }
            ModelResult::Refused => return Err(chain.failure()),
            ModelResult::Exhausted => {}
        }
    }
    Err(chain.failure())
}

/// What the chain has seen so far, carried from one model to the next.
#[derive(Default)]
struct ChainProgress {
    attempts: Vec<Attempt>,
    upstream_time: Duration,
    last_error: Option<ProviderError>,
    /// When the models may be tried again: open circuits' cooldowns, upstreams' Retry-After.
    waits: Vec<Duration>,
}

impl ChainProgress {
    fn failure(self) -> Failure {
        Failure {
            error: upstream_error(self.last_error.as_ref(), &self.attempts, &self.waits),
            upstream_time: self.upstream_time,
        }
    }
}

/// How the attempts on one model ended.
enum ModelResult {
    Served(Served),
    /// The upstream refused the request itself (a 4xx other than 429): every model would.
    Refused,
    /// Retries used up, not retryable, or the circuit is open: on to the next model.
    Exhausted,
}

/// One model of the chain, with everything its attempts need.
struct ModelCall<'a> {
    exec: &'a ExecutionConfig,
    circuits: &'a Arc<dyn CircuitBreaker>,
    provider: &'a dyn routewise_providers::Provider,
    model: &'a ModelSpec,
    request: ChatCompletionRequest,
    is_fallback: bool,
    caller_trace: &'a CallerTrace,
}

impl ModelCall<'_> {
    /// Calls this model, retrying with backoff while its errors are retryable.
    async fn run(&self, chain: &mut ChainProgress) -> ModelResult {
        let settings = CircuitSettings {
            threshold: self.exec.circuit_failure_threshold,
            cooldown: self.exec.circuit_cooldown,
        };
        let name = &self.model.name;
        let mut delays = backoff(self.exec);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            if let Admission::Rejected { retry_in } = self.circuits.admit(name).await {
                chain.waits.push(retry_in);
                chain.attempts.push(Attempt::circuit_open(name, attempt));
                return ModelResult::Exhausted;
            }
            // Every admitted call records one verdict, even if this future is dropped mid-call.
            let guard = ProbeGuard::new(Arc::clone(self.circuits), name, settings);
            let result = self.attempt(attempt).await;
            let elapsed = started.elapsed();
            chain.upstream_time += elapsed;
            metrics::upstream(name, elapsed);
            let err = match result {
                Ok(served) => {
                    guard.resolve(Verdict::Success);
                    chain.attempts.push(Attempt::ok(name, attempt, elapsed));
                    return ModelResult::Served(served);
                }
                Err(err) => err,
            };
            chain
                .attempts
                .push(Attempt::failed(name, attempt, &err, elapsed));
            if err.is_client_error() {
                // The request itself is at fault. The upstream did answer, so its circuit closes.
                guard.resolve(Verdict::Success);
                chain.last_error = Some(err);
                return ModelResult::Refused;
            }
            guard.resolve(Verdict::Failure);
            if let Some(wait) = err.retry_after() {
                chain.waits.push(wait);
            }
            let wait = retry_wait(self.exec, &err, delays.next());
            chain.last_error = Some(err);
            let Some(wait) = wait else {
                return ModelResult::Exhausted;
            };
            tokio::time::sleep(wait).await;
            chain.upstream_time += wait;
        }
    }

    /// One call, inside its trace span, which carries the `traceparent` sent upstream.
    async fn attempt(&self, attempt: u32) -> Result<Served, ProviderError> {
        let span = trace::attempt_span(
            &self.model.name,
            &self.model.upstream_model,
            attempt,
            self.is_fallback,
        );
        let options = CallOptions {
            deadlines: self.deadlines(),
            traceparent: trace::traceparent_for(&span, self.caller_trace),
        };
        let result = call(self.provider, self.request.clone(), options)
            .instrument(span.clone())
            .await;
        record_outcome(&span, &result);
        result
    }

    fn deadlines(&self) -> Deadlines {
        let timeouts = self.exec.timeouts_for(&self.model.name);
        Deadlines {
            first_byte: timeouts.first_byte,
            total: timeouts.total,
        }
    }
}

/// How long to wait before retrying after `err`, or `None` to move on: not retryable, retries
/// used up (`backoff` is the next delay, if any), or an upstream asking for longer than
/// `max_retry_after`. An upstream's `Retry-After` wins over the backoff.
fn retry_wait(
    exec: &ExecutionConfig,
    err: &ProviderError,
    backoff: Option<Duration>,
) -> Option<Duration> {
    match (err.is_retryable(), backoff, err.retry_after()) {
        (false, _, _) | (true, None, _) => None,
        (true, Some(_), Some(asked)) if asked > exec.max_retry_after => None,
        (true, Some(backoff), asked) => Some(asked.unwrap_or(backoff)),
    }
}

impl Attempt {
    fn ok(model: &str, attempt: u32, elapsed: Duration) -> Self {
        Attempt {
            model: model.to_owned(),
            attempt,
            outcome: "ok",
            status: None,
            duration_ms: millis(elapsed),
            error: None,
        }
    }

    fn circuit_open(model: &str, attempt: u32) -> Self {
        Attempt {
            model: model.to_owned(),
            attempt,
            outcome: "circuit_open",
            status: None,
            duration_ms: 0.0,
            error: None,
        }
    }

    fn failed(model: &str, attempt: u32, err: &ProviderError, elapsed: Duration) -> Self {
        Attempt {
            model: model.to_owned(),
            attempt,
            outcome: err.kind(),
            status: match err {
                ProviderError::Status { status, .. } => Some(*status),
                _ => None,
            },
            duration_ms: millis(elapsed),
            error: Some(err.to_string()),
        }
    }
}

/// The retry delays for one model: jittered exponential backoff, `max_retries` long.
fn backoff(exec: &ExecutionConfig) -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(exec.backoff_base)
        .with_max_delay(exec.backoff_max)
        .with_max_times(usize::try_from(exec.max_retries).unwrap_or(usize::MAX))
        .with_jitter()
        .build()
}

/// What an attempt's span says of how it went.
fn record_outcome(span: &tracing::Span, result: &Result<Served, ProviderError>) {
    match result {
        Ok(_) => {
            span.record("routewise.outcome", "ok");
            span.record("http.response.status_code", 200);
        }
        Err(err) => {
            span.record("routewise.outcome", err.kind());
            if let ProviderError::Status { status, .. } = err {
                span.record("http.response.status_code", status);
            }
        }
    }
}

/// One provider call; a stream is only a success once its first chunk is in.
async fn call(
    provider: &dyn routewise_providers::Provider,
    request: ChatCompletionRequest,
    options: CallOptions,
) -> Result<Served, ProviderError> {
    match provider.chat(request, options).await? {
        ProviderReply::Complete(completion) => Ok(Served::Complete(completion)),
        ProviderReply::Stream(mut rest) => match rest.next().await {
            Some(Ok(first)) => Ok(Served::Stream { first, rest }),
            Some(Err(err)) => Err(err),
            None => Err(ProviderError::InvalidResponse {
                provider: provider.name().to_owned(),
                detail: "the stream ended before its first chunk".to_owned(),
            }),
        },
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The client-facing error for a failed chain, listing every attempt. When every model was
/// rate-limited (or routed around), it is a 429 with the soonest `Retry-After`; when every
/// circuit was open, a 503 with the soonest cooldown's end: a client can wait and retry.
fn upstream_error(
    last: Option<&ProviderError>,
    attempts: &[Attempt],
    waits: &[Duration],
) -> GatewayError {
    let outcome_is = |kinds: &[&str]| attempts.iter().all(|a| kinds.contains(&a.outcome));
    let rate_limited = outcome_is(&["status_429", "circuit_open"])
        && attempts.iter().any(|a| a.outcome == "status_429");
    let status = match last {
        Some(err @ ProviderError::Status { status, .. }) if err.is_client_error() => {
            StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST)
        }
        Some(ProviderError::Request { .. }) => StatusCode::BAD_REQUEST,
        _ if rate_limited => StatusCode::TOO_MANY_REQUESTS,
        Some(ProviderError::Timeout { .. }) => StatusCode::GATEWAY_TIMEOUT,
        Some(_) => StatusCode::BAD_GATEWAY,
        None => StatusCode::SERVICE_UNAVAILABLE,
    };
    let retry_after = match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => Some(
            waits
                .iter()
                .min()
                .copied()
                .unwrap_or(Duration::from_secs(1)),
        ),
        _ => None,
    };
    let tried: Vec<String> = attempts
        .iter()
        .map(|a| match &a.error {
            Some(error) => format!("{} attempt {}: {error}", a.model, a.attempt),
            None => format!("{} attempt {}: {}", a.model, a.attempt, a.outcome),
        })
        .collect();
    let message = match last {
        Some(err) if err.is_client_error() => format!("the upstream rejected the request: {err}"),
        _ => format!(
            "no model could answer after {} attempt(s): {}",
            attempts.len(),
            tried.join("; ")
        ),
    };
    GatewayError::Upstream {
        status,
        message,
        attempts: attempts.to_vec(),
        retry_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use routewise_core::Capability;

    fn model(name: &str, tier: usize, price: f64) -> ModelSpec {
        ModelSpec {
            name: name.into(),
            provider: "p".into(),
            upstream_model: name.into(),
            tier,
            input_usd_per_mtok: price,
            output_usd_per_mtok: price,
            context_window: 1000,
            capabilities: vec![Capability::Code],
        }
    }

    #[test]
    fn chain_escalates_to_higher_tiers_only() {
        let catalog = Catalog::new(
            vec!["a".into(), "b".into(), "c".into()],
            vec![
                model("top", 2, 9.0),
                model("mid2", 1, 2.0),
                model("low", 0, 0.1),
                model("mid1", 1, 1.0),
            ],
        )
        .unwrap();
        let names =
            |chain: Vec<&ModelSpec>| chain.iter().map(|m| m.name.clone()).collect::<Vec<_>>();
        let all = ModelSet::all(&catalog);
        assert_eq!(
            names(chain(&catalog, "low", &all, true)),
            ["low", "mid1", "mid2", "top"]
        );
        assert_eq!(names(chain(&catalog, "mid2", &all, true)), ["mid2", "top"]);
        assert_eq!(names(chain(&catalog, "low", &all, false)), ["low"]);
        assert!(chain(&catalog, "nope", &all, true).is_empty());
    }

    /// Before the fix, the chain appended every higher-tier model, so a request with an image
    /// could fall back to a text-only model and a long prompt to a window it overflows.
    #[test]
    fn chain_keeps_to_models_that_meet_the_hard_constraints() {
        let catalog = Catalog::new(
            vec!["a".into(), "b".into(), "c".into()],
            vec![
                model("low", 0, 0.1),
                model("mid-text-only", 1, 1.0),
                model("mid-vision", 1, 2.0),
                model("top", 2, 9.0),
            ],
        )
        .unwrap();
        let eligible = ModelSet::of(&catalog, |m| m.name != "mid-text-only");
        let names: Vec<&str> = chain(&catalog, "low", &eligible, true)
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(names, ["low", "mid-vision", "top"]);
    }

    #[test]
    fn error_status_reflects_the_last_failure() {
        let timeout = ProviderError::Timeout {
            provider: "p".into(),
            phase: routewise_providers::TimeoutPhase::FirstByte,
            limit: Duration::from_secs(1),
        };
        let GatewayError::Upstream { status, .. } = upstream_error(Some(&timeout), &[], &[]) else {
            panic!()
        };
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
        let GatewayError::Upstream { status, .. } = upstream_error(None, &[], &[]) else {
            panic!()
        };
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }
}
