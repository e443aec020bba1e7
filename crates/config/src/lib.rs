//! routewise-config: reads a routewise TOML file and compiles it into validated core types.
//!
//! Two stages, so that users see every mistake at once: [`raw`] mirrors the file with serde
//! (`deny_unknown_fields`, so a typo is an error, not a silently ignored key); [`compile`] checks
//! every value and cross-reference, collecting all errors with their field paths, and builds the
//! [`Config`] the rest of routewise runs on. `${VAR}` and `${VAR:-default}` are expanded from the
//! environment first ([`interpolate`]).

pub mod compile;
pub mod error;
pub mod interpolate;
pub mod raw;
pub mod server;

pub use compile::{
    Config, LearnedSettings, PolicyChoice, ProviderConfig, ProviderKind, RoutingConfig,
};
pub use error::{ConfigError, FieldError};

use std::path::Path;

/// The built-in example config used when no `--config` is given: a small and a large OpenAI
/// model plus a vision-less local model, with the default rules. See `config/examples/`.
pub const BUILTIN_TOML: &str = include_str!("builtin.toml");

/// Parses and compiles config text, looking variables up with `env`.
pub fn from_str_with_env(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let expanded = interpolate::expand(text, env)?;
    let raw: raw::RawConfig = toml::from_str(&expanded).map_err(|e| ConfigError::Parse {
        message: e.message().to_owned(),
        location: e
            .span()
            .map(|span| error::line_and_column(&expanded, span.start)),
        file: None,
    })?;
    compile::compile(raw)
}

/// Parses and compiles config text, looking variables up in the process environment.
pub fn from_str(text: &str) -> Result<Config, ConfigError> {
    from_str_with_env(text, &|name| std::env::var(name).ok())
}

/// Reads, parses and compiles a config file.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        message: source.to_string(),
    })?;
    from_str(&text).map_err(|e| e.in_file(path))
}

/// The built-in config.
pub fn builtin() -> Result<Config, ConfigError> {
    from_str_with_env(BUILTIN_TOML, &|_| None)
}
