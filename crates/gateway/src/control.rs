//! The controllers' state in a running gateway: where the strong-share target or quality floor
//! stands, what each budget has spent this period, and how reliable each model has been.
//! The maths is `routewise_core::control`; this holds the values across requests and reloads
//! (a reload keeps spend and the controller's bias), feeds them from accounting and feedback,
//! and reads them for the decision's controllers stage.

use crate::metrics;
use crate::shared::SpendTotals;
use routewise_config::Config;
use routewise_config::control::BudgetConfig;
use routewise_core::control::{BudgetPacer, SpendState, TargetState};
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// How fast a model's failure rate follows its calls: about the last 50.
const HEALTH_WINDOW: f64 = 50.0;

#[derive(Debug, Default)]
pub struct Controllers {
    target: Mutex<Option<TargetState>>,
    spend: Mutex<Spend>,
    /// Recent failure rate by model name.
    health: Mutex<HashMap<String, f64>>,
}

#[derive(Debug, Default)]
struct Spend {
    global: SpendState,
    keys: HashMap<String, SpendState>,
}

/// What the controllers stage applies to one decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Steer {
    pub bias: f64,
    /// One sentence per controller that moved it.
    pub why: Vec<String>,
}

/// A budget that is spent, for the 429.
#[derive(Debug, Clone, PartialEq)]
pub struct Exhausted {
    pub scope: String,
    pub usd: f64,
    pub period: &'static str,
    pub retry_after: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Controllers {
    /// The bias for a request from `key` at `now`: the target's, then budget pacing (the
    /// tightest budget that applies), clamped to [-1, 1].
    pub fn steer(&self, config: &Config, key: Option<&str>, now: u64) -> Steer {
        let mut steer = Steer {
            bias: 0.0,
            why: Vec::new(),
        };
        if let Some(controller) = &config.control.target {
            let state = lock(&self.target).unwrap_or_else(|| controller.start());
            if state.bias != 0.0 {
                steer.bias += state.bias;
                steer.why.push(format!(
                    "target {} (measured {:.3}) moves the threshold by {:+.3}",
                    target_name(controller),
                    state.measured,
                    state.bias
                ));
            }
        }
        if let Some(budget) = &config.control.budget {
            let spend = lock(&self.spend);
            let tightest = paced(budget, &spend, key)
                .map(|(scope, pacer, state)| {
                    (scope, pacer.bias(state, now), pacer.pace(state, now))
                })
                .min_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((scope, bias, pace)) = tightest
                && bias < 0.0
            {
                steer.bias += bias;
                steer.why.push(format!(
                    "the budget of {scope} is spending at {pace:.2}x its plan, so {bias:+.3} towards cheaper models"
                ));
            }
        }
        steer.bias = steer.bias.clamp(-1.0, 1.0);
        steer
    }

    /// A budget of `key` (or of all traffic) that is spent, when the config caps hard.
    pub fn exhausted(&self, config: &Config, key: Option<&str>, now: u64) -> Option<Exhausted> {
        let budget = config.control.budget.as_ref().filter(|b| b.hard_cap)?;
        let spend = lock(&self.spend);
        paced(budget, &spend, key)
            .find(|(_, pacer, state)| pacer.exhausted(*state, now))
            .map(|(scope, pacer, _)| {
                let (_, end) = routewise_core::control::period_bounds(now, pacer.plan.period);
                Exhausted {
                    scope: scope.to_string(),
                    usd: pacer.plan.usd,
                    period: pacer.plan.period.as_str(),
                    retry_after: Duration::from_millis(end.saturating_sub(now)),
                }
            })
    }

    /// Accounts a served request: the share target counts it (when a steerable policy decided),
    /// budgets add its cost.
    pub fn served(&self, config: &Config, served: Served<'_>) {
        if let Some(controller) = &config.control.target
            && controller.counts_served()
            && served.steerable
            && !self.budget_tightening(config, served.key, served.now_unix_ms)
        {
            let mut target = lock(&self.target);
            let next =
                controller.served(target.unwrap_or_else(|| controller.start()), served.strong);
            *target = Some(next);
            metrics::controller("target", next.bias, next.measured);
        }
        if let Some(budget) = &config.control.budget {
            let mut spend = lock(&self.spend);
            let now = served.now_unix_ms;
            if let Some(pacer) = &budget.global {
                spend.global = pacer.spend(spend.global, now, served.cost_usd);
                metrics::budget("all", spend.global.spent_usd, pacer.pace(spend.global, now));
            }
            if let Some((name, pacer)) = served.key.and_then(|k| budget.keys.get_key_value(k)) {
                let state = spend.keys.entry(name.clone()).or_default();
                *state = pacer.spend(*state, now, served.cost_usd);
                metrics::budget(name, state.spent_usd, pacer.pace(*state, now));
            }
        }
    }

    /// While a budget holds routing back, the share target does not integrate: it would wind
    /// up against the budget and overshoot once spend is back on plan.
    fn budget_tightening(&self, config: &Config, key: Option<&str>, now: u64) -> bool {
        let Some(budget) = &config.control.budget else {
            return false;
        };
        let spend = lock(&self.spend);
        paced(budget, &spend, key).any(|(_, pacer, state)| pacer.bias(state, now) < 0.0)
    }

    /// Accounts one feedback score (a quality floor learns from it).
    pub fn rated(&self, config: &Config, quality: f64) {
        if let Some(controller) = &config.control.target
            && !controller.counts_served()
        {
            let mut target = lock(&self.target);
            let next = controller.rated(target.unwrap_or_else(|| controller.start()), quality);
            *target = Some(next);
            metrics::controller("target", next.bias, next.measured);
        }
    }

    /// Where the target controller stands (for tools, tests and saving it).
    pub fn target_state(&self) -> Option<TargetState> {
        *lock(&self.target)
    }

    /// Restores the target controller's state (saved before a restart).
    pub fn set_target_state(&self, state: TargetState) {
        *lock(&self.target) = Some(state);
    }

    /// Spend restored from the store at start: all traffic, and per key, this period.
    pub fn restore_spend(&self, config: &Config, now: u64, global: f64, keys: &[(String, f64)]) {
        let Some(budget) = &config.control.budget else {
            return;
        };
        let mut spend = lock(&self.spend);
        if let Some(pacer) = &budget.global {
            spend.global = pacer.spend(SpendState::default(), now, global);
        }
        for (name, usd) in keys {
            if let Some(pacer) = budget.keys.get(name) {
                spend
                    .keys
                    .insert(name.clone(), pacer.spend(SpendState::default(), now, *usd));
            }
        }
    }

    /// What the budgets have counted this period (after [`Controllers::restore_spend`], the
    /// store's spend at start plus this process's since).
    pub fn spend_totals(&self, config: &Config, now: u64) -> SpendTotals {
        let spend = lock(&self.spend);
        let Some(budget) = &config.control.budget else {
            return SpendTotals::default();
        };
        let current =
            |pacer: &BudgetPacer, state: SpendState| pacer.spend(state, now, 0.0).spent_usd;
        SpendTotals {
            global: budget
                .global
                .as_ref()
                .map_or(0.0, |pacer| current(pacer, spend.global)),
            keys: spend
                .keys
                .iter()
                .filter_map(|(name, state)| {
                    budget
                        .keys
                        .get(name)
                        .map(|pacer| (name.clone(), current(pacer, *state)))
                })
                .collect(),
        }
    }

    /// Notes one upstream call's outcome for the model's failure rate.
    pub fn called(&self, model: &str, failed: bool) {
        let observed = if failed { 1.0 } else { 0.0 };
        let mut health = lock(&self.health);
        // Looked up before inserting: the name is copied once per model, not once per call.
        match health.get_mut(model) {
            Some(rate) => *rate += (observed - *rate) / HEALTH_WINDOW,
            None => {
                health.insert(model.to_owned(), observed / HEALTH_WINDOW);
            }
        }
    }

    /// Failure rates of the catalog's models, in catalog order (empty when none has failed).
    pub fn failure_rates(&self, config: &Config) -> Vec<f64> {
        let health = lock(&self.health);
        if health.values().all(|r| *r < 1e-6) {
            return Vec::new();
        }
        config
            .catalog
            .models()
            .iter()
            .map(|m| health.get(&m.name).copied().unwrap_or(0.0))
            .collect()
    }
}

/// One served request, as the controllers count it.
#[derive(Debug, Clone, Copy)]
pub struct Served<'a> {
    pub key: Option<&'a str>,
    /// It went to the strongest tier.
    pub strong: bool,
    /// A policy with a threshold decided it (not an explicit model, not a fixed rule).
    pub steerable: bool,
    pub cost_usd: f64,
    pub now_unix_ms: u64,
}

fn target_name(controller: &routewise_core::control::TargetController) -> String {
    match controller.target {
        routewise_core::control::ControlTarget::StrongShare(t) => format!("strong share {t}"),
        routewise_core::control::ControlTarget::QualityFloor(q) => format!("quality floor {q}"),
    }
}

/// Whose budget: all traffic's or one client key's. Formatted only when a sentence needs it.
#[derive(Debug, Clone, Copy)]
enum Scope<'a> {
    All,
    Key(&'a str),
}

impl std::fmt::Display for Scope<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::All => f.write_str("all traffic"),
            Scope::Key(key) => write!(f, "client key `{key}`"),
        }
    }
}

/// The budgets that apply to a request from `key`: all traffic's, then the key's.
fn paced<'a>(
    budget: &'a BudgetConfig,
    spend: &'a Spend,
    key: Option<&'a str>,
) -> impl Iterator<Item = (Scope<'a>, &'a BudgetPacer, SpendState)> + 'a {
    let global = budget
        .global
        .as_ref()
        .map(|pacer| (Scope::All, pacer, spend.global));
    let keyed = key.and_then(|k| {
        budget.keys.get(k).map(|pacer| {
            (
                Scope::Key(k),
                pacer,
                spend.keys.get(k).copied().unwrap_or_default(),
            )
        })
    });
    global.into_iter().chain(keyed)
}
