//! Everything a client can be told went wrong, rendered as OpenAI-shaped JSON with the right
//! HTTP status, so OpenAI SDKs raise their usual exceptions.

use crate::execute::Attempt;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use routewise_core::RouteError;
use routewise_openai::ApiError;
use routewise_providers::Redactor;
use std::time::Duration;
use thiserror::Error;

/// A request that routewise could not answer.
#[derive(Debug, Error)]
pub enum GatewayError {
    /// The body is not a chat completion request; `param` names the field at fault.
    #[error("{message}")]
    BadRequest {
        param: Option<String>,
        message: String,
    },
    #[error("{message}")]
    InvalidField {
        param: &'static str,
        message: String,
    },
    #[error("{method} is not allowed on {path}; use {allowed}")]
    MethodNotAllowed {
        method: String,
        path: String,
        allowed: &'static str,
    },
    #[error("the request body is larger than the limit of {limit} bytes")]
    BodyTooLarge { limit: usize },
    #[error("the request body did not arrive within {timeout:?}")]
    BodyTimeout { timeout: Duration },
    #[error(
        "the request headers are too large ({count} headers, {bytes} bytes; the limits are {max_count} headers and {max_bytes} bytes)"
    )]
    HeadersTooLarge {
        bytes: usize,
        count: usize,
        max_bytes: usize,
        max_count: usize,
    },
    #[error(
        "the model `{requested}` does not exist; use \"auto\", a route ({routes}) or a catalog model ({models})"
    )]
    UnknownModel {
        requested: String,
        routes: String,
        models: String,
    },
    #[error(
        "missing or invalid API key: send `Authorization: Bearer <key>` with a key configured for this gateway"
    )]
    Unauthorized,
    #[error("rate limit of client key `{key}` exceeded ({limit}); retry after {retry_after:?}")]
    RateLimited {
        key: String,
        limit: &'static str,
        retry_after: Duration,
    },
    #[error(
        "the request needs {requested} {limit}, more than client key `{key}` may use in a minute ({per_minute}): shorten it or raise the key's limit"
    )]
    ExceedsLimit {
        key: String,
        limit: &'static str,
        requested: u32,
        per_minute: u32,
    },
    #[error(
        "the {period}'s budget of ${usd:.2} for {scope} is spent; requests resume when the period renews (UTC) or the budget is raised"
    )]
    BudgetExhausted {
        /// `all traffic` or `client key NAME`.
        scope: String,
        usd: f64,
        period: &'static str,
        retry_after: Duration,
    },
    #[error("{0}")]
    Route(RouteError),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("{message}")]
    Upstream {
        /// The status the client gets: the upstream's own 4xx for client errors, 502 / 504 / 503
        /// otherwise.
        status: StatusCode,
        message: String,
        attempts: Vec<Attempt>,
        /// When trying again may succeed (every model rate-limited, or every circuit open).
        retry_after: Option<Duration>,
    },
    #[error(
        "no request `{request_id}` is known for this client key: send the x-routewise-request-id of one of your own answers"
    )]
    UnknownRequest { request_id: String },
    #[error("the store is unavailable, so the feedback was not kept (try again): {0}")]
    StoreUnavailable(String),
    #[error("the gateway is shutting down")]
    ShuttingDown,
    /// Something a read-only endpoint (the dashboard's) was asked for does not exist; `code`
    /// says what (`dashboard_off`, `decision_not_found`).
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// A read-only endpoint cannot answer now; `code` says why (`no_store`,
    /// `store_unavailable`). Requests are served regardless.
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
}

impl GatewayError {
    /// The same error with every secret `redactor` knows masked in its message.
    pub fn redacted(mut self, redactor: &Redactor) -> Self {
        match &mut self {
            GatewayError::Upstream {
                message, attempts, ..
            } => {
                redactor.redact_in_place(message);
                for attempt in attempts {
                    if let Some(error) = &mut attempt.error {
                        redactor.redact_in_place(error);
                    }
                }
            }
            GatewayError::BadRequest { message, .. } | GatewayError::Internal(message) => {
                redactor.redact_in_place(message);
            }
            _ => {}
        }
        self
    }

    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::BadRequest { .. } | GatewayError::InvalidField { .. } => {
                StatusCode::BAD_REQUEST
            }
            GatewayError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            GatewayError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            GatewayError::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            GatewayError::UnknownModel { .. } => StatusCode::NOT_FOUND,
            GatewayError::Unauthorized => StatusCode::UNAUTHORIZED,
            GatewayError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            GatewayError::ExceedsLimit { .. } => StatusCode::BAD_REQUEST,
            GatewayError::BudgetExhausted { .. } => StatusCode::TOO_MANY_REQUESTS,
            GatewayError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            GatewayError::Route(RouteError::Setup(_) | RouteError::PolicyUnavailable { .. }) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            GatewayError::Route(_) => StatusCode::BAD_REQUEST,
            GatewayError::Upstream { status, .. } => *status,
            GatewayError::UnknownRequest { .. } => StatusCode::NOT_FOUND,
            GatewayError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::NotFound { .. } => StatusCode::NOT_FOUND,
            GatewayError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// A short, stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            GatewayError::BadRequest { .. } => "bad_request",
            GatewayError::InvalidField { .. } => "invalid_field",
            GatewayError::MethodNotAllowed { .. } => "method_not_allowed",
            GatewayError::BodyTooLarge { .. } => "body_too_large",
            GatewayError::BodyTimeout { .. } => "body_timeout",
            GatewayError::HeadersTooLarge { .. } => "headers_too_large",
            GatewayError::UnknownModel { .. } => "unknown_model",
            GatewayError::Unauthorized => "unauthorized",
            GatewayError::RateLimited { .. } => "rate_limited",
            GatewayError::ExceedsLimit { .. } => "exceeds_limit",
            GatewayError::BudgetExhausted { .. } => "budget_exhausted",
            GatewayError::Internal(_) => "internal",
            GatewayError::Route(err) => err.kind(),
            GatewayError::Upstream { .. } => "upstream",
            GatewayError::UnknownRequest { .. } => "unknown_request",
            GatewayError::StoreUnavailable(_) => "store_unavailable",
            GatewayError::ShuttingDown => "shutting_down",
            GatewayError::NotFound { code, .. } | GatewayError::Unavailable { code, .. } => code,
        }
    }

    /// The OpenAI error body.
    pub fn to_api_error(&self) -> ApiError {
        let message = self.to_string();
        match self {
            GatewayError::BadRequest { param: None, .. } => {
                ApiError::new("invalid_request_error", Some("invalid_json"), message)
            }
            GatewayError::BadRequest {
                param: Some(param), ..
            } => ApiError::new("invalid_request_error", Some("invalid_value"), message)
                .with_param(param.clone()),
            GatewayError::InvalidField { param, .. } => {
                ApiError::new("invalid_request_error", Some("invalid_value"), message)
                    .with_param(*param)
            }
            GatewayError::MethodNotAllowed { .. } => {
                ApiError::new("invalid_request_error", Some("method_not_allowed"), message)
            }
            GatewayError::BodyTooLarge { .. } => {
                ApiError::new("invalid_request_error", Some("request_too_large"), message)
            }
            GatewayError::BodyTimeout { .. } => {
                ApiError::new("invalid_request_error", Some("request_timeout"), message)
            }
            GatewayError::HeadersTooLarge { .. } => {
                ApiError::new("invalid_request_error", Some("headers_too_large"), message)
            }
            GatewayError::UnknownModel { .. } => {
                ApiError::new("invalid_request_error", Some("model_not_found"), message)
                    .with_param("model")
            }
            GatewayError::Unauthorized => {
                ApiError::new("authentication_error", Some("invalid_api_key"), message)
            }
            GatewayError::RateLimited { .. } => {
                ApiError::new("rate_limit_error", Some("rate_limit_exceeded"), message)
            }
            GatewayError::ExceedsLimit { .. } => ApiError::new(
                "invalid_request_error",
                Some("exceeds_rate_limit_capacity"),
                message,
            )
            .with_param("messages"),
            GatewayError::BudgetExhausted { .. } => {
                ApiError::new("insufficient_quota", Some("budget_exhausted"), message)
            }
            GatewayError::Internal(_) => {
                ApiError::new("api_error", Some("internal_error"), message)
            }
            GatewayError::Route(err) => {
                ApiError::new("invalid_request_error", Some(err.kind()), message)
            }
            GatewayError::Upstream { status, .. } if *status == StatusCode::TOO_MANY_REQUESTS => {
                ApiError::new("rate_limit_error", Some("upstream_rate_limited"), message)
            }
            GatewayError::Upstream { status, .. } if status.is_client_error() => {
                ApiError::new("invalid_request_error", Some("upstream_rejected"), message)
            }
            GatewayError::Upstream { .. } => {
                ApiError::new("api_error", Some("upstream_unavailable"), message)
            }
            GatewayError::UnknownRequest { .. } => {
                ApiError::new("invalid_request_error", Some("request_not_found"), message)
                    .with_param("request_id")
            }
            GatewayError::StoreUnavailable(_) => {
                ApiError::new("api_error", Some("store_unavailable"), message)
            }
            GatewayError::ShuttingDown => {
                ApiError::new("api_error", Some("shutting_down"), message)
            }
            GatewayError::NotFound { code, .. } => {
                ApiError::new("invalid_request_error", Some(code), message)
            }
            GatewayError::Unavailable { code, .. } => {
                ApiError::new("api_error", Some(code), message)
            }
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), axum::Json(self.to_api_error())).into_response();
        if let GatewayError::MethodNotAllowed { allowed, .. } = &self {
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allowed));
        }
        let retry_after = match &self {
            GatewayError::RateLimited { retry_after, .. }
            | GatewayError::BudgetExhausted { retry_after, .. } => Some(*retry_after),
            GatewayError::Upstream { retry_after, .. } => *retry_after,
            _ => None,
        };
        if let Some(wait) = retry_after {
            // Whole seconds, rounded up, at least 1.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}
