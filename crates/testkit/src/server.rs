//! The mock server: routes, per-model reply queues, the call log, and fault injection.

use crate::faults::FaultMix;
use crate::reply::{Reply, ReplyKind};
use crate::wire;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use axum::serve::ListenerExt;
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One call the mock received.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// `/v1/chat/completions` or `/v1/messages`.
    pub path: String,
    /// The `model` of the request body (empty when the body was not JSON).
    pub model: String,
    /// The request body as JSON (`Null` when it was not JSON).
    pub body: Value,
    /// Request headers, names lower-case.
    pub headers: Vec<(String, String)>,
}

impl Call {
    /// The value of a request header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
struct Shared {
    scripts: Mutex<HashMap<String, VecDeque<Reply>>>,
    calls: Mutex<Vec<Call>>,
    /// Whether to keep the call log; the load benchmark turns it off so memory stays flat.
    record: bool,
    /// Faults for calls with no scripted reply, and how many such calls there have been.
    faults: FaultMix,
    unscripted: AtomicU64,
}

/// A running mock upstream; it stops when dropped.
#[derive(Debug)]
pub struct MockUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    OpenAi,
    Anthropic,
}

impl MockUpstream {
    /// Starts a mock on an ephemeral loopback port, recording every call.
    pub async fn start() -> io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), true).await
    }

    /// Starts a mock on `addr`; with `record = false` the call log stays empty (long runs).
    pub async fn start_on(addr: SocketAddr, record: bool) -> io::Result<Self> {
        Self::start_with(addr, record, FaultMix::default()).await
    }

    /// Starts a mock on `addr` that also fails the calls it has no script for with `faults`.
    pub async fn start_with(addr: SocketAddr, record: bool, faults: FaultMix) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            record,
            faults,
            ..Shared::default()
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(openai))
            .route("/v1/messages", post(anthropic))
            .with_state(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            // The mock lives as long as its handle; a serve error ends it, and tests then see
            // connection errors, which is the failure they would be testing anyway.
            let listener = listener.tap_io(|tcp| {
                // Without TCP_NODELAY small responses wait for delayed ACKs (~40 ms each).
                let _ = tcp.set_nodelay(true);
            });
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, shared, task })
    }

    /// The socket address the mock listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to configure as a provider's `base_url`: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queues replies for calls naming `model` (the upstream model name); they are used in order,
    /// then the default reply resumes.
    pub fn script(&self, model: &str, replies: impl IntoIterator<Item = Reply>) {
        let mut scripts = self
            .shared
            .scripts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        scripts.entry(model.to_owned()).or_default().extend(replies);
    }

    /// Every call so far, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        self.shared
            .calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The calls that named `model`.
    pub fn calls_for(&self, model: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.model == model)
            .collect()
    }
}

impl Drop for MockUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn openai(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    answer(&shared, Api::OpenAi, &headers, &body).await
}

async fn anthropic(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    answer(&shared, Api::Anthropic, &headers, &body).await
}

async fn answer(shared: &Shared, api: Api, headers: &HeaderMap, body: &[u8]) -> Response {
    let request: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if shared.record {
        record_call(shared, api, &model, &request, headers);
    }
    if request.is_null() {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({"error": {"message": "mock: body is not JSON", "type": "invalid_request_error"}}),
        );
    }
    let stream = request
        .get("stream")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let reply = next_reply(shared, &model, stream);
    if !reply.header_delay.is_zero() {
        tokio::time::sleep(reply.header_delay).await;
    }
    let delay = reply.chunk_delay;
    match reply.kind {
        ReplyKind::Text { content, usage } => {
            let keepalives = reply.keepalives;
            text_reply(
                api,
                &model,
                &request,
                stream,
                (content, usage),
                keepalives,
                delay,
            )
        }
        ReplyKind::Status {
            status,
            retry_after_secs,
        } => status_reply(api, status, retry_after_secs),
        ReplyKind::Garbage(text) => Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(text))
            .unwrap_or_default(),
        ReplyKind::Truncate { after_chunks } => {
            let events = stream_events(
                api,
                &model,
                "this answer is cut short by the upstream before it ends",
                (1, 1),
                false,
                Some(after_chunks),
            );
            sse_response(paced(events, delay, false))
        }
        ReplyKind::EchoHeaders { status } => {
            echo_reply(api, &model, headers, stream, status, delay)
        }
        ReplyKind::Drop { after_chunks } => drop_reply(api, &model, stream, after_chunks, delay),
    }
}

fn record_call(shared: &Shared, api: Api, model: &str, request: &Value, headers: &HeaderMap) {
    let call = Call {
        path: match api {
            Api::OpenAi => "/v1/chat/completions".to_owned(),
            Api::Anthropic => "/v1/messages".to_owned(),
        },
        model: model.to_owned(),
        body: request.clone(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
    };
    shared
        .calls
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(call);
}

/// The model's next scripted reply, else the fault mix's draw for this call, else a text.
fn next_reply(shared: &Shared, model: &str, stream: bool) -> Reply {
    let scripted = shared
        .scripts
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_mut(model)
        .and_then(VecDeque::pop_front);
    scripted.unwrap_or_else(|| {
        let n = shared.unscripted.fetch_add(1, Ordering::Relaxed);
        shared
            .faults
            .fault_for(n, stream)
            .unwrap_or_else(|| Reply::text(format!("reply from {model}")))
    })
}

fn text_reply(
    api: Api,
    model: &str,
    request: &Value,
    stream: bool,
    (content, usage): (String, Option<(u64, u64)>),
    keepalives: bool,
    delay: Duration,
) -> Response {
    let usage = wire::usage_for(request, &content, usage);
    match (api, stream) {
        (Api::OpenAi, false) => json_response(
            StatusCode::OK,
            &wire::openai_completion(model, &content, usage),
        ),
        (Api::Anthropic, false) => json_response(
            StatusCode::OK,
            &wire::anthropic_message(model, &content, usage),
        ),
        (api, true) => {
            let include_usage = request
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let mut events = stream_events(api, model, &content, usage, include_usage, None);
            if keepalives {
                events = with_keepalives(events);
            }
            sse_response(paced(events, delay, false))
        }
    }
}

fn status_reply(api: Api, status: u16, retry_after_secs: Option<u64>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = match api {
        Api::OpenAi => wire::openai_error(status),
        Api::Anthropic => wire::anthropic_error(status),
    };
    let mut response = json_response(code, &body);
    if let Some(secs) = retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    response
}

/// Quotes the request's headers back, as some upstreams and proxies do in their errors.
fn echo_reply(
    api: Api,
    model: &str,
    headers: &HeaderMap,
    stream: bool,
    status: u16,
    delay: Duration,
) -> Response {
    let quoted: Vec<String> = headers
        .iter()
        .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap_or("")))
        .collect();
    let message = format!("mock echo of your request headers: {}", quoted.join("; "));
    if stream {
        let mut events = stream_events(api, model, "one chunk", (1, 1), false, Some(1));
        events.push(match api {
            Api::OpenAi => format!(
                "data: {}\n\n",
                json!({"error": {"message": message, "type": "server_error"}})
            ),
            Api::Anthropic => wire::anthropic_event(&json!({"type": "error",
                "error": {"type": "api_error", "message": message}})),
        });
        sse_response(paced(events, delay, false))
    } else {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
        let body = json!({"error": {"message": message, "type": "invalid_request_error",
            "headers": quoted}});
        json_response(code, &body)
    }
}

fn drop_reply(
    api: Api,
    model: &str,
    stream: bool,
    after_chunks: usize,
    delay: Duration,
) -> Response {
    if stream {
        let events = stream_events(
            api,
            model,
            "this stream breaks off before it ends",
            (1, 1),
            false,
            Some(after_chunks),
        );
        sse_response(paced(events, delay, true))
    } else {
        let partial: BoxStream<'static, io::Result<Bytes>> = stream::iter(vec![
            Ok(Bytes::from_static(b"{\"id\": \"chatcmpl-mo")),
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "mock drop")),
        ])
        .boxed();
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from_stream(partial))
            .unwrap_or_default()
    }
}

/// The SSE events of a streamed text reply; `cut_after` keeps only the opening and that many
/// content events (a stream that will break off).
fn stream_events(
    api: Api,
    model: &str,
    content: &str,
    usage: (u64, u64),
    include_usage: bool,
    cut_after: Option<usize>,
) -> Vec<String> {
    let pieces = wire::pieces(content);
    let keep = cut_after.unwrap_or(pieces.len()).min(pieces.len());
    let mut events = Vec::with_capacity(keep + 6);
    match api {
        Api::OpenAi => {
            for (i, piece) in pieces.iter().take(keep).enumerate() {
                let delta = if i == 0 {
                    json!({"role": "assistant", "content": piece})
                } else {
                    json!({"content": piece})
                };
                events.push(wire::openai_chunk(model, delta, None));
            }
            if cut_after.is_none() {
                events.push(wire::openai_chunk(model, json!({}), Some("stop")));
                if include_usage {
                    events.push(wire::openai_usage_chunk(model, usage));
                }
                events.push("data: [DONE]\n\n".to_owned());
            }
        }
        Api::Anthropic => {
            let mut start = wire::anthropic_message(model, "", (usage.0, 1));
            start["content"] = json!([]);
            start["stop_reason"] = Value::Null;
            events.push(wire::anthropic_event(
                &json!({"type": "message_start", "message": start}),
            ));
            events.push(wire::anthropic_event(
                &json!({"type": "content_block_start",
                "index": 0, "content_block": {"type": "text", "text": ""}}),
            ));
            for piece in pieces.iter().take(keep) {
                events.push(wire::anthropic_event(
                    &json!({"type": "content_block_delta",
                    "index": 0, "delta": {"type": "text_delta", "text": piece}}),
                ));
            }
            if cut_after.is_none() {
                events.push(wire::anthropic_event(
                    &json!({"type": "content_block_stop", "index": 0}),
                ));
                events.push(wire::anthropic_event(&json!({"type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                    "usage": {"output_tokens": usage.1}})));
                events.push(wire::anthropic_event(&json!({"type": "message_stop"})));
            }
        }
    }
    events
}

/// Adds events that carry no chunk before every event: a comment, a ping, an empty object.
fn with_keepalives(events: Vec<String>) -> Vec<String> {
    let mut noisy = Vec::with_capacity(events.len() * 2);
    for (i, event) in events.into_iter().enumerate() {
        noisy.push(match i % 3 {
            0 => ": keep-alive\n\n".to_owned(),
            1 => "event: ping\ndata: {}\n\n".to_owned(),
            _ => "data: {}\n\n".to_owned(),
        });
        noisy.push(event);
    }
    noisy
}

/// Emits events with `delay` before each one after the first, then optionally fails the body so
/// the connection drops.
fn paced(
    events: Vec<String>,
    delay: Duration,
    fail_at_end: bool,
) -> BoxStream<'static, io::Result<Bytes>> {
    let body = stream::iter(events.into_iter().enumerate()).then(move |(i, event)| async move {
        if i > 0 && !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        Ok::<_, io::Error>(Bytes::from(event))
    });
    if fail_at_end {
        // Pause before failing too, so the chunks already sent are flushed to the client
        // rather than lost with the connection.
        body.chain(stream::once(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "mock drop"))
        }))
        .boxed()
    } else {
        body.boxed()
    }
}

fn sse_response(body: BoxStream<'static, io::Result<Bytes>>) -> Response {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_default()
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}
