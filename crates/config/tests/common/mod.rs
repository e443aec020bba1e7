//! What the config tests share: a two-tier catalog the configs under test build on, and
//! compiling a config on top of it.
#![expect(
    clippy::panic,
    reason = "test helper: an unexpected result is a failed test"
)]
#![allow(dead_code, reason = "each test binary uses a different part")]

use routewise_config::{Config, ConfigError, from_str_with_env};

/// Two tiers, `mini` and `big`, on one OpenAI-compatible provider nobody listens on.
pub const CATALOG: &str = r#"
tiers = ["small", "large"]
[[providers]]
name = "p"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
[[models]]
name = "mini"
provider = "p"
tier = "small"
input_usd_per_mtok = 0.15
output_usd_per_mtok = 0.6
context_window = 128000
[[models]]
name = "big"
provider = "p"
tier = "large"
input_usd_per_mtok = 2.5
output_usd_per_mtok = 10
context_window = 128000
"#;

/// The catalog plus `extra`, compiled.
pub fn compile(extra: &str) -> Result<Config, ConfigError> {
    from_str_with_env(&format!("{CATALOG}\n{extra}"), &|_| None)
}

/// The field errors (path, message) of the catalog plus `extra`, which must not compile.
pub fn field_errors(extra: &str) -> Vec<(String, String)> {
    match compile(extra) {
        Err(ConfigError::Invalid { errors, .. }) => {
            errors.into_iter().map(|e| (e.path, e.message)).collect()
        }
        other => panic!("expected field errors, got {other:?}"),
    }
}
