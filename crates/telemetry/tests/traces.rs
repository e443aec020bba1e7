//! One traced request with a retry and a fallback, exported to an OTLP/HTTP receiver in this
//! test: the span tree (request, decision, three upstream attempts) continues the caller's
//! `traceparent`, carries its attributes, and the upstream that answered got a `traceparent`
//! naming its attempt's span. Also: the request's log line carries the trace id.
#![expect(
    clippy::unwrap_used,
    reason = "test harness: a failure is a failed test"
)]

#[path = "../../gateway/tests/common/mod.rs"]
mod common;

use axum::Router;
use axum::routing::post;
use bytes::Bytes;
use common::{Harness, SIMPLE, ask, header};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use routewise_config::telemetry::TelemetryConfig;
use routewise_testkit::Reply;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tracing_subscriber::prelude::*;

type Received = Arc<Mutex<Vec<Span>>>;

/// An OTLP/HTTP trace receiver on port 0: what it was sent, decoded.
async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let store = Arc::clone(&received);
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let store = Arc::clone(&store);
            async move {
                let request = ExportTraceServiceRequest::decode(body).unwrap();
                for resource in request.resource_spans {
                    for scope in resource.scope_spans {
                        store.lock().unwrap().extend(scope.spans);
                    }
                }
                [("content-type", "application/x-protobuf")]
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

fn attributes(span: &Span) -> HashMap<String, String> {
    span.attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(s)) => s.clone(),
                Some(AnyValue::IntValue(i)) => i.to_string(),
                Some(AnyValue::BoolValue(b)) => b.to_string(),
                Some(AnyValue::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_and_fallen_back_request_exports_its_span_tree() {
    let (url, received) = receiver().await;
    let config = TelemetryConfig {
        traces_url: url,
        service_name: "routewise-test".to_owned(),
        sample_ratio: 1.0,
    };
    let (layer, tracing) = routewise_telemetry::layer(&config).unwrap();
    tracing_subscriber::registry().with(layer).init();

    let (h, log) = Harness::start_logged(
        |mock| {
            common::config_text(
                mock,
                "[server.execution]\nmax_retries = 1\nbackoff_base_ms = 1\nbackoff_max_ms = 2",
            )
        },
        &|_| None,
    )
    .await;
    h.mock
        .script("small-up", [Reply::status(503), Reply::status(503)]);
    let response = h
        .client
        .post(format!("{}/v1/chat/completions", h.url))
        .header("traceparent", format!("00-{TRACE}-{CALLER_SPAN}-01"))
        .json(&ask("auto", SIMPLE))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-routewise-model"), "large");

    let mut spans = Vec::new();
    for _ in 0..100 {
        tracing.flush();
        spans = received.lock().unwrap().clone();
        if spans.iter().any(|s| s.name == "chat") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let by_name = |name: &str| -> Vec<&Span> { spans.iter().filter(|s| s.name == name).collect() };
    let chat = *by_name("chat")
        .first()
        .unwrap_or_else(|| panic!("no chat span in {spans:?}"));
    assert_eq!(
        hex(&chat.trace_id),
        TRACE,
        "the caller's trace is continued"
    );
    assert_eq!(hex(&chat.parent_span_id), CALLER_SPAN);
    let chat_attributes = attributes(chat);
    assert_eq!(chat_attributes["http.response.status_code"], "200");
    assert!(chat_attributes.contains_key("routewise.request_id"));

    let route = by_name("route");
    assert_eq!(route.len(), 1);
    assert_eq!(route[0].parent_span_id, chat.span_id);
    let route_attributes = attributes(route[0]);
    assert_eq!(route_attributes["routewise.model"], "small");
    assert_eq!(route_attributes["routewise.policy"], "rules");

    let mut attempts: Vec<HashMap<String, String>> = by_name("upstream")
        .into_iter()
        .inspect(|s| {
            assert_eq!(
                s.parent_span_id, chat.span_id,
                "attempts are children of the request"
            )
        })
        .map(attributes)
        .collect();
    attempts.sort_by_key(|a| {
        (
            a["routewise.fallback"].clone(),
            a["routewise.attempt"].clone(),
        )
    });
    let summary: Vec<(&str, &str, &str, &str, &str)> = attempts
        .iter()
        .map(|a| {
            (
                a["routewise.model"].as_str(),
                a["routewise.attempt"].as_str(),
                a["routewise.retry"].as_str(),
                a["routewise.fallback"].as_str(),
                a["http.response.status_code"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("small", "1", "false", "false", "503"),
            ("small", "2", "true", "false", "503"),
            ("large", "1", "false", "true", "200"),
        ]
    );

    // The upstream that answered was told its attempt's span.
    let large_span = by_name("upstream")
        .into_iter()
        .find(|s| attributes(s)["routewise.model"] == "large")
        .unwrap();
    let calls = h.mock.calls_for("large-up");
    assert_eq!(
        calls[0].header("traceparent"),
        Some(format!("00-{TRACE}-{}-01", hex(&large_span.span_id)).as_str())
    );
    // And the log line names the trace.
    let line = h.log_lines(&log).pop().unwrap();
    assert_eq!(line["trace_id"], TRACE);
}
