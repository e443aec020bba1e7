//! The HTTP surface: the route table and thin handlers. No logic lives here.

use crate::Gateway;
use crate::pipeline;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use routewise_openai::{ApiError, ModelList, ModelObject};

/// Routes: `POST /v1/chat/completions`, `GET /v1/models`, `GET /healthz`, `GET /readyz`,
/// `GET /metrics`; anything else is an OpenAI-shaped 404.
pub fn app(gateway: Gateway) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .with_state(gateway)
}

async fn chat_completions(
    State(gateway): State<Gateway>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    pipeline::chat_completions(&gateway, headers, body).await
}

async fn models(State(gateway): State<Gateway>) -> Response {
    let runtime = gateway.runtime();
    let data = runtime
        .model_names()
        .into_iter()
        .map(|(id, owner)| ModelObject::new(id, owner))
        .collect();
    axum::Json(ModelList::new(data)).into_response()
}

/// Liveness: the process answers.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: a config is loaded and the gateway is not draining.
async fn readyz(State(gateway): State<Gateway>) -> Response {
    if gateway.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining").into_response()
    } else {
        "ready".into_response()
    }
}

async fn metrics() -> Response {
    match crate::metrics::handle() {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "another metrics recorder is installed in this process",
        )
            .into_response(),
    }
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(ApiError::new(
            "invalid_request_error",
            Some("unknown_url"),
            "unknown endpoint: routewise serves POST /v1/chat/completions, GET /v1/models, /healthz, /readyz and /metrics",
        )),
    )
        .into_response()
}
