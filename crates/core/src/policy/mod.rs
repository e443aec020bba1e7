//! Policies: pure functions from a request's signals to a routing target, with a reason.
//!
//! A policy only says *where it would like to go* (a [`Target`]: a model or a tier, plus
//! capabilities it wants); the [`crate::router::Router`] applies the hard constraints first and
//! resolves the target to the cheapest eligible model, so every policy gets constraint handling,
//! escalation and cost accounting for free and cannot pick a model that cannot serve the request.

pub mod complexity;
pub mod rules;

use crate::catalog::{Capability, Catalog};
use crate::request::ChatInput;
use crate::signals::Signals;
use std::fmt;

pub use complexity::{ComplexityPolicy, ComplexityWeights};
pub use rules::{Condition, Rule, RulesPolicy};

/// Where a policy wants a request to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A catalog model, by index.
    Model(usize),
    /// The cheapest eligible model in this tier (by index) or, failing that, a higher one.
    Tier(usize),
}

/// How a rule or setting names a target: a model name, a tier name, or a tier position that
/// works for any catalog (`cheapest`, `middle`, `strongest`).
pub fn resolve_target_name(catalog: &Catalog, name: &str) -> Option<Target> {
    if let Some(index) = catalog.index_of(name) {
        return Some(Target::Model(index));
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
}

/// What a policy sees of one request.
#[derive(Debug, Clone, Copy)]
pub struct PolicyInput<'a> {
    pub signals: &'a Signals,
    pub request: &'a ChatInput,
    pub catalog: &'a Catalog,
}

/// A routing policy. Implementations are pure and deterministic in their inputs; anything
/// random or time-dependent is passed in through [`PolicyInput`].
pub trait Policy: fmt::Debug + Send + Sync {
    /// Stable name used in headers, metrics and `--policy` (e.g. `rules`).
    fn name(&self) -> &str;

    fn choose(&self, input: PolicyInput<'_>) -> Choice;
}
