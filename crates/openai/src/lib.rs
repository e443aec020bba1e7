//! routewise-openai: the wire types routewise speaks, and nothing else.
//!
//! [`chat`] holds the OpenAI chat completions request, response and stream chunk; [`error`] the
//! OpenAI error envelope; [`models`] the `/v1/models` list; [`anthropic`] Anthropic's Messages API.
//! Every object keeps the fields routewise does not read in an `extra` map (`#[serde(flatten)]`),
//! so a request or response passes through routewise byte-for-byte equivalent in meaning.
//! Domain types live in `routewise-core`; [`ChatCompletionRequest::to_chat_input`] converts a
//! request into the `ChatInput` that routing reads.

pub mod anthropic;
pub mod chat;
pub mod error;
mod input;
pub mod models;
mod parse;

pub use chat::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatMessage, Choice, ChunkChoice,
    ContentPart, Delta, MessageContent, Role, StreamOptions, Usage,
};
pub use error::{ApiError, ErrorBody};
pub use input::{AUTO_MODEL, InputError};
pub use models::{ModelList, ModelObject};
pub use parse::{RequestError, parse_chat_request};

/// Unknown fields of a wire object, kept verbatim so they pass through routewise untouched.
pub type Extra = serde_json::Map<String, serde_json::Value>;
