//! `routewise simulate` end to end: the stable JSON shape, reproducibility, a bandit that
//! learns which prompts need the strong model, a target held, a budget met, and clear errors
//! on bad input.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

/// A stream where prompts about "proofs" defeat the small model and prompts about "colours"
/// do not, in two categories; costs recorded per prompt.
fn world(dir: &Path, prompts: usize) -> PathBuf {
    let lines: String = (0..prompts)
        .map(|i| {
            let hard = i % 3 == 0;
            let (category, prompt) = if hard {
                ("maths", format!("Give a proof that number {i} has a prime factor"))
            } else {
                ("art", format!("Name a colour that rhymes with item {i}"))
            };
            let weak = if hard { 0.0 } else { 1.0 };
            format!(
                "{{\"id\": \"w/{i}\", \"benchmark\": \"w\", \"category\": \"{category}\", \"prompt\": \"{prompt}\", \
                 \"scores\": {{\"small\": {weak}, \"large\": 1.0}}, \"costs\": {{\"small\": 0.0001, \"large\": 0.002}}}}\n"
            )
        })
        .collect();
    let path = dir.join("world.jsonl");
    std::fs::write(&path, lines).unwrap();
    path
}

fn simulate(args: &[&str]) -> Value {
    let output = Command::cargo_bin("routewise")
        .unwrap()
        .arg("simulate")
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn policy<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap()
}

#[test]
fn the_report_has_stable_keys_is_reproducible_and_the_bandit_learns() {
    let dir = tempfile::tempdir().unwrap();
    let data = world(dir.path(), 600);
    let data = data.to_str().unwrap();
    // A good answer is worth $0.004 here: a proof is worth sending to `large` ($0.0019 more),
    // a colour is not.
    let args = [
        "--data",
        data,
        "--seeds",
        "2",
        "--feedback-rate",
        "0.5",
        "--windows",
        "5",
        "--bandit",
        "quality_value_usd=0.004",
    ];
    let report = simulate(&args);
    for p in report["policies"].as_array().unwrap() {
        for key in [
            "name",
            "quality",
            "cost_per_request_usd",
            "strong_share",
            "regret",
            "windows",
        ] {
            assert!(!p[key].is_null(), "{key} missing in {p}");
        }
        for key in ["quality", "cost_per_request_usd", "strong_share"] {
            assert!(p["last_half"][key].is_number(), "last_half.{key} in {p}");
        }
        assert_eq!(p["windows"].as_array().unwrap().len(), 5);
    }
    assert_eq!(simulate(&args), report, "same seeds, same report");
    // The bandit ends sending the proofs (a third of the stream) to `large` and the rest to
    // `small`: nearly all the quality at a fraction of always-large's cost.
    let bandit = policy(&report, "bandit");
    let last = &bandit["last_half"];
    assert!(last["quality"].as_f64().unwrap() > 0.95, "{bandit}");
    let share = last["strong_share"].as_f64().unwrap();
    assert!((0.3..0.45).contains(&share), "{bandit}");
    assert!(
        bandit["last_half"]["quality"].as_f64().unwrap()
            > policy(&report, "rules")["last_half"]["quality"]
                .as_f64()
                .unwrap()
    );
}

#[test]
fn a_target_holds_the_share_and_a_budget_is_met() {
    let dir = tempfile::tempdir().unwrap();
    let data = world(dir.path(), 900);
    let data = data.to_str().unwrap();
    // A third of the prompts need `large`; hold the share below that while the traffic
    // changes from all-hard to all-easy (complexity), and in a steady mix (the bandit, whose
    // share jumps as it learns, so it needs a steady stream to be held tightly).
    for (name, order) in [("complexity", "by-category"), ("bandit", "shuffled")] {
        let held = simulate(&[
            "--data",
            data,
            "--policy",
            name,
            "--strong-share",
            "0.2",
            "--order",
            order,
            "--windows",
            "6",
        ]);
        let p = policy(&held, name);
        assert!(p["max_window_share_error"].as_f64().unwrap() < 0.1, "{p}");
    }
    // Always-large would spend 900 x $0.002 = $1.80; the budget is $0.60.
    let paced = simulate(&["--data", data, "--policy", "bandit", "--budget", "0.6"]);
    let bandit = policy(&paced, "bandit");
    let spend = bandit["spend_usd"].as_f64().unwrap();
    assert!((spend / 0.6 - 1.0).abs() < 0.05, "{bandit}");
    assert_eq!(bandit["failed"], 0.0);
    // A quality floor the cheap model alone misses (it gets two thirds right) buys `large`.
    let floored = simulate(&[
        "--data",
        data,
        "--policy",
        "complexity",
        "--quality-floor",
        "0.9",
    ]);
    assert_eq!(floored["quality_floor_target"], 0.9);
    let last = &policy(&floored, "complexity")["last_half"];
    assert!(last["quality"].as_f64().unwrap() > 0.8, "{last}");
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = world(dir.path(), 30);
    let data = data.to_str().unwrap();
    let one_model = dir.path().join("one.jsonl");
    std::fs::write(
        &one_model,
        "{\"id\": \"a\", \"benchmark\": \"b\", \"category\": \"c\", \"prompt\": \"hi\", \"scores\": {\"small\": 1.0}, \"costs\": {\"small\": 0.1}}\n",
    )
    .unwrap();
    let cases: [(&[&str], &str); 9] = [
        (
            &[
                "--data",
                data,
                "--strong-share",
                "0.3",
                "--quality-floor",
                "0.8",
            ],
            "cannot be used with",
        ),
        (
            &[
                "--data",
                data,
                "--quality-floor",
                "0.3",
                "--target-gain",
                "0.9",
            ],
            "at most 0.5",
        ),
        (
            &["--data", one_model.to_str().unwrap()],
            "fewer than two models",
        ),
        (&["--data", data, "--policy", "thompson"], "unknown policy"),
        (&["--data", data, "--feedback-rate", "2"], "from 0 to 1"),
        (&["--data", data, "--strong-share", "1"], "between 0 and 1"),
        (&["--data", data, "--budget", "0"], "above 0"),
        (
            &["--data", data, "--bandit", "explore=0.9"],
            "routing.bandit.explore",
        ),
        (
            &["--data", data, "--policy", "learned:/nonexistent.json"],
            "no learned model file",
        ),
    ];
    for (args, words) in cases {
        Command::cargo_bin("routewise")
            .unwrap()
            .arg("simulate")
            .args(args)
            .assert()
            .failure()
            .stderr(predicate::str::contains(words));
    }
}
