//! What a provider needs to know to reach its upstream.

use std::fmt;
use std::time::Duration;

/// The upstream API a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// `POST {base_url}/chat/completions` with a bearer token.
    OpenAi,
    /// `POST {base_url}/messages` with `x-api-key` and `anthropic-version`.
    Anthropic,
}

/// An upstream API key. Its `Debug` output is redacted so that it never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for the one place that puts it in a request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// A provider's configuration, resolved (environment variables already read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderSettings {
    pub name: String,
    pub kind: ProviderKind,
    /// The API root including its version segment, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// `None` for local servers (vLLM, Ollama) that need no key.
    pub api_key: Option<ApiKey>,
    /// Time allowed to open a TCP (and TLS) connection to the upstream.
    pub connect_timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_key_debug_is_redacted() {
        let key = ApiKey::new("sk-secret");
        assert!(!format!("{key:?}").contains("secret"));
        assert_eq!(key.expose(), "sk-secret");
    }
}
