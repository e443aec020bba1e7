//! Compiles [`crate::raw`] structs into validated core types, collecting every error with its
//! field path instead of stopping at the first.

use crate::error::{ConfigError, FieldError};
use crate::policies::{self, LearnedSettings, ModelLoader, PolicyRegistry};
use crate::raw::{RawConfig, RawModel, RawProvider};
use routewise_core::catalog::{Capability, Catalog, ModelSpec};
use routewise_core::policy::{ComplexityPolicy, Policy, RulesPolicy, TARGET_ALIASES};
use routewise_core::router::{Limits, RouteError, Router, RouterOptions};
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

#[derive(Debug, Clone)]
pub struct RoutingConfig {
    /// The policy that routes `auto` (and routes that name none): a name in `policies`.
    pub policy: String,
    /// Every configured policy, built-in and `[policies.NAME]`.
    pub policies: PolicyRegistry,
    /// The built-in `rules` policy.
    pub rules: Arc<RulesPolicy>,
    /// The built-in `complexity` policy.
    pub complexity: Arc<ComplexityPolicy>,
    pub options: RouterOptions,
    /// The built-in learned router's settings, when the config has `[routing.learned]`.
    pub learned: Option<LearnedSettings>,
}

/// A validated config, ready to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub catalog: Arc<Catalog>,
    pub providers: Vec<ProviderConfig>,
    pub routing: RoutingConfig,
    pub server: crate::server::ServerConfig,
    pub store: crate::store::StoreConfig,
    pub memory: crate::store::MemoryConfig,
    /// Controllers: a strong-share target or quality floor, budgets.
    pub control: crate::control::ControlConfig,
    /// `[[experiments]]`, in file order.
    pub experiments: Vec<crate::experiments::ExperimentConfig>,
    /// `[alerts]`: on by default.
    pub alerts: crate::alerts::AlertsConfig,
    /// `[shared]`: `None` keeps every replica's state in its own process.
    pub shared: Option<crate::shared::SharedConfig>,
    /// `[telemetry]`: `None` exports no traces.
    pub telemetry: Option<crate::telemetry::TelemetryConfig>,
    /// `[dashboard]`.
    pub dashboard: crate::dashboard::DashboardConfig,
}

impl Config {
    /// The experiment a route belongs to, if any.
    pub fn experiment_for(&self, route: &str) -> Option<&crate::experiments::ExperimentConfig> {
        self.experiments.iter().find(|e| e.applies_to(route))
    }
}

impl Config {
    /// The policy configured under `name`.
    pub fn policy(&self, name: &str) -> Result<Arc<dyn Policy>, RouteError> {
        match self.routing.policies.get(name) {
            Some(entry) => Ok(entry.policy.clone()),
            None => Err(RouteError::PolicyUnavailable {
                policy: name.to_owned(),
                why: self.routing.policies.unknown(name),
            }),
        }
    }

    /// A router with the configured policy.
    pub fn router(&self) -> Result<Router, RouteError> {
        self.router_with(&self.routing.policy)
    }

    /// A router with another configured policy (e.g. `routewise route --policy complexity`).
    pub fn router_with(&self, name: &str) -> Result<Router, RouteError> {
        let policy = self.policy(name)?;
        Ok(Router::new(self.catalog.clone(), policy, self.routing.options)?.named(name))
    }

    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.iter().find(|p| p.name == name)
    }
}

/// Collects field errors.
#[derive(Debug, Default)]
pub(crate) struct Errors(pub(crate) Vec<FieldError>);

impl Errors {
    pub(crate) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(path, message));
    }
}

/// Compiles a parsed config; `load_model` reads the learned router's model file, if one is named.
/// Without a `[store]` URL there is no store (a config file's default store is added by
/// [`crate::load_file`]).
pub fn compile(raw: RawConfig, load_model: ModelLoader<'_>) -> Result<Config, ConfigError> {
    compile_with_store(raw, load_model, None)
}

/// [`compile`], with the store URL that applies when `[store]` gives none.
pub fn compile_with_store(
    raw: RawConfig,
    load_model: ModelLoader<'_>,
    default_store: Option<&str>,
) -> Result<Config, ConfigError> {
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
            compile_routing_without_catalog(&raw, &mut errors);
            return Err(invalid(errors));
        }
    };
    let routing = compile_routing(&raw, &catalog, load_model, &mut errors);
    let server = crate::server::compile_server(
        &raw.server,
        &routing.policy,
        &routing.policies,
        &catalog,
        &mut errors.0,
    );
    let store = crate::store::compile_store(&raw.store, default_store, &mut errors.0);
    let memory = crate::store::compile_memory(&raw.memory, &mut errors.0);
    let control = compile_control(&raw, &routing, &mut errors);
    let experiments = crate::experiments::compile_experiments(
        &raw.experiments,
        &server.routes,
        &routing.policies,
        &mut errors,
    );
    let alerts = crate::alerts::compile_alerts(&raw.alerts, &mut errors);
    let shared = crate::shared::compile_shared(&raw.shared, &mut errors);
    let telemetry = crate::telemetry::compile_telemetry(&raw.telemetry, &mut errors);
    let dashboard = crate::dashboard::compile_dashboard(&raw.dashboard, &mut errors);
    if !errors.0.is_empty() {
        return Err(invalid(errors));
    }
    Ok(Config {
        catalog,
        providers,
        routing,
        server,
        store,
        memory,
        control,
        experiments,
        alerts,
        shared,
        telemetry,
        dashboard,
    })
}

/// The target and budget controllers, which need a policy with a threshold to steer.
fn compile_control(
    raw: &RawConfig,
    routing: &RoutingConfig,
    errors: &mut Errors,
) -> crate::control::ControlConfig {
    let target = crate::control::compile_target(raw.routing.target.as_ref(), errors);
    let keys: Vec<&str> = raw
        .server
        .client_keys
        .iter()
        .map(|k| k.name.as_str())
        .collect();
    let budget = crate::control::compile_budget(raw.budget.as_ref(), &keys, errors);
    let steers = |path: &str, what: &str, errors: &mut Errors| {
        let policy = &routing.policy;
        if let Some(entry) = routing.policies.get(policy)
            && !entry.policy.steerable()
        {
            errors.push(
                path,
                format!(
                    "{what} needs a policy with a threshold to move, and `routing.policy` is `{policy}` (kind {}): use complexity, default, learned or bandit",
                    entry.kind
                ),
            );
        }
    };
    if target.is_some() {
        steers("routing.target", "a target", errors);
    }
    if budget.as_ref().is_some_and(|b| !b.hard_cap) {
        steers("budget", "pacing a budget", errors);
    }
    crate::control::ControlConfig { target, budget }
}

fn invalid(errors: Errors) -> ConfigError {
    ConfigError::Invalid {
        errors: errors.0,
        file: None,
    }
}

pub(crate) fn check_name(path: &str, name: &str, errors: &mut Errors) {
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
                    format!("unknown capability `{name}`; expected one of: vision, tools, code, json_schema"),
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
fn compile_routing_without_catalog(raw: &RawConfig, errors: &mut Errors) {
    if let Some(why) = raw
        .routing
        .policy
        .as_deref()
        .and_then(|policy| policies::unknown_in_raw(&raw.routing, &raw.policies, policy))
    {
        errors.push("routing.policy", why);
    }
    for (i, rule) in raw.routing.rules.iter().flatten().enumerate() {
        policies::rules::compile_condition(
            &format!("routing.rules[{i}].when"),
            &rule.when,
            None,
            errors,
        );
    }
}

fn compile_routing(
    raw: &RawConfig,
    catalog: &Catalog,
    load_model: ModelLoader<'_>,
    errors: &mut Errors,
) -> RoutingConfig {
    let routing = &raw.routing;
    let policies::Compiled {
        registry: policies,
        rules,
        complexity,
        learned,
    } = policies::compile(routing, &raw.policies, catalog, load_model, errors);
    let policy = routing.policy.clone().unwrap_or_else(|| "rules".to_owned());
    if policies.get(&policy).is_none() {
        errors.push("routing.policy", policies.unknown(&policy));
    }
    let defaults = RouterOptions::default();
    let limits = routing.limits.clone().unwrap_or_default();
    let options = RouterOptions {
        limits: Limits {
            max_input_bytes: limits
                .max_input_bytes
                .unwrap_or(defaults.limits.max_input_bytes),
            max_messages: limits.max_messages.unwrap_or(defaults.limits.max_messages),
        },
        expected_output_tokens: routing
            .expected_output_tokens
            .unwrap_or(defaults.expected_output_tokens),
    };
    if options.limits.max_input_bytes == 0 {
        errors.push("routing.limits.max_input_bytes", "must be at least 1");
    }
    if options.limits.max_messages == 0 {
        errors.push("routing.limits.max_messages", "must be at least 1");
    }
    RoutingConfig {
        policy,
        policies,
        rules,
        complexity,
        options,
        learned,
    }
}

#[cfg(test)]
mod tests;
