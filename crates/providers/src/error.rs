//! Provider failures, classified by origin and by whether a retry may help.

use std::time::Duration;
use thiserror::Error;

/// Which time limit ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutPhase {
    FirstByte,
    Total,
}

impl std::fmt::Display for TimeoutPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeoutPhase::FirstByte => "first-byte (response headers)",
            TimeoutPhase::Total => "total (whole response)",
        })
    }
}

/// Why a provider call failed.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ProviderError {
    #[error("provider `{provider}`: cannot connect to the upstream: {detail}")]
    Connect { provider: String, detail: String },
    #[error(
        "provider `{provider}`: the upstream did not answer within the {phase} timeout of {limit:?}"
    )]
    Timeout {
        provider: String,
        phase: TimeoutPhase,
        limit: Duration,
    },
    #[error("provider `{provider}`: the upstream answered HTTP {status}: {message}")]
    Status {
        provider: String,
        status: u16,
        /// From `Retry-After` / `retry-after-ms`, when the upstream sent one.
        retry_after: Option<Duration>,
        message: String,
    },
    #[error("provider `{provider}`: the upstream's response is not valid: {detail}")]
    InvalidResponse { provider: String, detail: String },
    #[error("provider `{provider}`: the upstream dropped the connection mid-response: {detail}")]
    Dropped { provider: String, detail: String },
    #[error("provider `{provider}`: cannot build the upstream request: {detail}")]
    Request { provider: String, detail: String },
}

impl ProviderError {
    /// The same error with every secret `redactor` knows masked in its upstream-supplied text.
    pub fn redacted(mut self, redactor: &crate::Redactor) -> Self {
        if redactor.is_empty() {
            return self;
        }
        match &mut self {
            ProviderError::Connect { detail, .. }
            | ProviderError::InvalidResponse { detail, .. }
            | ProviderError::Dropped { detail, .. }
            | ProviderError::Request { detail, .. } => redactor.redact_in_place(detail),
            ProviderError::Status { message, .. } => redactor.redact_in_place(message),
            ProviderError::Timeout { .. } => {}
        }
        self
    }

    /// Whether calling the same model again may succeed: connection failures, timeouts, dropped
    /// connections, 408, 429 and 5xx.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProviderError::Connect { .. }
            | ProviderError::Timeout { .. }
            | ProviderError::Dropped { .. } => true,
            ProviderError::Status { status, .. } => {
                *status == 408 || *status == 429 || *status >= 500
            }
            ProviderError::InvalidResponse { .. } | ProviderError::Request { .. } => false,
        }
    }

    /// Whether the fault lies in the client's request (HTTP 400 / 422 from the upstream, or a
    /// request that cannot be translated): another model would reject it too, so the gateway
    /// answers the client instead of falling back.
    pub fn is_client_error(&self) -> bool {
        match self {
            ProviderError::Status { status, .. } => *status == 400 || *status == 422,
            ProviderError::Request { .. } => true,
            _ => false,
        }
    }

    /// The delay the upstream asked for before the next attempt.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A low-cardinality label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderError::Connect { .. } => "connect",
            ProviderError::Timeout {
                phase: TimeoutPhase::FirstByte,
                ..
            } => "timeout_first_byte",
            ProviderError::Timeout {
                phase: TimeoutPhase::Total,
                ..
            } => "timeout_total",
            ProviderError::Status { status: 429, .. } => "status_429",
            ProviderError::Status { status, .. } if *status >= 500 => "status_5xx",
            ProviderError::Status { .. } => "status_4xx",
            ProviderError::InvalidResponse { .. } => "invalid_response",
            ProviderError::Dropped { .. } => "dropped",
            ProviderError::Request { .. } => "request",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> ProviderError {
        ProviderError::Status {
            provider: "p".into(),
            status,
            retry_after: Some(Duration::from_secs(2)),
            message: "m".into(),
        }
    }

    #[test]
    fn classification() {
        assert!(status(429).is_retryable());
        assert!(status(503).is_retryable());
        assert!(!status(400).is_retryable());
        assert!(status(400).is_client_error());
        assert!(!status(401).is_client_error());
        assert_eq!(status(429).retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(status(502).kind(), "status_5xx");
        assert_eq!(status(404).kind(), "status_4xx");
    }
}
