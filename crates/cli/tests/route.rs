//! `routewise route` and `routewise validate` end to end: the binary, its output and exit codes.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use std::path::PathBuf;

fn routewise() -> Command {
    let mut command = Command::cargo_bin("routewise").unwrap();
    command.env_remove("ROUTEWISE_CONFIG");
    command
}

fn route_json(args: &[&str]) -> Value {
    let output = routewise()
        .args(["route", "--json", "--hour", "12"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn examples_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../config/examples")
}

#[test]
fn the_readme_examples_route_as_documented() {
    let cheap = route_json(&["What's the capital of France?"]);
    assert_eq!(cheap["model"], "llama-3.1-8b");
    assert_eq!(cheap["policy"], "default");
    assert_eq!(cheap["reason"], "complexity:tier-0");
    for key in [
        "model",
        "policy",
        "reason",
        "signals",
        "estimated_cost_usd",
        "baseline_cost_usd",
    ] {
        assert!(cheap.get(key).is_some(), "missing {key}");
    }
    assert!(cheap["estimated_cost_usd"].as_f64() < cheap["baseline_cost_usd"].as_f64());

    let premium = route_json(&["--user-tier", "premium", "What's the capital of France?"]);
    assert_eq!(premium["model"], "gpt-4o");
    assert_eq!(premium["reason"], "rule:premium-tier");

    let code = route_json(&["Write a Rust function that parses ISO-8601 dates"]);
    assert_eq!(code["model"], "gpt-4o-mini");
    assert_eq!(code["reason"], "complexity:tier-1");

    let design = route_json(&["Design a novel ML architecture"]);
    assert_eq!(design["model"], "gpt-4o");
    assert_eq!(design["reason"], "complexity:tier-2");

    let rules = route_json(&[
        "--policy",
        "rules",
        "Write a Rust function that parses ISO-8601 dates",
    ]);
    assert_eq!(rules["reason"], "rule:code-generation");

    let complexity = route_json(&["--policy", "complexity", "What's the capital of France?"]);
    assert_eq!(complexity["policy"], "complexity");
    assert!(complexity["score"].as_f64().is_some());
}

#[test]
fn a_long_summary_follows_the_token_rules() {
    let article = "The committee met on Tuesday to review the annual budget. ".repeat(200);
    let small = route_json(&["--policy", "rules", &format!("Summarize this:\n{article}")]);
    assert_eq!(small["reason"], "rule:summary");
    assert_eq!(small["model"], "llama-3.1-8b");
    let book = "The committee met on Tuesday to review the annual budget. ".repeat(1_500);
    let large = route_json(&["--policy", "rules", &format!("Summarize this:\n{book}")]);
    assert_eq!(large["reason"], "rule:long-summary");
    assert_eq!(large["model"], "gpt-4o-mini");
}

#[test]
fn an_image_request_from_stdin_goes_to_a_vision_model() {
    let request = r#"{"model": "auto", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]}"#;
    let output = routewise()
        .args(["route", "--json", "--request", "-"])
        .write_stdin(request)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let decision: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(decision["model"], "gpt-4o-mini", "llama has no vision");
    assert_eq!(decision["signals"]["image_parts"], 1);
    assert!(decision["detail"].as_str().unwrap().contains("escalated"));
}

#[test]
fn the_human_explanation_names_the_rule_and_the_saving() {
    routewise()
        .args([
            "route",
            "--policy",
            "rules",
            "What's the capital of France?",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("rule `short-and-simple` matched"))
        .stdout(predicate::str::contains("saved"));
    routewise()
        .args(["route", "What's the capital of France?"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "no guard rule matched; complexity 0.15",
        ))
        .stdout(predicate::str::contains("saved"));
}

#[test]
fn bad_input_gets_a_clear_error_and_a_non_zero_exit() {
    let cases: [(&str, &str); 5] = [
        ("{not json", "not a valid chat completion request"),
        (
            r#"{"model": "auto", "messages": []}"#,
            "`messages` is empty",
        ),
        (
            r#"{"model": "auto", "messages": [{"role": "wizard", "content": "hi"}]}"#,
            "wizard",
        ),
        (
            r#"{"model": "auto", "messages": [{"role": "user", "content": "   "}]}"#,
            "prompt is empty",
        ),
        (
            r#"{"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]}"#,
            "not in the catalog",
        ),
    ];
    for (request, expected) in cases {
        routewise()
            .args(["route", "--request", "-"])
            .write_stdin(request)
            .assert()
            .failure()
            .stderr(predicate::str::contains(expected))
            .stderr(predicate::str::contains("panicked").not());
    }
    routewise()
        .args(["route", ""])
        .assert()
        .failure()
        .stderr(predicate::str::contains("prompt is empty"));
    routewise()
        .arg("route")
        .assert()
        .failure()
        .stderr(predicate::str::contains("give a PROMPT"));
    routewise()
        .args(["route", "--policy", "magic", "hi"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("unknown policy `magic`"));
}

#[test]
fn huge_input_is_refused_cleanly() {
    let huge = "a".repeat(9 * 1024 * 1024);
    routewise()
        .args(["route", "-"])
        .write_stdin(huge)
        .assert()
        .failure()
        .stderr(predicate::str::contains("limit is"));
}

#[test]
fn every_example_config_validates() {
    let mut configs: Vec<PathBuf> = std::fs::read_dir(examples_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    configs.sort();
    assert!(configs.len() >= 3, "{configs:?}");
    for config in configs {
        routewise()
            .args(["validate", "--config"])
            .arg(&config)
            .assert()
            .success()
            .stdout(predicate::str::starts_with("ok:"));
    }
}

#[test]
fn an_invalid_config_lists_every_error_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "tiers = [\"small\"]\n[[providers]]\nname = \"p\"\nkind = \"openai\"\nbase_url = \"http://x\"\n\
         [[models]]\nname = \"m\"\nprovider = \"q\"\ntier = \"big\"\ninput_usd_per_mtok = -1\n\
         output_usd_per_mtok = 1\ncontext_window = 1000\n",
    )
    .unwrap();
    routewise()
        .args(["validate", "--config"])
        .arg(&path)
        .assert()
        .failure()
        .stderr(predicate::str::contains("models[0].provider"))
        .stderr(predicate::str::contains("models[0].tier"))
        .stderr(predicate::str::contains("models[0].input_usd_per_mtok"));
    routewise()
        .args(["validate", "--config", "/nonexistent/routewise.toml"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("cannot read config file"));
}

#[test]
fn a_config_routes_with_its_own_catalog() {
    let config = examples_dir().join("openai-two-tiers.toml");
    let decision = route_json(&[
        "--config",
        config.to_str().unwrap(),
        "Translate 'hello' into French",
    ]);
    assert_eq!(decision["model"], "gpt-4o-mini");
    assert_eq!(decision["reason"], "rule:simple-task");
}

#[test]
fn a_closed_stdout_pipe_ends_output_quietly() {
    // `true` exits without reading long before routewise (which loads its tokenizer) writes, so
    // the write meets a closed pipe; routewise used to panic there.
    let binary = assert_cmd::cargo::cargo_bin("routewise");
    for command in [
        "route \"What's the capital of France?\"",
        "validate --config",
    ] {
        let script = if command.starts_with("validate") {
            format!(
                "set -o pipefail; \"$0\" {command} {} | true",
                examples_dir().join("local.toml").display()
            )
        } else {
            format!("set -o pipefail; \"$0\" {command} | true")
        };
        let output = std::process::Command::new("bash")
            .arg("-c")
            .arg(&script)
            .arg(&binary)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{command}: {stderr}");
        assert!(
            output.status.success(),
            "{command}: {:?} {stderr}",
            output.status
        );
    }
}
