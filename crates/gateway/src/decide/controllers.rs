//! The controllers stage: the bias that a strong-share target, a quality floor and budget
//! pacing put on the deciding policy's threshold, and the sentence that explains it.

use super::{DecisionStage, Draft};
use routewise_core::{RouteError, StageNote};

#[derive(Debug)]
pub struct Controlled;

impl DecisionStage for Controlled {
    fn name(&self) -> &'static str {
        "controllers"
    }

    fn apply(&self, draft: &mut Draft<'_>) -> Result<(), RouteError> {
        let Some(control) = draft.control else {
            return Ok(());
        };
        let steer = control
            .controllers
            .steer(control.config, control.key, draft.now_unix_ms);
        if steer.why.is_empty() {
            return Ok(());
        }
        draft.adjustments.bias += steer.bias;
        draft.adjustments.notes.push(StageNote {
            stage: self.name().to_owned(),
            reason: if steer.bias < 0.0 {
                "controllers:cheaper".to_owned()
            } else {
                "controllers:stronger".to_owned()
            },
            detail: format!("{} (bias {:+.3})", steer.why.join("; "), steer.bias),
            source: None,
        });
        Ok(())
    }
}
