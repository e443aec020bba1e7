//! HTTP plumbing shared by the providers: requests, deadlines, status mapping, SSE decoding.

use crate::client::{self, Endpoint, HttpClient};
use crate::{CallOptions, Deadlines, ProviderError, ProviderSettings, TimeoutPhase};
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::{self, BoxStream};
use http::header::{ACCEPT, CONTENT_TYPE, LOCATION};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sse_stream::{Sse, SseStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// The W3C trace-context header.
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Longest upstream error message kept in a [`ProviderError`]; upstream bodies can be large.
const MAX_ERROR_MESSAGE: usize = 512;

/// The URL of `path` under the provider's base URL, parsed once at construction.
pub(crate) fn endpoint(settings: &ProviderSettings, path: &str) -> Result<Endpoint, ProviderError> {
    let text = format!("{}/{path}", settings.base_url.trim_end_matches('/'));
    client::parse_url(&settings.name, &text)
}

/// A JSON `POST` to `uri` with the provider's fixed headers (checked at construction) and the
/// call's `traceparent`.
pub(crate) fn json_post(
    uri: &Uri,
    body: Vec<u8>,
    headers: &[(HeaderName, HeaderValue)],
    traceparent: Option<&str>,
) -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::new(Bytes::from(body)));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri.clone();
    let map = request.headers_mut();
    map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // What reqwest sent, which some proxies in front of model servers expect.
    map.insert(ACCEPT, HeaderValue::from_static("*/*"));
    for (name, value) in headers {
        map.insert(name, value.clone());
    }
    // routewise builds the value itself, well-formed; should one ever not be a valid header,
    // the call goes untraced rather than failing.
    if let Some(value) = traceparent.and_then(|value| HeaderValue::from_str(value).ok()) {
        map.insert(TRACEPARENT, value);
    }
    request
}

/// Serialises `body` and sends it as [`json_post`] builds it, through [`send`].
pub(crate) async fn post_json(
    provider: &str,
    client: &HttpClient,
    uri: &Uri,
    body: &impl Serialize,
    headers: &[(HeaderName, HeaderValue)],
    options: &CallOptions,
    started: Instant,
) -> Result<Response<Incoming>, ProviderError> {
    let body = serde_json::to_vec(body).map_err(|err| ProviderError::Request {
        provider: provider.to_owned(),
        detail: format!("cannot serialise the request: {err}"),
    })?;
    let request = json_post(uri, body, headers, options.traceparent.as_deref());
    send(provider, client, request, options.deadlines, started).await
}

/// Sends `request`, waiting at most `deadlines.first_byte` for the response headers, and turns
/// any non-2xx answer into [`ProviderError::Status`].
pub(crate) async fn send(
    provider: &str,
    client: &HttpClient,
    request: Request<Full<Bytes>>,
    deadlines: Deadlines,
    started: Instant,
) -> Result<Response<Incoming>, ProviderError> {
    let response = match tokio::time::timeout(deadlines.first_byte, client.send(request)).await {
        Err(_) => {
            return Err(ProviderError::Timeout {
                provider: provider.to_owned(),
                phase: TimeoutPhase::FirstByte,
                limit: deadlines.first_byte,
            });
        }
        Ok(Err(err)) if err.is_connect() => {
            return Err(ProviderError::Connect {
                provider: provider.to_owned(),
                detail: error_chain(&err),
            });
        }
        Ok(Err(err)) => {
            return Err(ProviderError::Dropped {
                provider: provider.to_owned(),
                detail: error_chain(&err),
            });
        }
        Ok(Ok(response)) => response,
    };
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = retry_after(response.headers());
    let moved_to = status
        .is_redirection()
        .then(|| response.headers().get(LOCATION))
        .flatten()
        .map(|location| String::from_utf8_lossy(location.as_bytes()).into_owned());
    let body = tokio::time::timeout_at(started + deadlines.total, read_body(response))
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let message = match moved_to {
        // Upstream APIs do not redirect a POST; a base URL that does is the one to fix.
        Some(location) => format!(
            "the upstream redirects to `{location}`, which routewise does not follow: set the \
             provider's base_url to where it points"
        ),
        None => error_message(&body),
    };
    Err(ProviderError::Status {
        provider: provider.to_owned(),
        status: status.as_u16(),
        retry_after,
        message,
    })
}

async fn read_body(response: Response<Incoming>) -> Result<Bytes, hyper::Error> {
    Ok(response.into_body().collect().await?.to_bytes())
}

/// Reads and decodes a JSON body before the total deadline.
pub(crate) async fn read_json<T: DeserializeOwned>(
    provider: &str,
    response: Response<Incoming>,
    deadlines: Deadlines,
    started: Instant,
) -> Result<T, ProviderError> {
    let body = match tokio::time::timeout_at(started + deadlines.total, read_body(response)).await {
        Err(_) => {
            return Err(ProviderError::Timeout {
                provider: provider.to_owned(),
                phase: TimeoutPhase::Total,
                limit: deadlines.total,
            });
        }
        Ok(Err(err)) => {
            return Err(ProviderError::Dropped {
                provider: provider.to_owned(),
                detail: error_chain(&err),
            });
        }
        Ok(Ok(body)) => body,
    };
    serde_json::from_slice(&body).map_err(|err| ProviderError::InvalidResponse {
        provider: provider.to_owned(),
        detail: format!("{err} (body starts with {:?})", preview(&body)),
    })
}

/// The server-sent events of a streamed body, ending with a [`TimeoutPhase::Total`] error if the
/// deadline passes first.
pub(crate) fn sse_events(
    provider: &str,
    response: Response<Incoming>,
    deadlines: Deadlines,
    started: Instant,
) -> BoxStream<'static, Result<Sse, ProviderError>> {
    let provider = provider.to_owned();
    let events = SseStream::new(response.into_body()).boxed();
    let deadline = Box::pin(tokio::time::sleep_until(started + deadlines.total));
    stream::unfold(
        Some((events, deadline, provider)),
        move |state| async move {
            let (mut events, mut deadline, provider) = state?;
            tokio::select! {
                () = &mut deadline => Some((
                    Err(ProviderError::Timeout {
                        provider,
                        phase: TimeoutPhase::Total,
                        limit: deadlines.total,
                    }),
                    None,
                )),
                next = events.next() => match next {
                    None => None,
                    Some(Ok(event)) => Some((Ok(event), Some((events, deadline, provider)))),
                    Some(Err(err)) => Some((
                        Err(ProviderError::Dropped {
                            provider,
                            detail: format!("the event stream broke off: {err}"),
                        }),
                        None,
                    )),
                },
            }
        },
    )
    .boxed()
}

/// Ends a chunk stream with an error when the upstream closed it before the answer finished:
/// no chunk carried a `finish_reason` and the protocol's end marker (set in `ended` by the
/// parser: OpenAI's `[DONE]`, Anthropic's `message_stop`) never came. Relaying such a stream
/// as complete would hand the client half an answer as a normal completion.
pub(crate) fn require_finish(
    provider: &str,
    chunks: crate::ChunkStream,
    ended: Arc<AtomicBool>,
) -> crate::ChunkStream {
    let provider = provider.to_owned();
    stream::unfold(
        Some((chunks, false, ended, provider)),
        |state| async move {
            let (mut chunks, mut finished, ended, provider) = state?;
            match chunks.next().await {
                Some(Ok(chunk)) => {
                    finished |= chunk.choices.iter().any(|c| c.finish_reason.is_some());
                    Some((Ok(chunk), Some((chunks, finished, ended, provider))))
                }
                Some(Err(err)) => Some((Err(err), None)),
                None if finished || ended.load(Ordering::Relaxed) => None,
                None => Some((
                    Err(ProviderError::Dropped {
                        provider,
                        detail: "the stream ended before the answer was finished (no finish_reason and no end-of-stream marker)".to_owned(),
                    }),
                    None,
                )),
            }
        },
    )
    .boxed()
}

/// `retry-after-ms` (OpenAI) or `Retry-After` in seconds.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let number = |name: &str| -> Option<f64> {
        headers
            .get(name)?
            .to_str()
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
    };
    number("retry-after-ms")
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .or_else(|| number("retry-after").map(Duration::from_secs_f64))
}

/// The upstream's own error message (`error.message` in both OpenAI's and Anthropic's bodies),
/// else the start of the body.
fn error_message(body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/message"))
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| preview(body));
    message.chars().take(MAX_ERROR_MESSAGE).collect()
}

fn preview(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned()
}

/// The error and its sources, so "error sending request" says why.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn retry_after_prefers_milliseconds() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert("retry-after-ms", HeaderValue::from_static("250"));
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
        headers.insert("retry-after-ms", HeaderValue::from_static("-1"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
    }

    #[test]
    fn error_message_reads_both_shapes_and_falls_back_to_the_body() {
        assert_eq!(
            error_message(br#"{"error": {"message": "slow down"}}"#),
            "slow down"
        );
        assert_eq!(
            error_message(br#"{"type": "error", "error": {"type": "x", "message": "busy"}}"#),
            "busy"
        );
        assert_eq!(error_message(b"<html>bad gateway"), "<html>bad gateway");
    }
}
