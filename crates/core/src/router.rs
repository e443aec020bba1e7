//! The router, in three steps that callers may compose: [`Router::analyse`] validates a
//! request, extracts its signals once and applies the hard constraints; [`Router::choose`] asks a
//! policy over that analysis and resolves its target to a concrete eligible model;
//! [`Router::account`] attaches costs and the explanation. [`Router::decide`] runs all three
//! with the router's own policy.

use crate::catalog::{Capability, Catalog, ModelId, ModelSet, ModelSpec};
use crate::decision::Decision;
use crate::policy::{Choice, LearnedState, Policy, PolicyInput, Target};
use crate::request::{ChatInput, RequestContext};
use crate::signals::{ScanError, SignalExtractor, Signals};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use std::sync::Arc;
use thiserror::Error;

/// Limits on what a request may contain, so that a hostile or broken client cannot make routing
/// slow or memory-hungry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes of text over all messages.
    pub max_input_bytes: usize,
    pub max_messages: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_input_bytes: 8 * 1024 * 1024,
            max_messages: 1_000,
        }
    }
}

/// Router settings that are not the catalog or the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterOptions {
    pub limits: Limits,
    /// Output tokens assumed for cost estimates when the caller sets no `max_tokens`.
    pub expected_output_tokens: u32,
}

impl Default for RouterOptions {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            expected_output_tokens: 256,
        }
    }
}

/// Why a request could not be routed. Each message says what to change.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RouteError {
    #[error("the request has no messages: send at least one message with role `user`")]
    NoMessages,
    #[error("the prompt is empty: every message has empty text and no images")]
    EmptyPrompt,
    #[error("the request has {count} messages; the limit is {limit}")]
    TooManyMessages { count: usize, limit: usize },
    #[error("the request text is {bytes} bytes; the limit is {limit} bytes")]
    InputTooLarge { bytes: usize, limit: usize },
    #[error("model `{requested}` is not in the catalog; available: {available}")]
    UnknownModel {
        requested: String,
        available: String,
    },
    #[error("model `{model}` cannot serve this request: {why}")]
    ModelCannotServe { model: String, why: String },
    #[error("no model in the catalog can serve this request: {why}")]
    NoEligibleModel { why: String },
    #[error(transparent)]
    Setup(#[from] ScanError),
    #[error("policy `{policy}` is not available: {why}")]
    PolicyUnavailable { policy: String, why: String },
}

impl RouteError {
    /// A short, stable label for metrics and error codes.
    pub fn kind(&self) -> &'static str {
        match self {
            RouteError::NoMessages => "no_messages",
            RouteError::EmptyPrompt => "empty_prompt",
            RouteError::TooManyMessages { .. } => "too_many_messages",
            RouteError::InputTooLarge { .. } => "input_too_large",
            RouteError::UnknownModel { .. } => "unknown_model",
            RouteError::ModelCannotServe { .. } => "model_cannot_serve",
            RouteError::NoEligibleModel { .. } => "no_eligible_model",
            RouteError::Setup(_) => "setup",
            RouteError::PolicyUnavailable { .. } => "policy_unavailable",
        }
    }
}

/// One request, analysed once: its signals and the models that meet its hard constraints.
/// Any number of policies can then choose over it (the served one, shadows, experiment arms)
/// without tokenising again.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub signals: Signals,
    /// Models that can serve the request; never empty.
    pub eligible: ModelSet,
    /// The hard constraints that applied, for the explanation (e.g. `needs vision`).
    pub constraints: Vec<String>,
    /// The query's fingerprint, when memory is on (see [`crate::memory`]).
    pub fingerprint: Option<crate::memory::Fingerprint>,
}

/// What a choice takes besides the request: randomness, the time, the policy's learned state,
/// and what controllers decided.
pub struct Steering<'a> {
    pub rng: &'a mut dyn RngCore,
    pub now_unix_ms: u64,
    /// See [`crate::policy::PolicyInput::bias`].
    pub bias: f64,
    pub state: Option<&'a LearnedState>,
    /// See [`crate::policy::PolicyInput::failure_rates`].
    pub failure_rates: &'a [f64],
}

impl std::fmt::Debug for Steering<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Steering")
            .field("now_unix_ms", &self.now_unix_ms)
            .field("bias", &self.bias)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// A policy's choice, resolved to a model that can serve the request.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    pub model: ModelId,
    /// `None` when the caller named the model (no policy was asked).
    pub choice: Option<Choice>,
    /// Target adjustments made while resolving (escalations), after the hard constraints.
    pub adjustments: Vec<String>,
}

/// Routes requests over one catalog. It holds a default policy for [`Router::decide`]; the
/// gateway asks other policies over the same [`Analysis`] with [`Router::choose`].
#[derive(Debug, Clone)]
pub struct Router {
    catalog: Arc<Catalog>,
    policy: Arc<dyn Policy>,
    /// What decisions call the policy: its configured name (its kind unless renamed).
    policy_name: String,
    extractor: SignalExtractor,
    options: RouterOptions,
}

/// The seed of [`Router::decide`]'s randomness: a one-call decision is reproducible.
const DECIDE_SEED: u64 = 0x726f_7574_6577_6973;

impl Router {
    pub fn new(
        catalog: Arc<Catalog>,
        policy: Arc<dyn Policy>,
        options: RouterOptions,
    ) -> Result<Self, RouteError> {
        Ok(Self {
            catalog,
            policy_name: policy.name().to_owned(),
            policy,
            extractor: SignalExtractor::new()?,
            options,
        })
    }

    /// The same router, whose decisions name the policy `name` (as configured).
    pub fn named(mut self, name: &str) -> Self {
        name.clone_into(&mut self.policy_name);
        self
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn shared_catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    pub fn policy(&self) -> &dyn Policy {
        self.policy.as_ref()
    }

    /// The router's policy, shared, and the name its decisions give it.
    pub fn named_policy(&self) -> (&str, Arc<dyn Policy>) {
        (&self.policy_name, Arc::clone(&self.policy))
    }

    pub fn options(&self) -> RouterOptions {
        self.options
    }

    pub fn extractor(&self) -> &SignalExtractor {
        &self.extractor
    }

    /// Decides where one request goes with the router's own policy, at time 0 with a fixed
    /// seed and no learned state: analyse, choose, account.
    pub fn decide(
        &self,
        input: &ChatInput,
        context: &RequestContext,
    ) -> Result<Decision, RouteError> {
        let analysis = self.analyse(input, context)?;
        let mut rng = StdRng::seed_from_u64(DECIDE_SEED);
        let mut steering = Steering {
            rng: &mut rng,
            now_unix_ms: 0,
            bias: 0.0,
            state: None,
            failure_rates: &[],
        };
        let routed = self.choose(self.policy.as_ref(), input, &analysis, &mut steering)?;
        Ok(self.account(&analysis, routed, &self.policy_name))
    }

    /// Validates the request, extracts its signals (the one tokenisation) and applies the hard
    /// constraints.
    pub fn analyse(
        &self,
        input: &ChatInput,
        context: &RequestContext,
    ) -> Result<Analysis, RouteError> {
        self.check_request(input)?;
        let signals = self.extractor.extract(input, context);
        let mut constraints = Vec::new();
        let eligible = self.eligible_models(&signals, &mut constraints)?;
        Ok(Analysis {
            signals,
            eligible,
            constraints,
            fingerprint: None,
        })
    }

    /// Asks `policy` (or honours the caller's explicit model) and resolves the answer to an
    /// eligible model.
    pub fn choose(
        &self,
        policy: &dyn Policy,
        input: &ChatInput,
        analysis: &Analysis,
        steering: &mut Steering<'_>,
    ) -> Result<Routed, RouteError> {
        if let Some(requested) = &input.requested_model {
            let model = self.explicit_model(requested, &analysis.signals, &analysis.eligible)?;
            return Ok(Routed {
                model,
                choice: None,
                adjustments: Vec::new(),
            });
        }
        let policy_input = PolicyInput {
            signals: &analysis.signals,
            request: input,
            catalog: &self.catalog,
            eligible: &analysis.eligible,
            now_unix_ms: steering.now_unix_ms,
            bias: steering.bias.clamp(-1.0, 1.0),
            state: steering.state,
            failure_rates: steering.failure_rates,
        };
        let choice = policy.choose(&policy_input, &mut *steering.rng);
        let mut adjustments = Vec::new();
        let model = self.resolve(&choice, &analysis.eligible, &mut adjustments)?;
        Ok(Routed {
            model,
            choice: Some(choice),
            adjustments,
        })
    }

    /// Raises a routed request to at least `tier` (memory of a bad answer on a cheaper one),
    /// keeping to eligible models; `false` when it already was there or nothing eligible is.
    pub fn raise_to_tier(&self, routed: &mut Routed, analysis: &Analysis, tier: usize) -> bool {
        let current = self.catalog.get(routed.model).map_or(0, |m| m.tier);
        if current >= tier {
            return false;
        }
        let raised = self
            .catalog
            .models_by_preference()
            .iter()
            .copied()
            .find(|&id| {
                analysis.eligible.contains(id)
                    && self.catalog.get(id).is_some_and(|m| m.tier >= tier)
            });
        match raised {
            Some(model) => {
                routed.model = model;
                true
            }
            None => false,
        }
    }

    /// Moves an accounted `decision` up to the first eligible model (by preference) of `tier`
    /// or above, with the cost estimate that follows; false when it is already there or no
    /// eligible model is. The caller notes why (a stage such as an experiment's control).
    pub fn raise_decision(
        &self,
        decision: &mut Decision,
        analysis: &Analysis,
        tier: usize,
    ) -> bool {
        let Some(current) = self.catalog.id_of(&decision.model) else {
            return false;
        };
        let mut routed = Routed {
            model: current,
            choice: None,
            adjustments: Vec::new(),
        };
        if !self.raise_to_tier(&mut routed, analysis, tier) {
            return false;
        }
        let Some(model) = self.catalog.get(routed.model) else {
            return false;
        };
        decision.model = model.name.clone();
        decision.estimated_cost_usd = self.estimate(&analysis.signals, routed.model).0;
        true
    }

    /// The request's estimated cost on `model`, and on the always-large baseline.
    pub fn estimate(&self, signals: &Signals, model: ModelId) -> (f64, f64) {
        let output_tokens = u64::from(self.output_tokens(signals));
        let input_tokens = u64::from(signals.prompt_tokens);
        let cost = self
            .catalog
            .get(model)
            .map_or(0.0, |m| m.cost_usd(input_tokens, output_tokens));
        let baseline = self
            .catalog
            .baseline_model()
            .cost_usd(input_tokens, output_tokens);
        (cost, baseline)
    }

    fn output_tokens(&self, signals: &Signals) -> u32 {
        signals
            .max_output_tokens
            .map_or(self.options.expected_output_tokens, |cap| {
                cap.min(self.options.expected_output_tokens)
            })
    }

    /// The decision and its explanation: the routed model, costs, and every constraint and
    /// adjustment that shaped it. `policy` names the policy as configured.
    pub fn account(&self, analysis: &Analysis, routed: Routed, policy: &str) -> Decision {
        // An id always comes from this catalog; the baseline stands in rather than panic.
        let model = self
            .catalog
            .get(routed.model)
            .unwrap_or_else(|| self.catalog.baseline_model());
        let baseline = self.catalog.baseline_model();
        let output_tokens = self.output_tokens(&analysis.signals);
        let (estimated_cost_usd, baseline_cost_usd) =
            self.estimate(&analysis.signals, routed.model);
        let (policy, reason, mut detail, score, threshold, propensity, features) =
            match routed.choice {
                Some(c) => (
                    policy,
                    c.reason,
                    c.detail,
                    c.score,
                    c.threshold,
                    c.propensity,
                    c.features,
                ),
                None => (
                    "explicit",
                    "explicit-model".to_owned(),
                    format!("the caller asked for `{}`", model.name),
                    None,
                    None,
                    1.0,
                    Vec::new(),
                ),
            };
        let mut constraints = analysis.constraints.clone();
        constraints.extend(routed.adjustments);
        if !constraints.is_empty() {
            detail.push_str("; ");
            detail.push_str(&constraints.join("; "));
        }
        Decision {
            model: model.name.clone(),
            policy: policy.to_owned(),
            reason,
            detail,
            score,
            threshold,
            constraints,
            signals: analysis.signals.clone(),
            estimated_output_tokens: output_tokens,
            estimated_cost_usd,
            baseline_model: baseline.name.clone(),
            baseline_cost_usd,
            propensity,
            policy_features: features,
            stages: Vec::new(),
            experiment: None,
            arm: None,
            shadow: Vec::new(),
        }
    }

    fn check_request(&self, input: &ChatInput) -> Result<(), RouteError> {
        let limits = self.options.limits;
        if input.messages.is_empty() {
            return Err(RouteError::NoMessages);
        }
        if input.messages.len() > limits.max_messages {
            return Err(RouteError::TooManyMessages {
                count: input.messages.len(),
                limit: limits.max_messages,
            });
        }
        let bytes: usize = input.messages.iter().map(|m| m.text.len()).sum();
        if bytes > limits.max_input_bytes {
            return Err(RouteError::InputTooLarge {
                bytes,
                limit: limits.max_input_bytes,
            });
        }
        let has_content = input
            .messages
            .iter()
            .any(|m| m.image_parts > 0 || !m.text.trim().is_empty());
        if !has_content {
            return Err(RouteError::EmptyPrompt);
        }
        Ok(())
    }

    /// The hard constraints: models that accept images when the request has some, that have
    /// every capability the request needs (tools, structured output) when the catalog declares
    /// it for any model, and whose context window holds the prompt plus the caller's output cap.
    fn eligible_models(
        &self,
        signals: &Signals,
        constraints: &mut Vec<String>,
    ) -> Result<ModelSet, RouteError> {
        let models = self.catalog.models();
        let needs_vision = signals.image_parts > 0;
        let needed_context = signals.required_context(0);
        // A capability no model declares is not enforced: the operator has not described it,
        // and refusing every such request would break catalogs written before it existed.
        let (enforced, undeclared): (Vec<Capability>, Vec<Capability>) = signals
            .needs
            .iter()
            .partition(|c| models.iter().any(|m| m.has(**c)));
        let eligible = ModelSet::of(&self.catalog, |m| {
            (!needs_vision || m.has(Capability::Vision))
                && enforced.iter().all(|c| m.has(*c))
                && needed_context <= m.context_window
        });
        if needs_vision {
            constraints.push(format!(
                "needs vision ({} image parts)",
                signals.image_parts
            ));
        }
        for capability in &enforced {
            constraints.push(format!("needs `{capability}` (the request uses it)"));
        }
        for capability in &undeclared {
            constraints.push(format!(
                "the request uses `{capability}`, which no model declares, so it was not required"
            ));
        }
        if models.iter().any(|m| needed_context > m.context_window) {
            constraints.push(format!(
                "needs a context window of at least {needed_context} tokens"
            ));
        }
        if !eligible.is_empty() {
            return Ok(eligible);
        }
        Err(RouteError::NoEligibleModel {
            why: self.why_none_serves(signals, &enforced),
        })
    }

    /// Which hard constraint left no model, for the error.
    fn why_none_serves(&self, signals: &Signals, enforced: &[Capability]) -> String {
        let models = self.catalog.models();
        let needed_context = signals.required_context(0);
        let needs_vision = signals.image_parts > 0;
        if needs_vision && !models.iter().any(|m| m.has(Capability::Vision)) {
            return "the request has images and no model has the `vision` capability".to_owned();
        }
        let capable = |m: &&ModelSpec| {
            (!needs_vision || m.has(Capability::Vision)) && enforced.iter().all(|c| m.has(*c))
        };
        if !models.iter().any(|m| capable(&m)) {
            let needs: Vec<String> = needs_vision
                .then(|| "vision".to_owned())
                .into_iter()
                .chain(enforced.iter().map(|c| c.to_string()))
                .collect();
            return format!(
                "no model has every capability the request needs ({})",
                needs.join(" + ")
            );
        }
        let largest = models
            .iter()
            .filter(capable)
            .map(|m| m.context_window)
            .max()
            .unwrap_or(0);
        format!(
            "it needs {needed_context} tokens of context (prompt plus max_tokens) and the largest eligible window is {largest}"
        )
    }

    fn explicit_model(
        &self,
        requested: &str,
        signals: &Signals,
        eligible: &ModelSet,
    ) -> Result<ModelId, RouteError> {
        let Some(id) = self.catalog.id_of(requested) else {
            let available = self
                .catalog
                .models()
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(RouteError::UnknownModel {
                requested: requested.to_owned(),
                available,
            });
        };
        if eligible.contains(id) {
            return Ok(id);
        }
        let why = match self.catalog.get(id) {
            Some(model) if signals.image_parts > 0 && !model.has(Capability::Vision) => {
                "the request has images and this model has no `vision` capability".to_owned()
            }
            Some(model) if signals.needs.iter().any(|c| !model.has(*c)) => {
                let missing: Vec<&str> = signals
                    .needs
                    .iter()
                    .filter(|c| !model.has(**c))
                    .map(|c| c.as_str())
                    .collect();
                format!(
                    "the request uses {} and this model does not declare it",
                    missing.join(" + ")
                )
            }
            Some(model) => format!(
                "the request needs {} tokens of context and this model's window is {}",
                signals.required_context(0),
                model.context_window
            ),
            None => "it is not in this catalog".to_owned(),
        };
        Err(RouteError::ModelCannotServe {
            model: requested.to_owned(),
            why,
        })
    }

    /// Turns a policy's target into the cheapest eligible model that satisfies it. A model
    /// target that cannot serve escalates to the cheapest eligible model of its tier or above; a
    /// tier with no eligible model escalates upwards, and only if nothing above can serve does it
    /// step down. Wanted capabilities are honoured when some eligible model has them.
    fn resolve(
        &self,
        choice: &Choice,
        eligible: &ModelSet,
        constraints: &mut Vec<String>,
    ) -> Result<ModelId, RouteError> {
        let catalog = &self.catalog;
        let preference = catalog.models_by_preference();
        let has_all = |id: ModelId, caps: &[Capability]| {
            catalog
                .get(id)
                .is_some_and(|m| caps.iter().all(|c| m.has(*c)))
        };
        let tier_of = |id: ModelId| catalog.get(id).map_or(0, |m| m.tier);

        let mut wanted: &[Capability] = &choice.require;
        if !wanted.is_empty()
            && !preference
                .iter()
                .any(|&id| eligible.contains(id) && has_all(id, wanted))
        {
            let names: Vec<&str> = wanted.iter().map(|c| c.as_str()).collect();
            constraints.push(format!(
                "no eligible model has {}, so it was not required",
                names.join(" + ")
            ));
            wanted = &[];
        }

        let min_tier = match choice.target {
            Target::Model(id) => {
                if eligible.contains(id) && has_all(id, wanted) {
                    return Ok(id);
                }
                let name = catalog.get(id).map_or("?", |m| m.name.as_str());
                constraints.push(format!("`{name}` cannot serve this request, escalated"));
                tier_of(id)
            }
            Target::Tier(tier) => tier.min(catalog.top_tier()),
        };
        let serves = |id: &ModelId| eligible.contains(*id) && has_all(*id, wanted);
        let tier_name = |tier: usize| catalog.tiers().get(tier).map_or("?", String::as_str);
        let mut at_or_above = preference
            .iter()
            .copied()
            .filter(|&id| tier_of(id) >= min_tier);
        if let Some(id) = at_or_above.find(serves) {
            if tier_of(id) > min_tier {
                constraints.push(format!(
                    "no eligible model in tier `{}`, escalated to `{}`",
                    tier_name(min_tier),
                    tier_name(tier_of(id))
                ));
            }
            return Ok(id);
        }
        // Nothing at or above the target can serve: take the most capable model that can.
        if let Some(id) = preference.iter().rev().copied().find(serves) {
            constraints.push(format!(
                "no eligible model in tier `{}` or above, stepped down to `{}`",
                tier_name(min_tier),
                catalog.get(id).map_or("?", |m| m.name.as_str())
            ));
            return Ok(id);
        }
        Err(RouteError::NoEligibleModel {
            why: "no model satisfies the hard constraints".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests;
