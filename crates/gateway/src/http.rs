//! The HTTP surface: the route table, the layers each route gets, and thin handlers. No logic
//! lives here.
//!
//! Open without a key: `/healthz`, `/readyz`, and `/metrics` unless `[server] metrics_auth`.
//! Everything under `/v1` passes the client-key check (when keys are configured) and is
//! refused while draining. Every response carries the request id (see [`crate::layers`]).

use crate::error::GatewayError;
use crate::layers::{self, Admitted};
use crate::pipeline;
use crate::{Gateway, dashboard};
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use routewise_openai::{ApiError, ModelList, ModelObject};

/// Routes: `POST /v1/chat/completions`, `POST /v1/feedback`, `GET /v1/alerts`, `GET /v1/models`, `GET /v1/models/{id}`,
/// the dashboard's API (`GET /v1/dashboard/summary`, `/v1/dashboard/decisions[/{id}]`), its page
/// (`GET /dashboard`, `/dashboard/assets/{name}`: static, no data, open),
/// `GET /healthz`, `GET /readyz`, `GET /metrics`; anything else is an OpenAI-shaped 404.
pub fn app(gateway: Gateway) -> Router {
    Router::new()
        .route(
            "/v1/chat/completions",
            post(chat_completions).fallback(only("POST")),
        )
        .route("/v1/feedback", post(feedback).fallback(only("POST")))
        .route("/v1/alerts", get(alerts).fallback(only("GET")))
        .route("/v1/models", get(models).fallback(only("GET")))
        .route("/v1/models/{*id}", get(model).fallback(only("GET")))
        .route(
            "/v1/dashboard/summary",
            get(dashboard_summary).fallback(only("GET")),
        )
        .route(
            "/v1/dashboard/decisions",
            get(dashboard_decisions).fallback(only("GET")),
        )
        .route(
            "/v1/dashboard/decisions/{*id}",
            get(dashboard_decision).fallback(only("GET")),
        )
        .route("/dashboard", get(dashboard_page).fallback(only("GET")))
        .route(
            "/dashboard/assets/{name}",
            get(dashboard_asset).fallback(only("GET")),
        )
        .route("/metrics", get(metrics).fallback(only("GET")))
        .route("/healthz", get(healthz).fallback(only("GET")))
        .route("/readyz", get(readyz).fallback(only("GET")))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            gateway.clone(),
            layers::front_door,
        ))
        .with_state(gateway)
}

/// The answer to a method a route does not serve: an OpenAI-shaped 405 naming the one it does.
fn only(allowed: &'static str) -> impl Fn(Request) -> std::future::Ready<Response> + Clone {
    move |request: Request| {
        std::future::ready(
            GatewayError::MethodNotAllowed {
                method: request.method().to_string(),
                path: request.uri().path().to_owned(),
                allowed,
            }
            .into_response(),
        )
    }
}

/// What the layers established, taken out of the request rather than cloned.
fn admitted(request: &mut Request) -> Result<Admitted, GatewayError> {
    request
        .extensions_mut()
        .remove::<Admitted>()
        .ok_or_else(|| GatewayError::Internal("the request skipped authentication".to_owned()))
}

async fn chat_completions(State(gateway): State<Gateway>, mut request: Request) -> Response {
    let admitted = match admitted(&mut request) {
        Ok(admitted) => admitted,
        Err(err) => return err.into_response(),
    };
    let (parts, body) = request.into_parts();
    pipeline::chat_completions(&gateway, admitted, &parts.headers, body).await
}

async fn feedback(State(gateway): State<Gateway>, mut request: Request) -> Response {
    let admitted = match admitted(&mut request) {
        Ok(admitted) => admitted,
        Err(err) => return err.into_response(),
    };
    crate::feedback::feedback(&gateway, admitted, request.into_body()).await
}

/// `GET /v1/alerts`: the built-in alerts' states, as of their last evaluation.
async fn alerts(State(gateway): State<Gateway>, mut request: Request) -> Response {
    let runtime = match admitted(&mut request) {
        Ok(admitted) => admitted.runtime,
        Err(err) => return err.into_response(),
    };
    axum::Json(gateway.alerts().view(&runtime.config.alerts)).into_response()
}

async fn dashboard_summary(State(gateway): State<Gateway>, mut request: Request) -> Response {
    match admitted(&mut request) {
        Ok(admitted) => {
            dashboard::api::summary(&gateway, &admitted.runtime, request.uri().query()).await
        }
        Err(err) => err.into_response(),
    }
}

async fn dashboard_decisions(State(gateway): State<Gateway>, mut request: Request) -> Response {
    match admitted(&mut request) {
        Ok(admitted) => {
            dashboard::api::decisions(&gateway, &admitted.runtime, request.uri().query()).await
        }
        Err(err) => err.into_response(),
    }
}

async fn dashboard_decision(
    State(gateway): State<Gateway>,
    Path(id): Path<String>,
    mut request: Request,
) -> Response {
    match admitted(&mut request) {
        Ok(admitted) => dashboard::api::decision(&gateway, &admitted.runtime, &id).await,
        Err(err) => err.into_response(),
    }
}

async fn dashboard_page(State(gateway): State<Gateway>) -> Response {
    dashboard::assets::page(gateway.runtime().config.dashboard.enabled)
}

async fn dashboard_asset(Path(name): Path<String>) -> Response {
    dashboard::assets::asset(&name)
}

async fn models(mut request: Request) -> Response {
    let runtime = match admitted(&mut request) {
        Ok(admitted) => admitted.runtime,
        Err(err) => return err.into_response(),
    };
    let data = runtime
        .model_names()
        .into_iter()
        .map(|(id, owner)| ModelObject::new(id, owner))
        .collect();
    axum::Json(ModelList::new(data)).into_response()
}

/// `GET /v1/models/{id}` (the SDKs' `models.retrieve`); ids may contain slashes.
async fn model(Path(id): Path<String>, mut request: Request) -> Response {
    let runtime = match admitted(&mut request) {
        Ok(admitted) => admitted.runtime,
        Err(err) => return err.into_response(),
    };
    match runtime.model_names().into_iter().find(|(name, _)| *name == id) {
        Some((id, owner)) => axum::Json(ModelObject::new(id, owner)).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(
                ApiError::new(
                    "invalid_request_error",
                    Some("model_not_found"),
                    format!(
                        "the model `{id}` does not exist; GET /v1/models lists the routes and models"
                    ),
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

/// Readiness: a config is loaded and the gateway is not draining (503 then). The body says how
/// the store is doing (records queued, dropped because the writer fell behind or the store
/// failed, and its last error) and, with `[shared]`, the shared state: a replica whose Redis
/// is out of reach is still ready (it serves from its own state) and says `degraded`.
async fn readyz(State(gateway): State<Gateway>) -> Response {
    let store = gateway.store().map(|handle| {
        let stats = handle.writer.stats();
        let dropped = stats.dropped();
        serde_json::json!({
            "backend": handle.store.backend(),
            "queued_records": handle.writer.queued(),
            "dropped_records": dropped,
            "last_error": stats.last_error(),
            "status": if dropped > 0 || stats.last_error().is_some() { "degraded" } else { "ok" },
        })
    });
    let shared = gateway.shared_health().map(|report| {
        serde_json::json!({
            "backend": report.backend,
            "status": if report.degraded { "degraded" } else { "ok" },
            "errors": report.errors,
            "last_error": report.last_error,
        })
    });
    let status = if gateway.is_draining() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let body = serde_json::json!({
        "status": if gateway.is_draining() { "draining" } else { "ready" },
        "store": store,
        "shared": shared,
    });
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(gateway): State<Gateway>) -> Response {
    if let Some(store) = gateway.store() {
        crate::metrics::store(store.writer.stats(), store.writer.queued());
    }
    match crate::metrics::handle() {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            crate::metrics::render(handle),
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
            "unknown endpoint: routewise serves POST /v1/chat/completions, POST /v1/feedback, GET /v1/models, /v1/alerts, /dashboard, /healthz, /readyz and /metrics",
        )),
    )
        .into_response()
}
