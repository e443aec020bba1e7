//! `routewise eval` end to end: tables, the stable JSON shape, plots, and errors on bad data.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

/// One benchmark line of a two-model file: a hard prompt asks "why" and only the large model
/// gets it right; an easy one both get right.
fn pair_line(benchmark: &str, i: usize, category: &str, hard: bool) -> String {
    let prompt = if hard {
        format!("Explain why and compare case {i} step by step")
    } else {
        format!("Translate word {i} to French")
    };
    let weak = if hard { 0.0 } else { 1.0 };
    format!(
        "{{\"id\": \"{benchmark}/{i}\", \"benchmark\": \"{benchmark}\", \"category\": \"{category}\", \"prompt\": \"{prompt}\", \
         \"scores\": {{\"small\": {weak}, \"large\": 1.0}}, \"costs\": {{\"small\": 0.001, \"large\": 0.01}}}}\n"
    )
}

/// Two categories, two models; the strong model fixes the hard prompts (the ones asking "why").
fn two_model_file(dir: &Path) -> PathBuf {
    let lines: String = (0..40)
        .map(|i| {
            let category = if i % 2 == 0 { "physics" } else { "history" };
            pair_line("t", i, category, i % 4 < 2)
        })
        .collect();
    let path = dir.join("pair.jsonl");
    std::fs::write(&path, lines).unwrap();
    path
}

/// Three models with per-prompt costs: the N-model view.
fn three_model_file(dir: &Path) -> PathBuf {
    let mut lines = String::new();
    for i in 0..30 {
        let (a, b) = (
            f64::from(u8::from(i % 3 == 0)),
            f64::from(u8::from(i % 3 != 2)),
        );
        lines.push_str(&format!(
            "{{\"id\": \"n/{i}\", \"benchmark\": \"n\", \"category\": \"c{}\", \"prompt\": \"question {i}\", \
             \"scores\": {{\"a\": {a}, \"b\": {b}, \"c\": 1.0}}, \"costs\": {{\"a\": 0.001, \"b\": 0.002, \"c\": 0.02}}}}\n",
            i % 3
        ));
    }
    let path = dir.join("three.jsonl");
    std::fs::write(&path, lines).unwrap();
    path
}

fn eval_json(args: &[&str]) -> Value {
    let output = Command::cargo_bin("routewise")
        .unwrap()
        .arg("eval")
        .arg("--json")
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

#[test]
fn json_lists_every_policy_with_the_stable_keys() {
    let dir = tempfile::tempdir().unwrap();
    let data = two_model_file(dir.path());
    let report = eval_json(&["--data", data.to_str().unwrap()]);
    let policies = report["policies"].as_array().unwrap();
    let names: Vec<&str> = policies
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "random",
            "rules",
            "complexity",
            "learned",
            "default",
            "oracle"
        ]
    );
    for policy in policies {
        for key in ["apgr", "cpt50", "cpt80", "cpt95", "savings_at_95", "sweep"] {
            assert!(policy.get(key).is_some(), "{key} missing in {policy}");
        }
        assert_eq!(policy["sweep"].as_array().unwrap().len(), 101);
    }
    assert_eq!(report["pair"]["weak"], "small");
    assert_eq!(report["pair"]["strong"], "large");
    assert_eq!(report["data"]["costs"], "per-prompt");
    // Half the prompts are hard: along the oracle's curve quality is 0.5 + share. PGR 95% needs
    // quality 0.975 (share 0.475); 95% of strong quality is 0.95 (share 0.45), where a prompt
    // costs 0.001 + 0.009 * 0.45 = 0.00505 against 0.01 always-large: a 49.5% saving.
    let oracle = &policies[4];
    assert!((oracle["cpt95"].as_f64().unwrap() - 0.475).abs() < 1e-6);
    assert!((oracle["savings_at_95"].as_f64().unwrap() - 0.495).abs() < 1e-6);
    assert!(policies[0]["spread"]["seeds"].as_u64().unwrap() == 10);
    // "Explain why" marks the hard prompts in both categories, so the learned router, trained
    // on one category and tested on the other, ranks them like the oracle.
    let learned = policies[3]["apgr"].as_f64().unwrap();
    assert!(
        (learned - oracle["apgr"].as_f64().unwrap()).abs() < 1e-9,
        "learned {learned}"
    );
    assert!(
        report.get("frontiers").is_none(),
        "two models have no N-model view"
    );
}

#[test]
fn a_policy_named_twice_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = two_model_file(dir.path());
    let report = eval_json(&[
        "--data",
        data.to_str().unwrap(),
        "--policy",
        "oracle",
        "--policy",
        "random",
        "--policy",
        "oracle",
    ]);
    let names: Vec<&str> = report["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["oracle", "random"]);
}

#[test]
fn a_fold_seed_changes_the_grouping_not_the_protocol() {
    // Four categories of the same two kinds of prompt: any grouped assignment keeps every
    // category out of its own training folds, so the learned router still ranks like the oracle.
    let dir = tempfile::tempdir().unwrap();
    let lines: String = (0..48)
        .map(|i| {
            let category = ["physics", "history", "law", "art"][i % 4];
            pair_line("f", i, category, (i / 4) % 2 == 0)
        })
        .collect();
    let data = dir.path().join("four.jsonl");
    std::fs::write(&data, lines).unwrap();
    let data = data.to_str().unwrap();
    for seed in ["1", "2"] {
        let report = eval_json(&[
            "--data",
            data,
            "--policy",
            "learned",
            "--policy",
            "oracle",
            "--folds",
            "2",
            "--fold-seed",
            seed,
        ]);
        let policies = report["policies"].as_array().unwrap();
        let (learned, oracle) = (&policies[0]["apgr"], &policies[1]["apgr"]);
        assert!(
            (learned.as_f64().unwrap() - oracle.as_f64().unwrap()).abs() < 1e-9,
            "seed {seed}: learned {learned}, oracle {oracle}"
        );
    }
}

#[test]
fn n_models_report_frontiers_against_every_model() {
    let dir = tempfile::tempdir().unwrap();
    let data = three_model_file(dir.path());
    let report = eval_json(&["--data", data.to_str().unwrap(), "--policy", "oracle"]);
    let models: Vec<&str> = report["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(models, ["a", "b", "c"]);
    let frontier = &report["frontiers"][0];
    assert_eq!(frontier["name"], "oracle");
    // The oracle matches model c's perfect quality at a fraction of its cost.
    let c = &frontier["matches"][2];
    assert_eq!(c["model"], "c");
    assert!(c["cost_ratio"].as_f64().unwrap() < 0.5);
}

#[test]
fn writes_png_and_svg_plots() {
    let dir = tempfile::tempdir().unwrap();
    let data = three_model_file(dir.path());
    for name in ["plot.png", "plot.svg"] {
        let out = dir.path().join(name);
        Command::cargo_bin("routewise")
            .unwrap()
            .args([
                "eval",
                "--data",
                data.to_str().unwrap(),
                "--plot",
                out.to_str().unwrap(),
            ])
            .assert()
            .success()
            .stdout(predicate::str::contains("APGR"));
        assert!(
            std::fs::metadata(&out).unwrap().len() > 1000,
            "{name} is empty"
        );
    }
    let svg = std::fs::read_to_string(dir.path().join("plot.svg")).unwrap();
    assert!(svg.contains("Deferral curves"));
}

#[test]
fn a_bad_line_fails_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = two_model_file(dir.path());
    let mut text = std::fs::read_to_string(&data).unwrap();
    text.push_str("{\"id\": \"broken\"\n");
    std::fs::write(&data, text).unwrap();
    Command::cargo_bin("routewise")
        .unwrap()
        .args(["eval", "--data", data.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains("pair.jsonl:41: "))
        .stderr(predicate::str::contains("EOF while parsing").count(1));
}

/// Runs `eval` expecting a failure before any report is printed; returns stderr.
fn eval_failure(args: &[&str]) -> String {
    let output = Command::cargo_bin("routewise")
        .unwrap()
        .arg("eval")
        .args(args)
        .output()
        .unwrap();
    assert!(!output.status.success(), "expected a failure for {args:?}");
    assert!(
        output.stdout.is_empty(),
        "nothing is printed before the failure: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn an_unusable_plot_path_fails_before_evaluating() {
    let dir = tempfile::tempdir().unwrap();
    let data = two_model_file(dir.path());
    let data = data.to_str().unwrap();
    let jpg = dir.path().join("curves.jpg");
    let stderr = eval_failure(&["--data", data, "--plot", jpg.to_str().unwrap()]);
    assert!(stderr.contains("*.png or *.svg"), "{stderr}");
    for name in ["no/such/dir/curves.png", "no/such/dir/curves.svg"] {
        let missing = dir.path().join(name);
        let stderr = eval_failure(&["--data", data, "--plot", missing.to_str().unwrap()]);
        assert!(
            stderr.contains("does not exist") && stderr.contains("no/such/dir"),
            "{stderr}"
        );
    }
    if cfg!(target_os = "linux") {
        // procfs exists, but nobody, root included, can create a file in it.
        let stderr = eval_failure(&["--data", data, "--plot", "/proc/curves.png"]);
        assert!(
            stderr.contains("no file can be created in /proc"),
            "{stderr}"
        );
    }
}

#[test]
fn counts_that_cannot_work_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = two_model_file(dir.path());
    let data = data.to_str().unwrap();
    for (flag, value) in [
        ("--folds", "0"),
        ("--folds", "1"),
        ("--seeds", "0"),
        ("--steps", "0"),
    ] {
        let stderr = eval_failure(&["--data", data, flag, value]);
        assert!(
            stderr.contains(flag) && stderr.contains("must be at least"),
            "{flag} {value}: {stderr}"
        );
    }
}

#[test]
fn unknown_policies_and_models_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let data = two_model_file(dir.path());
    Command::cargo_bin("routewise")
        .unwrap()
        .args([
            "eval",
            "--data",
            data.to_str().unwrap(),
            "--policy",
            "magic",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("unknown policy \"magic\""));
    Command::cargo_bin("routewise")
        .unwrap()
        .args(["eval", "--data", data.to_str().unwrap(), "--weak", "gpt-9"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("model \"gpt-9\""));
}

#[test]
fn a_saved_model_file_is_evaluated_plain_or_gzipped() {
    use std::io::Write;

    let dir = tempfile::tempdir().unwrap();
    let data = two_model_file(dir.path());
    let records = routewise_data::read_benchmark_file(&data).unwrap();
    let train: Vec<_> = records.iter().collect();
    let models = ["small".to_string(), "large".to_string()];
    let model = routewise_learn::training::fit_records(
        &routewise_learn::training::TrainConfig::default(),
        &train,
        &models,
        &[0.001, 0.01],
        2,
        &mut |_| {},
    )
    .unwrap();
    let json = model.to_json().unwrap();
    let plain = dir.path().join("model.json");
    std::fs::write(&plain, &json).unwrap();
    let packed = dir.path().join("model.json.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(json.as_bytes()).unwrap();
    std::fs::write(&packed, encoder.finish().unwrap()).unwrap();

    for path in [&plain, &packed] {
        let policy = format!("learned:{}", path.display());
        let report = eval_json(&["--data", data.to_str().unwrap(), "--policy", &policy]);
        let entry = &report["policies"][0];
        assert_eq!(entry["name"], policy.as_str());
        // Trained on these very prompts, it ranks the "explain why" prompts first: the oracle's
        // APGR of 0.75 on this data.
        assert!(
            (entry["apgr"].as_f64().unwrap() - 0.75).abs() < 1e-9,
            "{entry}"
        );
    }
}

#[test]
fn models_missing_from_some_records_are_named_when_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let data = three_model_file(dir.path());
    let text = std::fs::read_to_string(&data)
        .unwrap()
        .replacen(", \"c\": 1.0}", "}", 1);
    std::fs::write(&data, text).unwrap();
    let output = Command::cargo_bin("routewise")
        .unwrap()
        .args(["eval", "--json", "--policy", "random", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("left out [\"c\"]"), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["models"].as_array().unwrap().len(), 2);
}
