//! `routewise serve` refuses to start, with a message saying what to fix, when its config
//! cannot be served.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::PathBuf;

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../config/examples")
        .join(name)
}

#[test]
fn an_invalid_config_is_reported_with_its_field_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let local = std::fs::read_to_string(example("local.toml")).unwrap();
    let bad = local.replace("${ROUTEWISE_LISTEN:-127.0.0.1:8080}", "nowhere");
    assert_ne!(bad, local);
    std::fs::write(&path, bad).unwrap();
    Command::cargo_bin("routewise")
        .unwrap()
        .args(["serve", "--config"])
        .arg(&path)
        .assert()
        .failure()
        .stderr(predicate::str::contains("server.listen"));
}

#[test]
fn a_missing_provider_key_names_the_variable_to_export() {
    Command::cargo_bin("routewise")
        .unwrap()
        .env_remove("OPENAI_API_KEY")
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(example("openai-two-tiers.toml"))
        .assert()
        .failure()
        .stderr(predicate::str::contains("$OPENAI_API_KEY"));
}
