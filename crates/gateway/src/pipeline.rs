//! The chat completion pipeline: authenticate -> parse -> resolve the model -> (cache) ->
//! decide -> execute -> account -> respond. Handlers call [`chat_completions`] and nothing else.

use crate::Gateway;
use crate::account::Ledger;
use crate::cache::{CachedReply, ResponseCache};
use crate::error::GatewayError;
use crate::execute::{self, Served};
use crate::metrics;
use crate::runtime::{Runtime, Target};
use crate::stream::sse_body;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use routewise_core::{Decision, RequestContext};
use routewise_openai::ChatCompletionRequest;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-routewise-request-id");
pub const MODEL: HeaderName = HeaderName::from_static("x-routewise-model");
pub const POLICY: HeaderName = HeaderName::from_static("x-routewise-policy");
pub const REASON: HeaderName = HeaderName::from_static("x-routewise-reason");
pub const COST: HeaderName = HeaderName::from_static("x-routewise-cost-usd");
pub const BASELINE_COST: HeaderName = HeaderName::from_static("x-routewise-baseline-cost-usd");
pub const CACHE: HeaderName = HeaderName::from_static("x-routewise-cache");

/// Serves `POST /v1/chat/completions`.
pub async fn chat_completions(gateway: &Gateway, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let request_id = uuid::Uuid::now_v7().to_string();
    let mut ledger = Ledger::new(request_id.clone(), started, gateway.request_log().clone());
    let runtime = gateway.runtime();
    let result = if gateway.is_draining() {
        Err(GatewayError::ShuttingDown)
    } else {
        serve(gateway, &runtime, &headers, body, &mut ledger).await
    };
    let mut response = match result {
        Ok(Outcome::Finished(response)) => response,
        Ok(Outcome::Streaming(response)) => return with_request_id(response, &request_id),
        Err(err) => {
            if let GatewayError::Upstream { attempts, .. } = &err {
                ledger.attempts.clone_from(attempts);
            }
            let response = err.to_string();
            let mut rendered = err.into_response();
            ledger.finish("error", rendered.status().as_u16(), Some(&response));
            set(&mut rendered, REQUEST_ID, &request_id);
            return rendered;
        }
    };
    set(&mut response, REQUEST_ID, &request_id);
    response
}

enum Outcome {
    /// The ledger is finished.
    Finished(Response),
    /// The ledger travels with the body and finishes when the stream ends.
    Streaming(Response),
}

async fn serve(
    gateway: &Gateway,
    runtime: &Runtime,
    headers: &HeaderMap,
    body: Body,
    ledger: &mut Ledger,
) -> Result<Outcome, GatewayError> {
    let caller = runtime.keys.authenticate(headers)?;
    ledger.key.clone_from(&caller.key_name);
    ledger.user_tier = Some(caller.tier.clone());

    let limit = runtime.config.server.max_body_bytes;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| GatewayError::BodyTooLarge { limit })?;
    let request: ChatCompletionRequest =
        serde_json::from_slice(&bytes).map_err(|err| GatewayError::BadRequest(err.to_string()))?;
    ledger.stream = request.is_stream();

    let target = runtime.resolve(&request.model)?;
    let mut input = request
        .to_chat_input()
        .map_err(|err| GatewayError::InvalidField {
            param: err.param(),
            message: err.to_string(),
        })?;
    let (router, route) = match target {
        Target::Route { route, router } => {
            input.requested_model = None;
            ledger.route = Some(route.name.clone());
            (router, Some(route))
        }
        Target::Model { router } => (router, None),
    };
    let catalog = router.catalog();
    ledger.baseline = Some(catalog.baseline_model().clone());

    let cache_key = match (route, &runtime.cache) {
        (Some(route), Some(cache)) if route.cache && !request.is_stream() => {
            let key = ResponseCache::key(&route.name, &caller.tier, &request);
            if let Some(hit) = cache.get(&key).await {
                return Ok(Outcome::Finished(cached_response(hit.as_ref(), ledger)));
            }
            Some(key)
        }
        _ => None,
    };

    let context = RequestContext {
        user_tier: caller.tier.clone(),
        hour_of_day: utc_hour(),
    };
    let decision = router
        .decide(&input, &context)
        .map_err(GatewayError::Route)?;
    metrics::decision(&decision.model, &decision.policy, &decision.reason);
    caller.charge_prompt(decision.signals.prompt_tokens)?;
    let fallback = route.is_some() && runtime.config.server.execution.fallback;
    let models = execute::chain(catalog, &decision.model, fallback);
    let include_usage = request
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    let decision_headers = DecisionHeaders::of(&decision);
    ledger.decision = Some(decision);

    let execution = match execute::execute(runtime, gateway.circuits(), &models, &request).await {
        Ok(execution) => execution,
        Err(failure) => {
            ledger.upstream_time = failure.upstream_time;
            return Err(failure.error);
        }
    };
    ledger.attempts = execution.attempts;
    ledger.upstream_time = execution.upstream_time;
    ledger.model = Some(execution.model.clone());
    match execution.served {
        Served::Complete(completion) => {
            ledger.usage.clone_from(&completion.usage);
            let body = Bytes::from(serde_json::to_vec(&completion).unwrap_or_default());
            if let (Some(key), Some(cache)) = (cache_key, &runtime.cache) {
                cache
                    .insert(
                        key,
                        CachedReply {
                            body: body.clone(),
                            model: execution.model.name.clone(),
                            policy: decision_headers.policy.clone(),
                            reason: decision_headers.reason.clone(),
                        },
                    )
                    .await;
            }
            if let Some(usage) = &completion.usage {
                caller.charge_completion(usage.completion_tokens);
            }
            ledger.mark_ready();
            let (cost, baseline) = ledger.costs();
            let mut response = json_response(body);
            decision_headers.apply(&mut response, &execution.model.name, cost, baseline);
            ledger.detach().finish("ok", 200, None);
            Ok(Outcome::Finished(response))
        }
        Served::Stream { first, rest } => {
            ledger.mark_ready();
            let estimated = ledger
                .decision
                .as_ref()
                .map_or((0.0, 0.0), |d| (d.estimated_cost_usd, d.baseline_cost_usd));
            let body = sse_body(first, rest, include_usage, ledger.detach(), caller.clone());
            let mut response = Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "text/event-stream")
                .header(header::CACHE_CONTROL, "no-cache")
                .body(body)
                .unwrap_or_default();
            // A stream's cost is known only at its end (in the log and metrics); the header
            // carries the decision's estimate.
            decision_headers.apply(
                &mut response,
                &execution.model.name,
                estimated.0,
                estimated.1,
            );
            Ok(Outcome::Streaming(response))
        }
    }
}

/// The decision's header values, kept before the decision moves into the ledger.
struct DecisionHeaders {
    policy: String,
    reason: String,
}

impl DecisionHeaders {
    fn of(decision: &Decision) -> Self {
        Self {
            policy: decision.policy.clone(),
            reason: decision.reason.clone(),
        }
    }

    fn apply(&self, response: &mut Response, model: &str, cost: f64, baseline: f64) {
        set(response, MODEL, model);
        set(response, POLICY, &self.policy);
        set(response, REASON, &self.reason);
        set(response, COST, &format!("{cost:.8}"));
        set(response, BASELINE_COST, &format!("{baseline:.8}"));
    }
}

fn cached_response(hit: &CachedReply, ledger: &mut Ledger) -> Response {
    metrics::cache_hit();
    ledger.cached = true;
    ledger.usage = serde_json::from_slice::<routewise_openai::ChatCompletion>(&hit.body)
        .ok()
        .and_then(|c| c.usage);
    let mut response = json_response(hit.body.clone());
    let headers = DecisionHeaders {
        policy: hit.policy.clone(),
        reason: hit.reason.clone(),
    };
    let (_, baseline) = ledger.costs();
    headers.apply(&mut response, &hit.model, 0.0, baseline);
    set(&mut response, CACHE, "hit");
    ledger.detach().finish("cache_hit", 200, None);
    response
}

fn json_response(body: Bytes) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_default()
}

fn with_request_id(mut response: Response, request_id: &str) -> Response {
    set(&mut response, REQUEST_ID, request_id);
    response
}

/// Sets a header, dropping values that are not valid header text rather than failing.
fn set(response: &mut Response, name: HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

fn utc_hour() -> u8 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    u8::try_from((secs / 3600) % 24).unwrap_or(0)
}
