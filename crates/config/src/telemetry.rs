//! `[telemetry]`: OpenTelemetry traces of every request, exported over OTLP/HTTP. Off unless
//! `otlp_endpoint` is set; off, tracing costs nothing (the spans are never created).

use crate::compile::Errors;
use serde::Deserialize;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTelemetry {
    /// The collector's OTLP/HTTP base URL, e.g. `http://otel-collector:4318`: spans are posted
    /// to `{otlp_endpoint}/v1/traces` as protobuf.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the spans; default `routewise`.
    pub service_name: Option<String>,
    /// Share of new traces kept, (0, 1]; a caller's sampled `traceparent` is always followed.
    pub sample_ratio: Option<f64>,
}

/// The compiled `[telemetry]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    /// `{otlp_endpoint}/v1/traces`.
    pub traces_url: String,
    pub service_name: String,
    pub sample_ratio: f64,
}

/// `[telemetry]`; `None` when no endpoint is set.
pub(crate) fn compile_telemetry(
    raw: &RawTelemetry,
    errors: &mut Errors,
) -> Option<TelemetryConfig> {
    let service_name = raw
        .service_name
        .clone()
        .unwrap_or_else(|| "routewise".to_owned());
    if service_name.trim().is_empty() {
        errors.push("telemetry.service_name", "must not be empty");
    }
    let sample_ratio = raw.sample_ratio.unwrap_or(1.0);
    if !(sample_ratio > 0.0 && sample_ratio <= 1.0) {
        errors.push(
            "telemetry.sample_ratio",
            format!("{sample_ratio} must be above 0 and at most 1 (1 keeps every trace)"),
        );
    }
    let endpoint = raw.otlp_endpoint.as_deref()?.trim().trim_end_matches('/');
    let rest = endpoint
        .strip_prefix("http://")
        .or_else(|| endpoint.strip_prefix("https://"));
    if rest.is_none_or(|r| r.is_empty() || r.chars().any(|c| c.is_whitespace() || c.is_control())) {
        errors.push(
            "telemetry.otlp_endpoint",
            format!(
                "`{endpoint}` is not an http:// or https:// URL (e.g. \"http://otel-collector:4318\")"
            ),
        );
        return None;
    }
    let traces_url = if endpoint.ends_with("/v1/traces") {
        endpoint.to_owned()
    } else {
        format!("{endpoint}/v1/traces")
    };
    Some(TelemetryConfig {
        traces_url,
        service_name,
        sample_ratio,
    })
}
