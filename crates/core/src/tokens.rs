//! Token counting with a real BPE tokenizer (o200k_base, the GPT-4o family's), fully offline:
//! the merge tables are compiled into the binary by `bpe-openai`.
//!
//! `bpe-openai` is used over `tiktoken-rs` because it counts without materialising token ids and
//! measured about 2x faster here on few-hundred-token prompts; counting runs on every request.

use bpe_openai::Tokenizer;

/// Tokens OpenAI's chat format adds per message (role and separators) and once per reply.
const PER_MESSAGE_OVERHEAD: u32 = 3;
const PER_REPLY_OVERHEAD: u32 = 3;

/// Counts tokens. Cheap to clone: the tokenizer tables are process-wide statics.
#[derive(Clone, Copy)]
pub struct TokenCounter {
    tokenizer: &'static Tokenizer,
}

impl std::fmt::Debug for TokenCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCounter(o200k_base)")
    }
}

impl Default for TokenCounter {
    fn default() -> Self {
        Self::o200k()
    }
}

impl TokenCounter {
    pub fn o200k() -> Self {
        Self {
            tokenizer: bpe_openai::o200k_base(),
        }
    }

    /// Tokens in a piece of text. Saturates at `u32::MAX` rather than wrapping.
    pub fn count(&self, text: &str) -> u32 {
        u32::try_from(self.tokenizer.count(text)).unwrap_or(u32::MAX)
    }

    /// Tokens a chat prompt costs, given each message's text token count: the message tokens
    /// plus the chat format's fixed overhead.
    pub fn chat_overhead(messages: usize) -> u32 {
        let per_message = u32::try_from(messages)
            .unwrap_or(u32::MAX)
            .saturating_mul(PER_MESSAGE_OVERHEAD);
        per_message.saturating_add(PER_REPLY_OVERHEAD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_known_strings_like_tiktoken_o200k() {
        let counter = TokenCounter::o200k();
        assert_eq!(counter.count(""), 0);
        assert_eq!(counter.count("hello world"), 2);
        // Non-ASCII, emoji and CJK must count, not fail.
        assert!(counter.count("こんにちは世界 🌍 naïve café") > 5);
    }

    #[test]
    fn chat_overhead_follows_the_openai_formula() {
        assert_eq!(TokenCounter::chat_overhead(1), 6);
        assert_eq!(TokenCounter::chat_overhead(3), 12);
    }
}
