//! Resilience under paused time: retries honouring Retry-After, fallback on timeouts and 5xx,
//! circuit breakers opening and closing, and no fallback once a stream has started.

mod common;

use common::{Harness, SIMPLE, ask, header, sse_data, streamed_text, text_of};
use routewise_testkit::Reply;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn a_429_is_retried_after_the_delay_the_upstream_asked_for() {
    let h = Harness::start("").await;
    h.mock.script(
        "small-up",
        [
            Reply::status(429).with_retry_after(7),
            Reply::text("second time lucky"),
        ],
    );
    let started = Instant::now();
    let response = h.chat(ask("auto", SIMPLE)).await;
    assert!(
        started.elapsed() >= Duration::from_secs(7),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-routewise-model"), "small");
    let body: Value = response.json().await.unwrap();
    assert_eq!(text_of(&body), "second time lucky");
    assert_eq!(h.mock.calls_for("small-up").len(), 2);
    assert!(h.mock.calls_for("large-up").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_beyond_the_limit_falls_back_instead_of_waiting() {
    let h = Harness::start("[server.execution]\nmax_retry_after_secs = 5").await;
    h.mock
        .script("small-up", [Reply::status(429).with_retry_after(600)]);
    let started = Instant::now();
    let response = h.chat(ask("auto", SIMPLE)).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(header(&response, "x-routewise-model"), "large");
}

#[tokio::test(start_paused = true)]
async fn a_first_byte_timeout_falls_back_to_the_next_tier() {
    let h = Harness::start(
        "[server.execution]\nmax_retries = 0\n[server.execution.models.small]\nfirst_byte_timeout_ms = 2000",
    )
    .await;
    h.mock.script(
        "small-up",
        [Reply::text("too late").after(Duration::from_secs(60))],
    );
    let started = Instant::now();
    let response = h.chat(ask("auto", SIMPLE)).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(2) && waited < Duration::from_secs(60),
        "{waited:?}"
    );
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-routewise-model"), "large");
    let body: Value = response.json().await.unwrap();
    assert_eq!(text_of(&body), "reply from large-up");
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_retried_then_fall_back() {
    let h = Harness::start("[server.execution]\nmax_retries = 2").await;
    h.mock.script(
        "small-up",
        [Reply::status(503), Reply::status(502), Reply::status(500)],
    );
    let response = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-routewise-model"), "large");
    assert_eq!(
        h.mock.calls_for("small-up").len(),
        3,
        "one call and two retries"
    );
    assert_eq!(h.mock.calls_for("large-up").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn when_every_model_fails_the_error_lists_each_attempt() {
    let h = Harness::start("[server.execution]\nmax_retries = 0").await;
    for model in ["small-up", "large-up"] {
        h.mock.script(model, [Reply::status(503)]);
    }
    h.mock.script("claude-up", [Reply::status(529)]);
    let response = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    for model in ["small attempt 1", "large attempt 1", "claude attempt 1"] {
        assert!(message.contains(model), "{model} missing from {message}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_upstream_400_is_returned_without_fallback() {
    let h = Harness::start("").await;
    h.mock.script("small-up", [Reply::status(400)]);
    let response = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_rejected");
    assert!(h.mock.calls_for("large-up").is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_circuit_opens_routes_around_and_closes_after_a_good_probe() {
    let h = Harness::start(
        "[server.execution]\nmax_retries = 0\ncircuit_failure_threshold = 2\ncircuit_cooldown_secs = 30",
    )
    .await;
    h.mock
        .script("small-up", [Reply::status(503), Reply::status(503)]);
    for _ in 0..2 {
        let response = h.chat(ask("auto", SIMPLE)).await;
        assert_eq!(header(&response, "x-routewise-model"), "large");
    }
    assert!(h.gateway.circuits().is_open("small"));
    let response = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(header(&response, "x-routewise-model"), "large");
    assert_eq!(
        h.mock.calls_for("small-up").len(),
        2,
        "the open circuit is routed around"
    );

    tokio::time::advance(Duration::from_secs(31)).await;
    let response = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(
        header(&response, "x-routewise-model"),
        "small",
        "the probe succeeds"
    );
    assert!(!h.gateway.circuits().is_open("small"));
    assert_eq!(h.mock.calls_for("small-up").len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_breaks_after_its_first_chunk_does_not_fall_back() {
    let h = Harness::start("").await;
    h.mock.script(
        "small-up",
        [Reply::drop_connection(2).chunk_every(Duration::from_millis(100))],
    );
    let mut request = ask("auto", SIMPLE);
    request["stream"] = json!(true);
    let response = h.chat(request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-routewise-model"), "small");
    let events = sse_data(&response.text().await.unwrap());
    assert_eq!(streamed_text(&events), "this stream");
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(last["error"]["code"], "upstream_stream_error");
    assert!(
        h.mock.calls_for("large-up").is_empty(),
        "no fallback after the first byte"
    );
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_fails_before_its_first_chunk_falls_back() {
    let h = Harness::start("[server.execution]\nmax_retries = 0").await;
    h.mock.script("small-up", [Reply::drop_connection(0)]);
    let mut request = ask("auto", SIMPLE);
    request["stream"] = json!(true);
    let response = h.chat(request).await;
    assert_eq!(header(&response, "x-routewise-model"), "large");
    let events = sse_data(&response.text().await.unwrap());
    assert_eq!(streamed_text(&events), "reply from large-up");
}
