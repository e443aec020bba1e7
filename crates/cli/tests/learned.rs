//! `routewise train`, `routewise calibrate` and `routewise route --policy learned:PATH` end to
//! end, on a small labelled file whose difficulty words recur across categories.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers fail the test by panicking"
)]

use assert_cmd::Command;
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

fn routewise() -> Command {
    let mut command = Command::cargo_bin("routewise").unwrap();
    command.env_remove("ROUTEWISE_CONFIG");
    command
}

/// Six categories; "prove"/"derive" prompts defeat the cheap model, "name"/"define" do not.
fn data_file(dir: &Path, name: &str, first_category: usize) -> PathBuf {
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).unwrap();
    for c in first_category..first_category + 6 {
        for i in 0..40 {
            let hard = i % 3 == 0;
            let verb = if hard {
                ["prove", "derive"][i % 2]
            } else {
                ["name", "define"][i % 2]
            };
            let weak = if hard {
                f64::from(u8::from(i % 9 == 0))
            } else {
                1.0
            };
            let record = json!({
                "id": format!("{name}/{c}/{i}"),
                "benchmark": "synthetic",
                "category": format!("topic{c}"),
                "prompt": format!("Please {verb} the topic{c} item number {i}"),
                "scores": {"gpt-4o-mini": weak, "gpt-4o": 1.0},
                "costs": {"gpt-4o-mini": 0.0001, "gpt-4o": 0.002},
            });
            writeln!(file, "{record}").unwrap();
        }
    }
    path
}

fn stdout_json(command: &mut Command) -> Value {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// `routewise calibrate --json --strong-share SHARE` of `policy` on `data`, which must succeed.
fn calibrate_to_strong_share(policy: &str, data: &Path, share: &str) -> Value {
    stdout_json(
        routewise()
            .args([
                "calibrate",
                "--json",
                "--strong-share",
                share,
                "--policy",
                policy,
            ])
            .arg("--data")
            .arg(data),
    )
}

#[test]
fn train_calibrate_and_route_with_a_learned_model() {
    let dir = tempfile::tempdir().unwrap();
    let train = data_file(dir.path(), "train.jsonl", 0);
    let held_out = data_file(dir.path(), "held_out.jsonl", 10);
    let model = dir.path().join("router.json.gz");

    train_model(&train, &model);
    let policy = format!("learned:{}", model.display());

    let calibration = calibrate_to_strong_share(&policy, &held_out, "0.4");
    assert_eq!(calibration["reference_model"], "gpt-4o");
    let share = calibration["strong_share"].as_f64().unwrap();
    assert!(share <= 0.4, "{calibration}");
    assert!(
        calibration["relative_quality"].as_f64().unwrap() > 0.95,
        "hard prompts go to the strong model: {calibration}"
    );

    let config = dir.path().join("routewise.toml");
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../config/examples/openai-two-tiers.toml");
    std::fs::copy(example, &config).unwrap();
    routewise()
        .args(["calibrate", "--quality-floor", "0.99", "--policy", &policy])
        .arg("--data")
        .arg(&held_out)
        .arg("--write-config")
        .arg(&config)
        .assert()
        .success();
    let written = std::fs::read_to_string(&config).unwrap();
    assert!(written.contains("[routing.learned]"), "{written}");
    validate_config(&config);

    let route = |prompt: &str| {
        stdout_json(
            routewise()
                .args(["route", "--json", "--hour", "12", "--policy", &policy])
                .arg("--config")
                .arg(&config)
                .arg(prompt),
        )
    };
    let easy = route("Please name the topic42 item number 7");
    let hard = route("Please prove the topic42 item number 7");
    assert_eq!(easy["model"], "gpt-4o-mini", "{easy}");
    assert_eq!(hard["model"], "gpt-4o", "{hard}");
    assert_eq!(easy["policy"], "learned");
    assert!(easy["reason"].as_str().unwrap().starts_with("learned:"));

    // The config names the model relative to itself, so `policy = "learned"` finds it from any
    // working directory.
    assert!(written.contains("model = \"router.json.gz\""), "{written}");
    let mut doc: toml_edit::DocumentMut = written.parse().unwrap();
    doc["routing"]["policy"] = toml_edit::value("learned");
    std::fs::write(&config, doc.to_string()).unwrap();
    let configured = |extra: &[&str], prompt: &str| {
        stdout_json(
            routewise()
                .current_dir(std::env::temp_dir())
                .args(["route", "--json", "--hour", "12"])
                .args(extra)
                .arg("--config")
                .arg(&config)
                .arg(prompt),
        )
    };
    let hard = configured(&[], "Please prove the topic42 item number 7");
    assert_eq!(
        (&hard["model"], &hard["policy"]),
        (&json!("gpt-4o"), &json!("learned"))
    );
    let forced = configured(
        &["--threshold", "0"],
        "Please prove the topic42 item number 7",
    );
    assert_eq!(
        forced["model"], "gpt-4o-mini",
        "threshold 0 accepts the cheapest: {forced}"
    );
}

#[test]
fn calibrate_rejects_policies_without_a_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_file(dir.path(), "d.jsonl", 0);
    let output = routewise()
        .args([
            "calibrate",
            "--policy",
            "rules",
            "--strong-share",
            "0.3",
            "--data",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("learned:PATH"));
}

/// Trains on `data_file`'s prompts with the models renamed, and returns the `learned:PATH`.
fn trained_policy(dir: &Path, weak: &str, strong: &str) -> String {
    let data = data_file(dir, "named.jsonl", 0);
    let text = std::fs::read_to_string(&data)
        .unwrap()
        .replace("\"gpt-4o-mini\"", &format!("{weak:?}"))
        .replace("\"gpt-4o\"", &format!("{strong:?}"));
    std::fs::write(&data, text).unwrap();
    let model = dir.join(format!("{weak}.router.json"));
    train_model(&data, &model);
    format!("learned:{}", model.display())
}

/// `routewise validate --config CONFIG`, which must succeed.
fn validate_config(config: &Path) {
    routewise()
        .arg("validate")
        .arg("--config")
        .arg(config)
        .assert()
        .success();
}

/// `routewise train --data DATA --out MODEL`, which must succeed.
fn train_model(data: &Path, model: &Path) {
    routewise()
        .args(["train", "--data"])
        .arg(data)
        .arg("--out")
        .arg(model)
        .assert()
        .success();
}

fn stderr_of_failure(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert!(!output.status.success(), "expected a failure");
    assert!(output.stdout.is_empty(), "nothing is printed on stdout");
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn route_refuses_a_model_for_models_outside_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let policy = trained_policy(dir.path(), "mixtral", "gpt-4-turbo");
    let stderr = stderr_of_failure(routewise().args(["route", "--policy", &policy, "Prove it"]));
    assert!(
        stderr.contains("mixtral, gpt-4-turbo")
            && stderr.contains("none of which is in the catalog"),
        "{stderr}"
    );
}

#[test]
fn route_refuses_thresholds_that_are_not_numbers_from_zero_up() {
    let dir = tempfile::tempdir().unwrap();
    let policy = trained_policy(dir.path(), "gpt-4o-mini", "gpt-4o");
    for bad in ["NaN", "-0.5", "inf"] {
        let stderr = stderr_of_failure(routewise().args([
            "route",
            "--policy",
            &policy,
            "--threshold",
            bad,
            "Prove it",
        ]));
        assert!(
            stderr.contains("--threshold must be a number >= 0"),
            "{bad}: {stderr}"
        );
    }
}

#[test]
fn calibrate_leaves_a_config_alone_when_the_model_does_not_fit_its_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let policy = trained_policy(dir.path(), "mixtral", "gpt-4-turbo");
    let data = dir.path().join("named.jsonl");
    let config = dir.path().join("routewise.toml");
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../config/examples/openai-two-tiers.toml");
    std::fs::copy(example, &config).unwrap();
    let before = std::fs::read_to_string(&config).unwrap();
    let output = routewise()
        .args(["calibrate", "--strong-share", "0.3", "--policy", &policy])
        .arg("--data")
        .arg(&data)
        .arg("--write-config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unchanged") && stderr.contains("none of which is in the catalog"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);
    validate_config(&config);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn train_refuses_an_output_it_cannot_write_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_file(dir.path(), "d.jsonl", 0);
    let missing = dir.path().join("no/such/dir/router.json");
    let stderr = stderr_of_failure(
        routewise()
            .args(["train", "--data"])
            .arg(&data)
            .arg("--out")
            .arg(&missing),
    );
    assert!(stderr.contains("does not exist"), "{stderr}");
    let stderr = stderr_of_failure(
        routewise()
            .args(["train", "--data"])
            .arg(&data)
            .arg("--out")
            .arg(dir.path()),
    );
    assert!(stderr.contains("is a directory"), "{stderr}");
}

#[test]
fn negative_settings_get_the_range_error_not_a_flag_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_file(dir.path(), "d.jsonl", 0);
    let out = dir.path().join("m.json");
    for (flag, expected) in [
        ("--c", "positive number"),
        ("--category-balance", "number >= 0"),
    ] {
        let stderr = stderr_of_failure(
            routewise()
                .args(["train", flag, "-1", "--data"])
                .arg(&data)
                .arg("--out")
                .arg(&out),
        );
        assert!(stderr.contains(expected), "{flag}: {stderr}");
    }
    assert!(!out.exists());
    let policy = trained_policy(dir.path(), "gpt-4o-mini", "gpt-4o");
    for flag in ["--strong-share", "--quality-floor"] {
        let stderr = stderr_of_failure(
            routewise()
                .args(["calibrate", "--policy", &policy, flag, "-0.1", "--data"])
                .arg(&data),
        );
        assert!(stderr.contains("must be in [0, 1]"), "{flag}: {stderr}");
    }
}

#[test]
fn calibrate_finds_models_by_their_price_catalog_aliases() {
    let dir = tempfile::tempdir().unwrap();
    // Trained where the cheap model is called `mixtral`; calibrated where it is `gpt-4o-mini`.
    let policy = trained_policy(dir.path(), "mixtral", "gpt-4o");
    let held_out = data_file(dir.path(), "held_out.jsonl", 10);
    let catalog = json!({"models": [
        {"name": "gpt-4o-mini", "aliases": ["mixtral"], "input_usd_per_1m": 0.15,
         "output_usd_per_1m": 0.6},
        {"name": "gpt-4o", "input_usd_per_1m": 2.5, "output_usd_per_1m": 10.0},
    ]});
    std::fs::write(dir.path().join("models.json"), catalog.to_string()).unwrap();
    let calibration = calibrate_to_strong_share(&policy, &held_out, "0.4");
    assert_eq!(calibration["reference_model"], "gpt-4o", "{calibration}");
    assert!(calibration["strong_share"].as_f64().unwrap() <= 0.4);
}
