//! The router: validates a request, extracts signals, applies the hard constraints, asks the
//! policy, resolves its target to a concrete model, and attaches costs and the explanation.

use crate::catalog::{Capability, Catalog, ModelSpec};
use crate::decision::Decision;
use crate::policy::{Choice, Policy, PolicyInput, Target};
use crate::request::{ChatInput, RequestContext};
use crate::signals::{ScanError, SignalExtractor, Signals};
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

/// Routes requests over one catalog with one policy. Cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct Router {
    catalog: Arc<Catalog>,
    policy: Arc<dyn Policy>,
    extractor: SignalExtractor,
    options: RouterOptions,
    /// Catalog indices, cheapest tier and price first; computed once.
    preference: Vec<usize>,
}

impl Router {
    pub fn new(
        catalog: Arc<Catalog>,
        policy: Arc<dyn Policy>,
        options: RouterOptions,
    ) -> Result<Self, RouteError> {
        let preference = catalog.models_by_preference();
        Ok(Self {
            catalog,
            policy,
            extractor: SignalExtractor::new()?,
            options,
            preference,
        })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn policy(&self) -> &dyn Policy {
        self.policy.as_ref()
    }

    pub fn options(&self) -> RouterOptions {
        self.options
    }

    pub fn extractor(&self) -> &SignalExtractor {
        &self.extractor
    }

    /// Decides where one request goes.
    pub fn decide(
        &self,
        input: &ChatInput,
        context: &RequestContext,
    ) -> Result<Decision, RouteError> {
        self.check_request(input)?;
        let signals = self.extractor.extract(input, context);
        let mut constraints = Vec::new();
        let eligible = self.eligible_models(&signals, &mut constraints)?;

        let (model_index, choice, policy) = match &input.requested_model {
            Some(requested) => (
                self.explicit_model(requested, &signals, &eligible)?,
                None,
                "explicit",
            ),
            None => {
                let choice = self.policy.choose(PolicyInput {
                    signals: &signals,
                    request: input,
                    catalog: &self.catalog,
                });
                let index = self.resolve(&choice, &eligible, &mut constraints)?;
                (index, Some(choice), self.policy.name())
            }
        };
        Ok(self.account(model_index, choice, policy, constraints, signals))
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

    /// The hard constraints: models that accept images when the request has some, and whose
    /// context window holds the prompt plus the caller's output cap.
    fn eligible_models(
        &self,
        signals: &Signals,
        constraints: &mut Vec<String>,
    ) -> Result<Vec<bool>, RouteError> {
        let needs_vision = signals.image_parts > 0;
        let needed_context = signals.required_context(0);
        let eligible: Vec<bool> = self
            .catalog
            .models()
            .iter()
            .map(|m| {
                (!needs_vision || m.has(Capability::Vision)) && needed_context <= m.context_window
            })
            .collect();
        if needs_vision {
            constraints.push(format!(
                "needs vision ({} image parts)",
                signals.image_parts
            ));
        }
        if self
            .catalog
            .models()
            .iter()
            .any(|m| needed_context > m.context_window)
        {
            constraints.push(format!(
                "needs a context window of at least {needed_context} tokens"
            ));
        }
        if eligible.iter().any(|e| *e) {
            return Ok(eligible);
        }
        let why = if needs_vision
            && !self
                .catalog
                .models()
                .iter()
                .any(|m| m.has(Capability::Vision))
        {
            "the request has images and no model has the `vision` capability".to_owned()
        } else {
            let largest = self
                .catalog
                .models()
                .iter()
                .map(|m| m.context_window)
                .max()
                .unwrap_or(0);
            format!(
                "it needs {needed_context} tokens of context (prompt plus max_tokens) and the largest eligible window is {largest}"
            )
        };
        Err(RouteError::NoEligibleModel { why })
    }

    fn explicit_model(
        &self,
        requested: &str,
        signals: &Signals,
        eligible: &[bool],
    ) -> Result<usize, RouteError> {
        let Some(index) = self.catalog.index_of(requested) else {
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
        if eligible.get(index).copied().unwrap_or(false) {
            return Ok(index);
        }
        let model = &self.catalog.models()[index];
        let why = if signals.image_parts > 0 && !model.has(Capability::Vision) {
            "the request has images and this model has no `vision` capability".to_owned()
        } else {
            format!(
                "the request needs {} tokens of context and this model's window is {}",
                signals.required_context(0),
                model.context_window
            )
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
        eligible: &[bool],
        constraints: &mut Vec<String>,
    ) -> Result<usize, RouteError> {
        let models = self.catalog.models();
        let is_ok = |i: usize| eligible.get(i).copied().unwrap_or(false);
        let has_all = |i: usize, caps: &[Capability]| caps.iter().all(|c| models[i].has(*c));

        let mut wanted: &[Capability] = &choice.require;
        if !wanted.is_empty()
            && !self
                .preference
                .iter()
                .any(|&i| is_ok(i) && has_all(i, wanted))
        {
            let names: Vec<&str> = wanted.iter().map(|c| c.as_str()).collect();
            constraints.push(format!(
                "no eligible model has {}, so it was not required",
                names.join(" + ")
            ));
            wanted = &[];
        }

        let min_tier = match choice.target {
            Target::Model(index) => {
                if is_ok(index) && has_all(index, wanted) {
                    return Ok(index);
                }
                constraints.push(format!(
                    "`{}` cannot serve this request, escalated",
                    models[index].name
                ));
                models[index].tier
            }
            Target::Tier(tier) => tier,
        };
        let serves = |i: &usize| is_ok(*i) && has_all(*i, wanted);
        let mut at_or_above = self
            .preference
            .iter()
            .copied()
            .filter(|&i| models[i].tier >= min_tier);
        if let Some(index) = at_or_above.find(serves) {
            if models[index].tier > min_tier {
                constraints.push(format!(
                    "no eligible model in tier `{}`, escalated to `{}`",
                    self.catalog.tiers()[min_tier],
                    self.catalog.tiers()[models[index].tier]
                ));
            }
            return Ok(index);
        }
        // Nothing at or above the target can serve: take the most capable model that can.
        if let Some(index) = self.preference.iter().rev().copied().find(serves) {
            constraints.push(format!(
                "no eligible model in tier `{}` or above, stepped down to `{}`",
                self.catalog.tiers()[min_tier],
                models[index].name
            ));
            return Ok(index);
        }
        Err(RouteError::NoEligibleModel {
            why: "no model satisfies the hard constraints".to_owned(),
        })
    }

    fn account(
        &self,
        model_index: usize,
        choice: Option<Choice>,
        policy: &str,
        constraints: Vec<String>,
        signals: Signals,
    ) -> Decision {
        let model: &ModelSpec = &self.catalog.models()[model_index];
        let baseline = self.catalog.baseline_model();
        let output_tokens = signals
            .max_output_tokens
            .map_or(self.options.expected_output_tokens, |cap| {
                cap.min(self.options.expected_output_tokens)
            });
        let input_tokens = u64::from(signals.prompt_tokens);
        let estimated_cost_usd = model.cost_usd(input_tokens, u64::from(output_tokens));
        let baseline_cost_usd = baseline.cost_usd(input_tokens, u64::from(output_tokens));
        let (reason, mut detail, score, threshold) = match choice {
            Some(c) => (c.reason, c.detail, c.score, c.threshold),
            None => (
                "explicit-model".to_owned(),
                format!("the caller asked for `{}`", model.name),
                None,
                None,
            ),
        };
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
            signals,
            estimated_output_tokens: output_tokens,
            estimated_cost_usd,
            baseline_model: baseline.name.clone(),
            baseline_cost_usd,
        }
    }
}

#[cfg(test)]
mod tests;
