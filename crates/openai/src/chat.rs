//! OpenAI chat completions: request, response and streamed chunk (`POST /v1/chat/completions`).

use crate::Extra;
use serde::{Deserialize, Serialize};

/// A chat completion request. Only the fields routewise reads are typed; everything else
/// (`temperature`, `tools`, `response_format`, ...) lives in `extra` and is forwarded as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionRequest {
    /// `auto`, a named route, or a catalog model name.
    pub model: String,
    pub messages: Vec<ChatMessage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Legacy output cap; still sent by many clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Current output cap; wins over `max_tokens` when both are present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ChatCompletionRequest {
    /// Whether the client asked for an SSE stream.
    pub fn is_stream(&self) -> bool {
        self.stream.unwrap_or(false)
    }

    /// The caller's output cap, preferring `max_completion_tokens`.
    pub fn output_cap(&self) -> Option<u32> {
        self.max_completion_tokens.or(self.max_tokens)
    }
}

/// `stream_options`: routewise sets `include_usage` upstream so streamed calls can be costed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_usage: Option<bool>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// Author of a message. An unknown role is a deserialisation error, reported to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    Developer,
    User,
    Assistant,
    Tool,
    /// Deprecated by OpenAI in favour of `tool`, still accepted.
    Function,
}

/// One message of a request, or the message of a non-streamed response choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    /// Absent for assistant messages that only carry `tool_calls`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<MessageContent>,
    /// `name`, `tool_calls`, `tool_call_id`, `refusal`, ...
    #[serde(flatten)]
    pub extra: Extra,
}

impl ChatMessage {
    /// A message with plain-text content.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            content: Some(MessageContent::Text(text.into())),
            extra: Extra::new(),
        }
    }
}

/// Message content: a plain string or a list of typed parts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

/// By hand rather than `untagged`, whose error ("did not match any variant of untagged enum
/// MessageContent") names a Rust type and hides which part was wrong.
impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ContentVisitor;

        impl<'de> serde::de::Visitor<'de> for ContentVisitor {
            type Value = MessageContent;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string, or an array of content parts such as {\"type\": \"text\", \"text\": \"...\"}")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
                Ok(MessageContent::Text(text.to_owned()))
            }

            fn visit_string<E: serde::de::Error>(self, text: String) -> Result<Self::Value, E> {
                Ok(MessageContent::Text(text))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut parts = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(64));
                while let Some(part) = seq.next_element::<ContentPart>()? {
                    parts.push(part);
                }
                Ok(MessageContent::Parts(parts))
            }
        }

        deserializer.deserialize_any(ContentVisitor)
    }
}

impl MessageContent {
    /// The text parts joined with newlines; non-text parts contribute nothing.
    pub fn joined_text(&self) -> String {
        match self {
            MessageContent::Text(text) => text.clone(),
            MessageContent::Parts(parts) => parts
                .iter()
                .filter_map(|p| p.text.as_deref())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// How many `image_url` parts the content carries.
    pub fn image_parts(&self) -> u32 {
        match self {
            MessageContent::Text(_) => 0,
            MessageContent::Parts(parts) => {
                let images = parts
                    .iter()
                    .filter(|p| p.kind == ContentPart::IMAGE_URL)
                    .count();
                u32::try_from(images).unwrap_or(u32::MAX)
            }
        }
    }
}

/// One content part. Kept as a struct rather than an enum so that part types routewise does not
/// know (`input_audio`, `file`, ...) survive the round trip.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentPart {
    /// `text`, `image_url`, or any other part type.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// `{"url": ..., "detail": ...}` for `image_url` parts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<serde_json::Value>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl ContentPart {
    pub const TEXT: &'static str = "text";
    pub const IMAGE_URL: &'static str = "image_url";

    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            kind: Self::TEXT.to_owned(),
            text: Some(text.into()),
            image_url: None,
            extra: Extra::new(),
        }
    }
}

/// Token usage as reported by the upstream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub completion_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
    /// `prompt_tokens_details`, `completion_tokens_details`, ...
    #[serde(flatten)]
    pub extra: Extra,
}

impl Usage {
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            extra: Extra::new(),
        }
    }
}

/// A non-streamed chat completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletion {
    pub id: String,
    #[serde(default = "completion_object")]
    pub object: String,
    #[serde(default)]
    pub created: u64,
    pub model: String,
    pub choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub extra: Extra,
}

fn completion_object() -> String {
    "chat.completion".to_owned()
}

/// One choice of a non-streamed completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    #[serde(default)]
    pub index: u32,
    pub message: ChatMessage,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// One SSE `data:` payload of a streamed completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatCompletionChunk {
    pub id: String,
    #[serde(default = "chunk_object")]
    pub object: String,
    #[serde(default)]
    pub created: u64,
    pub model: String,
    #[serde(default)]
    pub choices: Vec<ChunkChoice>,
    /// Present on the final chunk when `stream_options.include_usage` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    #[serde(flatten)]
    pub extra: Extra,
}

fn chunk_object() -> String {
    "chat.completion.chunk".to_owned()
}

/// One choice of a streamed chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkChoice {
    #[serde(default)]
    pub index: u32,
    #[serde(default)]
    pub delta: Delta,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// The incremental message of a streamed choice.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// `tool_calls`, `refusal`, ...
    #[serde(flatten)]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn request_round_trips_unknown_fields() {
        let wire = json!({
            "model": "auto",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA", "detail": "low"}},
                    {"type": "input_audio", "input_audio": {"data": "AA", "format": "wav"}}
                ], "name": "ana"},
                {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                    "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "42"}
            ],
            "temperature": 0.2,
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "stream": true,
            "stream_options": {"include_usage": true},
            "max_completion_tokens": 64
        });
        let request: ChatCompletionRequest = serde_json::from_value(wire.clone()).unwrap();
        assert!(request.is_stream());
        assert_eq!(request.output_cap(), Some(64));
        assert_eq!(
            request.messages[1].content.as_ref().unwrap().image_parts(),
            1
        );
        assert_eq!(serde_json::to_value(&request).unwrap(), wire);
    }

    #[test]
    fn unknown_role_is_rejected() {
        let wire = json!({"model": "auto", "messages": [{"role": "wizard", "content": "hi"}]});
        let err = serde_json::from_value::<ChatCompletionRequest>(wire).unwrap_err();
        assert!(err.to_string().contains("wizard"), "{err}");
    }

    #[test]
    fn joined_text_skips_non_text_parts() {
        let content = MessageContent::Parts(vec![
            ContentPart::text("a"),
            ContentPart {
                kind: ContentPart::IMAGE_URL.to_owned(),
                text: None,
                image_url: Some(json!({"url": "x"})),
                extra: Extra::new(),
            },
            ContentPart::text("b"),
        ]);
        assert_eq!(content.joined_text(), "a\nb");
        assert_eq!(content.image_parts(), 1);
    }

    #[test]
    fn chunk_with_usage_parses() {
        let wire = json!({"id": "c", "object": "chat.completion.chunk", "created": 1,
            "model": "m", "choices": [],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
                      "completion_tokens_details": {"reasoning_tokens": 0}}});
        let chunk: ChatCompletionChunk = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(chunk.usage.as_ref().unwrap().completion_tokens, 4);
        assert_eq!(serde_json::to_value(&chunk).unwrap(), wire);
    }

    #[test]
    fn completion_round_trips() {
        let wire = json!({"id": "x", "object": "chat.completion", "created": 5, "model": "m",
            "system_fingerprint": "fp",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi", "refusal": null},
                         "finish_reason": "stop", "logprobs": null}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}});
        let completion: ChatCompletion = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(serde_json::to_value(&completion).unwrap(), wire);
        let _: Value = serde_json::to_value(completion).unwrap();
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_round_trips(text in ".*", model in "[a-z0-9-]{1,20}") {
            let request = ChatCompletionRequest {
                model,
                messages: vec![ChatMessage::text(Role::User, text)],
                stream: None,
                stream_options: None,
                max_tokens: None,
                max_completion_tokens: None,
                extra: Extra::new(),
            };
            let bytes = serde_json::to_vec(&request).unwrap();
            let back: ChatCompletionRequest = serde_json::from_slice(&bytes).unwrap();
            proptest::prop_assert_eq!(back, request);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256)) {
            let _ = serde_json::from_slice::<ChatCompletionRequest>(&bytes);
        }
    }
}
