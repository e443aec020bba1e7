//! `[shared]` and `[telemetry]`: what replicas share and where traces go compile, default to
//! off, and every mistake is reported at its field path.

mod common;

use common::{compile, field_errors};
use std::time::Duration;

fn has_error(errors: &[(String, String)], path: &str, words: &str) -> bool {
    errors.iter().any(|(p, m)| p == path && m.contains(words))
}

#[test]
fn both_are_off_by_default() {
    let config = compile("").unwrap();
    assert!(config.shared.is_none());
    assert!(config.telemetry.is_none());
}

#[test]
fn shared_state_and_telemetry_compile() {
    let config = compile(
        r#"
[shared]
redis = "redis://redis:6379/2"
prefix = "routewise-prod"
timeout_ms = 20
[telemetry]
otlp_endpoint = "http://otel-collector:4318/"
service_name = "gateway-eu"
sample_ratio = 0.25
"#,
    )
    .unwrap();
    let shared = config.shared.unwrap();
    assert_eq!(shared.redis, "redis://redis:6379/2");
    assert_eq!(shared.prefix, "routewise-prod");
    assert_eq!(shared.timeout, Duration::from_millis(20));
    let telemetry = config.telemetry.unwrap();
    assert_eq!(telemetry.traces_url, "http://otel-collector:4318/v1/traces");
    assert_eq!(telemetry.service_name, "gateway-eu");
    assert_eq!(telemetry.sample_ratio, 0.25);
    let defaults = compile("[shared]\nredis = \"rediss://cache.internal:6380\"\n").unwrap();
    let shared = defaults.shared.unwrap();
    assert_eq!(shared.prefix, "routewise");
    assert_eq!(shared.timeout, Duration::from_millis(50));
}

#[test]
fn every_mistake_is_reported_at_its_path() {
    let errors = field_errors(
        r#"
[shared]
redis = "http://redis:6379"
prefix = "two words"
timeout_ms = 0
[telemetry]
otlp_endpoint = "otel-collector:4318"
service_name = " "
sample_ratio = 0
"#,
    );
    assert!(has_error(&errors, "shared.redis", "redis://"), "{errors:?}");
    assert!(has_error(&errors, "shared.prefix", "without spaces"));
    assert!(has_error(
        &errors,
        "shared.timeout_ms",
        "between 1 and 60000"
    ));
    assert!(has_error(&errors, "telemetry.otlp_endpoint", "http://"));
    assert!(has_error(&errors, "telemetry.service_name", "empty"));
    assert!(has_error(&errors, "telemetry.sample_ratio", "above 0"));
    let unknown = compile("[shared]\nredis_url = \"redis://x\"\n").unwrap_err();
    assert!(unknown.to_string().contains("redis_url"), "{unknown}");
}
