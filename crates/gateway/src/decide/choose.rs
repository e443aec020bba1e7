//! The choose stage: the deciding policy (or the caller's explicit model) over the request's
//! analysis, resolved to an eligible model, raised to the highest floor earlier stages set.

use super::{DecisionStage, Draft};
use rand::SeedableRng;
use rand::rngs::StdRng;
use routewise_core::{Decision, RouteError, StageNote, Steering};

#[derive(Debug)]
pub struct Choose;

impl DecisionStage for Choose {
    fn name(&self) -> &'static str {
        "choose"
    }

    fn apply(&self, draft: &mut Draft<'_>) -> Result<(), RouteError> {
        let policy = draft.policy.clone();
        let notes = std::mem::take(&mut draft.adjustments.notes);
        let decision = decide_with(draft, &policy, draft.adjustments.bias, draft.seed, notes)?;
        draft.decision = Some(decision);
        Ok(())
    }
}

/// What the configured `policy` decides for the draft's request with `bias` on its threshold,
/// raised to the highest floor earlier stages set (explicit models are never raised); `notes`
/// of the stages that set the bias join the explanation when the policy is steerable. The
/// shadow stage asks the same of its policies, with no bias.
pub(super) fn decide_with(
    draft: &Draft<'_>,
    policy: &str,
    bias: f64,
    seed: u64,
    notes: Vec<StageNote>,
) -> Result<Decision, RouteError> {
    let entry = draft
        .policies
        .get(policy)
        .ok_or_else(|| RouteError::PolicyUnavailable {
            policy: policy.to_owned(),
            why: draft.policies.unknown(policy),
        })?;
    let state = draft.states.get(&entry.name);
    let failure_rates = draft
        .control
        .map(|c| c.controllers.failure_rates(c.config))
        .unwrap_or_default();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut steering = Steering {
        rng: &mut rng,
        now_unix_ms: draft.now_unix_ms,
        bias,
        state: state.as_ref(),
        failure_rates: &failure_rates,
    };
    let mut routed = draft.router.choose(
        entry.policy.as_ref(),
        draft.input,
        draft.analysis,
        &mut steering,
    )?;
    let explicit = routed.choice.is_none();
    let floor = draft
        .adjustments
        .floors
        .iter()
        .filter(|_| !explicit)
        .max_by_key(|floor| floor.tier)
        .cloned();
    let raised = floor.as_ref().is_some_and(|floor| {
        draft
            .router
            .raise_to_tier(&mut routed, draft.analysis, floor.tier)
    });
    let mut decision = draft.router.account(draft.analysis, routed, &entry.name);
    if !explicit && entry.policy.steerable() {
        for note in notes {
            decision.note_input(note);
        }
    }
    if let (true, Some(floor)) = (raised, floor) {
        decision.note_stage(floor.note);
    }
    Ok(decision)
}
