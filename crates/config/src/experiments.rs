//! `[[experiments]]`: shadow policies, weighted arms with sticky assignment, a forced control
//! share, and staged rollouts of a candidate over its incumbent. Every arm and shadow names a
//! configured policy (built-in or `[policies.NAME]`); each route belongs to one experiment at
//! most.

use crate::compile::{Errors, check_name};
use crate::policies::PolicyRegistry;
use crate::server::RouteConfig;
use routewise_core::control::{format_date, parse_date};
use serde::Deserialize;

/// Default relative quality drop a cut-over tolerates (the user's "< 5% CSAT drop").
pub const DEFAULT_TOLERANCE: f64 = 0.05;
/// Default confidence of the report's intervals and recommendation.
pub const DEFAULT_CONFIDENCE: f64 = 0.95;
/// The arm names a rollout's two arms take.
pub const CANDIDATE_ARM: &str = "candidate";
pub const INCUMBENT_ARM: &str = "incumbent";
/// The arm name of requests the control share forced to the strongest tier.
pub const CONTROL_ARM: &str = "control";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExperiment {
    pub name: String,
    /// Routes it applies to; every route when absent.
    pub routes: Option<Vec<String>>,
    /// Policies that decide in shadow: recorded, never served.
    pub shadow: Option<Vec<String>>,
    /// Share of requests the shadows decide on, (0, 1]; default 1.
    pub shadow_share: Option<f64>,
    /// Weighted arms, each a configured policy.
    pub arms: Option<Vec<RawArm>>,
    /// `key` (default), `user` (the request's `user` field) or `header:NAME`.
    pub assign_by: Option<String>,
    /// Share of requests forced to the strongest tier, in [0, 1); default 0.
    pub control_share: Option<f64>,
    /// A staged rollout: the policy serving today...
    pub incumbent: Option<String>,
    /// ...the one replacing it...
    pub candidate: Option<String>,
    /// ...and the candidate's share, 0 to 1.
    pub rollout: Option<f64>,
    /// The incumbent stays configured as the fallback until this date (`YYYY-MM-DD`, UTC).
    pub keep_previous_until: Option<RawDate>,
    /// Relative quality drop a cut-over tolerates, (0, 1); default 0.05.
    pub tolerance: Option<f64>,
    /// Confidence of the report's intervals, (0.5, 1); default 0.95.
    pub confidence: Option<f64>,
}

/// A date as TOML writes one (`2026-12-15`) or as a string (`"2026-12-15"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawDate {
    Native(toml::value::Datetime),
    Text(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArm {
    pub name: String,
    pub policy: String,
    pub weight: f64,
}

/// A compiled experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentConfig {
    pub name: String,
    /// `None`: every route.
    pub routes: Option<Vec<String>>,
    /// Empty: the route's policy decides (an experiment of shadows or a control share only).
    pub arms: Vec<ArmConfig>,
    pub assign_by: AssignBy,
    pub shadows: Vec<String>,
    pub shadow_share: f64,
    pub control_share: f64,
    pub rollout: Option<RolloutConfig>,
    pub tolerance: f64,
    pub confidence: f64,
}

impl ExperimentConfig {
    pub fn applies_to(&self, route: &str) -> bool {
        self.routes
            .as_ref()
            .is_none_or(|routes| routes.iter().any(|r| r == route))
    }

    /// The arm that `routewise report` compares the others against: the rollout's incumbent,
    /// else the first arm.
    pub fn incumbent_arm(&self) -> Option<&ArmConfig> {
        self.arms.first().map(|first| {
            self.arms
                .iter()
                .find(|a| a.name == INCUMBENT_ARM && self.rollout.is_some())
                .unwrap_or(first)
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ArmConfig {
    pub name: String,
    pub policy: String,
    pub weight: f64,
}

/// What makes assignment sticky.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignBy {
    /// The client key's name (requests without one fall back to `user`, then the request).
    Key,
    /// The request's `user` field (then the client key, then the request).
    User,
    /// A request header, lower-case (then the client key, then the request).
    Header(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct RolloutConfig {
    pub incumbent: String,
    pub candidate: String,
    pub share: f64,
    /// Start of the day after `keep_previous_until`, Unix ms, and the date as written.
    pub keep_previous_until: Option<(u64, String)>,
}

pub(crate) fn compile_experiments(
    raw: &[RawExperiment],
    routes: &[RouteConfig],
    policies: &PolicyRegistry,
    errors: &mut Errors,
) -> Vec<ExperimentConfig> {
    let experiments: Vec<ExperimentConfig> = raw
        .iter()
        .enumerate()
        .filter_map(|(i, e)| compile_one(&format!("experiments[{i}]"), e, routes, policies, errors))
        .collect();
    for (i, e) in raw.iter().enumerate() {
        if raw[..i].iter().any(|other| other.name == e.name) {
            errors.push(
                format!("experiments[{i}].name"),
                format!("experiment `{}` is declared twice", e.name),
            );
        }
    }
    check_routes_claimed_once(raw, routes, errors);
    experiments
}

fn compile_one(
    path: &str,
    raw: &RawExperiment,
    routes: &[RouteConfig],
    policies: &PolicyRegistry,
    errors: &mut Errors,
) -> Option<ExperimentConfig> {
    let before = errors.0.len();
    check_name(&format!("{path}.name"), &raw.name, errors);
    if let Some(names) = &raw.routes {
        if names.is_empty() {
            errors.push(
                format!("{path}.routes"),
                "is empty: name at least one route, or leave `routes` out to apply to every route",
            );
        }
        for (j, name) in names.iter().enumerate() {
            if !routes.iter().any(|r| &r.name == name) {
                let known: Vec<&str> = routes.iter().map(|r| r.name.as_str()).collect();
                errors.push(
                    format!("{path}.routes[{j}]"),
                    format!("unknown route `{name}`; routes are: {}", known.join(", ")),
                );
            }
        }
    }
    let known_policy = |field: String, name: &str, errors: &mut Errors| {
        if policies.get(name).is_none() {
            errors.push(field, policies.unknown(name));
        }
    };
    let shadows = raw.shadow.clone().unwrap_or_default();
    for (j, name) in shadows.iter().enumerate() {
        known_policy(format!("{path}.shadow[{j}]"), name, errors);
        if shadows[..j].contains(name) {
            errors.push(
                format!("{path}.shadow[{j}]"),
                format!("`{name}` is listed twice"),
            );
        }
    }
    let shadow_share = share(
        errors,
        &format!("{path}.shadow_share"),
        raw.shadow_share,
        1.0,
        |v| v > 0.0 && v <= 1.0,
        "above 0 and at most 1",
    );
    let control_share = share(
        errors,
        &format!("{path}.control_share"),
        raw.control_share,
        0.0,
        |v| (0.0..1.0).contains(&v),
        "at least 0 and below 1 (a control share of 1 would leave no traffic to the arms)",
    );
    let tolerance = share(
        errors,
        &format!("{path}.tolerance"),
        raw.tolerance,
        DEFAULT_TOLERANCE,
        |v| v > 0.0 && v < 1.0,
        "between 0 and 1, exclusive (0.05 tolerates a 5% quality drop)",
    );
    let confidence = share(
        errors,
        &format!("{path}.confidence"),
        raw.confidence,
        DEFAULT_CONFIDENCE,
        |v| v > 0.5 && v < 1.0,
        "between 0.5 and 1, exclusive (e.g. 0.95)",
    );
    let rollout = compile_rollout(path, raw, errors, &known_policy);
    let arms = match (&raw.arms, &rollout) {
        (Some(_), Some(_)) => {
            errors.push(
                format!("{path}.arms"),
                "give `arms` or a rollout (`incumbent`, `candidate`, `rollout`), not both",
            );
            Vec::new()
        }
        (Some(arms), None) => compile_arms(path, arms, errors, &known_policy),
        (None, Some(rollout)) => {
            let [candidate, incumbent] = routewise_core::experiment::rollout_weights(rollout.share);
            vec![
                ArmConfig {
                    name: CANDIDATE_ARM.to_owned(),
                    policy: rollout.candidate.clone(),
                    weight: candidate,
                },
                ArmConfig {
                    name: INCUMBENT_ARM.to_owned(),
                    policy: rollout.incumbent.clone(),
                    weight: incumbent,
                },
            ]
        }
        (None, None) => Vec::new(),
    };
    if arms.is_empty() && shadows.is_empty() && control_share == 0.0 && errors.0.len() == before {
        errors.push(
            path.to_owned(),
            "does nothing: give `arms`, a rollout (`incumbent`, `candidate`, `rollout`), `shadow` policies or a `control_share`",
        );
    }
    let assign_by = compile_assign_by(
        &format!("{path}.assign_by"),
        raw.assign_by.as_deref(),
        errors,
    );
    (errors.0.len() == before).then(|| ExperimentConfig {
        name: raw.name.clone(),
        routes: raw.routes.clone(),
        arms,
        assign_by,
        shadows,
        shadow_share,
        control_share,
        rollout,
        tolerance,
        confidence,
    })
}

/// A number in a range, or its default; an error at `path` when out of range.
fn share(
    errors: &mut Errors,
    path: &str,
    value: Option<f64>,
    default: f64,
    valid: impl Fn(f64) -> bool,
    range: &str,
) -> f64 {
    match value {
        None => default,
        Some(v) if v.is_finite() && valid(v) => v,
        Some(v) => {
            errors.push(path, format!("{v} must be {range}"));
            default
        }
    }
}

fn compile_arms(
    path: &str,
    raw: &[RawArm],
    errors: &mut Errors,
    known_policy: &dyn Fn(String, &str, &mut Errors),
) -> Vec<ArmConfig> {
    if raw.is_empty() {
        errors.push(format!("{path}.arms"), "is empty: give at least one arm");
    }
    for (j, arm) in raw.iter().enumerate() {
        let arm_path = format!("{path}.arms[{j}]");
        check_name(&format!("{arm_path}.name"), &arm.name, errors);
        if arm.name == CONTROL_ARM {
            errors.push(
                format!("{arm_path}.name"),
                "`control` names the forced control share; give the arm another name",
            );
        }
        if raw[..j].iter().any(|a| a.name == arm.name) {
            errors.push(
                format!("{arm_path}.name"),
                format!("arm `{}` is listed twice", arm.name),
            );
        }
        known_policy(format!("{arm_path}.policy"), &arm.policy, errors);
        if !(arm.weight.is_finite() && arm.weight >= 0.0) {
            errors.push(
                format!("{arm_path}.weight"),
                format!("{} must be a number at least 0", arm.weight),
            );
        }
    }
    let total: f64 = raw.iter().map(|a| a.weight).filter(|w| w.is_finite()).sum();
    if !raw.is_empty() && total.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        errors.push(
            format!("{path}.arms"),
            format!("the weights sum to {total}: they must sum to a positive number (they need not sum to 1)"),
        );
    }
    raw.iter()
        .map(|a| ArmConfig {
            name: a.name.clone(),
            policy: a.policy.clone(),
            weight: a.weight,
        })
        .collect()
}

fn compile_rollout(
    path: &str,
    raw: &RawExperiment,
    errors: &mut Errors,
    known_policy: &dyn Fn(String, &str, &mut Errors),
) -> Option<RolloutConfig> {
    let until = raw.keep_previous_until.as_ref().and_then(|date| {
        let text = match date {
            RawDate::Native(d) => d.to_string(),
            RawDate::Text(t) => t.clone(),
        };
        match parse_date(&text) {
            Some(start) => Some((start + 86_400_000, format_date(start))),
            None => {
                errors.push(
                    format!("{path}.keep_previous_until"),
                    format!("`{text}` is not a date: write YYYY-MM-DD (UTC), e.g. 2026-12-15"),
                );
                None
            }
        }
    });
    match (&raw.incumbent, &raw.candidate, raw.rollout) {
        (None, None, None) => {
            if raw.keep_previous_until.is_some() {
                errors.push(
                    format!("{path}.keep_previous_until"),
                    "belongs to a rollout: give `incumbent`, `candidate` and `rollout` too",
                );
            }
            None
        }
        (Some(incumbent), Some(candidate), Some(share)) => {
            known_policy(format!("{path}.incumbent"), incumbent, errors);
            known_policy(format!("{path}.candidate"), candidate, errors);
            if incumbent == candidate {
                errors.push(
                    format!("{path}.candidate"),
                    format!("is the incumbent `{incumbent}` too: a rollout replaces one policy by another"),
                );
            }
            if !(share.is_finite() && (0.0..=1.0).contains(&share)) {
                errors.push(
                    format!("{path}.rollout"),
                    format!("{share} must be between 0 and 1 (the candidate's share, e.g. 0.01, 0.1, 1.0)"),
                );
            }
            Some(RolloutConfig {
                incumbent: incumbent.clone(),
                candidate: candidate.clone(),
                share: share.clamp(0.0, 1.0),
                keep_previous_until: until,
            })
        }
        (incumbent, candidate, share) => {
            let missing: Vec<&str> = [
                ("incumbent", incumbent.is_none()),
                ("candidate", candidate.is_none()),
                ("rollout", share.is_none()),
            ]
            .into_iter()
            .filter_map(|(key, absent)| absent.then_some(key))
            .collect();
            for key in &missing {
                errors.push(
                    format!("{path}.{key}"),
                    format!(
                        "a rollout needs `incumbent` (the policy serving today), `candidate` and `rollout` (the candidate's share): `{key}` is missing"
                    ),
                );
            }
            None
        }
    }
}

fn compile_assign_by(path: &str, raw: Option<&str>, errors: &mut Errors) -> AssignBy {
    match raw {
        None | Some("key") => AssignBy::Key,
        Some("user") => AssignBy::User,
        Some(other) => {
            match other.strip_prefix("header:") {
                Some(name) if http_header_name(name) => AssignBy::Header(name.to_ascii_lowercase()),
                _ => {
                    errors.push(
                    path,
                    format!("`{other}` is not `key`, `user` or `header:NAME` (e.g. `header:x-tenant`)"),
                );
                    AssignBy::Key
                }
            }
        }
    }
}

/// An HTTP header name's characters (RFC 9110 token).
fn http_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Each route belongs to one experiment at most (an experiment without `routes` has them all).
fn check_routes_claimed_once(raw: &[RawExperiment], routes: &[RouteConfig], errors: &mut Errors) {
    let claims = |e: &RawExperiment| -> Vec<String> {
        match &e.routes {
            Some(names) => names.clone(),
            None => routes.iter().map(|r| r.name.clone()).collect(),
        }
    };
    for (i, e) in raw.iter().enumerate() {
        for route in claims(e) {
            if let Some(other) = raw[..i].iter().find(|o| claims(o).contains(&route)) {
                let path = match &e.routes {
                    Some(names) => {
                        let j = names.iter().position(|n| *n == route).unwrap_or(0);
                        format!("experiments[{i}].routes[{j}]")
                    }
                    None => format!("experiments[{i}].routes"),
                };
                errors.push(
                    path,
                    format!(
                        "route `{route}` is already in experiment `{}`: a route belongs to one experiment at most (give each experiment its own `routes`)",
                        other.name
                    ),
                );
                break;
            }
        }
    }
}
