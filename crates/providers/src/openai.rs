//! Any OpenAI-compatible endpoint: OpenAI, Azure-style proxies, vLLM, Ollama, Together, ...
//!
//! The request is forwarded as the client sent it (unknown fields included), with
//! `stream_options.include_usage` switched on for streams so that streamed calls can be costed.

use crate::ChunkStream;
use crate::client::{self, HttpClient};
use crate::transport;
use crate::{
    ApiKey, CallOptions, Provider, ProviderError, ProviderReply, ProviderSettings, Redactor,
};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use http::header::AUTHORIZATION;
use http::{HeaderName, HeaderValue, Uri};
use routewise_openai::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, StreamOptions};
use sse_stream::Sse;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::time::Instant;

/// A provider for an OpenAI-compatible `{base_url}/chat/completions`.
#[derive(Debug)]
pub struct OpenAiProvider {
    settings: ProviderSettings,
    client: HttpClient,
    endpoint: Uri,
    /// Sent with every request: the API key as a bearer token (or the URL's credentials),
    /// checked at construction.
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Masks the provider's key in every error built from upstream text.
    redactor: Redactor,
}

impl OpenAiProvider {
    pub fn new(settings: ProviderSettings) -> Result<Self, ProviderError> {
        let endpoint = transport::endpoint(&settings, "chat/completions")?;
        let client = HttpClient::new(&settings.name, &endpoint, settings.connect_timeout)?;
        let key = settings.api_key.as_ref().map(ApiKey::expose);
        let headers = client::authorization(&settings.name, key, &endpoint)?
            .map(|value| (AUTHORIZATION, value))
            .into_iter()
            .collect();
        let redactor = Redactor::new(key);
        Ok(Self {
            settings,
            client,
            endpoint: endpoint.uri,
            headers,
            redactor,
        })
    }

    async fn call(
        &self,
        mut request: ChatCompletionRequest,
        options: CallOptions,
    ) -> Result<ProviderReply, ProviderError> {
        let deadlines = options.deadlines;
        let started = Instant::now();
        let name = self.settings.name.as_str();
        let stream = request.is_stream();
        if stream {
            request
                .stream_options
                .get_or_insert_with(StreamOptions::default)
                .include_usage = Some(true);
        }
        let response = transport::post_json(
            name,
            &self.client,
            &self.endpoint,
            &request,
            &self.headers,
            &options,
            started,
        )
        .await?;
        if !stream {
            let completion: ChatCompletion =
                transport::read_json(name, response, deadlines, started).await?;
            return Ok(ProviderReply::Complete(completion));
        }
        let events = transport::sse_events(name, response, deadlines, started);
        Ok(ProviderReply::Stream(chunks(name, events, &self.redactor)))
    }
}

/// An OpenAI-compatible event stream as chunks: keep-alives skipped, in-stream errors and a
/// stream that ends unfinished reported, secrets masked.
pub(crate) fn chunks(
    provider: &str,
    events: BoxStream<'static, Result<Sse, ProviderError>>,
    redactor: &Redactor,
) -> ChunkStream {
    let ended = Arc::new(AtomicBool::new(false));
    let done = Arc::clone(&ended);
    let redactor = redactor.clone();
    let name = provider.to_owned();
    let chunks = events
        .filter_map(move |event| {
            let provider = name.clone();
            let done = Arc::clone(&done);
            let redactor = redactor.clone();
            async move {
                let event = match event {
                    Ok(event) => event,
                    Err(err) => return Some(Err(err.redacted(&redactor))),
                };
                chunk_of(&provider, event, &done).map(|r| r.map_err(|e| e.redacted(&redactor)))
            }
        })
        .boxed();
    transport::require_finish(provider, chunks, ended)
}

/// One server-sent event as a chunk: `None` for events that carry none (keep-alive comments,
/// `event: ping`, an empty `{}`, the `[DONE]` marker, which is noted in `done`); an error for
/// an in-stream `{"error": ...}` or a body that is no chunk.
fn chunk_of(
    provider: &str,
    event: Sse,
    done: &AtomicBool,
) -> Option<Result<ChatCompletionChunk, ProviderError>> {
    if event.event.as_deref().is_some_and(|kind| kind != "message") {
        return None;
    }
    let data = event.data?;
    let data = data.trim();
    if data == "[DONE]" {
        done.store(true, Ordering::Relaxed);
        return None;
    }
    if data.is_empty() || data == "{}" {
        return None;
    }
    Some(
        serde_json::from_str::<ChatCompletionChunk>(data).map_err(|err| {
            let value: Option<serde_json::Value> = serde_json::from_str(data).ok();
            match value.as_ref().and_then(|v| v.get("error")) {
                Some(error) => ProviderError::Status {
                    provider: provider.to_owned(),
                    status: 500,
                    retry_after: None,
                    message: error
                        .get("message")
                        .and_then(serde_json::Value::as_str)
                        .map_or_else(|| error.to_string(), str::to_owned),
                },
                None => ProviderError::InvalidResponse {
                    provider: provider.to_owned(),
                    detail: format!("stream chunk is not a chat completion chunk: {err}"),
                },
            }
        }),
    )
}

impl Provider for OpenAiProvider {
    fn name(&self) -> &str {
        &self.settings.name
    }

    fn chat(
        &self,
        request: ChatCompletionRequest,
        options: CallOptions,
    ) -> BoxFuture<'_, Result<ProviderReply, ProviderError>> {
        Box::pin(async move {
            self.call(request, options)
                .await
                .map_err(|err| err.redacted(&self.redactor))
        })
    }
}
