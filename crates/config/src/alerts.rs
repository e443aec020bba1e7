//! `[alerts]`: the gateway's built-in alerts (`routewise_core::alerts`), their windows and
//! thresholds, and the webhook told of every change. On by default with the defaults the
//! runbook (`docs/RUNBOOK.md`) explains.

use crate::compile::Errors;
use routewise_core::alerts::AlertSettings;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    pub enabled: Option<bool>,
    pub window_secs: Option<u64>,
    pub baseline_secs: Option<u64>,
    pub evaluate_every_secs: Option<u64>,
    pub min_requests: Option<u64>,
    pub min_feedback: Option<u64>,
    pub cost_increase: Option<f64>,
    pub quality_drop: Option<f64>,
    pub fallback_rate: Option<f64>,
    pub latency_factor: Option<f64>,
    pub success_slo: Option<f64>,
    /// `http(s)://...`: POSTed a JSON object on every change of state.
    pub webhook: Option<String>,
    pub webhook_timeout_ms: Option<u64>,
    pub webhook_retries: Option<u32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertsConfig {
    pub enabled: bool,
    pub settings: AlertSettings,
    pub evaluate_every: Duration,
    pub webhook: Option<WebhookConfig>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            enabled: true,
            settings: AlertSettings::default(),
            evaluate_every: Duration::from_secs(15),
            webhook: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: String,
    pub timeout: Duration,
    pub retries: u32,
}

pub(crate) fn compile_alerts(raw: &RawAlerts, errors: &mut Errors) -> AlertsConfig {
    let defaults = AlertsConfig::default();
    let d = &defaults.settings;
    let mut seconds = |key: &str, value: Option<u64>, default_ms: u64| -> u64 {
        match value {
            None => default_ms,
            Some(0) => {
                errors.push(format!("alerts.{key}"), "must be at least 1 (seconds)");
                default_ms
            }
            Some(v) => v.saturating_mul(1000),
        }
    };
    let window_ms = seconds("window_secs", raw.window_secs, d.window_ms);
    let baseline_ms = seconds("baseline_secs", raw.baseline_secs, d.baseline_ms);
    let every_ms = seconds(
        "evaluate_every_secs",
        raw.evaluate_every_secs,
        u64::try_from(defaults.evaluate_every.as_millis()).unwrap_or(15_000),
    );
    let mut number =
        |key: &str, value: Option<f64>, default: f64, ok: fn(f64) -> bool, range: &str| match value
        {
            None => default,
            Some(v) if v.is_finite() && ok(v) => v,
            Some(v) => {
                errors.push(format!("alerts.{key}"), format!("{v} must be {range}"));
                default
            }
        };
    let settings = AlertSettings {
        window_ms,
        baseline_ms,
        min_requests: raw.min_requests.unwrap_or(d.min_requests).max(1),
        min_feedback: raw.min_feedback.unwrap_or(d.min_feedback).max(1),
        cost_increase: number(
            "cost_increase",
            raw.cost_increase,
            d.cost_increase,
            |v| v > 0.0,
            "above 0 (0.2 fires at +20%)",
        ),
        quality_drop: number(
            "quality_drop",
            raw.quality_drop,
            d.quality_drop,
            |v| v > 0.0 && v < 1.0,
            "between 0 and 1, exclusive (0.05 fires at -5%)",
        ),
        fallback_rate: number(
            "fallback_rate",
            raw.fallback_rate,
            d.fallback_rate,
            |v| v > 0.0 && v < 1.0,
            "between 0 and 1, exclusive",
        ),
        latency_factor: number(
            "latency_factor",
            raw.latency_factor,
            d.latency_factor,
            |v| v > 1.0,
            "above 1 (2 fires when p99 doubles)",
        ),
        success_slo: number(
            "success_slo",
            raw.success_slo,
            d.success_slo,
            |v| v > 0.0 && v < 1.0,
            "between 0 and 1, exclusive (e.g. 0.999)",
        ),
    };
    let webhook = raw.webhook.as_ref().and_then(|url| {
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        if rest
            .is_none_or(|r| r.is_empty() || r.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            errors.push(
                "alerts.webhook",
                format!("`{url}` is not an http:// or https:// URL"),
            );
            return None;
        }
        let timeout_ms = raw.webhook_timeout_ms.unwrap_or(2000);
        if timeout_ms == 0 {
            errors.push("alerts.webhook_timeout_ms", "must be at least 1");
        }
        let retries = raw.webhook_retries.unwrap_or(3);
        if retries > 10 {
            errors.push(
                "alerts.webhook_retries",
                format!("{retries} is more than 10"),
            );
        }
        Some(WebhookConfig {
            url: url.clone(),
            timeout: Duration::from_millis(timeout_ms.max(1)),
            retries: retries.min(10),
        })
    });
    if raw.webhook.is_none() && (raw.webhook_timeout_ms.is_some() || raw.webhook_retries.is_some())
    {
        errors.push(
            "alerts.webhook",
            "webhook_timeout_ms and webhook_retries need a `webhook` URL",
        );
    }
    AlertsConfig {
        enabled: raw.enabled.unwrap_or(true),
        settings,
        evaluate_every: Duration::from_millis(every_ms),
        webhook,
    }
}
