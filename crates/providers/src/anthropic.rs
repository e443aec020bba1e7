//! Anthropic's Messages API behind the OpenAI contract: requests, responses and streams are
//! translated both ways (see [`translate`]).

pub mod translate;

pub use translate::DEFAULT_MAX_TOKENS;

use crate::ChunkStream;
use crate::client::{self, HttpClient};
use crate::transport;
use crate::{
    ApiKey, CallOptions, Provider, ProviderError, ProviderReply, ProviderSettings, Redactor,
};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream;
use futures::stream::BoxStream;
use http::header::AUTHORIZATION;
use http::{HeaderName, HeaderValue, Uri};
use routewise_openai::ChatCompletionRequest;
use routewise_openai::anthropic::{MessagesResponse, StreamEvent};
use sse_stream::Sse;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::time::Instant;
use translate::StreamTranslator;

/// The Messages API version routewise speaks.
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// A provider for `{base_url}/messages`.
#[derive(Debug)]
pub struct AnthropicProvider {
    settings: ProviderSettings,
    client: HttpClient,
    endpoint: Uri,
    /// Sent with every request, checked at construction: the API version, the API key, and the
    /// URL's credentials as basic auth (for a server behind a proxy that asks for them).
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Masks the provider's key in every error built from upstream text.
    redactor: Redactor,
}

impl AnthropicProvider {
    pub fn new(settings: ProviderSettings) -> Result<Self, ProviderError> {
        let endpoint = transport::endpoint(&settings, "messages")?;
        let client = HttpClient::new(&settings.name, &endpoint, settings.connect_timeout)?;
        let key = settings.api_key.as_ref().map(ApiKey::expose);
        let mut headers = vec![(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(ANTHROPIC_VERSION),
        )];
        if let Some(key) = key {
            let value = client::secret_header(&settings.name, "x-api-key", key)?;
            headers.push((HeaderName::from_static("x-api-key"), value));
        }
        if let Some(basic_auth) = endpoint.basic_auth {
            headers.push((AUTHORIZATION, basic_auth));
        }
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
        request: ChatCompletionRequest,
        options: CallOptions,
    ) -> Result<ProviderReply, ProviderError> {
        let deadlines = options.deadlines;
        let started = Instant::now();
        let name = self.settings.name.as_str();
        let body =
            translate::to_messages_request(&request).map_err(|detail| ProviderError::Request {
                provider: name.to_owned(),
                detail,
            })?;
        let response = transport::post_json(
            name,
            &self.client,
            &self.endpoint,
            &body,
            &self.headers,
            &options,
            started,
        )
        .await?;
        let created = unix_now();
        if !request.is_stream() {
            let message: MessagesResponse =
                transport::read_json(name, response, deadlines, started).await?;
            return Ok(ProviderReply::Complete(translate::to_chat_completion(
                message, created,
            )));
        }
        let events = transport::sse_events(name, response, deadlines, started);
        Ok(ProviderReply::Stream(chunks(
            name,
            events,
            &self.redactor,
            created,
        )))
    }
}

/// A Messages API event stream as OpenAI chunks: keep-alives skipped, in-stream errors and a
/// stream that ends unfinished reported, secrets masked.
pub(crate) fn chunks(
    provider: &str,
    events: BoxStream<'static, Result<Sse, ProviderError>>,
    redactor: &Redactor,
    created: u64,
) -> ChunkStream {
    let name = provider.to_owned();
    let mut translator = StreamTranslator::new(created);
    let ended = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&ended);
    let redactor = redactor.clone();
    let chunks = events
        .flat_map(move |event| {
            let translated = event.and_then(|event| {
                let Some(data) = event.data else {
                    return Ok(Vec::new());
                };
                if data.trim().is_empty() || data.trim() == "{}" {
                    return Ok(Vec::new());
                }
                let event: StreamEvent =
                    serde_json::from_str(&data).map_err(|err| ProviderError::InvalidResponse {
                        provider: name.clone(),
                        detail: format!("stream event is not a Messages API event: {err}"),
                    })?;
                if matches!(event, StreamEvent::MessageStop) {
                    stopped.store(true, Ordering::Relaxed);
                }
                translator
                    .translate(event)
                    .map_err(|err| ProviderError::Status {
                        provider: name.clone(),
                        // An in-stream error is what the upstream would have sent as a 5xx had
                        // it known before the headers; `overloaded_error` is Anthropic's 529.
                        status: if err.kind == "overloaded_error" {
                            529
                        } else {
                            500
                        },
                        retry_after: None,
                        message: err.message,
                    })
            });
            match translated {
                Ok(chunks) => stream::iter(chunks.into_iter().map(Ok).collect::<Vec<_>>()),
                Err(err) => stream::iter(vec![Err(err.redacted(&redactor))]),
            }
        })
        .boxed();
    transport::require_finish(provider, chunks, ended)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl Provider for AnthropicProvider {
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
