use crate::{ConfigError, builtin, from_str_with_env};
use routewise_core::{ChatInput, RequestContext};

fn no_env(_: &str) -> Option<String> {
    None
}

const MINIMAL: &str = r#"
tiers = ["small", "large"]
[[providers]]
name = "openai"
kind = "openai"
base_url = "https://api.openai.com/v1/"
api_key_env = "OPENAI_API_KEY"
[[models]]
name = "mini"
provider = "openai"
tier = "small"
input_usd_per_mtok = 0.15
output_usd_per_mtok = 0.6
context_window = 128000
[[models]]
name = "big"
provider = "openai"
upstream_model = "gpt-4o"
tier = "large"
input_usd_per_mtok = 2.5
output_usd_per_mtok = 10
context_window = 128000
capabilities = ["vision", "code"]
"#;

#[test]
fn a_minimal_config_compiles_with_default_rules() {
    let config = from_str_with_env(MINIMAL, &no_env).unwrap();
    assert_eq!(config.catalog.models().len(), 2);
    assert_eq!(
        config.catalog.model("big").unwrap().upstream_model,
        "gpt-4o"
    );
    assert_eq!(config.catalog.model("mini").unwrap().upstream_model, "mini");
    assert_eq!(config.providers[0].base_url, "https://api.openai.com/v1");
    assert_eq!(config.routing.policy, "rules");
    assert_eq!(config.routing.rules.rules()[0].name, "premium-tier");
    let router = config.router().unwrap();
    let d = router
        .decide(
            &ChatInput::from_prompt("What's the capital of France?"),
            &RequestContext::default(),
        )
        .unwrap();
    assert_eq!(d.model, "mini");
}

#[test]
fn every_error_is_reported_at_once_with_its_path() {
    let text = r#"
tiers = ["small", "small", "strongest"]
[[providers]]
name = "x"
kind = "grpc"
base_url = "ftp://nope"
api_key_env = "sk-live-123"
[[models]]
name = "a"
provider = "missing"
tier = "huge"
input_usd_per_mtok = -1
output_usd_per_mtok = 1
context_window = 0
capabilities = ["telepathy"]
[[models]]
name = "a"
provider = "x"
tier = "small"
input_usd_per_mtok = 1
output_usd_per_mtok = 1
context_window = 10
[routing]
policy = "magic"
"#;
    let err = from_str_with_env(text, &no_env).unwrap_err();
    let paths: Vec<&str> = err.field_errors().iter().map(|e| e.path.as_str()).collect();
    for expected in [
        "tiers[1]",
        "tiers[2]",
        "providers[0].kind",
        "providers[0].base_url",
        "providers[0].api_key_env",
        "models[0].provider",
        "models[0].tier",
        "models[0].input_usd_per_mtok",
        "models[0].context_window",
        "models[0].capabilities[0]",
        "models[1].name",
        "routing.policy",
    ] {
        assert!(paths.contains(&expected), "missing {expected} in {paths:?}");
    }
    let message = err.to_string();
    assert!(message.contains("telepathy"), "{message}");
}

#[test]
fn rules_are_validated_against_the_catalog() {
    let text = format!(
        "{MINIMAL}{}",
        r#"
[routing]
default_target = "nowhere"
[[routing.rules]]
name = "r1"
when = { task = ["poetry"], domain = ["astrology"], hour_between = [25, 3] }
target = "gpt-5"
require = ["wings"]
[[routing.rules]]
name = "r1"
when = { any = [], min_tokens = 10, max_tokens = 5 }
target = "large"
"#
    );
    let err = from_str_with_env(&text, &no_env).unwrap_err();
    let paths: Vec<&str> = err.field_errors().iter().map(|e| e.path.as_str()).collect();
    for expected in [
        "routing.default_target",
        "routing.rules[0].when.task[0]",
        "routing.rules[0].when.domain[0]",
        "routing.rules[0].when.hour_between",
        "routing.rules[0].target",
        "routing.rules[0].require[0]",
        "routing.rules[1].name",
        "routing.rules[1].when.any",
        "routing.rules[1].when",
    ] {
        assert!(paths.contains(&expected), "missing {expected} in {paths:?}");
    }
}

#[test]
fn custom_rules_route_first_match_wins_and_default_applies() {
    let text = format!(
        "{MINIMAL}{}",
        r#"
[routing]
default_target = "cheapest"
[[routing.rules]]
name = "night-owls"
when = { hour_between = [22, 6] }
target = "big"
[[routing.rules]]
name = "long"
when = { not = { max_tokens = 50 } }
target = "large"
"#
    );
    let config = from_str_with_env(&text, &no_env).unwrap();
    let router = config.router().unwrap();
    let at = |hour| RequestContext {
        user_tier: "standard".into(),
        hour_of_day: hour,
    };
    let short = ChatInput::from_prompt("hi");
    assert_eq!(
        router.decide(&short, &at(23)).unwrap().reason,
        "rule:night-owls"
    );
    assert_eq!(
        router.decide(&short, &at(3)).unwrap().reason,
        "rule:night-owls"
    );
    let d = router.decide(&short, &at(12)).unwrap();
    assert_eq!(
        (d.reason.as_str(), d.model.as_str()),
        ("rule:default", "mini")
    );
    let long = ChatInput::from_prompt("word ".repeat(100));
    assert_eq!(router.decide(&long, &at(12)).unwrap().model, "big");
}

#[test]
fn complexity_settings_are_checked() {
    let text = format!(
        "{MINIMAL}{}",
        r#"
[routing]
policy = "complexity"
[routing.complexity]
thresholds = [0.2, 0.1]
max_tokens = [100, 200]
weights = { tokens = -1 }
"#
    );
    let err = from_str_with_env(&text, &no_env).unwrap_err();
    let paths: Vec<&str> = err.field_errors().iter().map(|e| e.path.as_str()).collect();
    assert!(
        paths.contains(&"routing.complexity.thresholds"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"routing.complexity.max_tokens"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"routing.complexity.weights.tokens"),
        "{paths:?}"
    );

    let good = format!(
        "{MINIMAL}\n[routing]\npolicy = \"complexity\"\n[routing.complexity]\nthresholds = [0.5]\nmax_tokens = [0]\n"
    );
    let config = from_str_with_env(&good, &no_env).unwrap();
    assert_eq!(config.routing.policy, "complexity");
    assert_eq!(config.routing.complexity.thresholds(), &[0.5]);
}

#[test]
fn unknown_keys_and_bad_toml_are_located() {
    let err = from_str_with_env("tiers = [\"a\"]\ncolour = 1\n", &no_env).unwrap_err();
    match &err {
        ConfigError::Parse {
            message, location, ..
        } => {
            assert!(message.contains("colour"), "{message}");
            assert_eq!(location.map(|l| l.0), Some(2));
        }
        other => panic!("expected a parse error, got {other}"),
    }
    assert!(matches!(
        from_str_with_env("tiers = [", &no_env),
        Err(ConfigError::Parse { .. })
    ));
}

#[test]
fn empty_catalog_is_an_error() {
    let err = from_str_with_env("tiers = [\"a\"]\n", &no_env).unwrap_err();
    assert!(err.to_string().contains("no models"), "{err}");
}

#[test]
fn environment_values_fill_in_config() {
    let text = MINIMAL.replace(
        "https://api.openai.com/v1/",
        "${BASE:-http://127.0.0.1:9/v1}",
    );
    let config = from_str_with_env(&text, &no_env).unwrap();
    assert_eq!(config.providers[0].base_url, "http://127.0.0.1:9/v1");
    let env = |name: &str| (name == "BASE").then(|| "http://10.0.0.1/v1".to_owned());
    let config = from_str_with_env(&text, &env).unwrap();
    assert_eq!(config.providers[0].base_url, "http://10.0.0.1/v1");
}

#[test]
fn the_builtin_config_is_valid() {
    let config = builtin().unwrap();
    assert_eq!(config.catalog.tiers().len(), 3);
}
