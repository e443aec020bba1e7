//! From the wire to the domain: an OpenAI chat request as `routewise_core::ChatInput`.

use crate::chat::{ChatCompletionRequest, Role};
use routewise_core::{Capability, ChatInput, Message};
use thiserror::Error;

/// The `model` value that asks routewise to choose.
pub const AUTO_MODEL: &str = "auto";

/// Why a request cannot be routed, before routing even starts.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InputError {
    #[error(
        "`messages` is empty: send at least one message, e.g. {{\"role\": \"user\", \"content\": \"...\"}}"
    )]
    NoMessages,
    #[error("`model` is empty: send \"auto\" to let routewise choose, or a model name")]
    NoModel,
}

impl InputError {
    /// The request field at fault.
    pub fn param(&self) -> &'static str {
        match self {
            InputError::NoMessages => "messages",
            InputError::NoModel => "model",
        }
    }
}

impl ChatCompletionRequest {
    /// The request as routing sees it: text parts joined per message, image parts counted, the
    /// output cap carried over. `model` becomes `requested_model` unless it is `"auto"`; a caller
    /// that knows named routes clears it for those.
    pub fn to_chat_input(&self) -> Result<ChatInput, InputError> {
        if self.model.trim().is_empty() {
            return Err(InputError::NoModel);
        }
        if self.messages.is_empty() {
            return Err(InputError::NoMessages);
        }
        let messages = self
            .messages
            .iter()
            .map(|m| Message {
                role: domain_role(m.role),
                text: m
                    .content
                    .as_ref()
                    .map(|c| c.joined_text())
                    .unwrap_or_default(),
                image_parts: m.content.as_ref().map(|c| c.image_parts()).unwrap_or(0),
            })
            .collect();
        Ok(ChatInput {
            messages,
            requested_model: (self.model != AUTO_MODEL).then(|| self.model.clone()),
            max_output_tokens: self.output_cap(),
            needs: self.needs(),
        })
    }

    /// What the request needs of a model: `tools` when it offers tools or functions (and does
    /// not turn them off with `tool_choice: "none"`), `json_schema` for structured output.
    pub fn needs(&self) -> Vec<Capability> {
        let mut needs = Vec::new();
        let offered = |key: &str| {
            self.extra
                .get(key)
                .is_some_and(|v| v.as_array().is_some_and(|a| !a.is_empty()))
        };
        let tools_off = self.extra.get("tool_choice").and_then(|v| v.as_str()) == Some("none");
        let forced_tool = self
            .extra
            .get("tool_choice")
            .is_some_and(|v| v.is_object() || v.as_str() == Some("required"));
        if ((offered("tools") || offered("functions")) && !tools_off) || forced_tool {
            needs.push(Capability::Tools);
        }
        let schema = self
            .extra
            .get("response_format")
            .and_then(|f| f.get("type"))
            .and_then(|t| t.as_str())
            == Some("json_schema");
        if schema {
            needs.push(Capability::JsonSchema);
        }
        needs
    }
}

fn domain_role(role: Role) -> routewise_core::Role {
    match role {
        Role::System => routewise_core::Role::System,
        Role::Developer => routewise_core::Role::Developer,
        Role::User => routewise_core::Role::User,
        Role::Assistant => routewise_core::Role::Assistant,
        Role::Tool | Role::Function => routewise_core::Role::Tool,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: serde_json::Value) -> ChatCompletionRequest {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn converts_roles_text_images_and_cap() {
        let request = parse(
            json!({"model": "auto", "max_tokens": 10, "max_completion_tokens": 20,
            "messages": [
                {"role": "developer", "content": "be terse"},
                {"role": "user", "content": [{"type": "text", "text": "what"},
                    {"type": "image_url", "image_url": {"url": "x"}},
                    {"type": "text", "text": "is this"}]},
                {"role": "function", "name": "f", "content": "1"}]}),
        );
        let input = request.to_chat_input().unwrap();
        assert_eq!(input.requested_model, None);
        assert_eq!(input.max_output_tokens, Some(20));
        assert_eq!(input.messages[0].role, routewise_core::Role::Developer);
        assert_eq!(input.messages[1].text, "what\nis this");
        assert_eq!(input.messages[1].image_parts, 1);
        assert_eq!(input.messages[2].role, routewise_core::Role::Tool);
    }

    #[test]
    fn named_model_is_requested() {
        let request =
            parse(json!({"model": "large", "messages": [{"role": "user", "content": "x"}]}));
        assert_eq!(
            request.to_chat_input().unwrap().requested_model.as_deref(),
            Some("large")
        );
    }

    #[test]
    fn tools_and_json_schema_are_needs() {
        let base = json!({"model": "auto", "messages": [{"role": "user", "content": "x"}]});
        let with = |key: &str, value: serde_json::Value| {
            let mut body = base.clone();
            body[key] = value;
            parse(body).to_chat_input().unwrap().needs
        };
        assert!(
            parse(base.clone())
                .to_chat_input()
                .unwrap()
                .needs
                .is_empty()
        );
        let tool = json!([{"type": "function", "function": {"name": "f"}}]);
        assert_eq!(with("tools", tool.clone()), [Capability::Tools]);
        assert_eq!(
            with("functions", json!([{"name": "f"}])),
            [Capability::Tools]
        );
        assert!(with("tools", json!([])).is_empty());
        assert_eq!(with("tool_choice", json!("required")), [Capability::Tools]);
        let mut off = base.clone();
        off["tools"] = tool;
        off["tool_choice"] = json!("none");
        assert!(parse(off).to_chat_input().unwrap().needs.is_empty());
        assert_eq!(
            with(
                "response_format",
                json!({"type": "json_schema", "json_schema": {}})
            ),
            [Capability::JsonSchema]
        );
        assert!(with("response_format", json!({"type": "json_object"})).is_empty());
    }

    #[test]
    fn empty_messages_and_model_are_errors() {
        let request = parse(json!({"model": "auto", "messages": []}));
        assert_eq!(request.to_chat_input().unwrap_err(), InputError::NoMessages);
        let request = parse(json!({"model": " ", "messages": [{"role": "user", "content": "x"}]}));
        assert_eq!(request.to_chat_input().unwrap_err().param(), "model");
    }
}
