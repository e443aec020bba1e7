//! From the wire to the domain: an OpenAI chat request as `routewise_core::ChatInput`.

use crate::chat::{ChatCompletionRequest, Role};
use routewise_core::{ChatInput, Message};
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
        })
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
    fn empty_messages_and_model_are_errors() {
        let request = parse(json!({"model": "auto", "messages": []}));
        assert_eq!(request.to_chat_input().unwrap_err(), InputError::NoMessages);
        let request = parse(json!({"model": " ", "messages": [{"role": "user", "content": "x"}]}));
        assert_eq!(request.to_chat_input().unwrap_err().param(), "model");
    }
}
