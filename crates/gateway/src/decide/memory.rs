//! The memory stage: a request similar to one whose cheaper answer was rated bad goes at least
//! one tier above that answer's model, while the upgrade lasts.

use super::{DecisionStage, Draft, Floor};
use routewise_config::store::MemoryConfig;
use routewise_core::{RouteError, StageNote};

#[derive(Debug)]
pub struct RememberedUpgrades {
    config: MemoryConfig,
}

impl RememberedUpgrades {
    pub fn new(config: MemoryConfig) -> Self {
        Self { config }
    }
}

impl DecisionStage for RememberedUpgrades {
    fn name(&self) -> &'static str {
        "memory"
    }

    fn apply(&self, draft: &mut Draft<'_>) -> Result<(), RouteError> {
        let (Some(memory), Some(fingerprint)) = (draft.memory, draft.analysis.fingerprint.as_ref())
        else {
            return Ok(());
        };
        let Some((tier, rated_request, rated_model, similarity)) =
            memory.floor(fingerprint, draft.now_unix_ms, &self.config)
        else {
            return Ok(());
        };
        let tier_name = draft
            .router
            .catalog()
            .tiers()
            .get(tier)
            .map_or("?", String::as_str)
            .to_owned();
        draft.adjustments.floors.push(Floor {
            tier,
            note: StageNote {
                stage: self.name().to_owned(),
                reason: "memory:upgrade".to_owned(),
                detail: format!(
                    "a similar request ({rated_request}, similarity {similarity:.2}) was rated bad on `{rated_model}`, so at least tier `{tier_name}`"
                ),
                source: Some(rated_request),
            },
        });
        Ok(())
    }
}
