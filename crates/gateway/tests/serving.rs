//! Serving: routing `auto` and explicit models, streaming, Anthropic translation, and every
//! client-facing error in OpenAI's shape.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a panic is a failed assertion"
)]

mod common;

use common::{HARD, Harness, SIMPLE, ask, header, sse_data, streamed_text, text_of};
use routewise_testkit::Reply;
use serde_json::{Value, json};

#[tokio::test]
async fn auto_routes_simple_and_hard_prompts_to_different_tiers() {
    let h = Harness::start("").await;
    let simple = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(simple.status(), 200);
    assert_eq!(header(&simple, "x-routewise-model"), "small");
    assert_eq!(header(&simple, "x-routewise-policy"), "rules");
    assert_eq!(header(&simple, "x-routewise-reason"), "rule:simple-task");
    assert!(!header(&simple, "x-routewise-request-id").is_empty());
    let body: Value = simple.json().await.unwrap();
    assert_eq!(text_of(&body), "reply from small-up");

    let hard = h.chat(ask("auto", HARD)).await;
    assert_eq!(header(&hard, "x-routewise-model"), "large");
    assert_eq!(
        header(&hard, "x-routewise-reason"),
        "rule:multi-step-reasoning"
    );
    assert_eq!(h.mock.calls_for("small-up").len(), 1);
    assert_eq!(h.mock.calls_for("large-up").len(), 1);
}

#[tokio::test]
async fn a_route_with_the_learned_policy_routes_by_the_model_file() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("router.json");
    common::write_learned_model(&model, "prove");
    let h = Harness::start(&format!(
        "[routing.learned]\nmodel = {model:?}\nthreshold = 0.5\n\
         [[server.routes]]\nname = \"smart\"\npolicy = \"learned\"\n",
        model = model.display().to_string()
    ))
    .await;
    let easy = h
        .chat(ask("smart", "Please name the fact number 7 of topic12"))
        .await;
    assert_eq!(easy.status(), 200);
    assert_eq!(header(&easy, "x-routewise-policy"), "learned");
    assert_eq!(header(&easy, "x-routewise-model"), "small");
    assert_eq!(header(&easy, "x-routewise-reason"), "learned:small");
    let hard = h
        .chat(ask("smart", "Please prove the fact number 7 of topic12"))
        .await;
    assert_eq!(header(&hard, "x-routewise-model"), "large");
    // `auto` keeps the configured rules.
    let auto = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(header(&auto, "x-routewise-policy"), "rules");
}

#[tokio::test]
async fn unknown_fields_reach_the_upstream_untouched() {
    let h = Harness::start("").await;
    let mut request = ask("auto", SIMPLE);
    request["temperature"] = json!(0.3);
    request["response_format"] = json!({"type": "json_object"});
    request["messages"][0]["name"] = json!("ana");
    assert_eq!(h.chat(request).await.status(), 200);
    let sent = &h.mock.calls_for("small-up")[0].body;
    assert_eq!(sent["temperature"], json!(0.3));
    assert_eq!(sent["response_format"], json!({"type": "json_object"}));
    assert_eq!(sent["messages"][0]["name"], json!("ana"));
}

#[tokio::test]
async fn an_explicit_model_is_honoured_and_accounted() {
    let h = Harness::start("").await;
    h.mock
        .script("large-up", [Reply::text("sure").with_usage(1000, 100)]);
    let response = h.chat(ask("large", SIMPLE)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-routewise-model"), "large");
    assert_eq!(header(&response, "x-routewise-policy"), "explicit");
    // 1000 * 2.50 / 1e6 + 100 * 10.00 / 1e6
    assert_eq!(header(&response, "x-routewise-cost-usd"), "0.00350000");
    assert!(h.mock.calls_for("small-up").is_empty());
}

#[tokio::test]
async fn streaming_end_to_end_with_and_without_usage() {
    let h = Harness::start("").await;
    let reply = Reply::text("bonjour tout le monde").with_usage(9, 4);
    h.mock.script("small-up", [reply.clone(), reply]);
    let mut request = ask("auto", SIMPLE);
    request["stream"] = json!(true);
    let response = h.chat(request.clone()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "content-type"), "text/event-stream");
    assert_eq!(header(&response, "x-routewise-model"), "small");
    let events = sse_data(&response.text().await.unwrap());
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(streamed_text(&events), "bonjour tout le monde");
    assert!(
        !events.iter().any(|e| e.contains("\"usage\"")),
        "usage is not sent to a client that did not ask: {events:?}"
    );
    assert_eq!(
        h.mock.calls_for("small-up")[0].body["stream_options"]["include_usage"],
        json!(true),
        "routewise asks the upstream for usage to cost the stream"
    );

    request["stream_options"] = json!({"include_usage": true});
    let events = sse_data(&h.chat(request).await.text().await.unwrap());
    let usage: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(usage["usage"]["completion_tokens"], json!(4));
}

#[tokio::test]
async fn anthropic_models_are_translated_both_ways() {
    let h = Harness::start("").await;
    h.mock.script(
        "claude-up",
        [Reply::text("hello from claude").with_usage(20, 3)],
    );
    let mut request = ask("claude", SIMPLE);
    request["messages"] = json!([
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": SIMPLE}
    ]);
    let response = h.chat(request.clone()).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(text_of(&body), "hello from claude");
    assert_eq!(body["usage"]["prompt_tokens"], json!(20));
    let call = &h.mock.calls_for("claude-up")[0];
    assert_eq!(call.path, "/v1/messages");
    assert_eq!(call.body["system"], "be brief");
    assert_eq!(call.body["max_tokens"], json!(4096));

    request["stream"] = json!(true);
    let response = h.chat(request).await;
    assert_eq!(response.status(), 200);
    let events = sse_data(&response.text().await.unwrap());
    assert_eq!(streamed_text(&events), "reply from claude-up");
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
}

async fn error_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let h = Harness::start("").await;
    let response = h
        .client
        .post(format!("{}/v1/chat/completions", h.url))
        .header("content-type", "application/json")
        .body("{\"model\": \"auto\", \"messages\": [")
        .send()
        .await
        .unwrap();
    let (status, body) = error_of(response).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], "invalid_json");
}

#[tokio::test]
async fn empty_messages_and_unknown_roles_are_400s() {
    let h = Harness::start("").await;
    let (status, body) = error_of(h.chat(json!({"model": "auto", "messages": []})).await).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "messages");
    let (status, body) = error_of(
        h.chat(json!({"model": "auto", "messages": [{"role": "wizard", "content": "x"}]}))
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("wizard")
    );
}

#[tokio::test]
async fn an_oversized_body_is_a_413() {
    let h = Harness::start("[server]\nmax_body_bytes = 1024").await;
    let (status, body) = error_of(h.chat(ask("auto", &"word ".repeat(1000))).await).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "request_too_large");
    assert!(h.mock.calls().is_empty());
}

#[tokio::test]
async fn an_unknown_model_is_a_404_listing_what_exists() {
    let h = Harness::start("").await;
    let (status, body) = error_of(h.chat(ask("gpt-9", SIMPLE)).await).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "model_not_found");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("gpt-9") && message.contains("auto") && message.contains("claude"));
}

#[tokio::test]
async fn garbage_and_dropped_connections_are_clear_502s() {
    let h = Harness::start("[server.execution]\nmax_retries = 0").await;
    h.mock.script(
        "small-up",
        [
            Reply::garbage("<html>oops</html>"),
            Reply::drop_connection(0),
        ],
    );
    let (status, body) = error_of(h.chat(ask("small", SIMPLE)).await).await;
    assert_eq!(status, 502);
    assert_eq!(body["error"]["code"], "upstream_unavailable");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid"),
        "{body}"
    );
    let (status, body) = error_of(h.chat(ask("small", SIMPLE)).await).await;
    assert_eq!(status, 502);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("dropped"),
        "{body}"
    );
}

#[tokio::test]
async fn models_health_readiness_and_metrics() {
    let h = Harness::start("").await;
    let models: Value = h
        .client
        .get(format!("{}/v1/models", h.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids, ["auto", "small", "large", "claude"]);
    for path in ["/healthz", "/readyz"] {
        let response = h
            .client
            .get(format!("{}{path}", h.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
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
    for name in [
        "routewise_requests_total",
        "routewise_routing_decisions_total",
        "routewise_cost_usd_total",
        "routewise_baseline_cost_usd_total",
        "routewise_tokens_total",
        "routewise_overhead_duration_seconds_bucket",
        "routewise_upstream_duration_seconds_bucket",
        "routewise_request_duration_seconds_bucket",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
    let response = h
        .client
        .get(format!("{}/nope", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}
