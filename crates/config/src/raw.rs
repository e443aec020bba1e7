//! The config file as written: serde structs that mirror the TOML, with no validation beyond
//! types and known keys. See `docs/CONFIG.md` for every key.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Tier names, cheapest first.
    #[serde(default)]
    pub tiers: Vec<String>,
    #[serde(default)]
    pub providers: Vec<RawProvider>,
    #[serde(default)]
    pub models: Vec<RawModel>,
    #[serde(default)]
    pub routing: RawRouting,
    /// Named policies beyond the built-in ones, `[policies.NAME]` with a `kind`.
    #[serde(default)]
    pub policies: BTreeMap<String, RawPolicy>,
    /// `routewise serve` settings (see `crate::server`).
    #[serde(default)]
    pub server: crate::server::RawServer,
    /// Where decisions and feedback are kept (see `crate::store`).
    #[serde(default)]
    pub store: crate::store::RawStore,
    #[serde(default)]
    pub memory: crate::store::RawMemory,
    /// A spend budget that paces routing (see `crate::control`).
    pub budget: Option<crate::control::RawBudget>,
    /// Shadow policies, A/B arms, control shares and rollouts (see `crate::experiments`).
    #[serde(default)]
    pub experiments: Vec<crate::experiments::RawExperiment>,
    /// The built-in alerts (see `crate::alerts`).
    #[serde(default)]
    pub alerts: crate::alerts::RawAlerts,
    /// State shared between replicas (see `crate::shared`).
    #[serde(default)]
    pub shared: crate::shared::RawShared,
    /// OpenTelemetry traces (see `crate::telemetry`).
    #[serde(default)]
    pub telemetry: crate::telemetry::RawTelemetry,
    /// The dashboard (see `crate::dashboard`).
    #[serde(default)]
    pub dashboard: crate::dashboard::RawDashboard,
}

/// A named policy: its `kind` and that kind's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum RawPolicy {
    Rules(RawRulesPolicy),
    Complexity(RawComplexity),
    Learned(RawLearned),
    Bandit(RawBandit),
}

/// A contextual bandit's settings; every key has a default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBandit {
    /// Dollars one point of quality is worth (lambda = 1 / this).
    pub quality_value_usd: Option<f64>,
    /// Share of requests that explore, 0 to 0.5.
    pub explore: Option<f64>,
    /// Weight of the uncertainty bonus, >= 0.
    pub optimism: Option<f64>,
    /// Strength of the tier-order prior, in observations, > 0.
    pub prior_weight: Option<f64>,
    /// Hash buckets for the query's words and word pairs, 0 (signals only) to 4,194,304.
    pub text_features: Option<u32>,
    /// AdaGrad's step size for the words' model, in (0, 1].
    pub text_learning_rate: Option<f64>,
    /// Caller tiers never explored; default `["premium"]`.
    pub no_explore_tiers: Option<Vec<String>>,
    /// A model file from `routewise train` to warm-start from: its predicted quality is each
    /// arm's prior (relative paths resolve as `[routing.learned] model` does).
    pub prior_model: Option<String>,
}

/// A named rules policy: its own rules (the default rules when absent) and default target.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRulesPolicy {
    pub default_target: Option<String>,
    pub rules: Option<Vec<RawRule>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    pub name: String,
    /// `openai` (any OpenAI-compatible API) or `anthropic`.
    pub kind: String,
    pub base_url: String,
    /// Name of the environment variable holding the API key; the key itself never goes in the file.
    pub api_key_env: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub name: String,
    pub provider: String,
    /// Model name sent upstream; defaults to `name`.
    pub upstream_model: Option<String>,
    pub tier: String,
    pub input_usd_per_mtok: f64,
    pub output_usd_per_mtok: f64,
    pub context_window: u32,
    #[serde(default)]
    pub capabilities: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouting {
    /// The policy that routes `auto`: `rules` (default), `complexity`, `learned`, or a
    /// `[policies.NAME]`.
    pub policy: Option<String>,
    /// Output tokens assumed for cost estimates when a request sets no `max_tokens`.
    pub expected_output_tokens: Option<u32>,
    /// Where requests go when no rule matches; defaults to `middle`.
    pub default_target: Option<String>,
    /// Replaces the built-in rules when present.
    pub rules: Option<Vec<RawRule>>,
    pub complexity: Option<RawComplexity>,
    pub limits: Option<RawLimits>,
    /// The learned router's model file and calibrated threshold (`routewise calibrate
    /// --write-config` writes this table).
    pub learned: Option<RawLearned>,
    /// The built-in `bandit` policy's settings (defaults when absent).
    pub bandit: Option<RawBandit>,
    /// A strong-share target or a quality floor held online (see `crate::control`).
    pub target: Option<crate::control::RawTarget>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLearned {
    /// Path of a model file from `routewise train`.
    pub model: String,
    /// The cheapest model whose acceptability reaches this threshold serves the request.
    pub threshold: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub name: String,
    pub description: Option<String>,
    #[serde(default)]
    pub when: RawCondition,
    /// A model name, a tier name, or `cheapest` / `middle` / `strongest`.
    pub target: String,
    #[serde(default)]
    pub require: Vec<String>,
}

/// A condition: every key given must hold (implicit AND); `all`, `any` and `not` nest.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCondition {
    pub all: Option<Vec<RawCondition>>,
    pub any: Option<Vec<RawCondition>>,
    pub not: Option<Box<RawCondition>>,
    pub user_tier: Option<Vec<String>>,
    pub task: Option<Vec<String>>,
    pub domain: Option<Vec<String>>,
    pub reasoning_keyword: Option<Vec<String>>,
    pub min_reasoning_keywords: Option<u32>,
    pub min_tokens: Option<u32>,
    pub max_tokens: Option<u32>,
    pub min_turns: Option<u32>,
    pub has_code: Option<bool>,
    pub has_image: Option<bool>,
    /// `[from, to)` hours, UTC; wraps past midnight when from > to.
    pub hour_between: Option<[u8; 2]>,
    /// A model's mean score on similar rated requests is below `score` (needs memory).
    pub track_record_below: Option<RawTrackRecordBelow>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTrackRecordBelow {
    /// The model whose record counts; default the cheapest model.
    pub model: Option<String>,
    /// Mean feedback score, 0..1.
    pub score: f64,
    /// Similar rated requests needed before the condition can hold; default 3.
    pub min_count: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawComplexity {
    pub weights: Option<RawWeights>,
    /// One ascending threshold per tier but the last.
    pub thresholds: Option<Vec<f64>>,
    /// Token limit per tier but the last; 0 means no limit.
    pub max_tokens: Option<Vec<u32>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeights {
    pub tokens: Option<f64>,
    pub reasoning: Option<f64>,
    pub task: Option<f64>,
    pub domain: Option<f64>,
    pub code: Option<f64>,
    pub turns: Option<f64>,
    /// How badly similar rated requests went (needs memory); default 0.
    pub track_record: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub max_input_bytes: Option<usize>,
    pub max_messages: Option<usize>,
}
