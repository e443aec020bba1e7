//! The policy registry: every policy a config can name, and the one place where a policy kind
//! is compiled.
//!
//! Built-in names: `rules` (`[routing]` rules and `default_target`, else the default rules),
//! `complexity` (`[routing.complexity]`), `default` (the default rules' premium-tier guard,
//! then that complexity score: the built-in config's policy), `bandit` (`[routing.bandit]`, else its defaults), and
//! `learned` when `[routing.learned]` is present.
//! Any number of `[policies.NAME]` tables add more, each of a `kind`, so that routes and
//! experiments can name two variants of one kind (two rule sets, two model files).
//!
//! Adding a policy kind: its core type in `routewise_core::policy` (or beside it), its raw
//! settings as a variant of [`crate::raw::RawPolicy`], a file here that compiles them, and one
//! arm in [`compile_named`].

pub mod bandit;
pub mod complexity;
pub mod learned;
pub mod rules;

use crate::compile::{Errors, check_name};
use crate::raw::{RawPolicy, RawRouting};
use routewise_core::catalog::Catalog;
use routewise_core::policy::{ComplexityPolicy, DefaultPolicy, Policy, RulesPolicy};
use std::collections::BTreeMap;
use std::sync::Arc;

pub use learned::{LearnedSettings, ModelLoader};

/// The kinds a `[policies.NAME]` table can have.
pub const KINDS: [&str; 4] = ["rules", "complexity", "learned", "bandit"];

/// The names the built-in policies take.
pub const BUILTIN_NAMES: [&str; 5] = ["rules", "complexity", "default", "learned", "bandit"];

/// What `learned` needs when a config names it without defining it.
pub const LEARNED_NEEDS_SECTION: &str = "it needs a [routing.learned] section with `model` (a file from `routewise train`) and `threshold` (from `routewise calibrate`)";

/// One configured policy.
#[derive(Debug, Clone)]
pub struct PolicyEntry {
    /// The name routes, experiments, headers and records use.
    pub name: String,
    /// Its kind (`rules`, `complexity`, `learned`, ...).
    pub kind: &'static str,
    pub policy: Arc<dyn Policy>,
    /// Files the policy is made of (a learned model file), as the config names them: a server
    /// reloads when one changes.
    pub files: Vec<String>,
}

/// Every policy of a config, by name.
#[derive(Debug, Clone, Default)]
pub struct PolicyRegistry {
    entries: BTreeMap<String, PolicyEntry>,
}

impl PolicyRegistry {
    pub fn get(&self, name: &str) -> Option<&PolicyEntry> {
        self.entries.get(name)
    }

    /// Every name, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.entries.keys().map(String::as_str).collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &PolicyEntry> {
        self.entries.values()
    }

    /// Adds a policy, replacing one of the same name (for tools and tests that build policies
    /// outside a config file).
    pub fn insert(&mut self, entry: PolicyEntry) {
        self.entries.insert(entry.name.clone(), entry);
    }

    /// The error for a name that is not configured, listing those that are.
    pub fn unknown(&self, name: &str) -> String {
        unknown_among(name, &self.names())
    }
}

/// The error for a policy name that is none of `known`.
fn unknown_among(name: &str, known: &[&str]) -> String {
    if name == "learned" {
        return format!("policy `learned`: {LEARNED_NEEDS_SECTION}");
    }
    format!(
        "unknown policy `{name}`; configured policies: {} (add more as [policies.NAME] with a `kind` of {})",
        known.join(", "),
        KINDS.join(", ")
    )
}

/// The error for an unknown policy name, from the raw file alone (when it has errors that
/// stop it compiling, the names it declares are still known).
pub(crate) fn unknown_in_raw(
    routing: &RawRouting,
    named: &BTreeMap<String, RawPolicy>,
    name: &str,
) -> Option<String> {
    let mut known: Vec<&str> = vec!["rules", "complexity", "default", "bandit"];
    if routing.learned.is_some() {
        known.push("learned");
    }
    known.extend(named.keys().map(String::as_str));
    (!known.contains(&name)).then(|| unknown_among(name, &known))
}

/// The compiled policies, with the built-ins also as their own types (tools read their
/// settings).
#[derive(Debug)]
pub(crate) struct Compiled {
    pub registry: PolicyRegistry,
    pub rules: Arc<RulesPolicy>,
    pub complexity: Arc<ComplexityPolicy>,
    /// The built-in learned router, which `routewise route` and `calibrate` read.
    pub learned: Option<LearnedSettings>,
}

/// Compiles the built-in policies and every `[policies.NAME]`.
pub(crate) fn compile(
    routing: &RawRouting,
    named: &BTreeMap<String, RawPolicy>,
    catalog: &Catalog,
    load_model: ModelLoader<'_>,
    errors: &mut Errors,
) -> Compiled {
    let mut registry = PolicyRegistry::default();
    let rules = Arc::new(rules::compile(
        "routing",
        routing.default_target.as_deref(),
        routing.rules.as_deref(),
        catalog,
        errors,
    ));
    registry.insert(entry("rules", "rules", rules.clone(), Vec::new()));
    let complexity = Arc::new(complexity::compile(
        "routing.complexity",
        routing.complexity.as_ref(),
        catalog,
        errors,
    ));
    registry.insert(entry(
        "complexity",
        "complexity",
        complexity.clone(),
        Vec::new(),
    ));
    registry.insert(entry(
        "default",
        "default",
        Arc::new(DefaultPolicy::new(catalog, (*complexity).clone())),
        Vec::new(),
    ));
    let expected_output_tokens = routing
        .expected_output_tokens
        .unwrap_or(routewise_core::router::RouterOptions::default().expected_output_tokens);
    let (bandit, files) = bandit::compile(
        "routing.bandit",
        routing.bandit.as_ref(),
        catalog,
        expected_output_tokens,
        load_model,
        errors,
    );
    registry.insert(entry("bandit", "bandit", Arc::new(bandit), files));
    let learned = routing
        .learned
        .as_ref()
        .and_then(|raw| learned::compile("routing.learned", raw, catalog, load_model, errors));
    if let Some(settings) = &learned {
        registry.insert(entry(
            "learned",
            "learned",
            settings.policy.clone(),
            vec![settings.model.clone()],
        ));
    }
    compile_all_named(
        named,
        catalog,
        load_model,
        expected_output_tokens,
        &mut registry,
        errors,
    );
    Compiled {
        registry,
        rules,
        complexity,
        learned,
    }
}

/// Every `[policies.NAME]`, into `registry`; a built-in name is refused.
fn compile_all_named(
    named: &BTreeMap<String, RawPolicy>,
    catalog: &Catalog,
    load_model: ModelLoader<'_>,
    expected_output_tokens: u32,
    registry: &mut PolicyRegistry,
    errors: &mut Errors,
) {
    for (name, raw) in named {
        let path = format!("policies.{name}");
        check_name(&path, name, errors);
        if BUILTIN_NAMES.contains(&name.as_str()) {
            errors.push(
                &path,
                format!(
                    "`{name}` is a built-in policy (configured under [routing]); give this one another name"
                ),
            );
            continue;
        }
        if let Some(compiled) = compile_named(
            name,
            raw,
            catalog,
            load_model,
            expected_output_tokens,
            errors,
        ) {
            registry.insert(compiled);
        }
    }
}

/// The one dispatch over policy kinds.
fn compile_named(
    name: &str,
    raw: &RawPolicy,
    catalog: &Catalog,
    load_model: ModelLoader<'_>,
    expected_output_tokens: u32,
    errors: &mut Errors,
) -> Option<PolicyEntry> {
    let prefix = format!("policies.{name}");
    Some(match raw {
        RawPolicy::Rules(raw) => {
            let policy = rules::compile(
                &prefix,
                raw.default_target.as_deref(),
                raw.rules.as_deref(),
                catalog,
                errors,
            );
            entry(name, "rules", Arc::new(policy), Vec::new())
        }
        RawPolicy::Complexity(raw) => {
            let policy = complexity::compile(&prefix, Some(raw), catalog, errors);
            entry(name, "complexity", Arc::new(policy), Vec::new())
        }
        RawPolicy::Learned(raw) => {
            let settings = learned::compile(&prefix, raw, catalog, load_model, errors)?;
            entry(name, "learned", settings.policy, vec![settings.model])
        }
        RawPolicy::Bandit(raw) => {
            let (policy, files) = bandit::compile(
                &prefix,
                Some(raw),
                catalog,
                expected_output_tokens,
                load_model,
                errors,
            );
            entry(name, "bandit", Arc::new(policy), files)
        }
    })
}

fn entry(
    name: &str,
    kind: &'static str,
    policy: Arc<dyn Policy>,
    files: Vec<String>,
) -> PolicyEntry {
    PolicyEntry {
        name: name.to_owned(),
        kind,
        policy,
        files,
    }
}
