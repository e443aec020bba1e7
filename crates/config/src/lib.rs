//! routewise-config: reads a routewise TOML file and compiles it into validated core types.
//!
//! Two stages, so that users see every mistake at once: [`raw`] mirrors the file with serde
//! (`deny_unknown_fields`, so a typo is an error, not a silently ignored key); [`compile`] checks
//! every value and cross-reference, collecting all errors with their field paths, and builds the
//! [`Config`] the rest of routewise runs on. `${VAR}` and `${VAR:-default}` are expanded from the
//! environment first ([`interpolate`]).

pub mod alerts;
pub mod compile;
pub mod control;
pub mod dashboard;
pub mod error;
pub mod experiments;
pub mod interpolate;
mod model_file;
pub mod policies;
pub mod raw;
pub mod server;
pub mod shared;
pub mod store;
pub mod telemetry;

pub use compile::{Config, ProviderConfig, ProviderKind, RoutingConfig};
pub use error::{ConfigError, FieldError};
pub use policies::{LearnedSettings, ModelLoader, PolicyEntry, PolicyRegistry};

use routewise_core::learn::LearnedModel;
use std::path::{Path, PathBuf};

/// The built-in example config used when no `--config` is given: a small and a large OpenAI
/// model plus a vision-less local model, routed by the `default` policy (the premium-tier rule,
/// then the complexity score). See `config/examples/`.
pub const BUILTIN_TOML: &str = include_str!("builtin.toml");

/// Parses and compiles config text, looking variables up with `env`. A relative learned-model
/// path resolves against the working directory.
pub fn from_str_with_env(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    compile_text(text, env, &|model| read_learned_model(Path::new(model)))
}

/// Reads a learned model file (JSON, plain or gzip), saying why it cannot.
pub fn read_learned_model(path: &Path) -> Result<LearnedModel, String> {
    let text = model_file::read_text(path)?;
    LearnedModel::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn compile_text(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    load_model: ModelLoader<'_>,
) -> Result<Config, ConfigError> {
    compile_text_with_store(text, env, load_model, None)
}

fn compile_text_with_store(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    load_model: ModelLoader<'_>,
    default_store: Option<&str>,
) -> Result<Config, ConfigError> {
    let expanded = interpolate::expand(text, env)?;
    let raw: raw::RawConfig = toml::from_str(&expanded).map_err(|e| ConfigError::Parse {
        message: e.message().to_owned(),
        location: e
            .span()
            .map(|span| error::line_and_column(&expanded, span.start)),
        file: None,
    })?;
    compile::compile_with_store(raw, load_model, default_store)
}

/// Parses and compiles config text, looking variables up in the process environment.
pub fn from_str(text: &str) -> Result<Config, ConfigError> {
    from_str_with_env(text, &|name| std::env::var(name).ok())
}

/// Reads, parses and compiles a config file. A relative learned-model path resolves against
/// the config file's directory, so a config and its model can move together.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        message: source.to_string(),
    })?;
    from_str_at(&text, path)
}

/// Parses and compiles config text as [`load_file`] would if `path` held it, so a tool can
/// check an edited config before it replaces the file.
pub fn from_str_at(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let mut config = compile_text_with_store(
        text,
        &|name| std::env::var(name).ok(),
        &|model| read_learned_model(&relative_to(path, model)),
        Some(store::DEFAULT_STORE),
    )
    .map_err(|e| e.in_file(path))?;
    config.store.url = config.store.url.map(|url| store_beside(path, &url));
    Ok(config)
}

/// A relative `sqlite://PATH` resolved against the config file's directory; other URLs as
/// they are.
fn store_beside(config_path: &Path, url: &str) -> String {
    match url.strip_prefix("sqlite://") {
        Some(file) if !file.is_empty() && !Path::new(file).is_absolute() => {
            let (file, query) = file
                .split_once('?')
                .map_or((file, None), |(f, q)| (f, Some(q)));
            let path = std::path::absolute(relative_to(config_path, file))
                .unwrap_or_else(|_| relative_to(config_path, file));
            match query {
                Some(query) => format!("sqlite://{}?{query}", path.display()),
                None => format!("sqlite://{}", path.display()),
            }
        }
        _ => url.to_owned(),
    }
}

/// The files a config loaded from `path` is made of: the config itself and the learned model
/// file it names. A server reloads when one of them changes.
pub fn source_files(path: &Path, config: &Config) -> Vec<PathBuf> {
    let mut files = vec![path.to_owned()];
    for entry in config.routing.policies.iter() {
        for file in &entry.files {
            let file = relative_to(path, file);
            if !files.contains(&file) {
                files.push(file);
            }
        }
    }
    files
}

/// The files the config file at `path` names, read from its text even when the config is
/// invalid: the file itself and, when its TOML parses, the learned model files of
/// `[routing.learned] model`, `[routing.bandit] prior_model` and every `[policies.NAME]`'s
/// `model` or `prior_model`. A server whose reload was
/// rejected watches these, so that creating or fixing the model file a rejected config points
/// at retries the reload.
pub fn named_files(path: &Path) -> Vec<PathBuf> {
    let mut files = vec![path.to_owned()];
    let Some(table) = std::fs::read_to_string(path)
        .ok()
        .and_then(|text| interpolate::expand(&text, &|name| std::env::var(name).ok()).ok())
        .and_then(|text| text.parse::<toml::Table>().ok())
    else {
        return files;
    };
    // Only the model keys matter here; the rest of the file may well be what is wrong.
    let models_of = |section: &toml::Value| -> Vec<String> {
        ["model", "prior_model"]
            .iter()
            .filter_map(|key| section.get(key)?.as_str().map(str::to_owned))
            .collect()
    };
    let routing = table.get("routing");
    let builtin = ["learned", "bandit"]
        .into_iter()
        .filter_map(|name| routing.and_then(|r| r.get(name)))
        .flat_map(models_of);
    let named = table
        .get("policies")
        .and_then(toml::Value::as_table)
        .into_iter()
        .flat_map(|policies| policies.values().flat_map(models_of));
    for model in builtin.chain(named) {
        let file = relative_to(path, &model);
        if !model.trim().is_empty() && !files.contains(&file) {
            files.push(file);
        }
    }
    files
}

/// `name` as a path, relative to the directory of the config file at `config_path`.
fn relative_to(config_path: &Path, name: &str) -> PathBuf {
    config_path.parent().unwrap_or(Path::new("")).join(name)
}

/// The built-in config.
pub fn builtin() -> Result<Config, ConfigError> {
    from_str_with_env(BUILTIN_TOML, &|_| None)
}
