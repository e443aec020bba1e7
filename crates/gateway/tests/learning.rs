//! The learning loop through the real HTTP gateway: a bandit whose later decisions follow the
//! feedback on earlier ones, whose state survives a restart, and which never explores for
//! premium callers or explicit model requests; a strong-share target that steers a threshold;
//! a budget that paces and, with a hard cap, refuses with a clear 429.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure to start is a failed test"
)]

mod common;

use common::{HARD, Harness, LogSink, ask, header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;

/// A gateway with an SQLite store at `db` and `extra` config (routing, budget, keys).
async fn gateway_on(db: &Path, server: &str, extra: &str) -> (Harness, LogSink) {
    Harness::start_with_store(db, server, extra, "").await
}

fn client_key(name: &str, secret: &str) -> String {
    let digest: String = Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("[[server.client_keys]]\nname = \"{name}\"\nkey_sha256 = \"{digest}\"\n")
}

async fn served(h: &Harness, body: Value) -> (String, String, String) {
    let response = h.chat(body).await;
    assert_eq!(response.status(), 200);
    (
        header(&response, "x-routewise-request-id").to_owned(),
        header(&response, "x-routewise-model").to_owned(),
        header(&response, "x-routewise-reason").to_owned(),
    )
}

async fn rate(h: &Harness, id: &str, thumbs: &str) {
    let response = h
        .client
        .post(format!("{}/v1/feedback", h.url))
        .json(&json!({"request_id": id, "thumbs": thumbs}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

/// No exploration and no optimism: every decision is the bandit's best guess.
const GREEDY: &str =
    "[routing]\npolicy = \"bandit\"\n[routing.bandit]\nexplore = 0.0\noptimism = 0.0\n";

#[tokio::test]
async fn feedback_moves_the_bandit_and_what_it_learned_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bandit.db");
    let (mut h, _) = gateway_on(&db, "", GREEDY).await;
    // Cold start: the tier order's prior and the price say `large`.
    let (id, model, reason) = served(&h, ask("auto", HARD)).await;
    assert_eq!(
        (model.as_str(), reason.as_str()),
        ("large", "bandit:exploit")
    );
    // `large` answers these badly: after a few thumbs-down the bandit goes elsewhere.
    rate(&h, &id, "down").await;
    let mut moved = None;
    for _ in 0..10 {
        let (id, model, _) = served(&h, ask("auto", HARD)).await;
        if model != "large" {
            moved = Some(model);
            break;
        }
        rate(&h, &id, "down").await;
    }
    let moved = moved.expect("feedback never moved the bandit off `large`");
    assert_eq!(moved, "claude", "the other frontier model is still untried");

    // Saved within a second of the feedback, without waiting for a shutdown.
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    let saved = h
        .gateway
        .store()
        .unwrap()
        .store
        .load_state("bandit")
        .await
        .unwrap();
    assert!(saved.is_some_and(|s| s.contains("routewise-bandit")));
    // A restart on the same store keeps what was learned.
    h.gateway.flush_records().await;
    h.shutdown();
    drop(h);
    let (h, _) = gateway_on(&db, "", GREEDY).await;
    let (_, model, _) = served(&h, ask("auto", HARD)).await;
    assert_eq!(model, moved);
    // A fresh store starts from the prior again.
    let (fresh, _) = gateway_on(&dir.path().join("fresh.db"), "", GREEDY).await;
    let (_, model, _) = served(&fresh, ask("auto", HARD)).await;
    assert_eq!(model, "large");
}

#[tokio::test]
async fn premium_callers_and_explicit_models_are_never_explored() {
    let dir = tempfile::tempdir().unwrap();
    let server = format!(
        "{}tier = \"premium\"\n{}",
        client_key("vip", "sk-vip"),
        client_key("team", "sk-team")
    );
    let curious = "[routing]\npolicy = \"bandit\"\n[routing.bandit]\nexplore = 0.5\n";
    let (h, log) = gateway_on(&dir.path().join("explore.db"), &server, curious).await;
    let send = |key: &'static str, body: Value| {
        let request = h
            .client
            .post(format!("{}/v1/chat/completions", h.url))
            .bearer_auth(key)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 200);
            header(&response, "x-routewise-reason").to_owned()
        }
    };
    let mut standard = Vec::new();
    for i in 0..40 {
        let prompt = format!("{HARD} ({i})");
        assert_eq!(send("sk-vip", ask("auto", &prompt)).await, "bandit:exploit");
        assert_eq!(
            send("sk-team", ask("small", &prompt)).await,
            "explicit-model"
        );
        standard.push(send("sk-team", ask("auto", &prompt)).await);
    }
    // The same settings do explore for a standard caller, so the checks above could fail.
    assert!(
        standard.iter().any(|r| r == "bandit:explore"),
        "{standard:?}"
    );
    let lines = h.log_lines(&log);
    for line in lines.iter().filter(|l| l["client_key"] == "vip") {
        assert_eq!(line["decision"]["propensity"], 1.0);
    }
    let explored: Vec<f64> = lines
        .iter()
        .filter(|l| l["decision"]["reason"] == "bandit:explore")
        .map(|l| l["decision"]["propensity"].as_f64().unwrap())
        .collect();
    assert!(
        explored.iter().all(|p| *p > 0.0 && *p < 1.0),
        "{explored:?}"
    );
}

#[tokio::test]
async fn a_strong_share_target_steers_the_threshold_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    // Complexity sends the easy prompt to `small`; a target of 90% strong pushes it up.
    let target =
        "[routing]\npolicy = \"complexity\"\n[routing.target]\nstrong_share = 0.9\ngain = 0.2\n";
    let (h, log) = gateway_on(&dir.path().join("target.db"), "", target).await;
    let mut models = Vec::new();
    for i in 0..30 {
        let (_, model, _) = served(
            &h,
            ask("auto", &format!("Translate 'hello' into French ({i}).")),
        )
        .await;
        models.push(model);
    }
    assert_eq!(models[0], "small");
    // Held at 90%: about one request in ten stays on `small`.
    let strong = models[10..].iter().filter(|m| *m != "small").count();
    assert!((16..=19).contains(&strong), "{models:?}");
    let lines = h.log_lines(&log);
    let last = lines.last().unwrap();
    let stages = last["decision"]["stages"].as_array().unwrap();
    assert_eq!(stages[0]["stage"], "controllers");
    assert!(
        last["decision"]["detail"]
            .as_str()
            .unwrap()
            .contains("target strong share 0.9"),
        "{last}"
    );
    let metrics = h
        .client
        .get(format!("{}/metrics", h.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("routewise_controller_bias{controller=\"target\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_quality_floor_buys_quality_when_feedback_falls_short() {
    let dir = tempfile::tempdir().unwrap();
    let floor =
        "[routing]\npolicy = \"complexity\"\n[routing.target]\nquality_floor = 0.9\ngain = 0.2\n";
    let (h, _) = gateway_on(&dir.path().join("floor.db"), "", floor).await;
    let easy = |i: usize| ask("auto", &format!("Translate 'hello' into French ({i})."));
    let mut models = Vec::new();
    for i in 0..12 {
        let (id, model, _) = served(&h, easy(i)).await;
        // The cheap answers disappoint; once the floor has bought `large`, its answers please.
        rate(&h, &id, if model == "small" { "down" } else { "up" }).await;
        models.push(model);
    }
    assert_eq!(models[0], "small");
    assert_eq!(models.last().unwrap(), "large", "{models:?}");
    let state = h.gateway.controllers().target_state().unwrap();
    assert!(state.bias > 0.0, "{state:?}");
}

#[tokio::test]
async fn a_hard_capped_budget_refuses_with_a_clear_429_and_spend_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("budget.db");
    // One `large` answer to HARD costs $0.0000675 at the mock's usage: three fit the cap.
    let budget = "[routing]\npolicy = \"complexity\"\n[budget]\nusd = 0.0002\nhard_cap = true\n";
    let (mut h, _) = gateway_on(&db, "", budget).await;
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..6 {
        let response = h.chat(ask("large", HARD)).await;
        statuses.push(response.status().as_u16());
        last = Some(response);
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429]);
    let response = last.unwrap();
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "budget_exhausted");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("budget")
    );
    // The spend is in the records: a restart does not forget it.
    h.gateway.flush_records().await;
    h.shutdown();
    drop(h);
    let (h, _) = gateway_on(&db, "", budget).await;
    assert_eq!(h.chat(ask("large", HARD)).await.status(), 429);
}
