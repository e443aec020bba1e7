//! The decision stages: what happens between a request's analysis and its execution, in order.
//!
//! A [`Draft`] goes through the runtime's list of [`DecisionStage`]s, built once per config by
//! [`stages`] (the one place their order is set). Stages that earlier ones do not need are not
//! in the list at all, so a gateway without memory or experiments pays nothing for them:
//!
//! 1. *memory* (when configured): a floor under the tier, from bad feedback on similar requests;
//! 2. *experiment assignment* (with `[[experiments]]`): the experiment of the request's route,
//!    the arm whose policy decides (sticky by client key, `user` or a header), the control draw;
//! 3. *controllers* (when configured): the bias a strong-share target or a budget puts on
//!    the policy's threshold. They come before the policy because their output is the policy's
//!    input; what they learn from the decision is accounted after execution;
//! 4. **choose**: the policy (or the caller's explicit model), resolved to an eligible model,
//!    raised to the highest floor, explained;
//! 5. *shadows* (with `[[experiments]]`): what the experiment's shadow policies would serve,
//!    recorded and never served. After the choice, so a shadow never delays or changes it;
//! 6. *control* (with `[[experiments]]`): a request drawn into the control share is served by
//!    the strongest tier; every experiment request's propensity becomes its served model's
//!    probability under the control's mixture. Last, so nothing raises it again.
//!
//! Every stage that changes the outcome names itself in the decision (`stages`, `reason`).

mod choose;
mod controllers;
mod experiment;
mod memory;

pub use choose::Choose;
pub use controllers::Controlled;
pub use experiment::{Assign, Audience, ControlShare, Shadows};
pub use memory::RememberedUpgrades;

use crate::control::Controllers;
use crate::learning::LearnedStates;
use crate::memory::Memory;
use routewise_config::experiments::ExperimentConfig;
use routewise_config::{Config, PolicyRegistry};
use routewise_core::{
    Analysis, ChatInput, Decision, RouteError, Router, ShadowDecision, StageNote,
};
use std::sync::Arc;

/// A minimum tier a stage asks for, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Floor {
    pub tier: usize,
    /// What the decision notes when the floor raises it.
    pub note: StageNote,
}

/// A decision in the making.
#[derive(Debug)]
pub struct Draft<'a> {
    pub router: &'a Router,
    pub input: &'a ChatInput,
    pub analysis: &'a Analysis,
    pub policies: &'a PolicyRegistry,
    pub states: &'a LearnedStates,
    /// The gateway's memory, when it keeps one.
    pub memory: Option<&'a Memory>,
    /// The configured policy that decides: the route's, or the arm an experiment assigned.
    pub policy: String,
    /// Milliseconds since the Unix epoch.
    pub now_unix_ms: u64,
    /// Seeds the decision's randomness (from the request id): a logged decision can be replayed.
    pub seed: u64,
    /// The route and units experiments assign by.
    pub audience: Audience<'a>,
    /// What the stages before the choice have added; empty to start with.
    pub adjustments: Adjustments,
    /// The gateway's controllers and the caller, when the decision is for served traffic
    /// (`None` for a tool that decides one request, such as `routewise route`).
    pub control: Option<Control<'a>>,
    /// Set by the choose stage.
    pub decision: Option<Decision>,
}

/// What the controllers stage and the choice read of the gateway's controllers.
#[derive(Debug, Clone, Copy)]
pub struct Control<'a> {
    pub config: &'a Config,
    pub controllers: &'a Controllers,
    /// The caller's client key (per-key budgets).
    pub key: Option<&'a str>,
}

/// What stages add to a draft before the policy chooses: the choice's input and the experiment
/// slots the decision carries out.
#[derive(Debug, Default)]
pub struct Adjustments {
    /// See `routewise_core::policy::PolicyInput::bias`; stages add to it.
    pub bias: f64,
    pub floors: Vec<Floor>,
    /// Notes of stages that moved the policy's input (controllers): they join the explanation
    /// of a decision a steerable policy made.
    pub notes: Vec<StageNote>,
    pub experiment: Option<String>,
    pub arm: Option<String>,
    pub shadow: Vec<ShadowDecision>,
    /// The index in `[[experiments]]` of the request's experiment.
    pub assigned: Option<usize>,
    /// The request was drawn into its experiment's control share.
    pub control: bool,
}

/// One step of the decision.
pub trait DecisionStage: std::fmt::Debug + Send + Sync {
    fn name(&self) -> &'static str;

    fn apply(&self, draft: &mut Draft<'_>) -> Result<(), RouteError>;
}

/// The decision stages of a config, in order (see the module documentation).
pub fn stages(config: &Config) -> Vec<Box<dyn DecisionStage>> {
    let mut stages: Vec<Box<dyn DecisionStage>> = Vec::new();
    if config.memory.enabled {
        stages.push(Box::new(RememberedUpgrades::new(config.memory.clone())));
    }
    let experiments: Arc<[ExperimentConfig]> = config.experiments.clone().into();
    if !experiments.is_empty() {
        stages.push(Box::new(Assign {
            experiments: Arc::clone(&experiments),
        }));
    }
    if config.control.target.is_some() || config.control.budget.is_some() {
        stages.push(Box::new(Controlled));
    }
    stages.push(Box::new(Choose));
    if experiments.iter().any(|e| !e.shadows.is_empty()) {
        stages.push(Box::new(Shadows {
            experiments: Arc::clone(&experiments),
        }));
    }
    if !experiments.is_empty() {
        stages.push(Box::new(ControlShare { experiments }));
    }
    stages
}

/// Runs `draft` through `stages`; the decision is the choose stage's, as later stages left it.
pub fn decide(
    stages: &[Box<dyn DecisionStage>],
    mut draft: Draft<'_>,
) -> Result<Decision, RouteError> {
    for stage in stages {
        stage.apply(&mut draft)?;
    }
    let mut decision = draft
        .decision
        .ok_or_else(|| RouteError::PolicyUnavailable {
            policy: draft.policy.clone(),
            why: "no decision stage chose a model".to_owned(),
        })?;
    decision.experiment = draft.adjustments.experiment;
    decision.arm = draft.adjustments.arm;
    decision.shadow = draft.adjustments.shadow;
    Ok(decision)
}

#[cfg(test)]
mod tests;
