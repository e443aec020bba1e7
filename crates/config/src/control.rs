//! `[routing.target]` and `[budget]`: the controllers that hold routing on a strong-share
//! target or a quality floor, and pace a spend budget (`routewise_core::control`).

use crate::compile::Errors;
use routewise_core::control::{
    BudgetPacer, BudgetPeriod, BudgetPlan, ControlTarget, TargetController,
};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Share of requests the strongest tier serves, in (0, 1).
    pub strong_share: Option<f64>,
    /// Mean feedback quality to hold, in (0, 1).
    pub quality_floor: Option<f64>,
    /// Bias moved per observation per unit of error, in (0, 0.5].
    pub gain: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBudget {
    /// Dollars per period for all traffic.
    pub usd: Option<f64>,
    /// `day` (default) or `month`, UTC.
    pub period: Option<String>,
    /// Refuse requests (429 `budget_exhausted`) once a budget is spent; default false.
    pub hard_cap: Option<bool>,
    /// Relative spend of each UTC hour, 24 numbers; default even.
    pub hourly: Option<Vec<f64>>,
    /// Per client key budgets (by `[[server.client_keys]]` name), dollars per period.
    pub keys: Option<BTreeMap<String, f64>>,
}

/// The compiled controllers.
#[derive(Debug, Clone, Default)]
pub struct ControlConfig {
    pub target: Option<TargetController>,
    pub budget: Option<BudgetConfig>,
}

/// Budgets: one for all traffic and/or one per client key, same period and plan.
#[derive(Debug, Clone)]
pub struct BudgetConfig {
    pub global: Option<BudgetPacer>,
    pub keys: BTreeMap<String, BudgetPacer>,
    pub hard_cap: bool,
    pub period: BudgetPeriod,
}

fn in_open_unit(v: f64) -> bool {
    v.is_finite() && v > 0.0 && v < 1.0
}

pub(crate) fn compile_target(
    raw: Option<&RawTarget>,
    errors: &mut Errors,
) -> Option<TargetController> {
    let raw = raw?;
    let target = match (raw.strong_share, raw.quality_floor) {
        (Some(_), Some(_)) => {
            errors.push(
                "routing.target",
                "give `strong_share` or `quality_floor`, not both",
            );
            return None;
        }
        (None, None) => {
            errors.push(
                "routing.target",
                "give `strong_share` (share of requests for the strongest tier) or `quality_floor` (mean feedback quality to hold)",
            );
            return None;
        }
        (Some(share), None) if !in_open_unit(share) => {
            errors.push(
                "routing.target.strong_share",
                format!("{share} must be between 0 and 1, exclusive"),
            );
            return None;
        }
        (None, Some(floor)) if !in_open_unit(floor) => {
            errors.push(
                "routing.target.quality_floor",
                format!("{floor} must be between 0 and 1, exclusive"),
            );
            return None;
        }
        (Some(share), None) => ControlTarget::StrongShare(share),
        (None, Some(floor)) => ControlTarget::QualityFloor(floor),
    };
    let mut controller = TargetController::new(target);
    if let Some(gain) = raw.gain {
        if !(gain.is_finite() && gain > 0.0 && gain <= 0.5) {
            errors.push(
                "routing.target.gain",
                format!("{gain} must be above 0 and at most 0.5"),
            );
        }
        controller.gain = gain;
    }
    Some(controller)
}

pub(crate) fn compile_budget(
    raw: Option<&RawBudget>,
    client_keys: &[&str],
    errors: &mut Errors,
) -> Option<BudgetConfig> {
    let raw = raw?;
    let period = match raw.period.as_deref() {
        None => BudgetPeriod::Day,
        Some(name) => BudgetPeriod::parse(name).unwrap_or_else(|| {
            errors.push(
                "budget.period",
                format!("unknown period {name:?}: use \"day\" or \"month\" (UTC)"),
            );
            BudgetPeriod::Day
        }),
    };
    let hourly = compile_hourly(raw.hourly.as_deref(), errors);
    let pacer = |path: String, usd: f64, errors: &mut Errors| {
        if !(usd.is_finite() && usd > 0.0) {
            errors.push(
                path,
                format!("{usd} must be above 0 dollars per {}", period.as_str()),
            );
        }
        BudgetPacer::new(BudgetPlan {
            usd,
            period,
            hourly,
        })
    };
    let global = raw
        .usd
        .map(|usd| pacer("budget.usd".to_owned(), usd, errors));
    let mut keys = BTreeMap::new();
    for (name, usd) in raw.keys.iter().flatten() {
        let path = format!("budget.keys.{name}");
        if !client_keys.contains(&name.as_str()) {
            errors.push(
                &path,
                format!(
                    "no client key is named `{name}`; configured keys: {}",
                    if client_keys.is_empty() {
                        "none (add [[server.client_keys]])".to_owned()
                    } else {
                        client_keys.join(", ")
                    }
                ),
            );
        }
        keys.insert(name.clone(), pacer(path, *usd, errors));
    }
    if global.is_none() && keys.is_empty() {
        errors.push(
            "budget",
            "give `usd` (a budget for all traffic) or `keys` (budgets per client key)",
        );
    }
    Some(BudgetConfig {
        global,
        keys,
        hard_cap: raw.hard_cap.unwrap_or(false),
        period,
    })
}

fn compile_hourly(raw: Option<&[f64]>, errors: &mut Errors) -> [f64; 24] {
    let Some(weights) = raw else {
        return [1.0; 24];
    };
    let mut hourly = [1.0; 24];
    if weights.len() != 24 {
        errors.push(
            "budget.hourly",
            format!(
                "has {} numbers; give 24, the relative spend of each UTC hour from 00:00",
                weights.len()
            ),
        );
        return hourly;
    }
    for (i, (slot, &w)) in hourly.iter_mut().zip(weights).enumerate() {
        if !(w.is_finite() && w >= 0.0) {
            errors.push(
                format!("budget.hourly[{i}]"),
                format!("{w} must be 0 or more"),
            );
        }
        *slot = w;
    }
    if hourly.iter().sum::<f64>() <= 0.0 {
        errors.push(
            "budget.hourly",
            "at least one hour must have a weight above 0",
        );
        return [1.0; 24];
    }
    hourly
}
