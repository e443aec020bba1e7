//! The choose stage: the deciding policy (or the caller's explicit model) over the request's
//! analysis, resolved to an eligible model, raised to the highest floor earlier stages set.

use super::{DecisionStage, Draft};
use rand::SeedableRng;
use rand::rngs::StdRng;
use routewise_core::{RouteError, Steering};

#[derive(Debug)]
pub struct Choose;

impl DecisionStage for Choose {
    fn name(&self) -> &'static str {
        "choose"
    }

    fn apply(&self, draft: &mut Draft<'_>) -> Result<(), RouteError> {
        let entry =
            draft
                .policies
                .get(&draft.policy)
                .ok_or_else(|| RouteError::PolicyUnavailable {
                    policy: draft.policy.clone(),
                    why: draft.policies.unknown(&draft.policy),
                })?;
        let state = draft.states.get(&entry.name);
        let failure_rates = draft
            .control
            .map(|c| c.controllers.failure_rates(c.config))
            .unwrap_or_default();
        let mut rng = StdRng::seed_from_u64(draft.seed);
        let mut steering = Steering {
            rng: &mut rng,
            now_unix_ms: draft.now_unix_ms,
            bias: draft.adjustments.bias,
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
            for note in std::mem::take(&mut draft.adjustments.notes) {
                decision.note_input(note);
            }
        }
        if let (true, Some(floor)) = (raised, floor) {
            decision.note_stage(floor.note);
        }
        draft.decision = Some(decision);
        Ok(())
    }
}
