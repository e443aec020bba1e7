//! The gateway's alerts: finished requests and feedback are observed as they are accounted
//! (a lock held for a counter update), a ticker evaluates the conditions of
//! `routewise_core::alerts` every `[alerts] evaluate_every_secs`, and each change of state is
//! logged, shown in `routewise_alert_firing{alert}` and at `GET /v1/alerts`, and POSTed to the
//! webhook from a task of its own, so a slow or dead receiver never holds up a request.

use crate::{Gateway, metrics};
use routewise_config::alerts::{AlertsConfig, WebhookConfig};
use routewise_core::alerts::{
    AlertBook, AlertState, AlertStatus, Observations, RequestSample, evaluate,
};
use serde::Serialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Webhook deliveries in flight at most; a change past that is counted as dropped.
const MAX_DELIVERIES: usize = 16;

/// Observations and alert states; outlives reloads (a reload with other windows starts the
/// observations anew).
#[derive(Debug)]
pub struct Alerts {
    inner: Mutex<Inner>,
    deliveries: std::sync::Arc<AtomicUsize>,
    client: reqwest::Client,
}

#[derive(Debug)]
struct Inner {
    observations: Observations,
    book: AlertBook,
    evaluated_unix_ms: Option<u64>,
}

/// One alert as `GET /v1/alerts` and the webhook show it.
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    pub name: &'static str,
    pub state: AlertState,
    pub since_unix_ms: u64,
    pub value: Option<f64>,
    pub baseline: Option<f64>,
    pub threshold: Option<f64>,
    /// Whether the last evaluation had enough data to judge.
    pub judged: bool,
    pub detail: String,
    /// The section of the runbook that says what to do.
    pub runbook: String,
}

impl AlertView {
    fn of(status: &AlertStatus) -> Self {
        let name = status.kind.name();
        AlertView {
            name,
            state: status.state,
            since_unix_ms: status.since_unix_ms,
            value: status.reading.value,
            baseline: status.reading.baseline,
            threshold: status.reading.threshold,
            judged: status.reading.judged,
            detail: status.reading.detail.clone(),
            runbook: format!("docs/RUNBOOK.md#{name}"),
        }
    }
}

/// `GET /v1/alerts`.
#[derive(Debug, Serialize)]
pub struct AlertsView {
    pub enabled: bool,
    pub evaluated_unix_ms: Option<u64>,
    pub alerts: Vec<AlertView>,
}

impl Alerts {
    pub fn new(config: &AlertsConfig, now_unix_ms: u64) -> Self {
        Alerts {
            inner: Mutex::new(Inner {
                observations: Observations::new(&config.settings),
                book: AlertBook::new(now_unix_ms),
                evaluated_unix_ms: None,
            }),
            deliveries: std::sync::Arc::new(AtomicUsize::new(0)),
            client: reqwest::Client::new(),
        }
    }

    fn with<T>(&self, config: &AlertsConfig, f: impl FnOnce(&mut Inner) -> T) -> Option<T> {
        if !config.enabled {
            return None;
        }
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !inner.observations.fits(&config.settings) {
            inner.observations = Observations::new(&config.settings);
        }
        Some(f(&mut inner))
    }

    pub fn request(&self, config: &AlertsConfig, now_unix_ms: u64, sample: RequestSample) {
        self.with(config, |inner| {
            inner.observations.request(now_unix_ms, sample)
        });
    }

    /// Feedback on a request served below the strongest tier.
    pub fn small_feedback(&self, config: &AlertsConfig, now_unix_ms: u64, score: f64) {
        self.with(config, |inner| {
            inner.observations.small_feedback(now_unix_ms, score)
        });
    }

    /// Evaluates every alert; returns those that changed state.
    fn evaluate(&self, config: &AlertsConfig, now_unix_ms: u64) -> Vec<AlertStatus> {
        self.with(config, |inner| {
            let readings = evaluate(&inner.observations, &config.settings, now_unix_ms);
            inner.evaluated_unix_ms = Some(now_unix_ms);
            inner.book.update(readings, now_unix_ms)
        })
        .unwrap_or_default()
    }

    pub fn view(&self, config: &AlertsConfig) -> AlertsView {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        AlertsView {
            enabled: config.enabled,
            evaluated_unix_ms: inner.evaluated_unix_ms,
            alerts: inner.book.statuses().iter().map(AlertView::of).collect(),
        }
    }
}

/// Evaluates the gateway's alerts now: logs, metrics and the webhook for each change. The
/// ticker calls it; tests and tools may too.
pub fn evaluate_now(gateway: &Gateway) -> Vec<AlertView> {
    let runtime = gateway.runtime();
    let config = &runtime.config.alerts;
    let alerts = gateway.alerts();
    let changed: Vec<AlertView> = alerts
        .evaluate(config, gateway.now_unix_ms())
        .iter()
        .map(AlertView::of)
        .collect();
    for status in alerts.view(config).alerts {
        metrics::alert_firing(status.name, status.state == AlertState::Firing);
    }
    for change in &changed {
        match change.state {
            AlertState::Firing => {
                tracing::warn!(alert = change.name, detail = %change.detail, runbook = %change.runbook, "alert firing")
            }
            AlertState::Ok => {
                tracing::info!(alert = change.name, detail = %change.detail, "alert resolved")
            }
        }
        if let Some(webhook) = &config.webhook {
            deliver(alerts, webhook.clone(), change.clone());
        }
    }
    changed
}

/// POSTs one change to the webhook in its own task: `retries` more attempts after a failure,
/// with doubling pauses from 200 ms, each within the timeout.
fn deliver(alerts: &Alerts, webhook: WebhookConfig, change: AlertView) {
    let in_flight = std::sync::Arc::clone(&alerts.deliveries);
    if in_flight.fetch_add(1, Ordering::SeqCst) >= MAX_DELIVERIES {
        in_flight.fetch_sub(1, Ordering::SeqCst);
        metrics::alert_webhook("dropped");
        tracing::warn!(
            alert = change.name,
            "alert webhook deliveries are backed up; this change was not sent"
        );
        return;
    }
    let client = alerts.client.clone();
    tokio::spawn(async move {
        let mut pause = Duration::from_millis(200);
        let mut outcome = "failed";
        for attempt in 0..=webhook.retries {
            let sent = client
                .post(&webhook.url)
                .timeout(webhook.timeout)
                .json(&change)
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => {
                    outcome = "ok";
                    break;
                }
                Ok(response) => tracing::warn!(
                    alert = change.name,
                    attempt,
                    status = response.status().as_u16(),
                    "alert webhook refused the change"
                ),
                Err(error) => {
                    tracing::warn!(alert = change.name, attempt, %error, "alert webhook unreachable")
                }
            }
            if attempt < webhook.retries {
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
        metrics::alert_webhook(outcome);
        in_flight.fetch_sub(1, Ordering::SeqCst);
    });
}

/// Runs [`evaluate_now`] every `[alerts] evaluate_every_secs` (read anew after each, so a
/// reload's interval applies) until the task is dropped.
pub async fn tick(gateway: Gateway) {
    loop {
        let every = gateway.runtime().config.alerts.evaluate_every;
        tokio::time::sleep(every).await;
        evaluate_now(&gateway);
    }
}

/// What a finished request tells the alerts.
pub fn sample(
    cost_usd: f64,
    latency_ms: f64,
    status: u16,
    outcome: &str,
    fallback: bool,
) -> RequestSample {
    let server_error = status >= 500 || outcome == "stream_error";
    RequestSample {
        cost_usd,
        latency_ms,
        fallback,
        server_error,
        client_error: !server_error
            && ((400..500).contains(&status) || outcome == "client_disconnected"),
    }
}
