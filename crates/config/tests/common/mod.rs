//! What the config tests share: a two-tier catalog the configs under test build on.

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
