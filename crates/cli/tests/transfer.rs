//! Leave-one-benchmark-out (`routewise eval --holdout-benchmark`), model names matched through
//! the price catalog's aliases, and the bundled price catalog as the fallback.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

const MIXTRAL: &str = "mistralai/Mixtral-8x7B-Instruct-v0.1";
/// RouterBench's name for the same model: an alias in the bundled catalog.
const MIXTRAL_ALIAS: &str = "mistralai/mixtral-8x7b-chat";
const GPT4: &str = "gpt-4-1106-preview";

/// A record without costs (so the price catalog prices it) where the weak model fails exactly
/// the hard prompts.
fn line(
    benchmark: &str,
    i: usize,
    weak: &str,
    extra: &str,
    hard: bool,
    words: [&str; 2],
) -> String {
    // Numbers differ between benchmarks too, so that no word of one appears in the other.
    let number = if benchmark == "alpha" { i } else { 500 + i };
    let prompt = if hard {
        format!("{} {number}", words[0])
    } else {
        format!("{} {number}", words[1])
    };
    let weak_score = if hard { 0.0 } else { 1.0 };
    format!(
        "{{\"id\": \"{benchmark}/{i}\", \"benchmark\": \"{benchmark}\", \"category\": \"{benchmark}-c{}\", \
         \"prompt\": \"{prompt}\", \"scores\": {{\"{weak}\": {weak_score}, \"{GPT4}\": 1.0{extra}}}}}\n",
        i % 3
    )
}

/// Benchmark `alpha` (MMLU's names) marks hard prompts with "why"; benchmark `beta`
/// (RouterBench's names, and a third model) uses no word of alpha's at all. A router that learns
/// from alpha alone cannot know beta's cue: only leakage would let it rank beta well.
fn two_benchmarks(dir: &Path) -> Vec<PathBuf> {
    let alpha: String = (0..60)
        .map(|i| {
            line(
                "alpha",
                i,
                MIXTRAL,
                "",
                i % 2 == 0,
                ["why explain why", "plain item"],
            )
        })
        .collect();
    let beta: String = (0..40)
        .map(|i| {
            line(
                "beta",
                i,
                MIXTRAL_ALIAS,
                ", \"mistralai/mistral-7b-chat\": 0.0",
                i % 2 == 0,
                ["zebra stripes", "simple entry"],
            )
        })
        .collect();
    let paths = vec![dir.join("alpha.jsonl"), dir.join("beta.jsonl")];
    std::fs::write(&paths[0], alpha).unwrap();
    std::fs::write(&paths[1], beta).unwrap();
    paths
}

fn routewise(args: &[&str], files: &[PathBuf]) -> std::process::Output {
    let mut command = Command::cargo_bin("routewise").unwrap();
    command.args(args);
    command.arg("--data").args(files);
    command.output().unwrap()
}

fn success_json(args: &[&str], files: &[PathBuf]) -> Value {
    let output = routewise(args, files);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn failure(args: &[&str], files: &[PathBuf]) -> String {
    let output = routewise(args, files);
    assert!(!output.status.success(), "expected a failure");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn apgr(benchmark: &Value, policy: &str) -> f64 {
    benchmark["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == policy)
        .unwrap()["apgr"]
        .as_f64()
        .unwrap()
}

#[test]
fn each_benchmark_is_held_out_in_turn_on_the_pair_they_share() {
    let dir = tempfile::tempdir().unwrap();
    let files = two_benchmarks(dir.path());
    let report = success_json(&["eval", "--holdout-benchmark", "--json"], &files);
    assert_eq!(report["protocol"], "leave-one-benchmark-out");
    let benchmarks = report["benchmarks"].as_array().unwrap();
    let names: Vec<&str> = benchmarks
        .iter()
        .map(|b| b["benchmark"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);
    let (alpha, beta) = (&benchmarks[0], &benchmarks[1]);
    assert_eq!(alpha["trained_on"], serde_json::json!(["beta"]));
    assert_eq!(alpha["train_prompts"], 40);
    assert_eq!(beta["train_prompts"], 60);
    // RouterBench's name became the catalog's, and beta compares on alpha's pair, not on its
    // cheaper third model.
    assert_eq!(beta["weak"], MIXTRAL);
    assert_eq!(beta["strong"], GPT4);
    let policies: Vec<&str> = beta["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        policies,
        [
            "random",
            "rules",
            "complexity",
            "learned",
            "default",
            "oracle"
        ]
    );
    // No leakage: trained on alpha only, the learned router cannot know beta's cue (the best
    // possible, the oracle's, is 0.75 here: the weak model fails half the prompts)...
    assert!((apgr(beta, "oracle") - 0.75).abs() < 1e-9);
    assert!(
        apgr(beta, "learned") < 0.65,
        "beta's own prompts reached its training fold: {}",
        apgr(beta, "learned")
    );
    // ...which it learns at once from beta's other categories when it may.
    let within = success_json(
        &[
            "eval",
            "--json",
            "--policy",
            "learned",
            "--weak",
            MIXTRAL_ALIAS,
        ],
        &files[1..],
    );
    let learned = within["policies"][0]["apgr"].as_f64().unwrap();
    assert!(learned > 0.7, "in-benchmark learned: {learned}");
}

#[test]
fn one_benchmark_can_be_held_out_alone_and_the_table_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let files = two_benchmarks(dir.path());
    let report = success_json(
        &[
            "eval",
            "--holdout-benchmark",
            "beta",
            "--json",
            "--policy",
            "learned",
        ],
        &files,
    );
    assert_eq!(report["benchmarks"].as_array().unwrap().len(), 1);
    let output = routewise(
        &["eval", "--holdout-benchmark", "--policy", "default"],
        &files,
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("leave-one-benchmark-out"), "{text}");
    assert!(text.contains("default"), "{text}");
}

#[test]
fn the_protocol_refuses_what_it_cannot_run() {
    let dir = tempfile::tempdir().unwrap();
    let files = two_benchmarks(dir.path());
    let one = failure(&["eval", "--holdout-benchmark"], &files[..1]);
    assert!(one.contains("at least 2 benchmarks"), "{one}");
    let unknown = failure(&["eval", "--holdout-benchmark", "gamma"], &files);
    assert!(
        unknown.contains("no benchmark is called \"gamma\"") && unknown.contains("alpha"),
        "{unknown}"
    );
    let empty = failure(&["eval", "--holdout-benchmark", " "], &files);
    assert!(empty.contains("empty name"), "{empty}");
    let plot = dir.path().join("x.png");
    let plotted = failure(
        &[
            "eval",
            "--holdout-benchmark",
            "--plot",
            plot.to_str().unwrap(),
        ],
        &files,
    );
    assert!(plotted.contains("--plot"), "{plotted}");
}

#[test]
fn data_without_a_catalog_is_priced_from_the_bundled_one_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let files = two_benchmarks(dir.path());
    assert!(!dir.path().join("models.json").exists());
    let report = success_json(&["eval", "--json", "--policy", "rules"], &files[..1]);
    assert_eq!(report["data"]["costs"], "prices x tokens");
    assert!(
        report["data"]["prices"]
            .as_str()
            .unwrap()
            .contains("bundled price catalog"),
        "{}",
        report["data"]
    );
    assert!(report["pair"]["strong_cost"].as_f64().unwrap() > 0.0);
    // A model no catalog prices is still an error, naming the catalog that was used.
    let unpriced = dir.path().join("unpriced.jsonl");
    std::fs::write(
        &unpriced,
        "{\"id\": \"1\", \"benchmark\": \"x\", \"category\": \"c\", \"prompt\": \"p\", \
         \"scores\": {\"my-model\": 1.0, \"other\": 0.0}}\n",
    )
    .unwrap();
    let error = failure(&["eval", "--policy", "rules"], &[unpriced]);
    assert!(
        error.contains("my-model") && error.contains("bundled price catalog"),
        "{error}"
    );
}

#[test]
fn training_on_two_benchmarks_joins_a_model_named_two_ways() {
    let dir = tempfile::tempdir().unwrap();
    let files = two_benchmarks(dir.path());
    let out = dir.path().join("model.json");
    let output = routewise(&["train", "--out", out.to_str().unwrap()], &files);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("bundled price catalog"),
        "train says which catalog priced the prompts: {stderr}"
    );
    let model: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let heads: Vec<&str> = model["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        heads,
        [MIXTRAL, GPT4],
        "one Mixtral, trained on all 100 prompts"
    );
    assert_eq!(model["training"]["examples"], 100);
}

#[test]
fn a_benchmark_whose_cheapest_model_is_its_best_still_gets_a_pair() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = two_benchmarks(dir.path());
    // gamma: the cheap model (Mistral-7B) beats GPT-4 on average; it scores no shared pair.
    let gamma: String = (0..20)
        .map(|i| {
            let strong = if i % 4 == 0 { 1.0 } else { 0.0 };
            format!(
                "{{\"id\": \"gamma/{i}\", \"benchmark\": \"gamma\", \"category\": \"g{}\", \
                 \"prompt\": \"gamma item {i}\", \"scores\": {{\"mistralai/mistral-7b-chat\": 0.9, \
                 \"{GPT4}\": {strong}}}}}\n",
                i % 2
            )
        })
        .collect();
    let path = dir.path().join("gamma.jsonl");
    std::fs::write(&path, gamma).unwrap();
    files.push(path);
    let report = success_json(
        &["eval", "--holdout-benchmark", "--json", "--policy", "rules"],
        &files,
    );
    let gamma = &report["benchmarks"][2];
    assert_eq!(gamma["benchmark"], "gamma");
    assert_eq!(gamma["weak"], "mistralai/mistral-7b-chat");
    assert_eq!(gamma["strong"], GPT4);
    // A lone --weak is honoured where scored, and a note names the benchmarks that lack it.
    let output = routewise(
        &[
            "eval",
            "--holdout-benchmark",
            "--json",
            "--policy",
            "rules",
            "--weak",
            "mistralai/mistral-7b-chat",
        ],
        &files,
    );
    assert!(output.status.success());
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["benchmarks"][1]["weak"], "mistralai/mistral-7b-chat");
    assert_eq!(report["benchmarks"][1]["strong"], GPT4);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("benchmark \"alpha\" does not score --weak"),
        "{stderr}"
    );
}

#[test]
fn one_model_under_two_of_its_names_in_a_record_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twice.jsonl");
    std::fs::write(
        &path,
        format!(
            "{{\"id\": \"1\", \"benchmark\": \"x\", \"category\": \"c\", \"prompt\": \"p\", \
             \"scores\": {{\"{MIXTRAL}\": 1.0, \"{MIXTRAL_ALIAS}\": 0.0, \"{GPT4}\": 1.0}}}}\n"
        ),
    )
    .unwrap();
    let error = failure(&["eval", "--policy", "rules"], &[path]);
    assert!(
        error.contains(MIXTRAL) && error.contains(MIXTRAL_ALIAS) && error.contains("--prices"),
        "{error}"
    );
}
