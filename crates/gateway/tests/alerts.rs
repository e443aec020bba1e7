//! The built-in alerts through the HTTP gateway: each fires on an induced condition and
//! resolves when it passes, `GET /v1/alerts` shows it, and the webhook is told of both.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a failed test"
)]

mod common;

use common::{Harness, SIMPLE, ask, header};
use routewise_gateway::alerts::evaluate_now;
use routewise_testkit::Reply;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const START_MS: u64 = 1_800_000_000_000;

/// A gateway with a store (for feedback; memory off, so that bad ratings do not upgrade the
/// test's one prompt) and alerts over a 60 s window against a 600 s baseline; `webhook` is the
/// receiver's URL.
async fn start(webhook: &str) -> (Harness, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let server = "[server.execution]\nmax_retries = 0\ncircuit_failure_threshold = 100000";
    let alerts = format!(
        "[memory]\nenabled = false\n[alerts]\nwindow_secs = 60\nbaseline_secs = 600\nmin_requests = 10\nmin_feedback = 5\nevaluate_every_secs = 3600\nwebhook = \"{webhook}\"\nwebhook_timeout_ms = 500\nwebhook_retries = 1"
    );
    let (h, _log) = Harness::start_with_store(&dir.path().join("r.db"), server, &alerts, "").await;
    (h, dir)
}

/// A local receiver that keeps what the webhook POSTs.
async fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let keep = Arc::clone(&got);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let keep = Arc::clone(&keep);
            async move {
                keep.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

/// Sends `n` requests for `model`, one a second of gateway time from `*at` on; returns the
/// request ids of the answered ones.
async fn traffic(h: &Harness, at: &mut u64, n: usize, model: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        h.gateway.set_time(*at);
        *at += 1000;
        let response = h.chat(ask(model, SIMPLE)).await;
        if response.status() == 200 {
            ids.push(header(&response, "x-routewise-request-id").to_owned());
        }
    }
    ids
}

async fn rate(h: &Harness, ids: &[String], score: f64) {
    for id in ids {
        let response = h
            .client
            .post(format!("{}/v1/feedback", h.url))
            .json(&json!({"request_id": id, "score": score}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }
}

fn state(h: &Harness, alert: &str) -> String {
    evaluate_now(&h.gateway);
    let view = h.gateway.alerts().view(&h.gateway.runtime().config.alerts);
    let found = view.alerts.iter().find(|a| a.name == alert).unwrap();
    serde_json::to_value(found.state)
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

/// `GET /v1/alerts`.
async fn alerts_page(h: &Harness) -> Value {
    h.client
        .get(format!("{}/v1/alerts", h.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn http_state(h: &Harness, alert: &str) -> Value {
    alerts_page(h).await["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == alert)
        .cloned()
        .unwrap()
}

/// A baseline of 40 cheap, fast, healthy requests over 10 minutes, rated well.
async fn baseline(h: &Harness, at: &mut u64) {
    for _ in 0..40 {
        let ids = traffic(h, at, 1, "auto").await;
        rate(h, &ids, 0.9).await;
        *at += 14_000;
    }
}

#[tokio::test]
async fn each_alert_fires_on_its_condition_and_resolves_and_the_webhook_hears_both() {
    let (url, hooked) = receiver().await;
    let (h, _dir) = start(&url).await;
    let mut at = START_MS;

    // Cost per request up: the window's requests go to the large model.
    baseline(&h, &mut at).await;
    assert_eq!(state(&h, "cost_per_request_up"), "ok");
    traffic(&h, &mut at, 20, "large").await;
    assert_eq!(state(&h, "cost_per_request_up"), "firing");
    let shown = http_state(&h, "cost_per_request_up").await;
    assert_eq!(shown["state"], "firing");
    assert_eq!(shown["runbook"], "docs/RUNBOOK.md#cost_per_request_up");
    assert!(shown["value"].as_f64().unwrap() > shown["threshold"].as_f64().unwrap());
    traffic(&h, &mut at, 70, "auto").await;
    assert_eq!(
        state(&h, "cost_per_request_up"),
        "ok",
        "resolved once the window is cheap again"
    );

    // Quality of small-routed requests down.
    at += 700_000;
    baseline(&h, &mut at).await;
    assert_eq!(state(&h, "small_quality_down"), "ok");
    let ids = traffic(&h, &mut at, 10, "auto").await;
    rate(&h, &ids, 0.5).await;
    assert_eq!(state(&h, "small_quality_down"), "firing");
    at += 61_000;
    let ids = traffic(&h, &mut at, 10, "auto").await;
    rate(&h, &ids, 0.9).await;
    assert_eq!(state(&h, "small_quality_down"), "ok");

    // Fallbacks: the small model fails, the route falls back to the large one.
    at += 700_000;
    baseline(&h, &mut at).await;
    h.mock
        .script("small-up", (0..20).map(|_| Reply::status(500)));
    traffic(&h, &mut at, 20, "auto").await;
    assert_eq!(state(&h, "fallback_rate_high"), "firing");
    traffic(&h, &mut at, 70, "auto").await;
    assert_eq!(state(&h, "fallback_rate_high"), "ok");

    // Errors: both models fail, so requests fail.
    at += 700_000;
    baseline(&h, &mut at).await;
    for model in ["small-up", "large-up", "claude-up"] {
        h.mock.script(model, (0..5).map(|_| Reply::status(500)));
    }
    traffic(&h, &mut at, 20, "auto").await;
    assert_eq!(state(&h, "error_rate_slo"), "firing");
    traffic(&h, &mut at, 70, "auto").await;
    assert_eq!(state(&h, "error_rate_slo"), "ok");

    // Latency: the upstream slows down.
    at += 700_000;
    baseline(&h, &mut at).await;
    h.mock.script(
        "small-up",
        (0..15).map(|_| Reply::text("slow").after(Duration::from_millis(120))),
    );
    traffic(&h, &mut at, 15, "auto").await;
    assert_eq!(state(&h, "latency_p99_doubled"), "firing");
    traffic(&h, &mut at, 70, "auto").await;
    assert_eq!(state(&h, "latency_p99_doubled"), "ok");

    // The webhook heard every change: five alerts, fired and resolved.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hooked = hooked.lock().unwrap().clone();
    for alert in [
        "cost_per_request_up",
        "small_quality_down",
        "fallback_rate_high",
        "error_rate_slo",
        "latency_p99_doubled",
    ] {
        for want in ["firing", "ok"] {
            assert!(
                hooked
                    .iter()
                    .any(|c| c["name"] == alert && c["state"] == want),
                "{alert} {want} not delivered: {hooked:#?}"
            );
        }
    }
}

#[tokio::test]
async fn the_ticker_evaluates_by_itself_and_a_dead_webhook_blocks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (h, _log) = Harness::start_with_store(
        &dir.path().join("r.db"),
        "",
        "[alerts]\nevaluate_every_secs = 1\nwebhook = \"http://127.0.0.1:9/nobody\"\nwebhook_retries = 3",
        "",
    )
    .await;
    let before = http_state(&h, "error_rate_slo").await;
    assert_eq!(before["state"], "ok");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let body = alerts_page(&h).await;
    assert!(
        body["evaluated_unix_ms"].as_u64().is_some(),
        "evaluated: {body}"
    );
    assert_eq!(body["enabled"], true);
    let response = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(response.status(), 200);
}
