//! Relaying an upstream stream to the client as OpenAI SSE, accounting for it when it ends.
//!
//! The usage chunk routewise asks upstreams for is passed on only if the client asked for it
//! too. A failure after the first chunk cannot fall back (the client already has bytes), so it
//! ends the stream with an OpenAI-shaped error event. A client that hangs up is accounted as
//! `client_disconnected` when the body is dropped.

use crate::account::Ledger;
use crate::auth::Caller;
use crate::shared::RateLimiter;
use axum::body::{Body, Bytes};
use futures::StreamExt;
use futures::stream;
use routewise_openai::{ApiError, ChatCompletionChunk};
use routewise_providers::ChunkStream;
use std::convert::Infallible;
use std::sync::Arc;

/// Finishes the ledger exactly once: at the end of the stream, or when the body is dropped.
struct Guard {
    ledger: Option<Ledger>,
    caller: Caller,
    limiter: Arc<dyn RateLimiter>,
}

impl Guard {
    fn finish(&mut self, outcome: &str, status: u16, error: Option<&str>) {
        if let Some(ledger) = self.ledger.take() {
            if let Some(usage) = ledger.usage() {
                self.caller
                    .charge_completion(self.limiter.as_ref(), usage.completion_tokens);
            }
            ledger.finish(outcome, status, error);
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.finish(
            "client_disconnected",
            499,
            Some("the client closed the stream"),
        );
    }
}

struct State {
    first: Option<ChatCompletionChunk>,
    rest: ChunkStream,
    include_usage: bool,
    guard: Guard,
    done: bool,
}

/// The SSE body: `first`, then `rest`, then `data: [DONE]`.
pub fn sse_body(
    first: ChatCompletionChunk,
    rest: ChunkStream,
    include_usage: bool,
    ledger: Ledger,
    caller: Caller,
    limiter: Arc<dyn RateLimiter>,
) -> Body {
    let state = State {
        first: Some(first),
        rest,
        include_usage,
        guard: Guard {
            ledger: Some(ledger),
            caller,
            limiter,
        },
        done: false,
    };
    let events = stream::unfold(state, |mut state| async move {
        if state.done {
            return None;
        }
        loop {
            let next = match state.first.take() {
                Some(first) => Some(Ok(first)),
                None => state.rest.next().await,
            };
            match next {
                Some(Ok(mut chunk)) => {
                    if let Some(usage) = chunk.usage.take() {
                        if let Some(ledger) = state.guard.ledger.as_mut() {
                            ledger.set_usage(Some(usage.clone()));
                        }
                        if state.include_usage {
                            chunk.usage = Some(usage);
                        } else if chunk.choices.is_empty() {
                            continue;
                        }
                    }
                    let event = match serde_json::to_string(&chunk) {
                        Ok(json) => format!("data: {json}\n\n"),
                        Err(_) => continue,
                    };
                    return Some((Ok::<_, Infallible>(Bytes::from(event)), state));
                }
                Some(Err(err)) => {
                    let message = format!("the upstream stream failed after it started: {err}");
                    let body = ApiError::new("api_error", Some("upstream_stream_error"), &message);
                    let event = format!(
                        "data: {}\n\n",
                        serde_json::to_string(&body).unwrap_or_default()
                    );
                    state.guard.finish("stream_error", 200, Some(&message));
                    state.done = true;
                    return Some((Ok(Bytes::from(event)), state));
                }
                None => {
                    state.guard.finish("ok", 200, None);
                    state.done = true;
                    return Some((Ok(Bytes::from_static(b"data: [DONE]\n\n")), state));
                }
            }
        }
    });
    Body::from_stream(events)
}
