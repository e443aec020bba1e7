//! Any OpenAI-compatible endpoint: OpenAI, Azure-style proxies, vLLM, Ollama, Together, ...
//!
//! The request is forwarded as the client sent it (unknown fields included), with
//! `stream_options.include_usage` switched on for streams so that streamed calls can be costed.

use crate::transport;
use crate::{Deadlines, Provider, ProviderError, ProviderReply, ProviderSettings};
use futures::StreamExt;
use futures::future::BoxFuture;
use routewise_openai::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, StreamOptions};
use tokio::time::Instant;

/// A provider for an OpenAI-compatible `{base_url}/chat/completions`.
#[derive(Debug)]
pub struct OpenAiProvider {
    settings: ProviderSettings,
    client: reqwest::Client,
    endpoint: reqwest::Url,
}

impl OpenAiProvider {
    pub fn new(settings: ProviderSettings) -> Result<Self, ProviderError> {
        let client = transport::build_client(&settings)?;
        let endpoint = transport::endpoint(&settings, "chat/completions")?;
        Ok(Self {
            settings,
            client,
            endpoint,
        })
    }

    async fn call(
        &self,
        mut request: ChatCompletionRequest,
        deadlines: Deadlines,
    ) -> Result<ProviderReply, ProviderError> {
        let started = Instant::now();
        let name = self.settings.name.as_str();
        let stream = request.is_stream();
        if stream {
            request
                .stream_options
                .get_or_insert_with(StreamOptions::default)
                .include_usage = Some(true);
        }
        let mut builder = self.client.post(self.endpoint.clone()).json(&request);
        if let Some(key) = &self.settings.api_key {
            builder = builder.bearer_auth(key.expose());
        }
        let response = transport::send(name, builder, deadlines, started).await?;
        if !stream {
            let completion: ChatCompletion =
                transport::read_json(name, response, deadlines, started).await?;
            return Ok(ProviderReply::Complete(completion));
        }
        let provider = name.to_owned();
        let chunks = transport::sse_events(name, response, deadlines, started)
            .filter_map(move |event| {
                let provider = provider.clone();
                async move {
                    let event = match event {
                        Ok(event) => event,
                        Err(err) => return Some(Err(err)),
                    };
                    let data = event.data?;
                    if data.trim() == "[DONE]" {
                        return None;
                    }
                    Some(
                        serde_json::from_str::<ChatCompletionChunk>(&data).map_err(|err| {
                            ProviderError::InvalidResponse {
                                provider,
                                detail: format!(
                                    "stream chunk is not a chat completion chunk: {err}"
                                ),
                            }
                        }),
                    )
                }
            })
            .boxed();
        Ok(ProviderReply::Stream(chunks))
    }
}

impl Provider for OpenAiProvider {
    fn name(&self) -> &str {
        &self.settings.name
    }

    fn chat(
        &self,
        request: ChatCompletionRequest,
        deadlines: Deadlines,
    ) -> BoxFuture<'_, Result<ProviderReply, ProviderError>> {
        Box::pin(self.call(request, deadlines))
    }
}
