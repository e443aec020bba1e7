//! The layers every route passes through before its handler, outermost first (applied in
//! [`crate::http::app`] as one middleware, [`front_door`]):
//!
//! 1. **request id**: every request gets a routewise id (UUIDv7), in the
//!    `x-routewise-request-id` response header; `x-request-id` echoes the client's own id, or
//!    carries routewise's when the client sent none (SDKs read it as the request id);
//! 2. **draining**: once shutdown has begun, API calls get a 503 (health and metrics still
//!    answer, so orchestrators see the drain);
//! 3. **authentication**: API calls (and `/metrics` when `[server] metrics_auth` is set) carry a
//!    configured client key (the dashboard's API, the `[dashboard]` admin key when one is set); the caller and the runtime that identified it travel with the
//!    request ([`Admitted`]), so one request sees one config from start to end.
//!
//! Which of them a path gets is [`Gate::of`]'s decision, in one place.

use crate::Gateway;
use crate::account::Ledger;
use crate::auth::Caller;
use crate::error::GatewayError;
use crate::runtime::Runtime;
use axum::extract::{Request, State};
use axum::http::{self as http, HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use routewise_openai::ApiError;
use std::sync::Arc;
use tokio::time::Instant;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-routewise-request-id");
pub const CLIENT_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client `x-request-id` that is echoed; longer ones are ignored.
const MAX_CLIENT_REQUEST_ID: usize = 200;

/// A request's identity: routewise's id, the client's own (if it sent a usable one), and when
/// the request arrived.
#[derive(Debug, Clone)]
pub struct RequestId {
    pub id: String,
    pub client: Option<String>,
    pub started: Instant,
}

/// What the layers established about an API request, for its handler to take (not clone).
#[derive(Debug, Clone)]
pub struct Admitted {
    pub id: RequestId,
    pub caller: Caller,
    /// The runtime the caller was identified against: one request sees one config.
    pub runtime: Arc<Runtime>,
}

/// Which layers a route gets beyond the request id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// `/healthz`, `/readyz`, unknown paths.
    Open,
    /// `/metrics`: a client key only when `[server] metrics_auth` is set.
    Metrics,
    /// Everything under `/v1`: refused while draining, a client key when keys are configured.
    Api,
    /// `/v1/dashboard/...`: as `Api`, or only the `[dashboard]` admin key when one is set.
    Dashboard,
}

impl Gate {
    pub fn of(path: &str) -> Self {
        if path.starts_with("/v1/dashboard/") {
            Gate::Dashboard
        } else if path.starts_with("/v1/") {
            Gate::Api
        } else if path == "/metrics" {
            Gate::Metrics
        } else {
            Gate::Open
        }
    }
}

/// The three layers in order, as one middleware (one boxed future per request rather than
/// three), plus two guards every route needs: headers within the configured limits, and every
/// error in the OpenAI envelope.
pub async fn front_door(
    State(gateway): State<Gateway>,
    mut request: Request,
    next: Next,
) -> Response {
    let id = request_id(&request);
    let ids = (id.id.clone(), id.client.clone());
    // Cheap to clone (the URI is reference-counted): only an error response reads them.
    let (method, uri) = (request.method().clone(), request.uri().clone());
    let runtime = gateway.runtime();
    let server = &runtime.config.server;
    if let Some(err) = oversized_headers(&request, server.max_header_bytes, server.max_headers) {
        return with_ids(err.into_response(), &ids.0, ids.1.as_deref());
    }
    let response = match Gate::of(uri.path()) {
        Gate::Open => next.run(request).await,
        Gate::Api | Gate::Dashboard if gateway.is_draining() => {
            GatewayError::ShuttingDown.into_response()
        }
        gate => {
            let needs_key = gate != Gate::Metrics || runtime.config.server.metrics_auth;
            let admitted = match (gate, runtime.config.dashboard.key_sha256) {
                (Gate::Dashboard, Some(digest)) => admin(&gateway, &request, &id, &digest),
                _ => identify(&gateway, &runtime, &request, &id, needs_key),
            };
            match admitted {
                Ok(caller) => {
                    request.extensions_mut().insert(Admitted {
                        id,
                        caller,
                        runtime,
                    });
                    next.run(request).await
                }
                Err(err) => err.into_response(),
            }
        }
    };
    let response = openai_shaped(response, &method, uri.path());
    with_ids(response, &ids.0, ids.1.as_deref())
}

/// Headers over the configured limits get an OpenAI-shaped 431 (the HTTP stack's own limits
/// sit above these, so that this one, with a message, is what clients meet).
fn oversized_headers(
    request: &Request,
    max_bytes: usize,
    max_count: usize,
) -> Option<GatewayError> {
    let headers = request.headers();
    let bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    (bytes > max_bytes || headers.len() > max_count).then_some(GatewayError::HeadersTooLarge {
        bytes,
        count: headers.len(),
        max_bytes,
        max_count,
    })
}

/// An error response that the HTTP stack or the router made (405, 415, ...) carries no body a
/// client can read; it gets the OpenAI error envelope like every other error.
fn openai_shaped(response: Response, method: &http::Method, path: &str) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = parts
                .headers
                .get(http::header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("another method");
            format!("{method} is not allowed on {path}; use {allowed}")
        }
        _ => format!(
            "{} ({} {path})",
            status
                .canonical_reason()
                .unwrap_or("the request cannot be served"),
            method
        ),
    };
    let kind = if status.is_client_error() {
        "invalid_request_error"
    } else {
        "api_error"
    };
    let code = status
        .canonical_reason()
        .map(|r| r.to_lowercase().replace([' ', '-'], "_"));
    let body = ApiError::new(kind, code.as_deref(), message);
    parts.headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(http::header::CONTENT_LENGTH);
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// Layer 1: every request gets a routewise id (UUIDv7); the client's `x-request-id` is kept to
/// echo back.
fn request_id(request: &Request) -> RequestId {
    RequestId {
        id: uuid::Uuid::now_v7().to_string(),
        client: request
            .headers()
            .get(&CLIENT_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= MAX_CLIENT_REQUEST_ID)
            .map(str::to_owned),
        started: Instant::now(),
    }
}

/// Layer 3: the caller, by its client key when keys are configured and `needs_key`. A refused
/// request is logged and counted like any other, so failed attempts show up.
fn identify(
    gateway: &Gateway,
    runtime: &Runtime,
    request: &Request,
    id: &RequestId,
    needs_key: bool,
) -> Result<Caller, GatewayError> {
    if !needs_key {
        return Ok(Caller::anonymous(&runtime.config.server.default_user_tier));
    }
    runtime.keys.identify(request.headers()).inspect_err(|err| {
        let message = err.to_string();
        let ledger = Ledger::new(id.id.clone(), id.started, gateway.request_log().clone());
        ledger.finish("error", err.status().as_u16(), Some(&message));
    })
}

/// The dashboard's admin: the `[dashboard]` key and no other. A refusal is logged and counted
/// as [`identify`]'s are.
fn admin(
    gateway: &Gateway,
    request: &Request,
    id: &RequestId,
    digest: &[u8; 32],
) -> Result<Caller, GatewayError> {
    if crate::auth::presents_key(request.headers(), digest) {
        return Ok(Caller::anonymous("admin"));
    }
    let err = GatewayError::Unauthorized;
    let ledger = Ledger::new(id.id.clone(), id.started, gateway.request_log().clone());
    ledger.finish("error", err.status().as_u16(), Some(&err.to_string()));
    Err(err)
}

/// The id headers every response carries.
fn with_ids(mut response: Response, id: &str, client: Option<&str>) -> Response {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(id) {
        headers.insert(REQUEST_ID, value);
    }
    if let Ok(value) = HeaderValue::from_str(client.unwrap_or(id)) {
        headers.insert(CLIENT_REQUEST_ID, value);
    }
    response
}
