//! The domain view of a chat request: what routing needs to know, independent of any wire format.
//!
//! Wire types (OpenAI, Anthropic) live in `routewise-openai` and convert into these at the edge.

use crate::catalog::Capability;
use serde::Serialize;

/// Who wrote a message. Routing treats `User` text as "the user's own text"; everything else
/// contributes to token counts (and so to cost and context needs) but not to intent signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    Developer,
    User,
    Assistant,
    Tool,
}

/// One message, flattened: its text parts joined, and how many image parts it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub role: Role,
    pub text: String,
    pub image_parts: u32,
}

impl Message {
    /// A text-only message.
    pub fn text(role: Role, text: impl Into<String>) -> Self {
        Self {
            role,
            text: text.into(),
            image_parts: 0,
        }
    }
}

/// A chat request as routing sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatInput {
    pub messages: Vec<Message>,
    /// A specific catalog model the caller asked for; `None` means "route for me" (`auto` or a
    /// named route).
    pub requested_model: Option<String>,
    /// The caller's output cap (`max_tokens` / `max_completion_tokens`), if any. It sizes the
    /// context-window check and the cost estimate.
    pub max_output_tokens: Option<u32>,
    /// Capabilities the request itself needs from a model (it offers tools, asks for a JSON
    /// schema); images are counted in the messages instead.
    pub needs: Vec<Capability>,
}

impl ChatInput {
    /// A single user message: what `routewise route "PROMPT"` builds.
    pub fn from_prompt(prompt: impl Into<String>) -> Self {
        Self {
            messages: vec![Message::text(Role::User, prompt)],
            ..Self::default()
        }
    }
}

/// Facts about the request that are not in its body: who is calling and when. The clock is
/// passed in (as an hour) so that decisions are reproducible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// The caller's tier, lower-case (for example `free`, `standard`, `premium`).
    pub user_tier: String,
    /// Hour of day, 0..=23, in UTC.
    pub hour_of_day: u8,
}

impl Default for RequestContext {
    fn default() -> Self {
        Self {
            user_tier: "standard".to_owned(),
            hour_of_day: 12,
        }
    }
}
