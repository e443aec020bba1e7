//! The layers every route passes through before its handler, outermost first (composed in
//! [`crate::http::app`]):
//!
//! 1. [`request_id`]: every request gets a routewise id (UUIDv7), in the extensions and in the
//!    `x-routewise-request-id` response header; `x-request-id` echoes the client's own id, or
//!    carries routewise's when the client sent none (SDKs read it as the request id);
//! 2. [`refuse_while_draining`]: once shutdown has begun, API calls get a 503 (health and
//!    metrics still answer, so orchestrators see the drain);
//! 3. [`authenticate`]: API calls (and `/metrics` when `[server] metrics_auth` is set) carry a
//!    configured client key; the caller and the runtime that identified it travel with the
//!    request, so one request sees one config from start to end.

use crate::Gateway;
use crate::account::Ledger;
use crate::auth::Caller;
use crate::error::GatewayError;
use crate::runtime::Runtime;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
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

/// The runtime a request was authenticated against.
#[derive(Debug, Clone)]
pub struct RequestRuntime(pub Arc<Runtime>);

pub async fn request_id(mut request: Request, next: Next) -> Response {
    let id = RequestId {
        id: uuid::Uuid::now_v7().to_string(),
        client: request
            .headers()
            .get(&CLIENT_REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty() && v.len() <= MAX_CLIENT_REQUEST_ID)
            .map(str::to_owned),
        started: Instant::now(),
    };
    request.extensions_mut().insert(id.clone());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id.id) {
        headers.insert(REQUEST_ID, value);
    }
    let echoed = id.client.as_deref().unwrap_or(&id.id);
    if let Ok(value) = HeaderValue::from_str(echoed) {
        headers.insert(CLIENT_REQUEST_ID, value);
    }
    response
}

pub async fn refuse_while_draining(
    State(gateway): State<Gateway>,
    request: Request,
    next: Next,
) -> Response {
    if gateway.is_draining() {
        return GatewayError::ShuttingDown.into_response();
    }
    next.run(request).await
}

/// Identifies the caller by its client key (when keys are configured). A refused request is
/// logged and counted like any other, so failed attempts show up.
pub async fn authenticate(
    State(gateway): State<Gateway>,
    mut request: Request,
    next: Next,
) -> Response {
    let runtime = gateway.runtime();
    match runtime.keys.identify(request.headers()) {
        Ok(caller) => {
            request.extensions_mut().insert::<Caller>(caller);
            request.extensions_mut().insert(RequestRuntime(runtime));
            next.run(request).await
        }
        Err(err) => {
            if let Some(id) = request.extensions().get::<RequestId>() {
                let message = err.to_string();
                let ledger = Ledger::new(id.id.clone(), id.started, gateway.request_log().clone());
                ledger.finish("error", err.status().as_u16(), Some(&message));
            }
            err.into_response()
        }
    }
}

/// [`authenticate`] for `GET /metrics`, when the config in force asks for it
/// (`[server] metrics_auth`).
pub async fn authenticate_metrics(
    State(gateway): State<Gateway>,
    request: Request,
    next: Next,
) -> Response {
    if gateway.runtime().config.server.metrics_auth {
        authenticate(State(gateway), request, next).await
    } else {
        next.run(request).await
    }
}
