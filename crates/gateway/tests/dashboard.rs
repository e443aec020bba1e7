//! The dashboard's API through the real HTTP gateway: the summary's numbers are the store's,
//! recent decisions page and open whole, and every mistake or missing piece (bad parameters,
//! no store, a failing store, an unknown decision, the admin key, the dashboard turned off) is
//! a clear error, never a 500.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure to start is a failed test"
)]

mod common;

use common::{HARD, Harness, SIMPLE, ask, header};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::path::Path;

async fn get(h: &Harness, path: &str) -> (u16, Value) {
    get_with(h, path, None).await
}

async fn get_with(h: &Harness, path: &str, key: Option<&str>) -> (u16, Value) {
    let mut request = h.client.get(format!("{}{path}", h.url));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn with_store(db: &Path, extra: &str) -> Harness {
    Harness::start_with_store(db, "", extra, "").await.0
}

/// Sends `prompt`, rates the answer `score` when given, and returns the request id.
async fn served(h: &Harness, prompt: &str, score: Option<f64>) -> String {
    let response = h.chat(ask("auto", prompt)).await;
    assert_eq!(response.status(), 200);
    let id = header(&response, "x-routewise-request-id").to_owned();
    if let Some(score) = score {
        h.gateway.flush_records().await;
        let ack = h
            .client
            .post(format!("{}/v1/feedback", h.url))
            .json(&json!({"request_id": id, "score": score}))
            .send()
            .await
            .unwrap();
        assert_eq!(ack.status(), 200, "{}", ack.text().await.unwrap());
    }
    id
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn the_summary_shows_what_the_store_holds() {
    let dir = tempfile::tempdir().unwrap();
    let h = with_store(&dir.path().join("d.db"), "").await;
    let (status, empty) = get(&h, "/v1/dashboard/summary?range=1h").await;
    assert_eq!(status, 200, "{empty}");
    assert_eq!(empty["totals"]["requests"], 0);
    assert_eq!(empty["series"].as_array().unwrap().len(), 60);

    for _ in 0..3 {
        served(&h, SIMPLE, Some(0.5)).await;
    }
    served(&h, SIMPLE, None).await;
    served(&h, HARD, Some(1.0)).await;
    h.gateway.flush_records().await;
    // A summary is reused for two seconds; a new range is computed at once.
    let (status, summary) = get(&h, "/v1/dashboard/summary?range=6h").await;
    assert_eq!(status, 200, "{summary}");

    let store = &h.gateway.store().unwrap().store;
    let records = store
        .recent(&routewise_store::RecentQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(records.len(), 5);
    let cost: f64 = records.iter().map(|r| r.record.cost_usd).sum();
    let baseline: f64 = records.iter().map(|r| r.record.baseline_cost_usd).sum();
    let totals = &summary["totals"];
    assert_eq!(totals["requests"], 5);
    assert!((totals["cost_usd"].as_f64().unwrap() - cost).abs() < 1e-12);
    assert!((totals["baseline_cost_usd"].as_f64().unwrap() - baseline).abs() < 1e-12);
    assert!((totals["savings_usd"].as_f64().unwrap() - (baseline - cost)).abs() < 1e-12);
    assert!(
        cost < baseline,
        "routing saved nothing: {cost} vs {baseline}"
    );

    let models = summary["models"].as_array().unwrap();
    assert_eq!(models[0]["model"], "small");
    assert_eq!(models[0]["requests"], 4);
    assert_eq!(models[1]["model"], "large");
    assert_eq!(
        models[0]["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_i64().unwrap())
            .sum::<i64>(),
        4
    );
    let reasons: i64 = summary["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["requests"].as_i64().unwrap())
        .sum();
    assert_eq!(reasons, 5);

    let quality = summary["quality"].as_array().unwrap();
    let small = quality.iter().find(|q| q["model"] == "small").unwrap();
    assert_eq!(small["ratings"], 3);
    assert!((small["mean"].as_f64().unwrap() - 0.5).abs() < 1e-12);
    assert!(small["low"].as_f64().unwrap() < 0.5 && small["high"].as_f64().unwrap() > 0.5);
    assert_eq!(summary["latency"]["sampled"], 5);
    assert_eq!(summary["latency"]["of"], 5);
    assert!(summary["latency"]["latency_ms"]["p99"].as_f64().unwrap() > 0.0);
    assert_eq!(summary["store"], "sqlite");
    assert!(summary["alerts"].is_array());
    assert_eq!(summary["experiments"], json!([]));
}

#[tokio::test]
async fn recent_decisions_page_and_open_with_their_explanation_and_feedback() {
    let dir = tempfile::tempdir().unwrap();
    let h = with_store(&dir.path().join("d.db"), "").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(served(&h, SIMPLE, (i == 2).then_some(0.25)).await);
    }
    h.gateway.flush_records().await;
    let (status, first) = get(&h, "/v1/dashboard/decisions?limit=3").await;
    assert_eq!(status, 200, "{first}");
    let page: Vec<&str> = first["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(page, [&ids[4], &ids[3], &ids[2]]);
    assert_eq!(first["decisions"][2]["score"], 0.25);
    assert!(
        !first["decisions"][0]["explanation"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    let cursor = first["next_before"].as_str().unwrap();
    let (_, second) = get(
        &h,
        &format!("/v1/dashboard/decisions?limit=3&before={cursor}"),
    )
    .await;
    let rest: Vec<&str> = second["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(rest, [&ids[1], &ids[0]]);
    assert_eq!(second["next_before"], Value::Null);

    let (status, detail) = get(&h, &format!("/v1/dashboard/decisions/{}", ids[2])).await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["decision"]["model"], "small");
    assert_eq!(
        detail["decision"]["explanation"],
        detail["record"]["decision"]["detail"]
    );
    assert_eq!(detail["feedback"][0]["score"], 0.25);
    assert!(detail["record"]["attempts"].is_array());

    let (status, missing) = get(&h, "/v1/dashboard/decisions/no-such-request").await;
    assert_eq!(status, 404);
    assert_eq!(error_code(&missing), "decision_not_found");
}

#[tokio::test]
async fn bad_parameters_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let h = with_store(&dir.path().join("d.db"), "").await;
    for (path, param) in [
        ("/v1/dashboard/summary?range=2h", "range"),
        ("/v1/dashboard/summary?since=0", "since"),
        ("/v1/dashboard/decisions?limit=0", "limit"),
        ("/v1/dashboard/decisions?limit=100000", "limit"),
        ("/v1/dashboard/decisions?limit=ten", "limit"),
        ("/v1/dashboard/decisions?before=garbage", "before"),
    ] {
        let (status, body) = get(&h, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["param"], param, "{path}: {body}");
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn without_a_store_or_with_a_failing_one_the_api_says_so() {
    let h = Harness::start("").await;
    let (status, body) = get(&h, "/v1/dashboard/summary").await;
    assert_eq!(status, 503);
    assert_eq!(error_code(&body), "no_store");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("[store]")
    );

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db");
    let h = with_store(&db, "").await;
    served(&h, SIMPLE, None).await;
    h.gateway.flush_records().await;
    // Another process breaks the database under the gateway.
    let vandal = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("DROP TABLE decision_rollups")
        .execute(&vandal)
        .await
        .unwrap();
    vandal.close().await;
    let (status, body) = get(&h, "/v1/dashboard/summary?range=7d").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(error_code(&body), "store_unavailable");
    // Requests are still served.
    assert_eq!(h.chat(ask("auto", SIMPLE)).await.status(), 200);
}

#[tokio::test]
async fn the_page_is_open_and_its_data_behind_the_admin_key() {
    let key = "dash-admin-key";
    let digest = format!("{:x}", Sha256::digest(key.as_bytes()));
    let client = format!(
        "[[server.client_keys]]\nname = \"app\"\nkey_sha256 = \"{:x}\"\n",
        Sha256::digest(b"app-key")
    );
    let dir = tempfile::tempdir().unwrap();
    let (h, _) = Harness::start_with_store(
        &dir.path().join("d.db"),
        &client,
        &format!("[dashboard]\nkey_sha256 = \"{digest}\"\n"),
        "",
    )
    .await;
    let page = h
        .client
        .get(format!("{}/dashboard", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(header(&page, "content-type").starts_with("text/html"));
    assert!(header(&page, "content-security-policy").contains("script-src 'self'"));
    let html = page.text().await.unwrap();
    assert!(html.contains("/dashboard/assets/dashboard.js"));
    for asset in [
        "dashboard.js",
        "dashboard.css",
        "uPlot.iife.min.js",
        "uPlot.min.css",
    ] {
        let response = h
            .client
            .get(format!("{}/dashboard/assets/{asset}", h.url))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        assert!(!response.bytes().await.unwrap().is_empty());
    }
    let (status, _) = get(&h, "/dashboard/assets/secrets.txt").await;
    assert_eq!(status, 404);

    let (status, body) = get(&h, "/v1/dashboard/summary").await;
    assert_eq!(status, 401, "{body}");
    let (status, _) = get_with(&h, "/v1/dashboard/summary", Some("app-key")).await;
    assert_eq!(
        status, 401,
        "a client key must not read every caller's decisions"
    );
    let (status, body) = get_with(&h, "/v1/dashboard/summary", Some(key)).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_dashboard_turned_off_is_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let h = with_store(&dir.path().join("d.db"), "[dashboard]\nenabled = false\n").await;
    let page = h
        .client
        .get(format!("{}/dashboard", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    let (status, body) = get(&h, "/v1/dashboard/summary").await;
    assert_eq!(status, 404);
    assert_eq!(error_code(&body), "dashboard_off");
}
