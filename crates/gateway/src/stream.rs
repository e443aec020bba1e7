//! Relaying an upstream stream to the client as OpenAI SSE, accounting for it when it ends.
//!
//! The usage chunk routewise asks upstreams for is passed on only if the client asked for it
//! too. A failure after the first chunk cannot fall back (the client already has bytes), so it
//! ends the stream with an OpenAI-shaped error event, and is accounted as `stream_error`; so is
//! an upstream stream that ends before its answer finished (the provider reports it as an
//! error rather than let it pass as complete). A client that hangs up is accounted as
//! `client_disconnected` when the body is dropped. Whenever the upstream's usage never
//! arrived, the tokens delivered so far are counted by routewise and marked as estimated.

use crate::account::Ledger;
use crate::auth::Caller;
use crate::shared::RateLimiter;
use axum::body::{Body, Bytes};
use futures::StreamExt;
use futures::stream;
use routewise_core::tokens::TokenCounter;
use routewise_openai::{ApiError, ChatCompletionChunk, Usage};
use routewise_providers::ChunkStream;
use std::convert::Infallible;
use std::sync::Arc;

/// What a stream needs besides its chunks.
pub struct StreamContext {
    pub include_usage: bool,
    pub caller: Caller,
    pub limiter: Arc<dyn RateLimiter>,
    /// Counts delivered tokens when the upstream reports no usage.
    pub tokens: TokenCounter,
}

impl std::fmt::Debug for StreamContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamContext")
            .field("include_usage", &self.include_usage)
            .field("caller", &self.caller)
            .finish_non_exhaustive()
    }
}

/// Finishes the ledger exactly once: at the end of the stream, or when the body is dropped.
struct Guard {
    ledger: Option<Ledger>,
    context: StreamContext,
    /// The answer text delivered so far, to count when no usage arrives.
    delivered: String,
}

impl Guard {
    fn finish(&mut self, outcome: &str, status: u16, error: Option<&str>) {
        let Some(mut ledger) = self.ledger.take() else {
            return;
        };
        if ledger.usage().is_none() {
            let prompt = ledger.prompt_tokens().unwrap_or(0);
            let completion = u64::from(self.context.tokens.count(&self.delivered));
            ledger.set_estimated_usage(Usage::new(prompt, completion));
        }
        if let Some(usage) = ledger.usage() {
            self.context
                .caller
                .charge_completion(self.context.limiter.as_ref(), usage.completion_tokens);
        }
        ledger.finish(outcome, status, error);
    }

    fn deliver(&mut self, chunk: &ChatCompletionChunk) {
        for choice in &chunk.choices {
            if let Some(text) = &choice.delta.content {
                self.delivered.push_str(text);
            }
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
    guard: Guard,
    done: bool,
}

/// `data: {chunk}\n\n`, serialised straight into the event's buffer (one allocation, no copy).
fn sse_event(chunk: &ChatCompletionChunk) -> Option<Bytes> {
    let mut event = Vec::with_capacity(256);
    event.extend_from_slice(b"data: ");
    serde_json::to_writer(&mut event, chunk).ok()?;
    event.extend_from_slice(b"\n\n");
    Some(Bytes::from(event))
}

/// The SSE body: `first`, then `rest`, then `data: [DONE]`, or an error event when the
/// upstream fails or cuts the stream short.
pub fn sse_body(
    first: ChatCompletionChunk,
    rest: ChunkStream,
    ledger: Ledger,
    context: StreamContext,
) -> Body {
    let state = State {
        first: Some(first),
        rest,
        guard: Guard {
            ledger: Some(ledger),
            context,
            delivered: String::new(),
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
                        if state.guard.context.include_usage {
                            chunk.usage = Some(usage);
                        } else if chunk.choices.is_empty() {
                            continue;
                        }
                    }
                    let Some(event) = sse_event(&chunk) else {
                        continue;
                    };
                    state.guard.deliver(&chunk);
                    return Some((Ok::<_, Infallible>(event), state));
                }
                Some(Err(err)) => {
                    let mut message = format!("the upstream stream failed after it started: {err}");
                    if let Some(ledger) = &state.guard.ledger {
                        ledger.redactor().redact_in_place(&mut message);
                    }
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
