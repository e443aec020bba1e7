//! The HTTP surface: the route table, the layers each route gets, and thin handlers. No logic
//! lives here.
//!
//! Open without a key: `/healthz`, `/readyz`, and `/metrics` unless `[server] metrics_auth`.
//! Everything under `/v1` passes the client-key check (when keys are configured) and is
//! refused while draining. Every response carries the request id (see [`crate::layers`]).

use crate::Gateway;
use crate::auth::Caller;
use crate::layers::{self, RequestId, RequestRuntime};
use crate::pipeline;
use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use routewise_openai::{ApiError, ModelList, ModelObject};

/// Routes: `POST /v1/chat/completions`, `GET /v1/models`, `GET /v1/models/{id}`,
/// `GET /healthz`, `GET /readyz`, `GET /metrics`; anything else is an OpenAI-shaped 404.
pub fn app(gateway: Gateway) -> Router {
    let authenticated = middleware::from_fn_with_state(gateway.clone(), layers::authenticate);
    let api = Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
        .route("/v1/models/{*id}", get(model))
        .layer(authenticated)
        .layer(middleware::from_fn_with_state(
            gateway.clone(),
            layers::refuse_while_draining,
        ));
    let metrics_route =
        Router::new()
            .route("/metrics", get(metrics))
            .layer(middleware::from_fn_with_state(
                gateway.clone(),
                layers::authenticate_metrics,
            ));
    Router::new()
        .merge(api)
        .merge(metrics_route)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .fallback(not_found)
        .layer(middleware::from_fn(layers::request_id))
        .with_state(gateway)
}

async fn chat_completions(
    State(gateway): State<Gateway>,
    Extension(id): Extension<RequestId>,
    Extension(caller): Extension<Caller>,
    Extension(RequestRuntime(runtime)): Extension<RequestRuntime>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    pipeline::chat_completions(&gateway, &runtime, id, caller, &headers, body).await
}

async fn models(Extension(RequestRuntime(runtime)): Extension<RequestRuntime>) -> Response {
    let data = runtime
        .model_names()
        .into_iter()
        .map(|(id, owner)| ModelObject::new(id, owner))
        .collect();
    axum::Json(ModelList::new(data)).into_response()
}

/// `GET /v1/models/{id}` (the SDKs' `models.retrieve`); ids may contain slashes.
async fn model(
    Extension(RequestRuntime(runtime)): Extension<RequestRuntime>,
    Path(id): Path<String>,
) -> Response {
    match runtime.model_names().into_iter().find(|(name, _)| *name == id) {
        Some((id, owner)) => axum::Json(ModelObject::new(id, owner)).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(
                ApiError::new(
                    "invalid_request_error",
                    Some("model_not_found"),
                    format!("the model `{id}` does not exist; GET /v1/models lists the routes and models"),
                )
                .with_param("model"),
            ),
        )
            .into_response(),
    }
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
