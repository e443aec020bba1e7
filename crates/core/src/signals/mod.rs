//! Signals: a typed, cheap description of a chat request that policies decide on.
//!
//! Every signal is named, documented here and in `docs/SIGNALS.md`, and serialised into each
//! decision's explanation. Intent signals (reasoning keywords, task type, domain, code) are computed
//! on the user's own text only, so a long system prompt or an earlier assistant answer does not
//! change what the user is asking for; token counts cover every message, because the model must
//! read them all (they drive cost and the context-window check).

mod lexicon;
mod phrases;
mod scan;

use crate::catalog::Capability;
use crate::memory::TrackRecord;
use crate::repeated::{self, Memo};
use crate::request::{ChatInput, RequestContext, Role};
use crate::tokens::TokenCounter;
use serde::Serialize;
use std::cell::RefCell;
use std::fmt;
#[cfg(test)]
use std::sync::Arc;
#[cfg(test)]
use std::sync::atomic::{AtomicU64, Ordering};

pub use scan::ScanError;

/// What the user is asking the model to do, from the last user message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskType {
    Classification,
    Sentiment,
    Extraction,
    Translation,
    Summarization,
    CodeGeneration,
    Math,
    CreativeWriting,
    /// Open-ended design and research work: a system, an architecture, a novel method, a
    /// strategy. Short to ask and hard to answer well.
    Design,
    /// A short question after a fact ("What's the capital of France?"): either model knows it
    /// or neither does, so the strong model gains least here.
    FactualQuestion,
    /// Anything without a clearer task: advice, discussion, longer questions.
    OpenEnded,
}

impl TaskType {
    pub const ALL: [TaskType; 11] = [
        TaskType::Classification,
        TaskType::Sentiment,
        TaskType::Extraction,
        TaskType::Translation,
        TaskType::Summarization,
        TaskType::CodeGeneration,
        TaskType::Math,
        TaskType::CreativeWriting,
        TaskType::Design,
        TaskType::FactualQuestion,
        TaskType::OpenEnded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TaskType::Classification => "classification",
            TaskType::Sentiment => "sentiment",
            TaskType::Extraction => "extraction",
            TaskType::Translation => "translation",
            TaskType::Summarization => "summarization",
            TaskType::CodeGeneration => "code_generation",
            TaskType::Math => "math",
            TaskType::CreativeWriting => "creative_writing",
            TaskType::Design => "design",
            TaskType::FactualQuestion => "factual_question",
            TaskType::OpenEnded => "open_ended",
        }
    }

    /// Parses a task name as written in config; British spelling of summarisation is accepted.
    pub fn parse(name: &str) -> Option<Self> {
        if name == "summarisation" {
            return Some(TaskType::Summarization);
        }
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for TaskType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A subject area where a wrong answer is costly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Domain {
    Medical,
    Legal,
    Finance,
}

impl Domain {
    pub const ALL: [Domain; 3] = [Domain::Medical, Domain::Legal, Domain::Finance];

    pub fn as_str(self) -> &'static str {
        match self {
            Domain::Medical => "medical",
            Domain::Legal => "legal",
            Domain::Finance => "finance",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == name)
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The features of one request. See `docs/SIGNALS.md` for each with examples.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signals {
    /// Tokens of the whole prompt (every message, o200k_base, plus chat-format overhead).
    pub prompt_tokens: u32,
    /// Tokens of the user's own messages only.
    pub user_tokens: u32,
    /// Number of user messages (conversation turns).
    pub turns: u32,
    /// Number of messages of any role.
    pub messages: u32,
    /// Distinct reasoning keywords found in the user's text, canonical names, in order of
    /// first appearance (e.g. `why`, `explain`, `compare`).
    pub reasoning_keywords: Vec<&'static str>,
    /// The task of the last user message.
    pub task_type: TaskType,
    /// Sensitive domains the user's text is about.
    pub domains: Vec<Domain>,
    /// Image content parts in the request (any role).
    pub image_parts: u32,
    /// Capabilities the request needs beyond images: `tools` when it offers tools,
    /// `json_schema` when it asks for structured output.
    pub needs: Vec<Capability>,
    /// Whether the user's text contains source code.
    pub has_code: bool,
    /// A specific model the caller asked for, if any.
    pub requested_model: Option<String>,
    /// The caller's tier.
    pub user_tier: String,
    /// Hour of day (UTC) the request arrived.
    pub hour_of_day: u8,
    /// The caller's output cap, if any.
    pub max_output_tokens: Option<u32>,
    /// How each model fared on the most similar rated past requests (from memory; empty when
    /// memory is off or nothing similar was rated).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub track_record: Vec<TrackRecord>,
}

impl Signals {
    pub fn has_domain(&self, domain: Domain) -> bool {
        self.domains.contains(&domain)
    }

    /// The track record of `model`, if it has at least `min_count` similar rated requests.
    pub fn track_record_of(&self, model: &str, min_count: u32) -> Option<&TrackRecord> {
        self.track_record
            .iter()
            .find(|r| r.model == model && r.count >= min_count)
    }

    /// Tokens the request needs from a model's context window: the prompt plus the output cap
    /// (or the expected output when the caller set none).
    pub fn required_context(&self, expected_output_tokens: u32) -> u32 {
        self.prompt_tokens
            .saturating_add(self.max_output_tokens.unwrap_or(expected_output_tokens))
    }
}

thread_local! {
    /// The cue-phrase evidence of earlier user messages (see [`crate::repeated`]).
    static EARLIER_SCANS: RefCell<Memo<scan::Scan>> = RefCell::new(Memo::default());
}

/// Computes [`Signals`]. Build once and share: construction compiles the phrase matcher.
#[derive(Debug, Clone)]
pub struct SignalExtractor {
    tokens: TokenCounter,
    phrases: phrases::PhraseMatcher,
    /// How many requests this extractor (and its clones) has analysed: extraction is the
    /// tokenisation, the costly part of a decision, and should happen once per request. Tests
    /// only: a counter shared by every worker thread costs cache-line traffic on each request.
    #[cfg(test)]
    extractions: Arc<AtomicU64>,
}

impl SignalExtractor {
    /// Builds the extractor. Fails only if the built-in lexicon cannot compile, which a unit test
    /// rules out; the error is still typed so that callers never panic.
    pub fn new() -> Result<Self, ScanError> {
        let phrases =
            phrases::PhraseMatcher::new(lexicon::LEXICON.iter().map(|(phrase, _, _)| *phrase))
                .map_err(|e| ScanError::Lexicon(e.to_string()))?;
        Ok(Self {
            tokens: TokenCounter::o200k(),
            phrases,
            #[cfg(test)]
            extractions: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Requests analysed so far by this extractor and its clones.
    #[cfg(test)]
    pub fn extractions(&self) -> u64 {
        self.extractions.load(Ordering::Relaxed)
    }

    pub fn token_counter(&self) -> TokenCounter {
        self.tokens
    }

    /// Scans one user message into `scan`. An earlier one (sent before with the previous turn
    /// of the conversation) is scanned on its own and remembered by this thread, so that the
    /// next turn finds its evidence instead of scanning it again.
    fn scan_user_message(&self, text: &str, is_last: bool, scan: &mut scan::Scan) {
        if is_last || text.len() < repeated::MIN_BYTES {
            scan::scan_text(&self.phrases, text, is_last, scan);
        } else {
            self.scan_earlier(text, scan);
        }
    }

    #[inline(never)]
    fn scan_earlier(&self, text: &str, scan: &mut scan::Scan) {
        let earlier = EARLIER_SCANS.with_borrow_mut(|memo| {
            memo.get_or_work_out(text, |text| {
                let mut alone = scan::Scan::default();
                scan::scan_text(&self.phrases, text, false, &mut alone);
                alone
            })
        });
        scan.absorb_earlier(&earlier);
    }

    /// Extracts the signals of one request.
    pub fn extract(&self, input: &ChatInput, context: &RequestContext) -> Signals {
        #[cfg(test)]
        self.extractions.fetch_add(1, Ordering::Relaxed);
        let mut prompt_tokens = TokenCounter::chat_overhead(input.messages.len());
        let mut user_tokens = 0u32;
        let mut turns = 0u32;
        let mut image_parts = 0u32;
        let mut user_scan = scan::Scan::default();
        let last_user = input.messages.iter().rposition(|m| m.role == Role::User);

        for (index, message) in input.messages.iter().enumerate() {
            // Every message but the last was, in a conversation, sent with the previous request
            // (and a system prompt with every request): its count is likely remembered.
            let tokens = if index + 1 < input.messages.len() {
                self.tokens.count_repeated(&message.text)
            } else {
                self.tokens.count(&message.text)
            };
            prompt_tokens = prompt_tokens.saturating_add(tokens);
            image_parts = image_parts.saturating_add(message.image_parts);
            if message.role == Role::User {
                turns += 1;
                user_tokens = user_tokens.saturating_add(tokens);
                let is_last = Some(index) == last_user;
                self.scan_user_message(&message.text, is_last, &mut user_scan);
            }
        }

        let task_type = user_scan.task();
        Signals {
            prompt_tokens,
            user_tokens,
            turns,
            messages: u32::try_from(input.messages.len()).unwrap_or(u32::MAX),
            reasoning_keywords: user_scan.reasoning_keywords,
            task_type,
            domains: user_scan.domain_scores.present(),
            image_parts,
            needs: input.needs.clone(),
            has_code: user_scan.code_score >= scan::CODE_THRESHOLD,
            requested_model: input.requested_model.clone(),
            user_tier: context.user_tier.clone(),
            hour_of_day: context.hour_of_day.min(23),
            max_output_tokens: input.max_output_tokens,
            track_record: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests;
