//! The fault-injection suite: a gateway in front of a mock upstream that misbehaves (echoes
//! secrets, cuts streams short, sends keep-alives), through the real HTTP server, checking what
//! the client gets, what is logged, and what is counted.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure to start is a failed test"
)]

mod common;

use common::{Harness, LogSink, SIMPLE, ask, header, sse_data, streamed_text};
use routewise_testkit::{MockUpstream, Reply};
use serde_json::{Value, json};
use std::time::Duration;

const OPENAI_KEY: &str = "sk-live-OPENAI-0123456789abcdef";
const ANTHROPIC_KEY: &str = "sk-ant-ANTHROPIC-9876543210";

/// `small` and `large` on an OpenAI-compatible provider, `claude` on an Anthropic one, each
/// provider with a key from the environment.
fn keyed_config(mock: &MockUpstream) -> String {
    format!(
        r#"
tiers = ["economy", "frontier"]
[[providers]]
name = "mock"
kind = "openai"
base_url = "{base}"
api_key_env = "MOCK_OPENAI_KEY"
[[providers]]
name = "mock-anthropic"
kind = "anthropic"
base_url = "{base}"
api_key_env = "MOCK_ANTHROPIC_KEY"
[[models]]
name = "small"
provider = "mock"
upstream_model = "small-up"
tier = "economy"
input_usd_per_mtok = 0.15
output_usd_per_mtok = 0.60
context_window = 128000
[[models]]
name = "large"
provider = "mock"
upstream_model = "large-up"
tier = "frontier"
input_usd_per_mtok = 2.50
output_usd_per_mtok = 10.00
context_window = 128000
[[models]]
name = "claude"
provider = "mock-anthropic"
upstream_model = "claude-up"
tier = "frontier"
input_usd_per_mtok = 3.00
output_usd_per_mtok = 15.00
context_window = 200000
[server.execution]
max_retries = 0
"#,
        base = mock.base_url()
    )
}

fn keys(var: &str) -> Option<String> {
    match var {
        "MOCK_OPENAI_KEY" => Some(OPENAI_KEY.to_owned()),
        "MOCK_ANTHROPIC_KEY" => Some(ANTHROPIC_KEY.to_owned()),
        _ => None,
    }
}

async fn keyed() -> (Harness, LogSink) {
    Harness::start_logged(keyed_config, &keys).await
}

fn assert_no_secret(what: &str, text: &str) {
    for key in [OPENAI_KEY, ANTHROPIC_KEY] {
        assert!(!text.contains(key), "{what} leaks a provider key: {text}");
    }
}

fn streamed(model: &str, prompt: &str) -> Value {
    let mut body = ask(model, prompt);
    body["stream"] = json!(true);
    body
}

/// Before the fix, an upstream error that quoted the request's headers handed the provider key
/// to the client (400 passthrough, 502 summary) and wrote it into the request log.
#[tokio::test]
async fn provider_keys_never_reach_the_client_or_the_log() {
    let (h, log) = keyed().await;
    // The upstream really did receive the key, and echoes it back.
    h.mock.script("small-up", [Reply::echo_headers(400)]);
    let passed_through = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(passed_through.status(), 400);
    let body = passed_through.text().await.unwrap();
    assert!(body.contains("[redacted]"), "{body}");
    assert_no_secret("the passed-through 400", &body);
    let call = &h.mock.calls_for("small-up")[0];
    assert_eq!(
        call.header("authorization"),
        Some(format!("Bearer {OPENAI_KEY}").as_str())
    );

    h.mock.script("small-up", [Reply::echo_headers(500)]);
    h.mock.script("large-up", [Reply::echo_headers(503)]);
    h.mock.script("claude-up", [Reply::echo_headers(500)]);
    let summary = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(summary.status(), 502);
    assert_no_secret("the 502 summary", &summary.text().await.unwrap());

    h.mock.script("small-up", [Reply::echo_headers(500)]);
    let stream = h.chat(streamed("small", SIMPLE)).await;
    let events = stream.text().await.unwrap();
    assert!(events.contains("upstream_stream_error"), "{events}");
    assert_no_secret("the stream error event", &events);

    h.mock.script("claude-up", [Reply::echo_headers(400)]);
    let anthropic = h.chat(ask("claude", SIMPLE)).await;
    assert_eq!(anthropic.status(), 400);
    assert_no_secret(
        "the Anthropic passthrough",
        &anthropic.text().await.unwrap(),
    );

    let lines = h.log_lines(&log);
    assert!(lines.len() >= 4, "{lines:?}");
    assert_no_secret("the request log", &log.text());
    let metrics = h
        .client
        .get(format!("{}/metrics", h.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_no_secret("the metrics", &metrics);
}

fn outcomes(lines: &[Value]) -> Vec<&str> {
    lines.iter().filter_map(|l| l["outcome"].as_str()).collect()
}

/// Before the fix, a stream the upstream closed without a finish was relayed with a `[DONE]`
/// routewise added itself, and logged as `ok` with 0 tokens and $0.
#[tokio::test]
async fn a_stream_cut_short_ends_with_an_error_and_costs_what_it_used() {
    for model in ["small", "claude"] {
        let (h, log) = keyed().await;
        h.mock.script(&format!("{model}-up"), [Reply::truncated(3)]);
        let response = h.chat(streamed(model, SIMPLE)).await;
        assert_eq!(response.status(), 200);
        let events = sse_data(&response.text().await.unwrap());
        assert!(!events.iter().any(|e| e == "[DONE]"), "{model}: {events:?}");
        let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
        assert_eq!(last["error"]["code"], "upstream_stream_error", "{model}");
        assert!(
            !streamed_text(&events).is_empty(),
            "the client got the chunks"
        );

        let lines = h.log_lines(&log);
        assert_eq!(outcomes(&lines), ["stream_error"], "{model}");
        let line = &lines[0];
        assert!(line["completion_tokens"].as_u64().unwrap() > 0, "{line}");
        assert!(line["prompt_tokens"].as_u64().unwrap() > 0, "{line}");
        assert!(line["cost_usd"].as_f64().unwrap() > 0.0, "{line}");
        assert_eq!(line["usage_estimated"], true);
    }
}

/// Before the fix, `event: ping` and an empty `data: {}` failed the stream.
#[tokio::test]
async fn keep_alive_events_are_skipped() {
    for model in ["small", "claude"] {
        let (h, log) = keyed().await;
        h.mock.script(
            &format!("{model}-up"),
            [Reply::text("all the words arrive").with_keepalives()],
        );
        let response = h.chat(streamed(model, SIMPLE)).await;
        let events = sse_data(&response.text().await.unwrap());
        assert_eq!(streamed_text(&events), "all the words arrive", "{model}");
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
        assert_eq!(outcomes(&h.log_lines(&log)), ["ok"], "{model}");
    }
}

/// Before the fix, a client that hung up during a non-streamed request left no log line and
/// no metric.
#[tokio::test]
async fn a_client_that_hangs_up_mid_request_is_logged_once() {
    let (h, log) = keyed().await;
    h.mock.script(
        "small-up",
        [Reply::text("too late").after(Duration::from_secs(30))],
    );
    let gave_up =
        tokio::time::timeout(Duration::from_millis(300), h.chat(ask("auto", SIMPLE))).await;
    assert!(gave_up.is_err());
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = h.log_lines(&log);
        if !lines.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(outcomes(&lines), ["client_disconnected"]);
    let line = &lines[0];
    assert_eq!(line["status"], 499);
    assert_eq!(
        line["model"], "small",
        "accounted to the model it was sent to"
    );
    assert!(line["prompt_tokens"].as_u64().unwrap() > 0, "{line}");
    assert_eq!(line["usage_estimated"], true);
}

/// Before the fix, a streamed request whose client hung up was logged with 0 tokens and $0
/// although chunks had been delivered.
#[tokio::test]
async fn a_client_that_hangs_up_mid_stream_is_charged_for_what_it_got() {
    let (h, log) = keyed().await;
    h.mock.script(
        "small-up",
        [
            Reply::text("one two three four five six seven eight nine ten")
                .chunk_every(Duration::from_millis(200)),
        ],
    );
    let mut response = h.chat(streamed("auto", SIMPLE)).await;
    // Read a couple of chunks, then hang up.
    let mut received = 0;
    while received < 2 {
        if response.chunk().await.unwrap().is_some() {
            received += 1;
        }
    }
    drop(response);
    let mut lines = Vec::new();
    for _ in 0..100 {
        lines = h.log_lines(&log);
        if !lines.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(outcomes(&lines), ["client_disconnected"]);
    let line = &lines[0];
    assert!(line["completion_tokens"].as_u64().unwrap() > 0, "{line}");
    assert!(line["cost_usd"].as_f64().unwrap() > 0.0, "{line}");
    assert_eq!(header_of(line), "small");
}

fn header_of(line: &Value) -> &str {
    line["model"].as_str().unwrap_or("")
}

#[tokio::test]
async fn an_unfinished_upstream_call_never_logs_twice() {
    let (h, log) = keyed().await;
    for _ in 0..3 {
        let response = h.chat(ask("auto", SIMPLE)).await;
        assert_eq!(header(&response, "x-routewise-model"), "small");
    }
    assert_eq!(outcomes(&h.log_lines(&log)), ["ok", "ok", "ok"]);
}

/// A catalog whose frontier models differ in what they can do.
fn capability_config(mock: &MockUpstream) -> String {
    format!(
        r#"
tiers = ["economy", "frontier"]
[[providers]]
name = "mock"
kind = "openai"
base_url = "{}"
[[models]]
name = "small"
provider = "mock"
tier = "economy"
input_usd_per_mtok = 0.1
output_usd_per_mtok = 0.4
context_window = 128000
[[models]]
name = "large-plain"
provider = "mock"
tier = "frontier"
input_usd_per_mtok = 1.0
output_usd_per_mtok = 4.0
context_window = 128000
[[models]]
name = "large-tools"
provider = "mock"
tier = "frontier"
input_usd_per_mtok = 2.5
output_usd_per_mtok = 10.0
context_window = 128000
capabilities = ["tools", "json_schema"]
"#,
        mock.base_url()
    )
}

/// Before the fix, `capabilities = ["tools"]` was accepted but a request offering tools went
/// to a model without them.
#[tokio::test]
async fn requests_that_use_tools_or_schemas_go_only_to_models_that_declare_them() {
    let h = Harness::start_config(capability_config).await;
    let mut with_tools = ask("auto", SIMPLE);
    with_tools["tools"] = json!([{"type": "function", "function": {"name": "lookup"}}]);
    let response = h.chat(with_tools.clone()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-routewise-model"), "large-tools");

    let mut with_schema = ask("auto", SIMPLE);
    with_schema["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "x"}});
    let response = h.chat(with_schema).await;
    assert_eq!(header(&response, "x-routewise-model"), "large-tools");

    with_tools["model"] = json!("large-plain");
    let refused = h.chat(with_tools).await;
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error"]["message"].as_str().unwrap().contains("tools"),
        "{body}"
    );
    assert!(h.mock.calls_for("large-plain").is_empty());
    assert!(h.mock.calls_for("small").is_empty());
}

fn is_openai_error(body: &Value) -> bool {
    body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty())
        && body["error"]["type"].is_string()
        && body["error"].get("param").is_some()
        && body["error"].get("code").is_some()
}

/// Before the fix, errors the HTTP stack made itself (405, 431) had empty bodies, and schema
/// errors named Rust types with `param: null`.
#[tokio::test]
async fn every_error_a_client_can_get_is_openai_shaped() {
    let h = Harness::start("").await;
    let get = h
        .client
        .get(format!("{}/v1/chat/completions", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 405);
    let body: Value = get.json().await.unwrap();
    assert!(is_openai_error(&body), "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("POST"),
        "{body}"
    );

    let huge = h
        .client
        .post(format!("{}/v1/chat/completions", h.url))
        .header("x-padding", "x".repeat(70 * 1024))
        .json(&ask("auto", SIMPLE))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 431);
    let body: Value = huge.json().await.unwrap();
    assert!(is_openai_error(&body), "{body}");

    let wrong_type = h
        .chat(json!({"model": "auto", "messages": [{"role": "user", "content": 42}]}))
        .await;
    assert_eq!(wrong_type.status(), 400);
    let body: Value = wrong_type.json().await.unwrap();
    assert!(is_openai_error(&body), "{body}");
    assert_eq!(body["error"]["param"], "messages[0].content");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        !message.contains("untagged") && !message.contains("struct"),
        "{message}"
    );

    let not_an_object = h
        .client
        .post(format!("{}/v1/chat/completions", h.url))
        .body("\"hello\"")
        .send()
        .await
        .unwrap();
    let body: Value = not_an_object.json().await.unwrap();
    assert!(is_openai_error(&body), "{body}");
    assert!(
        !body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ChatCompletionRequest")
    );
}

/// Before the fix, every upstream rate-limiting the request gave a 502, and neither that nor
/// the all-circuits-open 503 said when to retry.
#[tokio::test(start_paused = true)]
async fn when_every_model_is_rate_limited_the_client_gets_a_429_with_retry_after() {
    let h = Harness::start(
        "[server.execution]\nmax_retries = 0\nmax_retry_after_secs = 5\ncircuit_failure_threshold = 1\ncircuit_cooldown_secs = 40",
    )
    .await;
    for model in ["small-up", "large-up", "claude-up"] {
        h.mock
            .script(model, [Reply::status(429).with_retry_after(30)]);
    }
    let limited = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(header(&limited, "retry-after"), "30");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");

    // Every circuit is open now: a 503 that says when the first one cools down.
    let open = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(open.status(), 503);
    assert_eq!(header(&open, "retry-after"), "40");
}

#[tokio::test]
async fn spend_totals_are_typed_as_counters() {
    let h = Harness::start("").await;
    h.chat(ask("auto", SIMPLE)).await;
    let metrics = h
        .client
        .get(format!("{}/metrics", h.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("# TYPE routewise_cost_usd_total counter"),
        "{metrics}"
    );
    assert!(metrics.contains("# TYPE routewise_baseline_cost_usd_total counter"));
}

async fn metric(h: &Harness, name: &str) -> f64 {
    let text = h
        .client
        .get(format!("{}/metrics", h.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Reads until the server closes the connection, or `limit` passes.
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let read = tokio::time::timeout(limit, stream.read_to_end(&mut received)).await;
    read.ok().map(|_| received)
}

/// Before the fix, a connection with unfinished headers stayed open indefinitely.
#[tokio::test(start_paused = true)]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    use tokio::io::AsyncWriteExt;
    let h = Harness::start("[server]\nheader_read_timeout_secs = 5").await;
    let before = metric(
        &h,
        "routewise_connections_closed_total{reason=\"header_timeout\"}",
    )
    .await;
    let address = h.url.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let closed = closed_within(&mut slow, Duration::from_secs(60)).await;
    assert!(closed.is_some(), "the server closed the connection");
    let after = metric(
        &h,
        "routewise_connections_closed_total{reason=\"header_timeout\"}",
    )
    .await;
    assert!(after > before, "counted: {before} -> {after}");

    // An idle keep-alive connection is closed the same way.
    let mut idle = tokio::net::TcpStream::connect(&address).await.unwrap();
    assert!(
        closed_within(&mut idle, Duration::from_secs(60))
            .await
            .is_some()
    );
}

/// Before the fix, a stalled request body kept the connection and the request open forever.
#[tokio::test(start_paused = true)]
async fn a_stalled_body_gets_a_408() {
    use tokio::io::AsyncWriteExt;
    let h = Harness::start("[server]\nbody_read_timeout_secs = 5").await;
    let address = h.url.trim_start_matches("http://").to_owned();
    let mut stalled = tokio::net::TcpStream::connect(&address).await.unwrap();
    stalled
        .write_all(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"model\": ",
        )
        .await
        .unwrap();
    let answer = closed_within(&mut stalled, Duration::from_secs(60))
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"request_timeout\""), "{text}");
    assert!(h.mock.calls().is_empty());
}

/// Before the fix, connections were unbounded (2,000 slow ones stayed open, an fd each).
#[tokio::test(start_paused = true)]
async fn connections_past_the_cap_wait_until_one_closes() {
    use tokio::io::AsyncWriteExt;
    let h = Harness::start("[server]\nmax_connections = 2\nheader_read_timeout_secs = 600").await;
    let address = h.url.trim_start_matches("http://").to_owned();
    let mut holders = Vec::new();
    for _ in 0..2 {
        let mut holder = tokio::net::TcpStream::connect(&address).await.unwrap();
        holder
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        holders.push(holder);
    }
    // Let the server accept both before the third arrives.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let third = h.client.get(format!("{}/healthz", h.url)).send();
    tokio::pin!(third);
    assert!(
        tokio::time::timeout(Duration::from_secs(30), &mut third)
            .await
            .is_err(),
        "the third connection waits while two are open"
    );
    drop(holders.pop());
    let served = tokio::time::timeout(Duration::from_secs(30), third).await;
    assert_eq!(served.unwrap().unwrap().status(), 200);
    assert!(metric(&h, "routewise_connections_at_limit_total").await >= 1.0);
}

/// Before the fix, a stream still running at the drain deadline left no log line: its
/// connection outlived the server.
#[tokio::test(start_paused = true)]
async fn a_stream_cut_at_the_drain_deadline_is_logged() {
    let config = |mock: &MockUpstream| {
        keyed_config(mock).replace(
            "[server.execution]",
            "[server]\nshutdown_grace_secs = 2\n[server.execution]",
        )
    };
    let (mut h, log) = Harness::start_logged(config, &keys).await;
    h.mock.script(
        "small-up",
        [Reply::text("one two three four five six seven eight")
            .chunk_every(Duration::from_secs(1))],
    );
    let mut response = h.chat(streamed("small", SIMPLE)).await;
    assert!(response.chunk().await.unwrap().is_some());
    h.shutdown();
    let served = tokio::time::timeout(Duration::from_secs(60), &mut h.server).await;
    assert!(matches!(served, Ok(Ok(Ok(())))), "{served:?}");
    let lines = h.log_lines(&log);
    assert_eq!(outcomes(&lines), ["client_disconnected"], "{lines:?}");
    assert!(lines[0]["completion_tokens"].as_u64().unwrap() > 0);
}
