//! Policies: pure functions from a request's analysis to a routing target, with a reason.
//!
//! A policy only says *where it would like to go* (a [`Target`]: a model or a tier, plus
//! capabilities it wants); the [`crate::router::Router`] applies the hard constraints first and
//! resolves the target to the cheapest eligible model, so every policy gets constraint handling,
//! escalation and cost accounting for free and cannot pick a model that cannot serve the request.
//!
//! Everything a choice depends on comes in as a value: the analysis, the time, a source of
//! randomness and, for a policy that learns, a snapshot of its [`LearnedState`]. Learning
//! itself happens elsewhere, through the policy's [`Learner`], so a choice stays replayable:
//! the same input, state and seed give the same choice.

pub mod complexity;
pub mod default;
pub mod rules;
pub mod state;

use crate::catalog::{Capability, Catalog, ModelId, ModelSet};
use crate::request::ChatInput;
use crate::signals::Signals;
use rand::RngCore;
use std::fmt;

pub use complexity::{ComplexityPolicy, ComplexityWeights};
pub use default::DefaultPolicy;
pub use rules::{Condition, Rule, RulesPolicy};
pub use state::{LearnedState, Learner, Outcome, StateError};

/// Where a policy wants a request to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A catalog model.
    Model(ModelId),
    /// The cheapest eligible model in this tier (by index) or, failing that, a higher one.
    Tier(usize),
}

/// How a rule or setting names a target: a model name, a tier name, or a tier position that
/// works for any catalog (`cheapest`, `middle`, `strongest`).
pub fn resolve_target_name(catalog: &Catalog, name: &str) -> Option<Target> {
    if let Some(id) = catalog.id_of(name) {
        return Some(Target::Model(id));
    }
    if let Some(tier) = catalog.tier_index(name) {
        return Some(Target::Tier(tier));
    }
    match name {
        "cheapest" => Some(Target::Tier(0)),
        "middle" => Some(Target::Tier(catalog.middle_tier())),
        "strongest" => Some(Target::Tier(catalog.top_tier())),
        _ => None,
    }
}

/// The tier position aliases, which therefore cannot be used as tier or model names.
pub const TARGET_ALIASES: [&str; 3] = ["cheapest", "middle", "strongest"];

/// A policy's answer, before the router attaches a model and costs.
#[derive(Debug, Clone, PartialEq)]
pub struct Choice {
    pub target: Target,
    /// Capabilities the chosen model should have (e.g. `code` for code generation). The router
    /// honours them when an eligible model has them, and says so when none does.
    pub require: Vec<Capability>,
    /// Low-cardinality label for metrics and headers, e.g. `rule:premium-tier` or
    /// `complexity:tier-1`.
    pub reason: String,
    /// One sentence for humans.
    pub detail: String,
    /// The policy's score, when it has one (complexity, learned probability).
    pub score: Option<f64>,
    /// The threshold the score was compared with.
    pub threshold: Option<f64>,
    /// The probability that this policy makes this choice for this request, in (0, 1]: 1 for
    /// deterministic policies, the sampling probability for one that explores. Off-policy
    /// evaluation of logged traffic divides by it.
    pub propensity: f64,
    /// The policy's own features of the request, recorded with the decision so that a
    /// learner can learn from its outcome later (empty for policies that do not learn).
    pub features: Vec<f32>,
}

impl Choice {
    /// A deterministic choice (propensity 1) with no score.
    pub fn new(target: Target, reason: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            target,
            require: Vec::new(),
            reason: reason.into(),
            detail: detail.into(),
            score: None,
            threshold: None,
            propensity: 1.0,
            features: Vec::new(),
        }
    }

    /// The same choice with the score that decided it and the threshold it was held against.
    pub fn scored(mut self, score: Option<f64>, threshold: Option<f64>) -> Self {
        self.score = score;
        self.threshold = threshold;
        self
    }

    pub fn requiring(mut self, require: Vec<Capability>) -> Self {
        self.require = require;
        self
    }
}

/// What a policy sees of one request.
#[derive(Debug, Clone, Copy)]
pub struct PolicyInput<'a> {
    pub signals: &'a Signals,
    pub request: &'a ChatInput,
    pub catalog: &'a Catalog,
    /// The models that meet the request's hard constraints (never empty). A policy may aim
    /// elsewhere (the router escalates), but one that samples should sample among these.
    pub eligible: &'a ModelSet,
    /// Milliseconds since the Unix epoch, as the caller's clock has it.
    pub now_unix_ms: u64,
    /// How far controllers (a strong-share target, budget pacing) lean this decision towards
    /// stronger (> 0) or cheaper (< 0) models, in [-1, 1]; 0 leaves the policy as configured.
    /// Policies with a threshold move it; others ignore it ([`Policy::steerable`]).
    pub bias: f64,
    /// The policy's learned state, for a policy with a [`Learner`]; `None` otherwise, or when
    /// the caller keeps no state (the policy then decides from its prior).
    pub state: Option<&'a LearnedState>,
    /// Each catalog model's recent failure rate in [0, 1], by [`ModelId::index`]; empty when
    /// the caller does not track it (every model then counts as reliable).
    pub failure_rates: &'a [f64],
}

impl<'a> PolicyInput<'a> {
    /// An input with no clock, bias or state, e.g. for offline evaluation over benchmark rows.
    pub fn plain(
        signals: &'a Signals,
        request: &'a ChatInput,
        catalog: &'a Catalog,
        eligible: &'a ModelSet,
    ) -> Self {
        Self {
            signals,
            request,
            catalog,
            eligible,
            now_unix_ms: 0,
            bias: 0.0,
            state: None,
            failure_rates: &[],
        }
    }
}

/// A routing policy. Implementations are pure in their inputs: anything random, timed or
/// learned comes in through [`PolicyInput`] and `rng`.
pub trait Policy: fmt::Debug + Send + Sync {
    /// The policy's kind (`rules`, `complexity`, `learned`, ...): a stable label for
    /// metrics. Headers and records name the configured policy instead (see
    /// `routewise_config`'s policy registry), which for the built-in policies is the same word.
    fn name(&self) -> &str;

    fn choose(&self, input: &PolicyInput<'_>, rng: &mut dyn RngCore) -> Choice;

    /// Whether [`PolicyInput::bias`] moves this policy's decisions (it has a threshold).
    fn steerable(&self) -> bool {
        false
    }

    /// How this policy learns from outcomes, if it does.
    fn learner(&self) -> Option<&dyn Learner> {
        None
    }
}
