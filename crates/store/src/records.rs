//! The rows a store keeps, as plain values.

use serde::{Deserialize, Serialize};

/// One request as routed and served: the same facts as its JSON log line (which `body` holds
/// whole), with the ones that reports filter and sum on as columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    pub request_id: String,
    pub created_unix_ms: i64,
    pub key_name: Option<String>,
    pub route: Option<String>,
    pub policy: Option<String>,
    pub reason: Option<String>,
    pub experiment: Option<String>,
    pub arm: Option<String>,
    /// The model that served (or was being called).
    pub model: Option<String>,
    /// Its tier, 0 = cheapest.
    pub tier: Option<i64>,
    /// The probability that the deciding policy served this model.
    pub propensity: f64,
    /// `ok`, `error`, `stream_error`, `client_disconnected`, `cache_hit`.
    pub outcome: String,
    pub status: i64,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub cost_usd: f64,
    pub baseline_cost_usd: f64,
    pub latency_ms: f64,
    pub overhead_ms: f64,
    /// The query's fingerprint (256 bytes), what memory needs of the prompt.
    pub fingerprint: Option<Vec<u8>>,
    /// SHA-256 of the user's query, hex.
    pub prompt_hash: Option<String>,
    /// The user's query, only with `[store] log_prompts = true`.
    pub prompt: Option<String>,
    /// The rated request whose upgrade raised this decision, if memory did.
    pub upgraded_by: Option<String>,
    /// Served by another model than the first one called (schema v4; `false` before).
    #[serde(default)]
    pub fallback: bool,
    /// The whole log line (decision, signals, attempts, shadows), JSON.
    pub body: String,
}

/// Who gave feedback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedbackSource {
    User,
    Judge,
    Eval,
}

impl FeedbackSource {
    pub const ALL: [FeedbackSource; 3] = [
        FeedbackSource::User,
        FeedbackSource::Judge,
        FeedbackSource::Eval,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackSource::User => "user",
            FeedbackSource::Judge => "judge",
            FeedbackSource::Eval => "eval",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// One feedback on one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackRecord {
    pub id: String,
    pub request_id: String,
    pub created_unix_ms: i64,
    /// 0..1.
    pub score: f64,
    pub source: FeedbackSource,
    pub comment: Option<String>,
    pub key_name: Option<String>,
}

/// A rated request, as the track record needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct RatedRecord {
    pub request_id: String,
    pub model: String,
    pub score: f64,
    pub fingerprint: Vec<u8>,
}

/// A remembered upgrade.
#[derive(Debug, Clone, PartialEq)]
pub struct UpgradeRecord {
    pub rated_request: String,
    pub rated_model: String,
    pub min_tier: i64,
    pub fingerprint: Vec<u8>,
    pub created_unix_ms: i64,
    pub expires_unix_ms: i64,
}

/// Which records to read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordQuery {
    /// Created at or after.
    pub since_unix_ms: Option<i64>,
    /// Created before.
    pub until_unix_ms: Option<i64>,
    /// Older than this request (for paging, newest first).
    pub before_request: Option<String>,
    pub limit: usize,
}

/// Which records to read with their scores, oldest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScoredQuery {
    /// Created at or after.
    pub since_unix_ms: Option<i64>,
    /// Created before.
    pub until_unix_ms: Option<i64>,
    /// Only this experiment's records.
    pub experiment: Option<String>,
    /// After this record (created, request id): the last one of the previous page.
    pub after: Option<(i64, String)>,
    pub limit: usize,
}

/// A record and the latest feedback score on it, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredRecord {
    pub record: DecisionRecord,
    pub score: Option<f64>,
}

/// A page of the most recent records, newest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecentQuery {
    /// Created at or after.
    pub since_unix_ms: Option<i64>,
    /// Created before.
    pub until_unix_ms: Option<i64>,
    /// Older than this record (created, request id): the last one of the previous page.
    pub before: Option<(i64, String)>,
    pub limit: usize,
}

/// One request's latencies, for percentiles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySample {
    pub latency_ms: f64,
    pub overhead_ms: f64,
}
