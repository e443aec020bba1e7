//! What the learning loop keeps across restarts, through the store: each learning policy's
//! state and the target controller's (saved within a second of the change, and at shutdown),
//! and each budget's spend in its current period (summed from the decision records at start,
//! so it needs no state of its own).

use crate::{Gateway, metrics};
use routewise_core::control::TargetState;
use routewise_store::Store;
use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Longest a learned update waits to be saved: the saves of a burst of feedback are one write.
pub const SAVE_DELAY: Duration = Duration::from_secs(1);

/// Policies with a save scheduled.
#[derive(Debug, Default)]
pub struct PendingSaves(Mutex<HashSet<String>>);

impl PendingSaves {
    /// `true` when `policy` had no save scheduled (the caller schedules one).
    fn claim(&self, policy: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(policy.to_owned())
    }

    fn release(&self, policy: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(policy);
    }
}

/// Restores every learning policy's saved state; a state that no longer fits (the catalog or
/// the policy's settings changed) is reported and the policy starts from its prior.
pub async fn restore_states(gateway: &Gateway, store: &dyn Store) {
    let runtime = gateway.runtime();
    for entry in runtime.config.routing.policies.iter() {
        let Some(learner) = entry.policy.learner() else {
            continue;
        };
        let saved = match store.load_versioned_state(&entry.name).await {
            Ok(Some(saved)) => saved,
            Ok(None) => continue,
            Err(err) => {
                metrics::learning_state("restore_failed");
                tracing::warn!(
                    "policy `{}` starts from its prior: its state cannot be read: {err}",
                    entry.name
                );
                continue;
            }
        };
        let decoded = serde_json::from_str(&saved.state)
            .map_err(|e| e.to_string())
            .and_then(|value| learner.decode(&value).map_err(|e| e.to_string()));
        match decoded {
            Ok(state) => {
                gateway
                    .synced_states()
                    .restored(&entry.name, state.clone(), saved.version);
                gateway.learned().set(&entry.name, state);
                metrics::learning_state("restored");
                tracing::info!("policy `{}` restored what it learned", entry.name);
            }
            Err(why) => {
                metrics::learning_state("restore_refused");
                tracing::warn!(
                    "policy `{}` starts from its prior: its saved state does not fit ({why})",
                    entry.name
                );
            }
        }
    }
}

/// Saves `policy`'s state within [`SAVE_DELAY`], once for every update until then.
pub fn schedule_save(gateway: &Gateway, policy: &str) {
    schedule(gateway, policy);
}

/// Saves the state kept under `name` (a policy's, or [`CONTROLLER_STATE`]) within
/// [`SAVE_DELAY`], once for every change until then.
fn schedule(gateway: &Gateway, name: &str) {
    if gateway.store().is_none() || !gateway.pending_saves().claim(name) {
        return;
    }
    let gateway = gateway.clone();
    let name = name.to_owned();
    tokio::spawn(async move {
        tokio::time::sleep(SAVE_DELAY).await;
        gateway.pending_saves().release(&name);
        if name == CONTROLLER_STATE {
            save_controller(&gateway).await;
        } else {
            save(&gateway, &name).await;
        }
    });
}

/// Saves every learning policy's state and the controller's now (at shutdown).
pub async fn save_all(gateway: &Gateway) {
    let runtime = gateway.runtime();
    for entry in runtime.config.routing.policies.iter() {
        if entry.policy.learner().is_some() {
            save(gateway, &entry.name).await;
        }
    }
    save_controller(gateway).await;
}

/// Where the target controller's state is kept (beside the policies', under a name no policy
/// can take: policy names have no spaces).
pub const CONTROLLER_STATE: &str = "controller target";

/// Saves the target controller's state within [`SAVE_DELAY`].
pub fn schedule_controller_save(gateway: &Gateway) {
    schedule(gateway, CONTROLLER_STATE);
}

async fn save_controller(gateway: &Gateway) {
    let (Some(store), Some(state)) = (gateway.store(), gateway.controllers().target_state()) else {
        return;
    };
    let text = serde_json::json!({
        "bias": state.bias,
        "measured": state.measured,
        "observations": state.observations,
    })
    .to_string();
    let now = i64::try_from(gateway.now_unix_ms()).unwrap_or(i64::MAX);
    if let Err(err) = store.store.save_state(CONTROLLER_STATE, &text, now).await {
        tracing::warn!("the target controller's state could not be saved: {err}");
    }
}

/// Restores the target controller's state, when the config has a target; a state that does
/// not parse is ignored (the controller starts from zero bias and says so).
pub async fn restore_controller(gateway: &Gateway, store: &dyn Store) {
    if gateway.runtime().config.control.target.is_none() {
        return;
    }
    let Ok(Some(text)) = store.load_state(CONTROLLER_STATE).await else {
        return;
    };
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let number = |key: &str| value[key].as_f64().filter(|v| v.is_finite());
    match (
        number("bias"),
        number("measured"),
        value["observations"].as_u64(),
    ) {
        (Some(bias), Some(measured), Some(observations)) => {
            gateway.controllers().set_target_state(TargetState {
                bias: bias.clamp(-1.0, 1.0),
                measured: measured.clamp(0.0, 1.0),
                observations,
            });
        }
        _ => tracing::warn!(
            "the target controller's saved state is not valid; it starts from zero bias"
        ),
    }
}

async fn save(gateway: &Gateway, policy: &str) {
    crate::state_sync::sync(gateway, policy).await;
}

/// Restores each budget's spend in its current period from the decision records.
pub async fn restore_spend(gateway: &Gateway, store: &dyn Store) {
    let runtime = gateway.runtime();
    let Some(budget) = &runtime.config.control.budget else {
        return;
    };
    let now = gateway.now_unix_ms();
    let (start, _) = routewise_core::control::period_bounds(now, budget.period);
    match store
        .spend_since(i64::try_from(start).unwrap_or(i64::MAX))
        .await
    {
        Ok(rows) => {
            let global: f64 = rows.iter().map(|(_, usd)| usd).sum();
            let keys: Vec<(String, f64)> = rows
                .into_iter()
                .filter_map(|(key, usd)| key.map(|k| (k, usd)))
                .collect();
            gateway
                .controllers()
                .restore_spend(&runtime.config, now, global, &keys);
        }
        Err(err) => tracing::warn!(
            "budget spend this {} cannot be read, so pacing starts from zero: {err}",
            budget.period.as_str()
        ),
    }
}
