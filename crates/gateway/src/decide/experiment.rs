//! The experiment stages of `[[experiments]]`:
//!
//! - [`Assign`] (before the controllers): which experiment the request's route is in, the
//!   arm its unit (client key, `user` or a header's value) is assigned to, sticky by hashing,
//!   and whether this request is drawn into the control share;
//! - [`Shadows`] (after the choice): what each shadow policy would serve, recorded only;
//! - [`ControlShare`] (last): a drawn request is served by the strongest tier, and every
//!   experiment request's propensity is the probability of its served model under the
//!   control's mixture, so that `routewise replay` can weigh it.

use super::choose::decide_with;
use super::{DecisionStage, Draft};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use routewise_config::experiments::{AssignBy, CONTROL_ARM, ExperimentConfig};
use routewise_core::experiment::{pick_arm, served_propensity, unit_point};
use routewise_core::{RouteError, ShadowDecision, StageNote};
use std::sync::Arc;

/// Salts that keep a request's draws independent of each other and of the decision's own
/// randomness (which the seed drives unsalted).
const CONTROL_SALT: u64 = 0x636f_6e74_726f_6c00;
const SHADOW_SALT: u64 = 0x7368_6164_6f77_0000;
const UNIT_SALT: u64 = 0x756e_6974_0000_0000;

/// Who is asking, as experiments assign: the route and the units assignment can stick to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Audience<'a> {
    /// The route the request named; experiments apply to routes only.
    pub route: Option<&'a str>,
    pub key: Option<&'a str>,
    /// The request's `user` field.
    pub user: Option<&'a str>,
    pub headers: Option<&'a http::HeaderMap>,
}

impl<'a> Audience<'a> {
    /// The unit `by` names, falling back to the client key, then the `user` field.
    fn unit(&self, by: &AssignBy) -> Option<&'a str> {
        let header = |name: &str| {
            self.headers
                .and_then(|h| h.get(name))
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
        };
        match by {
            AssignBy::Key => self.key.or(self.user),
            AssignBy::User => self.user.or(self.key),
            AssignBy::Header(name) => header(name).or(self.key).or(self.user),
        }
    }
}

/// A uniform draw in [0, 1) fixed by the request's seed and a salt.
fn draw(seed: u64, salt: u64) -> f64 {
    StdRng::seed_from_u64(seed ^ salt).random::<f64>()
}

/// The experiment, arm and control draw of a request.
#[derive(Debug)]
pub struct Assign {
    pub experiments: Arc<[ExperimentConfig]>,
}

impl DecisionStage for Assign {
    fn name(&self) -> &'static str {
        "experiment"
    }

    fn apply(&self, draft: &mut Draft<'_>) -> Result<(), RouteError> {
        let Some(route) = draft.audience.route else {
            return Ok(());
        };
        if draft.input.requested_model.is_some() {
            return Ok(());
        }
        let Some((index, experiment)) = self
            .experiments
            .iter()
            .enumerate()
            .find(|(_, e)| e.applies_to(route))
        else {
            return Ok(());
        };
        draft.adjustments.assigned = Some(index);
        draft.adjustments.experiment = Some(experiment.name.clone());
        if !experiment.arms.is_empty() {
            let point = match draft.audience.unit(&experiment.assign_by) {
                Some(unit) => unit_point(&experiment.name, "arm", unit),
                // No unit to stick to: this request alone decides its arm.
                None => draw(draft.seed, UNIT_SALT),
            };
            let weights: Vec<f64> = experiment.arms.iter().map(|a| a.weight).collect();
            let arm = &experiment.arms[pick_arm(point, &weights)];
            draft.policy.clone_from(&arm.policy);
            draft.adjustments.arm = Some(arm.name.clone());
        }
        if experiment.control_share > 0.0
            && draw(draft.seed, CONTROL_SALT) < experiment.control_share
        {
            draft.adjustments.control = true;
            draft.adjustments.arm = Some(CONTROL_ARM.to_owned());
        }
        Ok(())
    }
}

/// The experiment the assignment stage put the draft in.
fn assigned<'e>(
    experiments: &'e [ExperimentConfig],
    draft: &Draft<'_>,
) -> Option<&'e ExperimentConfig> {
    draft.adjustments.assigned.and_then(|i| experiments.get(i))
}

/// What the experiment's shadow policies would have served; nothing acts on it.
#[derive(Debug)]
pub struct Shadows {
    pub experiments: Arc<[ExperimentConfig]>,
}

impl DecisionStage for Shadows {
    fn name(&self) -> &'static str {
        "shadow"
    }

    fn apply(&self, draft: &mut Draft<'_>) -> Result<(), RouteError> {
        let Some(experiment) = assigned(&self.experiments, draft) else {
            return Ok(());
        };
        if experiment.shadows.is_empty()
            || (experiment.shadow_share < 1.0
                && draw(draft.seed, SHADOW_SALT) >= experiment.shadow_share)
        {
            return Ok(());
        }
        for policy in &experiment.shadows {
            // A shadow that cannot decide must not fail a request it does not serve.
            match decide_with(draft, policy, 0.0, draft.seed, Vec::new()) {
                Ok(decision) => draft.adjustments.shadow.push(ShadowDecision {
                    policy: decision.policy,
                    model: decision.model,
                    reason: decision.reason,
                    estimated_cost_usd: decision.estimated_cost_usd,
                    propensity: decision.propensity,
                }),
                Err(error) => {
                    tracing::warn!(experiment = %experiment.name, policy = %policy, %error, "shadow policy could not decide");
                    crate::metrics::shadow_error(&experiment.name, policy);
                }
            }
        }
        Ok(())
    }
}

/// The control share: a drawn request is served by the strongest tier.
#[derive(Debug)]
pub struct ControlShare {
    pub experiments: Arc<[ExperimentConfig]>,
}

impl DecisionStage for ControlShare {
    fn name(&self) -> &'static str {
        "control"
    }

    fn apply(&self, draft: &mut Draft<'_>) -> Result<(), RouteError> {
        let Some(experiment) = assigned(&self.experiments, draft) else {
            return Ok(());
        };
        let Some(decision) = draft.decision.as_mut() else {
            return Ok(());
        };
        let catalog = draft.router.catalog();
        let top = catalog.top_tier();
        let tier_of = |name: &str| catalog.model(name).map_or(0, |m| m.tier);
        let chose_top = tier_of(&decision.model) >= top;
        if draft.adjustments.control {
            draft.router.raise_decision(decision, draft.analysis, top);
            decision.note_stage(StageNote {
                stage: self.name().to_owned(),
                reason: "experiment:control".to_owned(),
                detail: format!(
                    "experiment `{}` drew this request into its control share ({:.1}% of requests, served by the strongest tier as the quality baseline)",
                    experiment.name,
                    experiment.control_share * 100.0
                ),
                source: None,
            });
        }
        let served_top = tier_of(&decision.model) >= top;
        decision.propensity = served_propensity(
            experiment.control_share,
            decision.propensity,
            chose_top,
            served_top,
        );
        Ok(())
    }
}
