//! Experiments end to end on bundled data: `simulate --experiment --keep` serves a rollout
//! and its control share through the gateway's code and keeps the records; `report` rolls back
//! a truly worse candidate and cuts over one within tolerance; `replay`'s doubly robust
//! estimate of a candidate, from a stochastic policy's logs, covers the candidate's true
//! quality on the benchmark; `rollout` moves, rolls back and finishes a rollout in the file.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

const PROMPTS: usize = 2000;

const POLICIES: &str = r#"
[policies.strong]
kind = "rules"
default_target = "strongest"
rules = []

[policies.cheap]
kind = "rules"
default_target = "cheapest"
rules = []
"#;

/// The first prompts of the bundled MMLU, with the bundled prices beside them.
fn mmlu(dir: &Path) -> PathBuf {
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/benchmarks");
    let file = std::fs::File::open(bundled.join("routellm_mmlu_part1.jsonl.gz")).unwrap();
    let lines: Vec<String> = BufReader::new(flate2::read::GzDecoder::new(file))
        .lines()
        .take(PROMPTS)
        .map(Result::unwrap)
        .collect();
    let path = dir.join("mmlu.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    std::fs::copy(bundled.join("models.json"), dir.join("models.json")).unwrap();
    path
}

fn routewise(args: &[&str]) -> Value {
    let output = Command::cargo_bin("routewise")
        .unwrap()
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// Simulates `policy` with the experiment `toml` over the data, keeping the run in `keep`.
fn kept_run(dir: &Path, data: &Path, policy: &str, toml: &str, extra: &[&str]) -> PathBuf {
    let name = format!("exp-{}", dir.read_dir().unwrap().count());
    let experiment = dir.join(format!("{name}.toml"));
    std::fs::write(&experiment, toml).unwrap();
    let keep = dir.join(&name);
    let mut args = vec![
        "simulate",
        "--data",
        data.to_str().unwrap(),
        "--policy",
        policy,
        "--experiment",
        experiment.to_str().unwrap(),
        "--keep",
        keep.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    routewise(&args);
    keep.join("routewise.toml")
}

fn verdict(report: &Value) -> String {
    report["experiments"][0]["recommendations"][0]["verdict"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn group<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["experiments"][0]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == name)
        .unwrap()
}

#[test]
fn report_rolls_back_a_worse_candidate_and_cuts_over_one_within_tolerance() {
    let dir = tempfile::tempdir().unwrap();
    let data = mmlu(dir.path());
    let worse = kept_run(
        dir.path(),
        &data,
        "complexity",
        &format!(
            "{POLICIES}\n[[experiments]]\nname = \"go-cheap\"\nincumbent = \"strong\"\ncandidate = \"cheap\"\nrollout = 0.5\ncontrol_share = 0.05\n"
        ),
        &["--feedback-rate", "0.5"],
    );
    let report = routewise(&["report", "--config", worse.to_str().unwrap()]);
    assert_eq!(verdict(&report), "roll_back", "{report:#}");
    let candidate = group(&report, "candidate");
    let incumbent = group(&report, "incumbent");
    let control = group(&report, "control");
    assert_eq!(candidate["strong_share"], 0.0);
    assert_eq!(incumbent["strong_share"], 1.0);
    assert_eq!(
        control["strong_share"], 1.0,
        "control is served by the strongest"
    );
    assert!(control["vs_control"].is_null() && incumbent["vs_incumbent"].is_null());
    let requests: u64 = ["candidate", "incumbent", "control"]
        .iter()
        .map(|g| group(&report, g)["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(requests, PROMPTS as u64);
    let share = control["requests"].as_f64().unwrap() / PROMPTS as f64;
    assert!((share - 0.05).abs() < 0.02, "control share {share}");

    // Replacing complexity by the default rules costs nothing in quality: cut over.
    let close = kept_run(
        dir.path(),
        &data,
        "complexity",
        "[[experiments]]\nname = \"to-rules\"\nincumbent = \"complexity\"\ncandidate = \"rules\"\nrollout = 0.5\n",
        &["--feedback-rate", "1"],
    );
    let report = routewise(&["report", "--config", close.to_str().unwrap()]);
    assert_eq!(verdict(&report), "cut_over", "{report:#}");
}

#[test]
fn replay_estimates_a_candidate_within_its_interval_of_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let data = mmlu(dir.path());
    let truth = routewise(&[
        "simulate",
        "--data",
        data.to_str().unwrap(),
        "--policy",
        "rules",
    ])["policies"][0]["quality"]
        .as_f64()
        .unwrap();
    // Logged by an exploring bandit: every model has a propensity above zero.
    let logged = kept_run(
        dir.path(),
        &data,
        "bandit",
        "",
        &["--bandit", "explore=0.3", "--feedback-rate", "1"],
    );
    let replay = routewise(&[
        "replay",
        "--config",
        logged.to_str().unwrap(),
        "--policy",
        "rules",
    ]);
    assert_eq!(replay["replayed"], PROMPTS as u64);
    let dr = &replay["estimates"]["doubly_robust"];
    let (low, high) = (dr["low"].as_f64().unwrap(), dr["high"].as_f64().unwrap());
    assert!(
        low <= truth && truth <= high,
        "truth {truth} outside [{low}, {high}]: {replay:#}"
    );
    assert_eq!(replay["estimates"]["unsupported"], 0);
    assert!(replay["estimates"]["ips"].is_object());

    // Deterministic logging: replay says what it cannot identify.
    let deterministic = kept_run(dir.path(), &data, "complexity", "", &[]);
    let replay = routewise(&[
        "replay",
        "--config",
        deterministic.to_str().unwrap(),
        "--policy",
        "rules",
    ]);
    assert!(replay["estimates"]["ips"].is_null());
    let notes = replay["estimates"]["notes"].to_string();
    assert!(
        notes.contains("not identifiable") && notes.contains("deterministic"),
        "{notes}"
    );
}

#[test]
fn rollout_moves_rolls_back_and_finishes_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routewise.toml");
    let text = format!(
        "# my gateway\n{}\n[store]\nurl = \"none\"\n{POLICIES}\n[[experiments]]\nname = \"roll\"\nincumbent = \"strong\"\ncandidate = \"cheap\"\nrollout = 0.01 # first step\nkeep_previous_until = 2026-12-15\n",
        routewise_config::BUILTIN_TOML
    );
    std::fs::write(&path, &text).unwrap();
    let rollout = |args: &[&str]| {
        Command::cargo_bin("routewise")
            .unwrap()
            .arg("rollout")
            .arg("--config")
            .arg(&path)
            .args(args)
            .assert()
    };
    rollout(&["--experiment", "roll", "--to", "0.1"])
        .success()
        .stdout(predicate::str::contains("from 0.01 to 0.1"));
    let moved = std::fs::read_to_string(&path).unwrap();
    assert!(
        moved.contains("# my gateway") && moved.contains("rollout = 0.1"),
        "{moved}"
    );
    rollout(&["--experiment", "roll", "--status"])
        .success()
        .stdout(predicate::str::contains("at 0.1 of requests"));
    rollout(&["--experiment", "roll", "--finish"])
        .failure()
        .stderr(predicate::str::contains("finish a rollout at 1.0"));
    rollout(&["--experiment", "roll", "--rollback"]).success();
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("rollout = 0.0")
    );
    rollout(&["--experiment", "nope", "--to", "0.5"])
        .failure()
        .stderr(predicate::str::contains("no experiment `nope`"));
    rollout(&["--experiment", "roll", "--to", "2"])
        .failure()
        .stderr(predicate::str::contains("not between 0 and 1"));
    rollout(&["--experiment", "roll", "--to", "1.0"]).success();
    rollout(&["--experiment", "roll", "--finish"])
        .success()
        .stdout(predicate::str::contains("finished"));
    let finished = std::fs::read_to_string(&path).unwrap();
    assert!(!finished.contains("[[experiments]]"), "{finished}");
    let config = routewise_config::load_file(&path).unwrap();
    assert_eq!(config.server.route("auto").unwrap().policy, "cheap");
    assert!(config.experiments.is_empty());
}

#[test]
fn report_and_replay_refuse_what_they_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routewise.toml");
    let text = format!(
        "{}\n[store]\nurl = \"sqlite://{}/none.db\"\n",
        routewise_config::BUILTIN_TOML,
        dir.path().display()
    );
    std::fs::write(&path, text).unwrap();
    let fails = |args: &[&str], words: &str| {
        Command::cargo_bin("routewise")
            .unwrap()
            .args(args)
            .arg("--config")
            .arg(&path)
            .assert()
            .failure()
            .stderr(predicate::str::contains(words.to_owned()));
    };
    fails(&["report"], "no [[experiments]]");
    fails(&["replay", "--policy", "rules"], "no store at");
    fails(&["replay", "--policy", "missing"], "missing");
    fails(
        &["replay", "--policy", "rules", "--since", "last tuesday"],
        "not a duration",
    );
}
