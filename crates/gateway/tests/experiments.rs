//! `[[experiments]]` through the HTTP gateway: shadows recorded and never served, arms split at
//! their weights and sticky per unit, the control share served by the strongest tier, a rollout
//! moved and rolled back by reload, and a bad reload keeping the running experiment.

mod common;

use common::{Harness, LogSink, SIMPLE, ask, config_text, header};
use serde_json::{Value, json};
use std::collections::HashMap;

/// Two policies that disagree on everything: `cheap` always serves `small`, `strong` always
/// the strongest tier.
const POLICIES: &str = r#"
[policies.cheap]
kind = "rules"
default_target = "cheapest"
rules = []

[policies.strong]
kind = "rules"
default_target = "strongest"
rules = []
"#;

async fn start(experiments: &str) -> (Harness, LogSink) {
    let experiments = experiments.to_owned();
    Harness::start_logged(
        move |mock| format!("{}\n{POLICIES}\n{experiments}", config_text(mock, "")),
        &|_| None,
    )
    .await
}

fn as_user(user: &str) -> Value {
    let mut body = ask("auto", SIMPLE);
    body["user"] = json!(user);
    body
}

#[tokio::test]
async fn shadow_decisions_are_recorded_and_never_served() {
    let (h, log) = start(
        r#"
[routing]
policy = "cheap"
[[experiments]]
name = "try-strong"
shadow = ["strong"]
"#,
    )
    .await;
    let response = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-routewise-model"), "small");
    assert_eq!(header(&response, "x-routewise-experiment"), "try-strong");
    assert!(
        response.headers().get("x-routewise-arm").is_none(),
        "no arms"
    );
    assert!(
        h.mock.calls_for("large-up").is_empty(),
        "the shadow was not served"
    );
    let lines = h.log_lines(&log);
    let decision = &lines[0]["decision"];
    assert_eq!(decision["experiment"], "try-strong");
    assert_eq!(decision["model"], "small");
    assert_eq!(decision["shadow"][0]["policy"], "strong");
    assert_eq!(decision["shadow"][0]["model"], "large");
    assert!(
        decision["shadow"][0]["estimated_cost_usd"]
            .as_f64()
            .unwrap()
            > 0.0
    );
}

#[tokio::test]
async fn arms_split_at_their_weights_and_stick_to_their_users() {
    let (h, _log) = start(
        r#"
[[experiments]]
name = "ab"
assign_by = "user"
arms = [{ name = "a", policy = "cheap", weight = 3 }, { name = "b", policy = "strong", weight = 1 }]
"#,
    )
    .await;
    let mut arms: HashMap<String, String> = HashMap::new();
    for i in 0..400 {
        let user = format!("user-{i}");
        let response = h.chat(as_user(&user)).await;
        let arm = header(&response, "x-routewise-arm").to_owned();
        let model = header(&response, "x-routewise-model");
        assert_eq!(
            model,
            if arm == "a" { "small" } else { "large" },
            "the arm's policy served"
        );
        assert_eq!(
            header(&response, "x-routewise-policy"),
            if arm == "a" { "cheap" } else { "strong" }
        );
        arms.insert(user, arm);
    }
    let b = arms.values().filter(|a| *a == "b").count() as f64 / 400.0;
    // 0.25 +- four standard errors of a binomial share at n = 400.
    assert!((b - 0.25).abs() < 0.087, "arm b got {b}");
    for i in (0..400).step_by(37) {
        let user = format!("user-{i}");
        let again = h.chat(as_user(&user)).await;
        assert_eq!(
            header(&again, "x-routewise-arm"),
            arms[&user],
            "sticky for {user}"
        );
    }
}

#[tokio::test]
async fn a_header_assigns_and_the_control_share_goes_to_the_strongest() {
    let (h, log) = start(
        r#"
[[experiments]]
name = "quality-check"
assign_by = "header:x-tenant"
control_share = 0.3
arms = [{ name = "only", policy = "cheap", weight = 1 }]
"#,
    )
    .await;
    let mut control = 0;
    for i in 0..300 {
        let response = h
            .client
            .post(format!("{}/v1/chat/completions", h.url))
            .header("x-tenant", format!("tenant-{}", i % 7))
            .json(&ask("auto", SIMPLE))
            .send()
            .await
            .unwrap();
        match header(&response, "x-routewise-arm") {
            "control" => {
                control += 1;
                assert_eq!(header(&response, "x-routewise-model"), "large");
                assert_eq!(
                    header(&response, "x-routewise-reason"),
                    "experiment:control"
                );
            }
            "only" => assert_eq!(header(&response, "x-routewise-model"), "small"),
            other => panic!("unexpected arm {other}"),
        }
    }
    let share = f64::from(control) / 300.0;
    // 0.3 +- four standard errors at n = 300.
    assert!((share - 0.3).abs() < 0.106, "control share {share}");
    let lines = h.log_lines(&log);
    let forced = lines
        .iter()
        .find(|l| l["decision"]["arm"] == "control")
        .unwrap();
    // Forced to the strongest by the control only: its propensity is the control share.
    assert!((forced["decision"]["propensity"].as_f64().unwrap() - 0.3).abs() < 1e-9);
    assert!(
        forced["decision"]["detail"]
            .as_str()
            .unwrap()
            .contains("control"),
        "{forced}"
    );
    let served = lines
        .iter()
        .find(|l| l["decision"]["arm"] == "only")
        .unwrap();
    assert!((served["decision"]["propensity"].as_f64().unwrap() - 0.7).abs() < 1e-9);
}

fn rollout_config(mock: &routewise_testkit::MockUpstream, share: &str) -> String {
    format!(
        r#"{}
{POLICIES}
[[experiments]]
name = "roll"
assign_by = "user"
incumbent = "cheap"
candidate = "strong"
rollout = {share}
keep_previous_until = 2026-12-15
"#,
        config_text(mock, "")
    )
}

async fn models_served(h: &Harness, users: usize) -> HashMap<String, usize> {
    let mut models = HashMap::new();
    for i in 0..users {
        let response = h.chat(as_user(&format!("u{i}"))).await;
        *models
            .entry(header(&response, "x-routewise-model").to_owned())
            .or_default() += 1;
    }
    models
}

#[tokio::test]
async fn a_rollout_moves_on_reload_and_rolls_back_and_a_bad_reload_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routewise.toml");
    let mock = routewise_testkit::MockUpstream::start().await.unwrap();
    std::fs::write(&path, rollout_config(&mock, "0.0")).unwrap();
    let config = routewise_config::load_file(&path).unwrap();
    let gateway = routewise_gateway::Gateway::new(
        routewise_gateway::Runtime::build(config, &|_| None).unwrap(),
    );
    let h = Harness::serve(mock, gateway).await;
    assert_eq!(
        models_served(&h, 20).await.get("small"),
        Some(&20),
        "all on the incumbent"
    );

    std::fs::write(&path, rollout_config(&h.mock, "1.0")).unwrap();
    routewise_gateway::reload::reload(&h.gateway, &path)
        .await
        .unwrap();
    assert_eq!(
        models_served(&h, 20).await.get("large"),
        Some(&20),
        "cut over on the next request"
    );
    let response = h.chat(as_user("u1")).await;
    assert_eq!(header(&response, "x-routewise-arm"), "candidate");

    let broken = rollout_config(&h.mock, "1.0").replace("incumbent = \"cheap\"\n", "");
    std::fs::write(&path, broken).unwrap();
    let refused = routewise_gateway::reload::reload(&h.gateway, &path)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("experiments[0].incumbent"),
        "{refused}"
    );
    assert_eq!(
        models_served(&h, 5).await.get("large"),
        Some(&5),
        "the running rollout stays"
    );

    std::fs::write(&path, rollout_config(&h.mock, "0.0")).unwrap();
    routewise_gateway::reload::reload(&h.gateway, &path)
        .await
        .unwrap();
    assert_eq!(
        models_served(&h, 20).await.get("small"),
        Some(&20),
        "rolled back"
    );
}

#[tokio::test]
async fn explicit_models_and_other_routes_are_outside_the_experiment() {
    let (h, _log) = start(
        r#"
[[server.routes]]
name = "plain"

[[experiments]]
name = "auto-only"
routes = ["auto"]
arms = [{ name = "s", policy = "strong", weight = 1 }]
"#,
    )
    .await;
    let explicit = h.chat(ask("small", SIMPLE)).await;
    assert_eq!(header(&explicit, "x-routewise-model"), "small");
    assert!(explicit.headers().get("x-routewise-experiment").is_none());
    let plain = h.chat(ask("plain", SIMPLE)).await;
    assert!(plain.headers().get("x-routewise-experiment").is_none());
    let auto = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(header(&auto, "x-routewise-model"), "large");
}
