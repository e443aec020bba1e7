//! Memory through the real HTTP gateway: feedback is committed and acted on, a bad answer on
//! a cheap model upgrades similar requests (and not others), the upgrade survives a restart and
//! expires, the track record moves with feedback, and every feedback mistake is a clear error.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure to start is a failed test"
)]

mod common;

use common::{Harness, LogSink, ask, config_text, header};
use routewise_gateway::account::RequestLog;
use routewise_gateway::{Gateway, Runtime};
use routewise_store::{SqlStore, Store};
use routewise_testkit::MockUpstream;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A question the default rules send to the cheapest tier (`short-and-simple`).
const CHEAP: &str = "Which planet in our solar system has the most moons orbiting it today?";
/// A rewording of it.
const REWORDED: &str = "which planet in our solar system has the most moons orbiting it";
/// Unrelated, also cheap.
const OTHER: &str = "Translate 'thank you very much' into Italian.";

/// A gateway with a store at `db` (an SQLite file), its config's `[server]` from `server`.
async fn gateway_on(db: &Path, server: &str, memory: &str) -> (Harness, LogSink) {
    Harness::start_with_store(
        db,
        server,
        &format!("[memory]\n{memory}"),
        "log_prompts = true",
    )
    .await
}

async fn rate(h: &Harness, body: Value) -> reqwest::Response {
    h.client
        .post(format!("{}/v1/feedback", h.url))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn served(h: &Harness, prompt: &str) -> (String, String, String) {
    let response = h.chat(ask("auto", prompt)).await;
    assert_eq!(response.status(), 200);
    (
        header(&response, "x-routewise-request-id").to_owned(),
        header(&response, "x-routewise-model").to_owned(),
        header(&response, "x-routewise-reason").to_owned(),
    )
}

#[tokio::test]
async fn a_bad_rating_upgrades_similar_requests_and_not_others_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("memory.db");
    let (mut h, _) = gateway_on(&db, "", "").await;
    let (id, model, _) = served(&h, CHEAP).await;
    assert_eq!(model, "small");
    let ack = rate(
        &h,
        json!({"request_id": id, "thumbs": "down", "comment": "wrong moon count"}),
    )
    .await;
    assert_eq!(ack.status(), 200);
    let ack: Value = ack.json().await.unwrap();
    assert_eq!(
        (ack["score"].as_f64(), ack["model"].as_str()),
        (Some(0.0), Some("small"))
    );

    let (upgraded_id, model, reason) = served(&h, REWORDED).await;
    assert_eq!(
        (model.as_str(), reason.as_str()),
        ("large", "memory:upgrade")
    );
    let (_, model, reason) = served(&h, OTHER).await;
    assert_eq!(
        model, "small",
        "a dissimilar request is not upgraded ({reason})"
    );

    // Restart on the same database: the upgrade is still in force.
    h.shutdown();
    drop(h);
    let (h, _) = gateway_on(&db, "", "").await;
    let (_, model, reason) = served(&h, REWORDED).await;
    assert_eq!(
        (model.as_str(), reason.as_str()),
        ("large", "memory:upgrade")
    );

    // A good rating of an upgraded request releases the upgrade.
    let ack = rate(&h, json!({"request_id": upgraded_id, "score": 0.9})).await;
    assert_eq!(ack.status(), 200, "{:?}", ack.text().await);
    let (_, model, _) = served(&h, REWORDED).await;
    assert_eq!(model, "small");
}

#[tokio::test]
async fn an_upgrade_expires_after_its_time_to_live() {
    let dir = tempfile::tempdir().unwrap();
    let (h, _) = gateway_on(&dir.path().join("ttl.db"), "", "ttl = \"1h\"").await;
    let (id, _, _) = served(&h, CHEAP).await;
    assert_eq!(
        rate(&h, json!({"request_id": id, "score": 0.1}))
            .await
            .status(),
        200
    );
    assert_eq!(served(&h, REWORDED).await.1, "large");
    // An hour passes on the gateway's clock (paused only to jump: the store's pool has
    // timers that a paused clock would fire at once).
    tokio::time::pause();
    tokio::time::advance(Duration::from_secs(3_601)).await;
    tokio::time::resume();
    assert_eq!(served(&h, REWORDED).await.1, "small", "expired");
}

#[tokio::test]
async fn the_track_record_moves_with_feedback() {
    let dir = tempfile::tempdir().unwrap();
    let (h, log) = gateway_on(&dir.path().join("track.db"), "", "enabled = true").await;
    let track = |line: &Value| line["decision"]["signals"]["track_record"].clone();
    let (first, _, _) = served(&h, CHEAP).await;
    assert_eq!(
        track(&h.log_lines(&log)[0]),
        Value::Null,
        "nothing rated yet"
    );
    rate(&h, json!({"request_id": first, "score": 0.25})).await;
    served(&h, REWORDED).await;
    let lines = h.log_lines(&log);
    assert_eq!(
        track(lines.last().unwrap()),
        json!([{"model": "small", "mean_score": 0.25, "count": 1}])
    );
    // The latest feedback on a request is what counts.
    rate(&h, json!({"request_id": first, "score": 0.75})).await;
    served(&h, REWORDED).await;
    let lines = h.log_lines(&log);
    assert_eq!(track(lines.last().unwrap())[0]["mean_score"], 0.75);
    let history = h
        .gateway
        .store()
        .unwrap()
        .store
        .feedback(&first)
        .await
        .unwrap();
    assert_eq!(
        history.iter().map(|f| f.score).collect::<Vec<_>>(),
        [0.25, 0.75]
    );
}

fn key_entry(name: &str, secret: &str) -> String {
    let digest: String = Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("[[server.client_keys]]\nname = \"{name}\"\nkey_sha256 = \"{digest}\"\n")
}

#[tokio::test]
async fn every_feedback_mistake_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let keys = format!(
        "{}{}",
        key_entry("alice", "sk-alice"),
        key_entry("bob", "sk-bob")
    );
    let (h, _) = gateway_on(&dir.path().join("errors.db"), &keys, "").await;
    let chat = h
        .client
        .post(format!("{}/v1/chat/completions", h.url))
        .bearer_auth("sk-alice")
        .json(&ask("auto", CHEAP))
        .send()
        .await
        .unwrap();
    let id = header(&chat, "x-routewise-request-id").to_owned();
    let send = |key: &'static str, body: Value| {
        let request = h
            .client
            .post(format!("{}/v1/feedback", h.url))
            .bearer_auth(key);
        async move { request.json(&body).send().await.unwrap() }
    };
    let huge = "x".repeat(5_000);
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "sk-alice",
            json!({"request_id": "nope", "score": 1}),
            404,
            "request_not_found",
        ),
        (
            "sk-bob",
            json!({"request_id": id, "score": 1}),
            404,
            "request_not_found",
        ),
        (
            "sk-alice",
            json!({"request_id": id, "score": 1.5}),
            400,
            "score",
        ),
        (
            "sk-alice",
            json!({"request_id": id, "score": -0.1}),
            400,
            "score",
        ),
        ("sk-alice", json!({"request_id": id}), 400, "score"),
        (
            "sk-alice",
            json!({"request_id": id, "score": 1, "thumbs": "up"}),
            400,
            "score",
        ),
        (
            "sk-alice",
            json!({"request_id": id, "thumbs": "sideways"}),
            400,
            "thumbs",
        ),
        (
            "sk-alice",
            json!({"request_id": id, "score": 1, "comment": huge}),
            400,
            "comment",
        ),
        (
            "sk-alice",
            json!({"request_id": id, "score": 1, "source": "oracle"}),
            400,
            "source",
        ),
        (
            "sk-alice",
            json!({"request_id": "", "score": 1}),
            400,
            "request_id",
        ),
        (
            "sk-alice",
            json!({"request_id": id, "scroe": 1}),
            400,
            "scroe",
        ),
    ];
    for (key, body, status, needle) in cases {
        let response = send(key, body.clone()).await;
        assert_eq!(response.status().as_u16(), status, "{body}");
        let error: Value = response.json().await.unwrap();
        let text = error.to_string();
        assert!(error["error"]["message"].is_string(), "{text}");
        assert!(text.contains(needle), "{body}: {text}");
    }
    let unauthenticated = h
        .client
        .post(format!("{}/v1/feedback", h.url))
        .json(&json!({"request_id": id, "score": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), 401);
    let ok = send(
        "sk-alice",
        json!({"request_id": id, "thumbs": "up", "source": "judge"}),
    )
    .await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn without_a_store_feedback_is_refused_with_a_503() {
    let h = Harness::start("").await;
    let (id, _, _) = served(&h, CHEAP).await;
    let response = rate(&h, json!({"request_id": id, "score": 1})).await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "store_unavailable");
}

#[tokio::test]
async fn decision_records_reach_the_store_with_their_fingerprint_and_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let (h, _) = gateway_on(&dir.path().join("records.db"), "", "").await;
    let (id, _, _) = served(&h, CHEAP).await;
    h.gateway.flush_records().await;
    let record = h
        .gateway
        .store()
        .unwrap()
        .store
        .record(&id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.model.as_deref(), Some("small"));
    assert_eq!(record.outcome, "ok");
    assert_eq!(record.prompt.as_deref(), Some(CHEAP));
    assert_eq!(record.fingerprint.as_ref().map(Vec::len), Some(256));
    assert!(record.body.contains(&id));
}

#[tokio::test]
async fn prompts_are_not_kept_unless_the_operator_opts_in() {
    let mock = MockUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("private.db").display());
    let text = format!("{}\n[store]\nurl = \"{url}\"\n", config_text(&mock, ""));
    let config = routewise_config::from_str_with_env(&text, &|_| None).unwrap();
    let gateway = Gateway::with_request_log(
        Runtime::build(config, &|_| None).unwrap(),
        RequestLog::Tracing,
    );
    let store = Arc::new(SqlStore::open(&url).await.unwrap());
    gateway.attach_store(store.clone(), &url).await.unwrap();
    let h = Harness::serve(mock, gateway).await;
    let (id, _, _) = served(&h, CHEAP).await;
    h.gateway.flush_records().await;
    let record = store.record(&id).await.unwrap().unwrap();
    assert_eq!(record.prompt, None);
    assert_eq!(record.prompt_hash.as_ref().map(String::len), Some(64));
    assert!(
        !record.body.contains("moons"),
        "the log line does not quote the prompt"
    );
}
