//! The `rules` policy kind: declarative rules over signals, first match wins; without rules of
//! its own, the built-in default rules.

use crate::compile::{Errors, check_name};
use crate::raw::{RawCondition, RawRule, RawTrackRecordBelow};
use routewise_core::catalog::{Capability, Catalog};
use routewise_core::policy::{Condition, Rule, RulesPolicy, Target, resolve_target_name};
use routewise_core::signals::{Domain, TaskType};

/// A rules policy: `rules` (or the built-in default rules when absent) and the target when no
/// rule matches (`default_target`, else the middle tier). Errors go under `prefix`
/// (`routing` or `policies.NAME`).
pub(crate) fn compile(
    prefix: &str,
    default_target: Option<&str>,
    rules: Option<&[RawRule]>,
    catalog: &Catalog,
    errors: &mut Errors,
) -> RulesPolicy {
    let default_target = match default_target {
        None => Target::Tier(catalog.middle_tier()),
        Some(name) => target(catalog, &format!("{prefix}.default_target"), name, errors),
    };
    match rules {
        None => RulesPolicy::default_rules(catalog),
        Some(rules) => RulesPolicy::new(
            compile_rules(prefix, rules, catalog, errors),
            default_target,
        ),
    }
}

pub(crate) fn target(catalog: &Catalog, path: &str, name: &str, errors: &mut Errors) -> Target {
    resolve_target_name(catalog, name).unwrap_or_else(|| {
        let models: Vec<&str> = catalog.models().iter().map(|m| m.name.as_str()).collect();
        errors.push(
            path,
            format!(
                "unknown target `{name}`: name a model [{}], a tier [{}], or cheapest / middle / strongest",
                models.join(", "),
                catalog.tiers().join(", ")
            ),
        );
        Target::Tier(0)
    })
}

fn compile_rules(
    prefix: &str,
    raw: &[RawRule],
    catalog: &Catalog,
    errors: &mut Errors,
) -> Vec<Rule> {
    let mut rules = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let path = format!("{prefix}.rules[{i}]");
        check_name(&format!("{path}.name"), &r.name, errors);
        if raw[..i].iter().any(|other| other.name == r.name) {
            errors.push(
                format!("{path}.name"),
                format!("rule `{}` is declared twice", r.name),
            );
        }
        let when = compile_condition(&format!("{path}.when"), &r.when, Some(catalog), errors);
        let target = target(catalog, &format!("{path}.target"), &r.target, errors);
        let mut require = Vec::new();
        for (j, name) in r.require.iter().enumerate() {
            match Capability::parse(name) {
                Some(c) => require.push(c),
                None => errors.push(
                    format!("{path}.require[{j}]"),
                    format!("unknown capability `{name}`; expected one of: vision, tools, code, json_schema"),
                ),
            }
        }
        rules.push(Rule {
            name: r.name.clone(),
            description: r
                .description
                .clone()
                .unwrap_or_else(|| format!("target `{}`", r.target)),
            when,
            target,
            require,
        });
    }
    rules
}

/// A condition is the conjunction of every key it sets; none set matches always.
pub(crate) fn compile_condition(
    path: &str,
    raw: &RawCondition,
    catalog: Option<&Catalog>,
    errors: &mut Errors,
) -> Condition {
    let mut parts = Vec::new();
    combinators(path, raw, catalog, errors, &mut parts);
    name_conditions(path, raw, errors, &mut parts);
    signal_conditions(path, raw, catalog, errors, &mut parts);
    match parts.len() {
        0 => Condition::Always,
        1 => parts.pop().unwrap_or(Condition::Always),
        _ => Condition::All(parts),
    }
}

/// `all`, `any` and `not`: conditions made of conditions.
fn combinators(
    path: &str,
    raw: &RawCondition,
    catalog: Option<&Catalog>,
    errors: &mut Errors,
    parts: &mut Vec<Condition>,
) {
    if let Some(all) = &raw.all {
        let inner = all
            .iter()
            .enumerate()
            .map(|(i, c)| compile_condition(&format!("{path}.all[{i}]"), c, catalog, errors));
        parts.push(Condition::All(inner.collect()));
    }
    if let Some(any) = &raw.any {
        if any.is_empty() {
            errors.push(
                format!("{path}.any"),
                "an empty `any` never matches; remove it or add conditions",
            );
        }
        let inner = any
            .iter()
            .enumerate()
            .map(|(i, c)| compile_condition(&format!("{path}.any[{i}]"), c, catalog, errors));
        parts.push(Condition::Any(inner.collect()));
    }
    if let Some(not) = &raw.not {
        parts.push(Condition::Not(Box::new(compile_condition(
            &format!("{path}.not"),
            not,
            catalog,
            errors,
        ))));
    }
}

/// Conditions on names: user tier, task, domain, reasoning keywords.
fn name_conditions(
    path: &str,
    raw: &RawCondition,
    errors: &mut Errors,
    parts: &mut Vec<Condition>,
) {
    if let Some(tiers) = &raw.user_tier {
        parts.push(Condition::UserTier(
            tiers.iter().map(|t| t.to_lowercase()).collect(),
        ));
    }
    if let Some(tasks) = &raw.task {
        let parsed = parse_names(
            &format!("{path}.task"),
            tasks,
            TaskType::parse,
            &task_names(),
            errors,
        );
        parts.push(Condition::Task(parsed));
    }
    if let Some(domains) = &raw.domain {
        let names: Vec<&str> = Domain::ALL.iter().map(|d| d.as_str()).collect();
        let parsed = parse_names(
            &format!("{path}.domain"),
            domains,
            Domain::parse,
            &names,
            errors,
        );
        parts.push(Condition::Domain(parsed));
    }
    if let Some(words) = &raw.reasoning_keyword {
        parts.push(Condition::ReasoningKeyword(
            words.iter().map(|w| w.to_lowercase()).collect(),
        ));
    }
}

/// Conditions on the request's measured signals and on the track record.
fn signal_conditions(
    path: &str,
    raw: &RawCondition,
    catalog: Option<&Catalog>,
    errors: &mut Errors,
    parts: &mut Vec<Condition>,
) {
    if let Some(n) = raw.min_reasoning_keywords {
        parts.push(Condition::MinReasoningKeywords(n));
    }
    if let Some(n) = raw.min_tokens {
        parts.push(Condition::MinTokens(n));
    }
    if let Some(n) = raw.max_tokens {
        parts.push(Condition::MaxTokens(n));
    }
    if let (Some(min), Some(max)) = (raw.min_tokens, raw.max_tokens)
        && min > max
    {
        errors.push(
            path,
            format!("min_tokens ({min}) is above max_tokens ({max}): the rule can never match"),
        );
    }
    if let Some(n) = raw.min_turns {
        parts.push(Condition::MinTurns(n));
    }
    if let Some(want) = raw.has_code {
        parts.push(Condition::HasCode(want));
    }
    if let Some(want) = raw.has_image {
        parts.push(Condition::HasImage(want));
    }
    if let Some([from, to]) = raw.hour_between {
        if from > 23 || to > 24 {
            errors.push(
                format!("{path}.hour_between"),
                "hours are 0..=23 (`to` may be 24)",
            );
        }
        parts.push(Condition::HourBetween { from, to });
    }
    if let Some(raw) = &raw.track_record_below {
        parts.push(track_record_below(
            &format!("{path}.track_record_below"),
            raw,
            catalog,
            errors,
        ));
    }
}

fn track_record_below(
    path: &str,
    raw: &RawTrackRecordBelow,
    catalog: Option<&Catalog>,
    errors: &mut Errors,
) -> Condition {
    if !(0.0..=1.0).contains(&raw.score) {
        errors.push(
            format!("{path}.score"),
            format!("{} is not a feedback score: scores are 0..1", raw.score),
        );
    }
    let cheapest = catalog
        .and_then(|c| c.models_by_preference().first().and_then(|&id| c.get(id)))
        .map(|m| m.name.clone());
    let model = match (&raw.model, catalog) {
        (Some(model), Some(catalog)) if catalog.model(model).is_none() => {
            errors.push(
                format!("{path}.model"),
                format!("unknown model `{model}`: name a catalog model"),
            );
            model.clone()
        }
        (Some(model), _) => model.clone(),
        (None, _) => cheapest.unwrap_or_default(),
    };
    Condition::TrackRecordBelow {
        model,
        score: raw.score,
        min_count: raw.min_count.unwrap_or(3).max(1),
    }
}

fn task_names() -> Vec<&'static str> {
    TaskType::ALL.iter().map(|t| t.as_str()).collect()
}

fn parse_names<T>(
    path: &str,
    names: &[String],
    parse: fn(&str) -> Option<T>,
    known: &[&str],
    errors: &mut Errors,
) -> Vec<T> {
    let mut parsed = Vec::new();
    for (i, name) in names.iter().enumerate() {
        match parse(name) {
            Some(value) => parsed.push(value),
            None => errors.push(
                format!("{path}[{i}]"),
                format!(
                    "unknown value `{name}`; expected one of: {}",
                    known.join(", ")
                ),
            ),
        }
    }
    parsed
}
