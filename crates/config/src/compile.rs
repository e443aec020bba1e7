//! Compiles [`crate::raw`] structs into validated core types, collecting every error with its
//! field path instead of stopping at the first.

use crate::error::{ConfigError, FieldError};
use crate::raw::{RawCondition, RawConfig, RawLearned, RawModel, RawProvider, RawRouting, RawRule};
use routewise_core::catalog::{Capability, Catalog, ModelSpec};
use routewise_core::learn::{LearnedModel, LearnedPolicy};
use routewise_core::policy::{
    ComplexityPolicy, ComplexityWeights, Condition, Policy, Rule, RulesPolicy, TARGET_ALIASES,
    Target, resolve_target_name,
};
use routewise_core::router::{Limits, RouteError, Router, RouterOptions};
use routewise_core::signals::{Domain, TaskType};
use std::sync::Arc;

/// Which kind of API a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// Any OpenAI-compatible endpoint: OpenAI, vLLM, Ollama, Together, ...
    OpenAi,
    /// Anthropic's Messages API.
    Anthropic,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: ProviderKind,
    /// Base URL without a trailing slash, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    pub api_key_env: Option<String>,
}

/// Which policy routes `auto` requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyChoice {
    Rules,
    Complexity,
    /// The model file of `[routing.learned]`, at its calibrated threshold.
    Learned,
}

impl PolicyChoice {
    pub const NAMES: [&str; 3] = ["rules", "complexity", "learned"];

    pub fn as_str(self) -> &'static str {
        match self {
            PolicyChoice::Rules => "rules",
            PolicyChoice::Complexity => "complexity",
            PolicyChoice::Learned => "learned",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "rules" => Some(PolicyChoice::Rules),
            "complexity" => Some(PolicyChoice::Complexity),
            "learned" => Some(PolicyChoice::Learned),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RoutingConfig {
    pub policy: PolicyChoice,
    pub rules: Arc<RulesPolicy>,
    pub complexity: Arc<ComplexityPolicy>,
    pub options: RouterOptions,
    /// The learned router's settings, when the config names a model file.
    pub learned: Option<LearnedSettings>,
}

/// The learned router of `[routing.learned]`: its model file, loaded and checked against the
/// catalog when the config was compiled, at the threshold calibrated for it.
#[derive(Debug, Clone)]
pub struct LearnedSettings {
    /// The model file as the config names it.
    pub model: String,
    pub threshold: f64,
    pub policy: Arc<LearnedPolicy>,
}

/// Reads the model file a config names (`[routing.learned] model`); the error says why not.
pub type ModelLoader<'a> = &'a dyn Fn(&str) -> Result<LearnedModel, String>;

/// A validated config, ready to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub catalog: Arc<Catalog>,
    pub providers: Vec<ProviderConfig>,
    pub routing: RoutingConfig,
    pub server: crate::server::ServerConfig,
}

impl Config {
    /// The policy object for a choice. `learned` exists only when the config has a
    /// `[routing.learned]` section (compiling a config that uses it without one fails).
    pub fn policy(&self, choice: PolicyChoice) -> Result<Arc<dyn Policy>, RouteError> {
        Ok(match choice {
            PolicyChoice::Rules => self.routing.rules.clone(),
            PolicyChoice::Complexity => self.routing.complexity.clone(),
            PolicyChoice::Learned => match &self.routing.learned {
                Some(learned) => learned.policy.clone(),
                None => {
                    return Err(RouteError::PolicyUnavailable {
                        policy: choice.as_str().to_owned(),
                        why: LEARNED_NEEDS_SECTION.to_owned(),
                    });
                }
            },
        })
    }

    /// A router with the configured policy.
    pub fn router(&self) -> Result<Router, RouteError> {
        self.router_with(self.routing.policy)
    }

    /// A router with another built-in policy (e.g. `routewise route --policy complexity`).
    pub fn router_with(&self, choice: PolicyChoice) -> Result<Router, RouteError> {
        Router::new(
            self.catalog.clone(),
            self.policy(choice)?,
            self.routing.options,
        )
    }

    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.name == name)
    }
}

/// Collects field errors.
#[derive(Debug, Default)]
struct Errors(Vec<FieldError>);

impl Errors {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(path, message));
    }
}

const LEARNED_NEEDS_SECTION: &str = "it needs a [routing.learned] section with `model` (a file from `routewise train`) and `threshold` (from `routewise calibrate`)";

/// Compiles a parsed config; `load_model` reads the learned router's model file, if one is named.
pub fn compile(raw: RawConfig, load_model: ModelLoader<'_>) -> Result<Config, ConfigError> {
    let mut errors = Errors::default();
    let tiers = check_tiers(&raw.tiers, &mut errors);
    let providers = compile_providers(&raw.providers, &mut errors);
    let models = compile_models(&raw.models, &tiers, &providers, &mut errors);
    if raw.models.is_empty() {
        errors.push(
            "models",
            "the catalog has no models: add at least one [[models]] entry",
        );
    }

    // Everything after this point needs a catalog; without one, report what we have.
    let catalog = match (errors.0.is_empty(), Catalog::new(tiers, models)) {
        (true, Ok(catalog)) => Arc::new(catalog),
        (true, Err(error)) => {
            errors.push("models", error.to_string());
            return Err(invalid(errors));
        }
        (false, _) => {
            compile_routing_without_catalog(&raw.routing, &mut errors);
            return Err(invalid(errors));
        }
    };
    let routing = compile_routing(&raw.routing, &catalog, load_model, &mut errors);
    let server =
        crate::server::compile_server(&raw.server, routing.policy, &catalog, &mut errors.0);
    if raw.routing.learned.is_none() {
        if routing.policy == PolicyChoice::Learned {
            errors.push(
                "routing.policy",
                format!("policy `learned`: {LEARNED_NEEDS_SECTION}"),
            );
        }
        for (i, route) in raw.server.routes.iter().enumerate() {
            if route.policy.as_deref() == Some(PolicyChoice::Learned.as_str()) {
                errors.push(
                    format!("server.routes[{i}].policy"),
                    format!("policy `learned`: {LEARNED_NEEDS_SECTION}"),
                );
            }
        }
    }
    if !errors.0.is_empty() {
        return Err(invalid(errors));
    }
    Ok(Config {
        catalog,
        providers,
        routing,
        server,
    })
}

fn invalid(errors: Errors) -> ConfigError {
    ConfigError::Invalid {
        errors: errors.0,
        file: None,
    }
}

fn check_name(path: &str, name: &str, errors: &mut Errors) {
    if name.trim().is_empty() {
        errors.push(path, "must not be empty");
    } else if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        errors.push(
            path,
            format!("`{name}` must not contain spaces or control characters"),
        );
    }
}

fn check_tiers(tiers: &[String], errors: &mut Errors) -> Vec<String> {
    if tiers.is_empty() {
        errors.push(
            "tiers",
            "no tiers are declared: list them cheapest first, e.g. tiers = [\"small\", \"large\"]",
        );
    }
    for (i, tier) in tiers.iter().enumerate() {
        let path = format!("tiers[{i}]");
        check_name(&path, tier, errors);
        if tiers[..i].contains(tier) {
            errors.push(&path, format!("tier `{tier}` is listed twice"));
        }
        if TARGET_ALIASES.contains(&tier.as_str()) {
            errors.push(
                &path,
                format!("`{tier}` is reserved as a rule target alias; pick another tier name"),
            );
        }
    }
    tiers.to_vec()
}

fn compile_providers(raw: &[RawProvider], errors: &mut Errors) -> Vec<ProviderConfig> {
    let mut providers = Vec::new();
    for (i, p) in raw.iter().enumerate() {
        let path = format!("providers[{i}]");
        check_name(&format!("{path}.name"), &p.name, errors);
        if raw[..i].iter().any(|q| q.name == p.name) {
            errors.push(
                format!("{path}.name"),
                format!("provider `{}` is declared twice", p.name),
            );
        }
        let kind = match p.kind.as_str() {
            "openai" => Some(ProviderKind::OpenAi),
            "anthropic" => Some(ProviderKind::Anthropic),
            other => {
                errors.push(
                    format!("{path}.kind"),
                    format!("unknown provider kind `{other}`; expected `openai` or `anthropic`"),
                );
                None
            }
        };
        let base_url = p.base_url.trim_end_matches('/').to_owned();
        if !(base_url.starts_with("http://") || base_url.starts_with("https://"))
            || base_url.len() <= "https://".len()
        {
            errors.push(
                format!("{path}.base_url"),
                format!("`{}` is not an http(s) URL", p.base_url),
            );
        }
        if let Some(var) = &p.api_key_env
            && (var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            errors.push(
                format!("{path}.api_key_env"),
                format!("`{var}` is not an environment variable name (it names the variable holding the key, not the key)"),
            );
        }
        if let Some(kind) = kind {
            providers.push(ProviderConfig {
                name: p.name.clone(),
                kind,
                base_url,
                api_key_env: p.api_key_env.clone(),
            });
        }
    }
    providers
}

fn compile_models(
    raw: &[RawModel],
    tiers: &[String],
    providers: &[ProviderConfig],
    errors: &mut Errors,
) -> Vec<ModelSpec> {
    let mut models = Vec::new();
    for (i, m) in raw.iter().enumerate() {
        let path = format!("models[{i}]");
        check_name(&format!("{path}.name"), &m.name, errors);
        if raw[..i].iter().any(|other| other.name == m.name) {
            errors.push(
                format!("{path}.name"),
                format!("model `{}` is declared twice; names must be unique", m.name),
            );
        }
        if TARGET_ALIASES.contains(&m.name.as_str()) || tiers.contains(&m.name) {
            errors.push(
                format!("{path}.name"),
                format!(
                    "`{}` is a tier name or target alias; model names must differ from them",
                    m.name
                ),
            );
        }
        if !providers.iter().any(|p| p.name == m.provider) {
            let known: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
            errors.push(
                format!("{path}.provider"),
                format!(
                    "unknown provider `{}`; declared providers: [{}]",
                    m.provider,
                    known.join(", ")
                ),
            );
        }
        let tier = tiers.iter().position(|t| *t == m.tier);
        if tier.is_none() {
            errors.push(
                format!("{path}.tier"),
                format!(
                    "unknown tier `{}`; declared tiers: [{}]",
                    m.tier,
                    tiers.join(", ")
                ),
            );
        }
        for (field, value) in [
            ("input_usd_per_mtok", m.input_usd_per_mtok),
            ("output_usd_per_mtok", m.output_usd_per_mtok),
        ] {
            if !value.is_finite() || value < 0.0 {
                errors.push(
                    format!("{path}.{field}"),
                    format!("{value} is not a price: USD per 1M tokens, >= 0"),
                );
            }
        }
        if m.context_window == 0 {
            errors.push(format!("{path}.context_window"), "must be at least 1 token");
        }
        let mut capabilities = Vec::new();
        for (j, name) in m.capabilities.iter().enumerate() {
            match Capability::parse(name) {
                Some(c) if !capabilities.contains(&c) => capabilities.push(c),
                Some(_) => {}
                None => errors.push(
                    format!("{path}.capabilities[{j}]"),
                    format!("unknown capability `{name}`; expected one of: vision, tools, code"),
                ),
            }
        }
        models.push(ModelSpec {
            name: m.name.clone(),
            provider: m.provider.clone(),
            upstream_model: m.upstream_model.clone().unwrap_or_else(|| m.name.clone()),
            tier: tier.unwrap_or(0),
            input_usd_per_mtok: m.input_usd_per_mtok,
            output_usd_per_mtok: m.output_usd_per_mtok,
            context_window: m.context_window,
            capabilities,
        });
    }
    models
}

/// Checks what can be checked without a catalog, so one run reports routing errors too.
fn compile_routing_without_catalog(raw: &RawRouting, errors: &mut Errors) {
    if let Some(policy) = &raw.policy
        && PolicyChoice::parse(policy).is_none()
    {
        errors.push("routing.policy", unknown_policy(policy));
    }
    for (i, rule) in raw.rules.iter().flatten().enumerate() {
        compile_condition(&format!("routing.rules[{i}].when"), &rule.when, errors);
    }
}

fn unknown_policy(policy: &str) -> String {
    format!(
        "unknown policy `{policy}`; expected one of: {}",
        PolicyChoice::NAMES.join(", ")
    )
}

fn compile_routing(
    raw: &RawRouting,
    catalog: &Catalog,
    load_model: ModelLoader<'_>,
    errors: &mut Errors,
) -> RoutingConfig {
    let policy = match raw.policy.as_deref() {
        None => PolicyChoice::Rules,
        Some(name) => PolicyChoice::parse(name).unwrap_or_else(|| {
            errors.push("routing.policy", unknown_policy(name));
            PolicyChoice::Rules
        }),
    };
    let default_target = match raw.default_target.as_deref() {
        None => Target::Tier(catalog.middle_tier()),
        Some(name) => target(catalog, "routing.default_target", name, errors),
    };
    let rules = match &raw.rules {
        None => RulesPolicy::default_rules(catalog),
        Some(rules) => RulesPolicy::new(compile_rules(rules, catalog, errors), default_target),
    };
    let complexity = compile_complexity(raw, catalog, errors);
    let defaults = RouterOptions::default();
    let limits = raw.limits.clone().unwrap_or_default();
    let options = RouterOptions {
        limits: Limits {
            max_input_bytes: limits
                .max_input_bytes
                .unwrap_or(defaults.limits.max_input_bytes),
            max_messages: limits.max_messages.unwrap_or(defaults.limits.max_messages),
        },
        expected_output_tokens: raw
            .expected_output_tokens
            .unwrap_or(defaults.expected_output_tokens),
    };
    if options.limits.max_input_bytes == 0 {
        errors.push("routing.limits.max_input_bytes", "must be at least 1");
    }
    if options.limits.max_messages == 0 {
        errors.push("routing.limits.max_messages", "must be at least 1");
    }
    let learned = raw
        .learned
        .as_ref()
        .and_then(|l| compile_learned(l, catalog, load_model, errors));
    RoutingConfig {
        policy,
        rules: Arc::new(rules),
        complexity: Arc::new(complexity),
        options,
        learned,
    }
}

/// Loads `[routing.learned]`'s model file and checks that it can route over this catalog.
fn compile_learned(
    raw: &RawLearned,
    catalog: &Catalog,
    load_model: ModelLoader<'_>,
    errors: &mut Errors,
) -> Option<LearnedSettings> {
    if !(raw.threshold.is_finite() && raw.threshold >= 0.0) {
        errors.push(
            "routing.learned.threshold",
            "must be a number >= 0 (find one with `routewise calibrate`)",
        );
    }
    if raw.model.trim().is_empty() {
        errors.push(
            "routing.learned.model",
            "must name a model file from `routewise train`",
        );
        return None;
    }
    let model = match load_model(&raw.model) {
        Ok(model) => model,
        Err(why) => {
            errors.push("routing.learned.model", why);
            return None;
        }
    };
    let names = model.model_names();
    if !names.iter().any(|name| catalog.model(name).is_some()) {
        errors.push(
            "routing.learned.model",
            format!(
                "the model file predicts for {}, none of which is in the catalog: train it on data labelled with your catalog's model names",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        return None;
    }
    Some(LearnedSettings {
        model: raw.model.clone(),
        threshold: raw.threshold,
        policy: Arc::new(LearnedPolicy::new(Arc::new(model), raw.threshold)),
    })
}

fn target(catalog: &Catalog, path: &str, name: &str, errors: &mut Errors) -> Target {
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

fn compile_rules(raw: &[RawRule], catalog: &Catalog, errors: &mut Errors) -> Vec<Rule> {
    let mut rules = Vec::new();
    for (i, r) in raw.iter().enumerate() {
        let path = format!("routing.rules[{i}]");
        check_name(&format!("{path}.name"), &r.name, errors);
        if raw[..i].iter().any(|other| other.name == r.name) {
            errors.push(
                format!("{path}.name"),
                format!("rule `{}` is declared twice", r.name),
            );
        }
        let when = compile_condition(&format!("{path}.when"), &r.when, errors);
        let target = target(catalog, &format!("{path}.target"), &r.target, errors);
        let mut require = Vec::new();
        for (j, name) in r.require.iter().enumerate() {
            match Capability::parse(name) {
                Some(c) => require.push(c),
                None => errors.push(
                    format!("{path}.require[{j}]"),
                    format!("unknown capability `{name}`; expected one of: vision, tools, code"),
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

fn compile_condition(path: &str, raw: &RawCondition, errors: &mut Errors) -> Condition {
    let mut parts = Vec::new();
    if let Some(all) = &raw.all {
        let inner = all
            .iter()
            .enumerate()
            .map(|(i, c)| compile_condition(&format!("{path}.all[{i}]"), c, errors));
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
            .map(|(i, c)| compile_condition(&format!("{path}.any[{i}]"), c, errors));
        parts.push(Condition::Any(inner.collect()));
    }
    if let Some(not) = &raw.not {
        parts.push(Condition::Not(Box::new(compile_condition(
            &format!("{path}.not"),
            not,
            errors,
        ))));
    }
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
    match parts.len() {
        0 => Condition::Always,
        1 => parts.pop().unwrap_or(Condition::Always),
        _ => Condition::All(parts),
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

fn compile_complexity(
    raw: &RawRouting,
    catalog: &Catalog,
    errors: &mut Errors,
) -> ComplexityPolicy {
    let tiers = catalog.tiers().len();
    let defaults = ComplexityPolicy::default_for_tiers(tiers);
    let Some(raw) = &raw.complexity else {
        return defaults;
    };
    let mut weights = ComplexityWeights::default();
    if let Some(w) = &raw.weights {
        let fields = [
            ("tokens", w.tokens, &mut weights.tokens),
            ("reasoning", w.reasoning, &mut weights.reasoning),
            ("task", w.task, &mut weights.task),
            ("domain", w.domain, &mut weights.domain),
            ("code", w.code, &mut weights.code),
            ("turns", w.turns, &mut weights.turns),
        ];
        for (name, value, slot) in fields {
            if let Some(value) = value {
                if !value.is_finite() || value < 0.0 {
                    errors.push(
                        format!("routing.complexity.weights.{name}"),
                        format!("{value} must be a finite number >= 0"),
                    );
                }
                *slot = value;
            }
        }
        let total = weights.tokens
            + weights.reasoning
            + weights.task
            + weights.domain
            + weights.code
            + weights.turns;
        if total.is_finite() && total <= 0.0 {
            errors.push(
                "routing.complexity.weights",
                "at least one weight must be above 0",
            );
        }
    }
    let thresholds = match &raw.thresholds {
        None => defaults.thresholds().to_vec(),
        Some(t) => {
            if t.len() != tiers - 1 {
                errors.push(
                    "routing.complexity.thresholds",
                    format!("expected {} threshold(s), one per tier but the last ({tiers} tiers), got {}", tiers - 1, t.len()),
                );
            }
            if t.iter().any(|v| !(0.0..=1.0).contains(v)) {
                errors.push(
                    "routing.complexity.thresholds",
                    "thresholds are complexity scores in [0, 1]",
                );
            }
            if t.windows(2).any(|w| w[0] > w[1]) {
                errors.push(
                    "routing.complexity.thresholds",
                    "thresholds must ascend, cheapest tier first",
                );
            }
            t.clone()
        }
    };
    let max_tokens = match &raw.max_tokens {
        None => defaults.max_tokens().to_vec(),
        Some(limits) => {
            if limits.len() != tiers - 1 {
                errors.push(
                    "routing.complexity.max_tokens",
                    format!(
                        "expected {} limit(s), one per tier but the last (0 = no limit), got {}",
                        tiers - 1,
                        limits.len()
                    ),
                );
            }
            limits.iter().map(|&n| (n > 0).then_some(n)).collect()
        }
    };
    ComplexityPolicy::new(weights, thresholds, max_tokens)
}

#[cfg(test)]
mod tests;
