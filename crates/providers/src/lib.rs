//! routewise-providers: how routewise calls a model.
//!
//! A [`Provider`] takes an OpenAI-shaped [`ChatCompletionRequest`] (its `model` already set to the
//! upstream model name) and returns an OpenAI-shaped [`ProviderReply`], whatever the upstream
//! speaks: [`openai::OpenAiProvider`] talks to any OpenAI-compatible base URL (OpenAI, vLLM,
//! Ollama, Together, ...), [`anthropic::AnthropicProvider`] translates to and from Anthropic's
//! Messages API. Failures are [`ProviderError`]s that say whether a retry may help, so the
//! gateway's execution layer can retry, fall back, or answer the client.

pub mod anthropic;
mod client;
mod decode;
mod error;
pub mod openai;
pub mod redact;
mod settings;
mod transport;

pub use decode::decode_stream;
pub use error::{ProviderError, TimeoutPhase};
pub use redact::Redactor;
pub use settings::{ApiKey, ProviderKind, ProviderSettings};

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use routewise_openai::{ChatCompletion, ChatCompletionChunk, ChatCompletionRequest};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A streamed reply: OpenAI chunks, the last one carrying usage when the upstream reports it.
pub type ChunkStream = BoxStream<'static, Result<ChatCompletionChunk, ProviderError>>;

/// What a provider call produced.
pub enum ProviderReply {
    Complete(ChatCompletion),
    /// Response headers have arrived; chunks follow.
    Stream(ChunkStream),
}

impl fmt::Debug for ProviderReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProviderReply::Complete(c) => f.debug_tuple("Complete").field(c).finish(),
            ProviderReply::Stream(_) => f.write_str("Stream(..)"),
        }
    }
}

/// Time limits of one call, measured from its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Until the response headers (connection included).
    pub first_byte: Duration,
    /// Until the last byte of the body or stream.
    pub total: Duration,
}

/// What one call carries besides the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallOptions {
    pub deadlines: Deadlines,
    /// The W3C `traceparent` to send, so the upstream's spans join the caller's trace.
    pub traceparent: Option<String>,
}

impl From<Deadlines> for CallOptions {
    fn from(deadlines: Deadlines) -> Self {
        Self {
            deadlines,
            traceparent: None,
        }
    }
}

/// One upstream API endpoint.
pub trait Provider: Send + Sync + fmt::Debug {
    /// The provider's configured name (used in logs, errors and metrics).
    fn name(&self) -> &str;

    /// Sends one chat completion request, streamed when `request.stream` is true.
    fn chat(
        &self,
        request: ChatCompletionRequest,
        options: CallOptions,
    ) -> BoxFuture<'_, Result<ProviderReply, ProviderError>>;
}

/// Builds the provider described by `settings`.
pub fn build(settings: ProviderSettings) -> Result<Arc<dyn Provider>, ProviderError> {
    Ok(match settings.kind {
        ProviderKind::OpenAi => Arc::new(openai::OpenAiProvider::new(settings)?),
        ProviderKind::Anthropic => Arc::new(anthropic::AnthropicProvider::new(settings)?),
    })
}
