//! `POST /v1/chat/completions` as named stages, composed in one place: [`serve`].
//!
//! The layers in [`crate::layers`] have already given the request its id, refused it while
//! draining, and identified the caller. Then, in order:
//!
//! 1. **admit**: the caller's key gives up one request of its per-minute limit;
//! 2. **parse**: the body, within `[server] max_body_bytes`, into a chat completion request;
//! 3. **resolve**: `model` names a route (whose policy decides) or a catalog model;
//! 4. **cache**: a cacheable request with a stored answer ends here;
//! 5. **analyse**: signals (the one tokenisation) and hard constraints;
//! 6. **charge**: the prompt's tokens against the key's token limit;
//! 7. **decide**: the runtime's decision stages ([`crate::decide`]: memory, experiments,
//!    controllers, the policy);
//! 8. **execute**: the fallback chain over eligible models, retries, circuits ([`execute`]);
//! 9. **respond**: the completion as JSON (and into the cache), or as an SSE stream
//!    ([`crate::stream`]);
//! 10. **account**: cost, metrics and the log line ([`crate::account`]), when the answer is
//!     complete (for a stream, when it ends).
//!
//! Each stage is a function below (or in its own module); a new stage is a new function and
//! one line in [`serve`].

use crate::Gateway;
use crate::account::Ledger;
use crate::auth::Caller;
use crate::decide::{self, Adjustments, Audience, Control, Draft};
use crate::error::GatewayError;
use crate::execute::{self, Execution, Served};
use crate::layers::{Admitted, RequestId};
use crate::metrics;
use crate::now_unix_ms;
use crate::records::QueryFacts;
use crate::runtime::{Runtime, Target};
use crate::shared::{CacheKey, CachedReply, cache_key};
use crate::stream::{StreamContext, sse_body};
use crate::trace::{self, CallerTrace};
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use routewise_config::server::RouteConfig;
use routewise_core::tokens::TokenCounter;
use routewise_core::{Analysis, ChatInput, Decision, RequestContext};
use routewise_openai::ChatCompletionRequest;
use serde::Serialize;
use std::sync::Arc;
use tracing::Instrument;

pub use crate::layers::REQUEST_ID;
pub const MODEL: HeaderName = HeaderName::from_static("x-routewise-model");
pub const POLICY: HeaderName = HeaderName::from_static("x-routewise-policy");
pub const REASON: HeaderName = HeaderName::from_static("x-routewise-reason");
pub const COST: HeaderName = HeaderName::from_static("x-routewise-cost-usd");
pub const BASELINE_COST: HeaderName = HeaderName::from_static("x-routewise-baseline-cost-usd");
pub const CACHE: HeaderName = HeaderName::from_static("x-routewise-cache");
pub const EXPERIMENT: HeaderName = HeaderName::from_static("x-routewise-experiment");
pub const ARM: HeaderName = HeaderName::from_static("x-routewise-arm");

/// Serves `POST /v1/chat/completions` for an identified caller.
pub async fn chat_completions(
    gateway: &Gateway,
    admitted: Admitted,
    headers: &HeaderMap,
    body: Body,
) -> Response {
    let Admitted {
        id,
        caller,
        runtime,
    } = admitted;
    let runtime = &runtime;
    let mut ledger = Ledger::redacting(
        id.id.clone(),
        id.started,
        gateway.request_log().clone(),
        Arc::clone(&runtime.redactor),
    );
    ledger.set_caller(caller.key_name.as_deref(), &caller.tier);
    ledger.set_sink(gateway.record_sink(runtime));
    let caller_trace = CallerTrace::of(headers);
    let span = trace::request_span(headers, &id.id);
    ledger.set_trace_id(trace::trace_id(&span, &caller_trace));
    let served = serve(
        gateway,
        runtime,
        &id,
        &caller,
        (headers, body),
        &caller_trace,
        &mut ledger,
    )
    .instrument(span.clone())
    .await;
    let response = match served {
        Ok(response) => response,
        Err(err) => {
            let err = err.redacted(&runtime.redactor);
            let message = err.to_string();
            let response = err.into_response();
            ledger
                .detach()
                .finish("error", response.status().as_u16(), Some(&message));
            response
        }
    };
    span.record("http.response.status_code", response.status().as_u16());
    response
}

/// The stages, in order (see the module documentation).
async fn serve(
    gateway: &Gateway,
    runtime: &Runtime,
    id: &RequestId,
    caller: &Caller,
    (headers, body): (&HeaderMap, Body),
    caller_trace: &CallerTrace,
    ledger: &mut Ledger,
) -> Result<Response, GatewayError> {
    admit(gateway, runtime, caller).await?;
    let request = parse(runtime, body).await?;
    ledger.set_stream(request.is_stream());
    let (input, route) = resolve(runtime, &request, ledger)?;
    let cache_key = match lookup_cache(gateway, route, caller, &request, ledger).await {
        Lookup::Hit(response) => return Ok(response),
        Lookup::Miss(key) => key,
    };
    let mut analysis = analyse(runtime, &input, caller)?;
    remember(gateway, runtime, &input, &mut analysis, ledger);
    caller
        .charge_prompt(gateway.limits().as_ref(), analysis.signals.prompt_tokens)
        .await?;
    let policy = route.map_or_else(
        || runtime.config.routing.policy.clone(),
        |r| r.policy.clone(),
    );
    let audience = Audience {
        route: route.map(|r| r.name.as_str()),
        key: caller.key_name.as_deref(),
        user: request.extra.get("user").and_then(|u| u.as_str()),
        headers: Some(headers),
    };
    let decision = decide_request(
        gateway, runtime, &input, &analysis, policy, audience, &id.id,
    )?;
    let headers = DecisionHeaders::of(&decision, String::new());
    ledger.set_decision(decision);
    let execution = execute_decision(
        gateway,
        runtime,
        (&analysis, route),
        &request,
        caller_trace,
        ledger,
    )
    .await?;
    let headers = DecisionHeaders {
        model: execution.model.name.clone(),
        ..headers
    };
    let tokens = runtime.router.extractor().token_counter();
    let reply = Reply {
        served: execution.served,
        headers,
        cache_key,
        tokens,
    };
    respond(gateway, caller, reply, &request, ledger).await
}

/// Stage 1: the key's request limit, and (with `hard_cap`) the budgets that apply to it.
async fn admit(gateway: &Gateway, runtime: &Runtime, caller: &Caller) -> Result<(), GatewayError> {
    if let Some(spent) = gateway.controllers().exhausted(
        &runtime.config,
        caller.key_name.as_deref(),
        gateway.now_unix_ms(),
    ) {
        return Err(GatewayError::BudgetExhausted {
            scope: spent.scope,
            usd: spent.usd,
            period: spent.period,
            retry_after: spent.retry_after,
        });
    }
    runtime.keys.admit(caller, gateway.limits().as_ref()).await
}

/// Stage 2: the body, within the size limit, as a chat completion request.
async fn parse(runtime: &Runtime, body: Body) -> Result<ChatCompletionRequest, GatewayError> {
    let server = &runtime.config.server;
    let limit = server.max_body_bytes;
    let timeout = server.body_read_timeout;
    let bytes = tokio::time::timeout(timeout, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| {
            metrics::body_timeout();
            GatewayError::BodyTimeout { timeout }
        })?
        .map_err(|_| GatewayError::BodyTooLarge { limit })?;
    routewise_openai::parse_chat_request(&bytes).map_err(|err| GatewayError::BadRequest {
        param: err.param,
        message: err.message,
    })
}

/// Stage 3: what `model` names, and the request as routing sees it.
fn resolve<'a>(
    runtime: &'a Runtime,
    request: &ChatCompletionRequest,
    ledger: &mut Ledger,
) -> Result<(ChatInput, Option<&'a RouteConfig>), GatewayError> {
    let target = runtime.resolve(&request.model)?;
    let mut input = request
        .to_chat_input()
        .map_err(|err| GatewayError::InvalidField {
            param: err.param(),
            message: err.to_string(),
        })?;
    ledger.set_baseline(runtime.config.catalog.baseline_model());
    let route = match target {
        Target::Route(route) => {
            input.requested_model = None;
            ledger.set_route(&route.name);
            Some(route)
        }
        Target::Model => None,
    };
    Ok((input, route))
}

enum Lookup {
    Hit(Response),
    /// The key to store the answer under, when the request is cacheable.
    Miss(Option<CacheKey>),
}

/// Stage 4: a stored answer for a cacheable request (a non-streamed one on a route that caches).
async fn lookup_cache(
    gateway: &Gateway,
    route: Option<&RouteConfig>,
    caller: &Caller,
    request: &ChatCompletionRequest,
    ledger: &mut Ledger,
) -> Lookup {
    let (Some(route), Some(cache)) = (route, gateway.cache()) else {
        return Lookup::Miss(None);
    };
    if !route.cache || request.is_stream() {
        return Lookup::Miss(None);
    }
    let Some(key) = cache_key(&route.name, &caller.tier, request) else {
        return Lookup::Miss(None);
    };
    match cache.get(&key).await {
        Some(hit) => Lookup::Hit(cached_response(&hit, ledger)),
        None => Lookup::Miss(Some(key)),
    }
}

/// Stage 5: signals and hard constraints, once per request.
fn analyse(
    runtime: &Runtime,
    input: &ChatInput,
    caller: &Caller,
) -> Result<Analysis, GatewayError> {
    let context = RequestContext {
        user_tier: caller.tier.clone(),
        hour_of_day: utc_hour(),
    };
    runtime
        .router
        .analyse(input, &context)
        .map_err(GatewayError::Route)
}

/// Stage 5, memory's part (with a store): the query's fingerprint and its track record on
/// similar rated requests, and what the record keeps of the query.
pub fn remember(
    gateway: &Gateway,
    runtime: &Runtime,
    input: &ChatInput,
    analysis: &mut Analysis,
    ledger: &mut Ledger,
) {
    if gateway.store().is_none() {
        return;
    }
    gateway
        .memory()
        .annotate(analysis, input, &runtime.config.memory);
    if let Some(fingerprint) = analysis.fingerprint {
        let text = crate::memory::query_text(input);
        ledger.set_query(QueryFacts::of(text, fingerprint, ledger.log_prompts()));
    }
}

/// Stage 7: the decision stages over the analysis, with `policy` deciding (unless an
/// experiment assigns another) for `audience`. Public so that `routewise simulate` decides
/// exactly as served traffic does.
pub fn decide_request(
    gateway: &Gateway,
    runtime: &Runtime,
    input: &ChatInput,
    analysis: &Analysis,
    policy: String,
    audience: Audience<'_>,
    request_id: &str,
) -> Result<Decision, GatewayError> {
    let draft = Draft {
        router: &runtime.router,
        input,
        analysis,
        policies: &runtime.config.routing.policies,
        states: gateway.learned(),
        memory: gateway.store().map(|_| gateway.memory().as_ref()),
        policy,
        now_unix_ms: gateway.now_unix_ms(),
        seed: seed_of(request_id),
        audience,
        adjustments: Adjustments::default(),
        control: Some(Control {
            config: &runtime.config,
            controllers: gateway.controllers(),
            key: audience.key,
        }),
        decision: None,
    };
    let span = trace::decision_span();
    let decision = span
        .in_scope(|| decide::decide(&runtime.stages, draft))
        .map_err(GatewayError::Route)?;
    span.record("routewise.policy", decision.policy.as_str());
    span.record("routewise.reason", decision.reason.as_str());
    span.record("routewise.model", decision.model.as_str());
    span.record("routewise.propensity", decision.propensity);
    metrics::decision(&decision.model, &decision.policy, &decision.reason);
    if let Some(experiment) = &decision.experiment {
        metrics::experiment(experiment, decision.arm.as_deref(), &decision.shadow);
    }
    Ok(decision)
}

/// Stage 8: the fallback chain, the decision's model, then (on routes, with fallback on) the
/// eligible models of higher tiers.
async fn execute_decision(
    gateway: &Gateway,
    runtime: &Runtime,
    (analysis, route): (&Analysis, Option<&RouteConfig>),
    request: &ChatCompletionRequest,
    caller_trace: &CallerTrace,
    ledger: &mut Ledger,
) -> Result<Execution, GatewayError> {
    let fallback = route.is_some() && runtime.config.server.execution.fallback;
    let catalog = &runtime.config.catalog;
    let chosen = ledger
        .decision()
        .map(|d| d.model.clone())
        .unwrap_or_default();
    let models = execute::chain(catalog, &chosen, &analysis.eligible, fallback);
    if let Some(first) = models.first() {
        ledger.set_attempting(first);
    }
    match execute::execute(runtime, gateway.circuits(), &models, request, caller_trace).await {
        Ok(execution) => {
            ledger.set_execution(
                &execution.model,
                execution.attempts.clone(),
                execution.upstream_time,
            );
            Ok(execution)
        }
        Err(failure) => {
            if let GatewayError::Upstream { attempts, .. } = &failure.error {
                ledger.set_failure(attempts.clone(), failure.upstream_time);
            } else {
                ledger.set_failure(Vec::new(), failure.upstream_time);
            }
            Err(failure.error)
        }
    }
}

/// Stages 9 and 10: the answer to the client, and its accounting.
async fn respond(
    gateway: &Gateway,
    caller: &Caller,
    reply: Reply,
    request: &ChatCompletionRequest,
    ledger: &mut Ledger,
) -> Result<Response, GatewayError> {
    let Reply {
        served,
        headers,
        cache_key,
        tokens,
    } = reply;
    match served {
        Served::Complete(completion) => {
            let body = json_body(&completion)?;
            ledger.set_usage(completion.usage.clone());
            if let (Some(key), Some(cache)) = (cache_key, gateway.cache()) {
                let reply = CachedReply {
                    body: body.clone(),
                    model: headers.model.clone(),
                    policy: headers.policy.clone(),
                    reason: headers.reason.clone(),
                };
                cache.insert(key, reply).await;
            }
            if let Some(usage) = &completion.usage {
                caller.charge_completion(gateway.limits().as_ref(), usage.completion_tokens);
            }
            ledger.mark_ready();
            let (cost, baseline) = ledger.costs();
            let mut response = json_response(body);
            headers.apply(&mut response, cost, baseline);
            ledger.detach().finish("ok", 200, None);
            Ok(response)
        }
        Served::Stream { first, rest } => {
            ledger.mark_ready();
            let estimated = ledger
                .decision()
                .map_or((0.0, 0.0), |d| (d.estimated_cost_usd, d.baseline_cost_usd));
            let include_usage = request
                .stream_options
                .as_ref()
                .and_then(|o| o.include_usage)
                .unwrap_or(false);
            let context = StreamContext {
                include_usage,
                caller: caller.clone(),
                limiter: Arc::clone(gateway.limits()),
                tokens,
            };
            let body = sse_body(first, rest, ledger.detach(), context);
            let mut response = Response::new(body);
            let response_headers = response.headers_mut();
            response_headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            // A stream's cost is known only at its end (in the log and metrics); the header
            // carries the decision's estimate.
            headers.apply(&mut response, estimated.0, estimated.1);
            Ok(response)
        }
    }
}

/// A completion's JSON; a completion that cannot be serialised is an internal error, never an
/// empty 200 (and never cached).
fn json_body(completion: &impl Serialize) -> Result<Bytes, GatewayError> {
    serde_json::to_vec(completion)
        .map(Bytes::from)
        .map_err(|err| {
            GatewayError::Internal(format!("the upstream's answer cannot be serialised: {err}"))
        })
}

/// What execution produced, and what answering with it needs.
struct Reply {
    served: Served,
    headers: DecisionHeaders,
    /// Where to store a complete answer, when the request is cacheable.
    cache_key: Option<CacheKey>,
    /// Counts a stream's delivered tokens when the upstream reports none.
    tokens: TokenCounter,
}

/// The decision's header values: the model that answered, the policy and reason that chose.
struct DecisionHeaders {
    model: String,
    policy: String,
    reason: String,
    experiment: Option<String>,
    arm: Option<String>,
}

impl DecisionHeaders {
    fn of(decision: &Decision, model: String) -> Self {
        DecisionHeaders {
            model,
            policy: decision.policy.clone(),
            reason: decision.reason.clone(),
            experiment: decision.experiment.clone(),
            arm: decision.arm.clone(),
        }
    }

    fn apply(&self, response: &mut Response, cost: f64, baseline: f64) {
        set(response, MODEL, &self.model);
        set(response, POLICY, &self.policy);
        set(response, REASON, &self.reason);
        if let Some(experiment) = &self.experiment {
            set(response, EXPERIMENT, experiment);
        }
        if let Some(arm) = &self.arm {
            set(response, ARM, arm);
        }
        set(response, COST, &format!("{cost:.8}"));
        set(response, BASELINE_COST, &format!("{baseline:.8}"));
    }
}

fn cached_response(hit: &CachedReply, ledger: &mut Ledger) -> Response {
    metrics::cache_hit();
    ledger.set_cached(
        serde_json::from_slice::<routewise_openai::ChatCompletion>(&hit.body)
            .ok()
            .and_then(|c| c.usage),
    );
    let mut response = json_response(hit.body.clone());
    let headers = DecisionHeaders {
        model: hit.model.clone(),
        policy: hit.policy.clone(),
        reason: hit.reason.clone(),
        experiment: None,
        arm: None,
    };
    let (_, baseline) = ledger.costs();
    headers.apply(&mut response, 0.0, baseline);
    set(&mut response, CACHE, "hit");
    ledger.detach().finish("cache_hit", 200, None);
    response
}

fn json_response(body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    *response.status_mut() = StatusCode::OK;
    response
}

/// Sets a header, dropping values that are not valid header text rather than failing.
fn set(response: &mut Response, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

/// The decision's random seed, derived from the request id so that a logged decision can be
/// replayed: FNV-1a, whose value, unlike std's hasher, is fixed across builds.
pub fn seed_of(request_id: &str) -> u64 {
    request_id
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        })
}

fn utc_hour() -> u8 {
    u8::try_from((now_unix_ms() / 3_600_000) % 24).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Unserialisable;

    impl Serialize for Unserialisable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("no"))
        }
    }

    /// Before the fix, a completion that failed to serialise was sent as an empty 200 (and
    /// cached).
    #[test]
    fn a_completion_that_cannot_be_serialised_is_an_internal_error() {
        let err = json_body(&Unserialisable).unwrap_err();
        assert!(matches!(err, GatewayError::Internal(_)));
        assert_eq!(
            err.into_response().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn seeds_follow_the_request_id() {
        assert_eq!(seed_of("a"), seed_of("a"));
        assert_ne!(seed_of("a"), seed_of("b"));
    }
}
