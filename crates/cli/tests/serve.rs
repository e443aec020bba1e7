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

/// Request lines are written in batches; the ones not yet written when `serve` stops must still
/// reach stdout.
#[test]
fn every_request_line_is_written_when_serve_stops() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;
    use std::process::Stdio;

    // A copy of the example, so that its store is created in a temporary directory.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("local.toml");
    std::fs::copy(example("local.toml"), &config).unwrap();
    // Nothing listens on port 9, so the request fails fast, and failures are logged too.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_routewise"))
        .env("ROUTEWISE_UPSTREAM_URL", "http://127.0.0.1:9/v1")
        .env("RUST_LOG", "info")
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = stderr
        .by_ref()
        .find_map(|line| {
            let line = line.ok()?;
            let rest = line.split("listening on http://").nth(1)?;
            Some(rest.split_whitespace().next()?.to_owned())
        })
        .unwrap();
    // Keep reading stderr so that routewise never blocks writing to it.
    std::thread::spawn(move || stderr.for_each(drop));

    let body = r#"{"model":"auto","messages":[{"role":"user","content":"hi"}]}"#;
    let mut stream = TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let request_id = response
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("x-routewise-request-id")
                .then(|| value.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("no request id in {response}"));

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains(&format!(r#""request_id":"{request_id}""#)),
        "stdout: {stdout}"
    );
}
