//! OpenAI <-> Anthropic Messages translation: requests one way, responses and streams the other.
//!
//! Mapping: `system` / `developer` messages become the `system` prompt; `tool` messages become
//! `tool_result` blocks of a user turn; assistant `tool_calls` become `tool_use` blocks; images
//! become `image` blocks (base64 for `data:` URLs, else by URL); `stop`, `temperature`, `top_p`,
//! `tools`, `tool_choice` and `user` are carried over; other OpenAI-only fields are dropped
//! because Anthropic rejects unknown fields.

use routewise_openai::anthropic::{
    self, BlockDelta, Content, ContentBlock, MessagesRequest, MessagesResponse, StreamEvent,
};
use routewise_openai::{
    ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatMessage, Choice, ChunkChoice,
    Delta, Extra, MessageContent, Role, Usage,
};
use serde_json::{Value, json};
use std::collections::HashMap;

/// Anthropic requires `max_tokens`; this is sent when the client set no cap.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// Translates an OpenAI request into a Messages request, or says which part cannot be.
pub fn to_messages_request(request: &ChatCompletionRequest) -> Result<MessagesRequest, String> {
    let mut system: Vec<String> = Vec::new();
    let mut messages: Vec<anthropic::Message> = Vec::new();
    for (i, message) in request.messages.iter().enumerate() {
        let (role, blocks) = match message.role {
            Role::System | Role::Developer => {
                if let Some(content) = &message.content {
                    system.push(content.joined_text());
                }
                continue;
            }
            Role::User => (anthropic::Role::User, user_blocks(message, i)?),
            Role::Assistant => (anthropic::Role::Assistant, assistant_blocks(message, i)?),
            Role::Tool | Role::Function => (anthropic::Role::User, vec![tool_result(message)]),
        };
        // Anthropic wants alternating turns: consecutive same-role messages are merged.
        match messages.last_mut() {
            Some(last) if last.role == role => {
                if let Content::Blocks(existing) = &mut last.content {
                    existing.extend(blocks);
                }
            }
            _ => messages.push(anthropic::Message {
                role,
                content: Content::Blocks(blocks),
            }),
        }
    }
    let extra = &request.extra;
    let mut out_extra = Extra::new();
    if let Some(tools) = extra.get("tools").and_then(Value::as_array) {
        let tools: Vec<Value> = tools
            .iter()
            .filter_map(|t| t.get("function"))
            .map(|f| {
                json!({
                    "name": f.get("name").cloned().unwrap_or(Value::Null),
                    "description": f.get("description").cloned().unwrap_or(json!("")),
                    "input_schema": f.get("parameters").cloned()
                        .unwrap_or(json!({"type": "object", "properties": {}})),
                })
            })
            .collect();
        out_extra.insert("tools".to_owned(), Value::Array(tools));
    }
    if let Some(choice) = extra.get("tool_choice") {
        let mapped = match choice {
            Value::String(s) if s == "required" => Some(json!({"type": "any"})),
            Value::String(s) if s == "auto" => Some(json!({"type": "auto"})),
            Value::String(s) if s == "none" => Some(json!({"type": "none"})),
            Value::Object(_) => choice
                .pointer("/function/name")
                .map(|name| json!({"type": "tool", "name": name})),
            _ => None,
        };
        if let Some(mapped) = mapped {
            out_extra.insert("tool_choice".to_owned(), mapped);
        }
    }
    if let Some(user) = extra.get("user").and_then(Value::as_str) {
        out_extra.insert("metadata".to_owned(), json!({"user_id": user}));
    }
    let stop_sequences = match extra.get("stop") {
        Some(Value::String(s)) => Some(vec![s.clone()]),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    };
    Ok(MessagesRequest {
        model: request.model.clone(),
        messages,
        system: (!system.is_empty()).then(|| Content::Text(system.join("\n\n"))),
        max_tokens: request.output_cap().unwrap_or(DEFAULT_MAX_TOKENS),
        stream: request.stream,
        temperature: extra.get("temperature").cloned(),
        top_p: extra.get("top_p").cloned(),
        stop_sequences,
        extra: out_extra,
    })
}

fn user_blocks(message: &ChatMessage, index: usize) -> Result<Vec<ContentBlock>, String> {
    match &message.content {
        None => Ok(Vec::new()),
        Some(MessageContent::Text(text)) => Ok(vec![ContentBlock::text(text.clone())]),
        Some(MessageContent::Parts(parts)) => parts
            .iter()
            .map(|part| match part.kind.as_str() {
                "text" => Ok(ContentBlock::text(part.text.clone().unwrap_or_default())),
                "image_url" => image_block(part.image_url.as_ref()),
                other => Err(format!(
                    "messages[{index}] has a `{other}` content part, which Anthropic does not accept"
                )),
            })
            .collect(),
    }
}

fn image_block(image_url: Option<&Value>) -> Result<ContentBlock, String> {
    let url = image_url
        .and_then(|v| v.get("url").or(Some(v)))
        .and_then(Value::as_str)
        .ok_or_else(|| "an image_url part has no `url`".to_owned())?;
    let source = match url
        .strip_prefix("data:")
        .and_then(|rest| rest.split_once(";base64,"))
    {
        Some((media_type, data)) => {
            json!({"type": "base64", "media_type": media_type, "data": data})
        }
        None => json!({"type": "url", "url": url}),
    };
    let mut extra = Extra::new();
    extra.insert("source".to_owned(), source);
    Ok(ContentBlock {
        kind: "image".to_owned(),
        text: None,
        extra,
    })
}

fn assistant_blocks(message: &ChatMessage, index: usize) -> Result<Vec<ContentBlock>, String> {
    let mut blocks = Vec::new();
    if let Some(content) = &message.content {
        let text = content.joined_text();
        if !text.is_empty() {
            blocks.push(ContentBlock::text(text));
        }
    }
    if let Some(calls) = message.extra.get("tool_calls").and_then(Value::as_array) {
        for call in calls {
            let arguments = call
                .pointer("/function/arguments")
                .and_then(Value::as_str)
                .unwrap_or("{}");
            let input: Value = serde_json::from_str(arguments).map_err(|err| {
                format!("messages[{index}] has tool call arguments that are not JSON: {err}")
            })?;
            let mut extra = Extra::new();
            extra.insert(
                "id".to_owned(),
                call.get("id").cloned().unwrap_or(Value::Null),
            );
            extra.insert(
                "name".to_owned(),
                call.pointer("/function/name")
                    .cloned()
                    .unwrap_or(Value::Null),
            );
            extra.insert("input".to_owned(), input);
            blocks.push(ContentBlock {
                kind: "tool_use".to_owned(),
                text: None,
                extra,
            });
        }
    }
    Ok(blocks)
}

fn tool_result(message: &ChatMessage) -> ContentBlock {
    let mut extra = Extra::new();
    extra.insert(
        "tool_use_id".to_owned(),
        message
            .extra
            .get("tool_call_id")
            .cloned()
            .unwrap_or(Value::Null),
    );
    extra.insert(
        "content".to_owned(),
        Value::String(
            message
                .content
                .as_ref()
                .map(MessageContent::joined_text)
                .unwrap_or_default(),
        ),
    );
    ContentBlock {
        kind: "tool_result".to_owned(),
        text: None,
        extra,
    }
}

/// Anthropic's `stop_reason` as OpenAI's `finish_reason`.
fn finish_reason(stop_reason: &str) -> &'static str {
    match stop_reason {
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

/// Translates a Messages response into a chat completion.
pub fn to_chat_completion(response: MessagesResponse, created: u64) -> ChatCompletion {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in &response.content {
        match block.kind.as_str() {
            "text" => text.push_str(block.text.as_deref().unwrap_or_default()),
            "tool_use" => tool_calls.push(json!({
                "id": block.extra.get("id").cloned().unwrap_or(Value::Null),
                "type": "function",
                "function": {
                    "name": block.extra.get("name").cloned().unwrap_or(Value::Null),
                    "arguments": block.extra.get("input").map(Value::to_string)
                        .unwrap_or_else(|| "{}".to_owned()),
                }
            })),
            _ => {}
        }
    }
    let mut message = ChatMessage::text(Role::Assistant, text);
    if !tool_calls.is_empty() {
        message
            .extra
            .insert("tool_calls".to_owned(), Value::Array(tool_calls));
    }
    ChatCompletion {
        id: response.id,
        object: "chat.completion".to_owned(),
        created,
        model: response.model,
        choices: vec![Choice {
            index: 0,
            message,
            finish_reason: Some(
                finish_reason(response.stop_reason.as_deref().unwrap_or("end_turn")).to_owned(),
            ),
            extra: Extra::new(),
        }],
        usage: Some(Usage::new(
            response.usage.input_tokens,
            response.usage.output_tokens,
        )),
        extra: Extra::new(),
    }
}

/// Turns Anthropic stream events into OpenAI chunks, keeping what later chunks need (the
/// message id and model, input tokens from `message_start`, tool-call indices).
#[derive(Debug)]
pub(crate) struct StreamTranslator {
    id: String,
    model: String,
    created: u64,
    input_tokens: u64,
    output_tokens: u64,
    /// Anthropic content-block index -> OpenAI tool-call index.
    tool_indices: HashMap<u32, u32>,
}

impl StreamTranslator {
    pub(crate) fn new(created: u64) -> Self {
        Self {
            id: String::new(),
            model: String::new(),
            created,
            input_tokens: 0,
            output_tokens: 0,
            tool_indices: HashMap::new(),
        }
    }

    /// The chunks one event becomes (often none), or the upstream's in-stream error.
    pub(crate) fn translate(
        &mut self,
        event: StreamEvent,
    ) -> Result<Vec<ChatCompletionChunk>, anthropic::StreamError> {
        Ok(match event {
            StreamEvent::MessageStart { message } => {
                self.id = message.id;
                self.model = message.model;
                self.input_tokens = message.usage.input_tokens;
                self.output_tokens = message.usage.output_tokens;
                vec![self.chunk(
                    Delta {
                        role: Some(Role::Assistant),
                        content: Some(String::new()),
                        extra: Extra::new(),
                    },
                    None,
                )]
            }
            StreamEvent::ContentBlockStart {
                index,
                content_block,
            } if content_block.kind == "tool_use" => {
                let tool_index = u32::try_from(self.tool_indices.len()).unwrap_or(u32::MAX);
                self.tool_indices.insert(index, tool_index);
                let call = json!([{
                    "index": tool_index,
                    "id": content_block.extra.get("id").cloned().unwrap_or(Value::Null),
                    "type": "function",
                    "function": {"name": content_block.extra.get("name").cloned()
                        .unwrap_or(Value::Null), "arguments": ""}
                }]);
                vec![self.chunk(tool_delta(call), None)]
            }
            StreamEvent::ContentBlockDelta { index, delta } => self.block_delta(index, delta),
            StreamEvent::MessageDelta { delta, usage } => {
                self.output_tokens = usage.output_tokens.max(self.output_tokens);
                let reason = finish_reason(delta.stop_reason.as_deref().unwrap_or("end_turn"));
                vec![self.chunk(Delta::default(), Some(reason))]
            }
            StreamEvent::MessageStop => {
                let mut chunk = self.chunk(Delta::default(), None);
                chunk.choices.clear();
                chunk.usage = Some(Usage::new(self.input_tokens, self.output_tokens));
                vec![chunk]
            }
            StreamEvent::Error { error } => return Err(error),
            StreamEvent::ContentBlockStart { .. }
            | StreamEvent::ContentBlockStop { .. }
            | StreamEvent::Ping => Vec::new(),
        })
    }

    fn block_delta(&self, index: u32, delta: BlockDelta) -> Vec<ChatCompletionChunk> {
        match delta.kind.as_str() {
            "text_delta" => vec![self.chunk(
                Delta {
                    role: None,
                    content: delta.text,
                    extra: Extra::new(),
                },
                None,
            )],
            "input_json_delta" => {
                let Some(tool_index) = self.tool_indices.get(&index) else {
                    return Vec::new();
                };
                let partial = delta
                    .extra
                    .get("partial_json")
                    .cloned()
                    .unwrap_or(json!(""));
                let call = json!([{"index": tool_index, "function": {"arguments": partial}}]);
                vec![self.chunk(tool_delta(call), None)]
            }
            _ => Vec::new(),
        }
    }

    fn chunk(&self, delta: Delta, finish_reason: Option<&str>) -> ChatCompletionChunk {
        ChatCompletionChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".to_owned(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason: finish_reason.map(str::to_owned),
                extra: Extra::new(),
            }],
            usage: None,
            extra: Extra::new(),
        }
    }
}

fn tool_delta(calls: Value) -> Delta {
    let mut extra = Extra::new();
    extra.insert("tool_calls".to_owned(), calls);
    Delta {
        role: None,
        content: None,
        extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(value: Value) -> ChatCompletionRequest {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn request_maps_system_images_tools_and_stop() {
        let openai = request(json!({
            "model": "claude-x", "max_tokens": 50, "temperature": 0.5, "stop": "END",
            "user": "u1", "seed": 7,
            "tools": [{"type": "function", "function": {"name": "f", "description": "d",
                        "parameters": {"type": "object"}}}],
            "tool_choice": "required",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "developer", "content": "use metric"},
                {"role": "user", "content": [
                    {"type": "text", "text": "what is this"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "t1", "type": "function",
                    "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
                {"role": "tool", "tool_call_id": "t1", "content": "42"},
                {"role": "user", "content": "thanks"}
            ]
        }));
        let out = serde_json::to_value(to_messages_request(&openai).unwrap()).unwrap();
        assert_eq!(out["system"], "be brief\n\nuse metric");
        assert_eq!(out["max_tokens"], 50);
        assert_eq!(out["stop_sequences"], json!(["END"]));
        assert_eq!(out["metadata"], json!({"user_id": "u1"}));
        assert_eq!(out["tool_choice"], json!({"type": "any"}));
        assert_eq!(out["tools"][0]["input_schema"], json!({"type": "object"}));
        assert!(out.get("seed").is_none());
        let messages = out["messages"].as_array().unwrap();
        assert_eq!(
            messages.len(),
            3,
            "tool result and next user turn merge: {messages:?}"
        );
        assert_eq!(
            messages[0]["content"][1]["source"]["media_type"],
            "image/png"
        );
        assert_eq!(messages[1]["content"][0]["input"], json!({"a": 1}));
        assert_eq!(messages[2]["content"][0]["type"], "tool_result");
        assert_eq!(messages[2]["content"][1]["text"], "thanks");
    }

    #[test]
    fn unsupported_part_is_a_clear_error() {
        let openai = request(
            json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {}}]}]}),
        );
        let err = to_messages_request(&openai).unwrap_err();
        assert!(err.contains("input_audio"), "{err}");
    }

    #[test]
    fn response_maps_text_tools_and_usage() {
        let response: MessagesResponse = serde_json::from_value(json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
            "content": [{"type": "text", "text": "Let me check."},
                        {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}],
            "stop_reason": "tool_use", "usage": {"input_tokens": 11, "output_tokens": 7}
        }))
        .unwrap();
        let completion = to_chat_completion(response, 5);
        let choice = &completion.choices[0];
        assert_eq!(choice.finish_reason.as_deref(), Some("tool_calls"));
        assert_eq!(
            choice.message.content.as_ref().unwrap().joined_text(),
            "Let me check."
        );
        assert_eq!(
            choice.message.extra["tool_calls"][0]["function"]["arguments"],
            "{\"a\":1}"
        );
        assert_eq!(completion.usage.unwrap().total_tokens, 18);
    }

    #[test]
    fn stream_events_become_chunks_with_usage_last() {
        let events = [
            json!({"type": "message_start", "message": {"id": "m1", "type": "message",
                "role": "assistant", "model": "claude-x", "content": [],
                "usage": {"input_tokens": 9, "output_tokens": 1}}}),
            json!({"type": "content_block_start", "index": 0,
                   "content_block": {"type": "text", "text": ""}}),
            json!({"type": "ping"}),
            json!({"type": "content_block_delta", "index": 0,
                   "delta": {"type": "text_delta", "text": "Hi"}}),
            json!({"type": "content_block_stop", "index": 0}),
            json!({"type": "message_delta", "delta": {"stop_reason": "max_tokens"},
                   "usage": {"output_tokens": 4}}),
            json!({"type": "message_stop"}),
        ];
        let mut translator = StreamTranslator::new(1);
        let chunks: Vec<ChatCompletionChunk> = events
            .into_iter()
            .flat_map(|e| {
                translator
                    .translate(serde_json::from_value(e).unwrap())
                    .unwrap()
            })
            .collect();
        assert_eq!(chunks.len(), 4);
        assert_eq!(chunks[0].choices[0].delta.role, Some(Role::Assistant));
        assert_eq!(chunks[1].choices[0].delta.content.as_deref(), Some("Hi"));
        assert_eq!(
            chunks[2].choices[0].finish_reason.as_deref(),
            Some("length")
        );
        assert_eq!(chunks[3].usage, Some(Usage::new(9, 4)));
        assert!(chunks.iter().all(|c| c.id == "m1" && c.model == "claude-x"));
    }

    #[test]
    fn stream_error_event_is_reported() {
        let mut translator = StreamTranslator::new(1);
        let event = serde_json::from_value(json!({"type": "error",
            "error": {"type": "overloaded_error", "message": "busy"}}))
        .unwrap();
        assert_eq!(translator.translate(event).unwrap_err().message, "busy");
    }
}
