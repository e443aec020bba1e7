//! Two replicas sharing one PostgreSQL and one Redis, each in front of its own mock upstream:
//! a key's rate limit holds across both, feedback on one upgrades similar requests on the
//! other, a circuit opened by failures through one is routed around by the other, a reply
//! cached by one is a hit on the other, a budget counts what both spend, and bandit updates
//! taken by both at once add up.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure is a failed test"
)]

mod support;

use redis::AsyncCommands;
use routewise_testkit::Reply;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::{Harness, SIMPLE, Services, ask, eventually, feedback, header, replica};

/// A question the default rules send to the cheapest tier, and a rewording of it.
const CHEAP: &str = "Which planet in our solar system has the most moons orbiting it today?";
const REWORDED: &str = "which planet in our solar system has the most moons orbiting it";

fn client_key(name: &str, secret: &str, extra: &str) -> String {
    let digest: String = Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("[[server.client_keys]]\nname = \"{name}\"\nkey_sha256 = \"{digest}\"\n{extra}\n")
}

async fn chat_as(h: &Harness, secret: &str, body: Value) -> reqwest::Response {
    h.client
        .post(format!("{}/v1/chat/completions", h.url))
        .bearer_auth(secret)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_keys_rate_limit_holds_across_replicas() {
    let Some(services) = Services::start().await else {
        return;
    };
    let server = client_key("team", "sk-team", "requests_per_minute = 3");
    let a = replica(&services, &server, "").await;
    let b = replica(&services, &server, "").await;
    let mut statuses = Vec::new();
    for h in [&a, &b, &a, &b] {
        statuses.push(
            chat_as(h, "sk-team", ask("auto", SIMPLE))
                .await
                .status()
                .as_u16(),
        );
    }
    // Each replica saw two requests, under the limit on its own; together they are over it.
    assert_eq!(statuses, [200, 200, 200, 429]);
    services.finish().await;
}

#[tokio::test]
async fn feedback_on_one_replica_upgrades_similar_requests_on_the_other() {
    let Some(services) = Services::start().await else {
        return;
    };
    let a = replica(&services, "", "").await;
    let b = replica(&services, "", "").await;
    let response = a.chat(ask("auto", CHEAP)).await;
    assert_eq!(header(&response, "x-routewise-model"), "small");
    let id = header(&response, "x-routewise-request-id").to_owned();
    let ack = feedback(&a, json!({"request_id": id, "thumbs": "down"})).await;
    assert_eq!(ack.status(), 200);
    let upgraded = eventually(5, || async {
        let response = b.chat(ask("auto", REWORDED)).await;
        header(&response, "x-routewise-reason") == "memory:upgrade"
            && header(&response, "x-routewise-model") == "large"
    })
    .await;
    assert!(upgraded, "replica B never applied replica A's upgrade");
    services.finish().await;
}

#[tokio::test]
async fn feedback_may_reach_a_replica_other_than_the_one_that_served() {
    let Some(services) = Services::start().await else {
        return;
    };
    let a = replica(&services, "", "").await;
    let b = replica(&services, "", "").await;
    let response = a.chat(ask("auto", CHEAP)).await;
    let id = header(&response, "x-routewise-request-id").to_owned();
    // At once, before A's writer has committed the record: B waits for it.
    let ack = feedback(&b, json!({"request_id": id, "thumbs": "down"})).await;
    assert_eq!(ack.status(), 200, "{:?}", ack.text().await);
    let ack: Value = ack.json().await.unwrap();
    assert_eq!(ack["model"], "small");
    // B made the upgrade; A hears of it.
    let upgraded = eventually(5, || async {
        let response = a.chat(ask("auto", REWORDED)).await;
        header(&response, "x-routewise-reason") == "memory:upgrade"
    })
    .await;
    assert!(upgraded, "replica A never applied replica B's upgrade");
    let unknown = feedback(&b, json!({"request_id": "no-such-request", "score": 1})).await;
    assert_eq!(unknown.status(), 404);
    services.finish().await;
}

#[tokio::test]
async fn a_circuit_opened_through_one_replica_is_routed_around_by_the_other() {
    let Some(services) = Services::start().await else {
        return;
    };
    let server = "[server.execution]\nmax_retries = 0\ncircuit_failure_threshold = 2\ncircuit_cooldown_secs = 30";
    let a = replica(&services, server, "").await;
    let b = replica(&services, server, "").await;
    a.mock
        .script("small-up", [Reply::status(503), Reply::status(503)]);
    for _ in 0..2 {
        let response = a.chat(ask("auto", SIMPLE)).await;
        assert_eq!(header(&response, "x-routewise-model"), "large");
    }
    let key = services.key("circuit:small");
    let opened = eventually(5, || {
        let key = key.clone();
        async move {
            let mut redis = support::redis_connection().await.unwrap();
            let open_until: Option<i64> = redis.hget(&key, "open_until").await.unwrap();
            open_until.is_some_and(|t| t > 0)
        }
    })
    .await;
    assert!(opened, "A's failures did not open the shared circuit");
    let response = b.chat(ask("auto", SIMPLE)).await;
    assert_eq!(header(&response, "x-routewise-model"), "large");
    assert!(
        b.mock.calls_for("small-up").is_empty(),
        "B called a model whose circuit A opened"
    );
    services.finish().await;
}

#[tokio::test]
async fn a_reply_cached_by_one_replica_is_a_hit_on_the_other() {
    let Some(services) = Services::start().await else {
        return;
    };
    let server = "[[server.routes]]\nname = \"auto\"\ncache = true";
    let a = replica(&services, server, "").await;
    let b = replica(&services, server, "").await;
    let filled = a.chat(ask("auto", SIMPLE)).await;
    assert_eq!(header(&filled, "x-routewise-cache"), "");
    let filled: Value = filled.json().await.unwrap();
    let hit = b.chat(ask("auto", SIMPLE)).await;
    assert_eq!(header(&hit, "x-routewise-cache"), "hit");
    assert_eq!(header(&hit, "x-routewise-model"), "small");
    assert_eq!(hit.json::<Value>().await.unwrap(), filled);
    assert!(b.mock.calls().is_empty(), "B's upstream was not called");
    services.finish().await;
}

#[tokio::test]
async fn a_budget_counts_what_every_replica_spends() {
    let Some(services) = Services::start().await else {
        return;
    };
    // One answer costs more than the whole budget.
    let budget = "[budget]\nusd = 0.000001\nhard_cap = true\n";
    let a = replica(&services, "", budget).await;
    let b = replica(&services, "", budget).await;
    assert_eq!(a.chat(ask("auto", SIMPLE)).await.status(), 200);
    // A's spend reaches Redis; B reads the totals (it does every second; here at once).
    let counted = eventually(5, || async {
        let mut redis = support::redis_connection().await.unwrap();
        let keys: Vec<String> = redis.keys(services.key("spend:*")).await.unwrap();
        let mut spent = 0.0;
        for key in keys {
            let all: Option<f64> = redis.hget(&key, "all").await.unwrap();
            spent += all.unwrap_or(0.0);
        }
        spent > 0.000001
    })
    .await;
    assert!(counted, "A's spend never reached Redis");
    routewise_gateway::budget_sync::sync_once(&b.gateway).await;
    let response = b.chat(ask("auto", SIMPLE)).await;
    assert_eq!(
        response.status(),
        429,
        "B spent nothing itself, but A spent the budget"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "budget_exhausted", "{body}");
    assert!(b.mock.calls().is_empty());
    services.finish().await;
}

/// The observations in a bandit state, over every arm.
fn observations(state: &Value) -> u64 {
    state["arms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|arm| arm["observations"].as_u64().unwrap())
        .sum()
}

/// What one replica's bandit has learned, as it would save it.
fn live_observations(h: &Harness) -> u64 {
    let runtime = h.gateway.runtime();
    let learner = runtime
        .config
        .routing
        .policies
        .get("bandit")
        .unwrap()
        .policy
        .learner()
        .unwrap();
    let state = h.gateway.learned().get("bandit").unwrap();
    observations(&learner.encode(&state).unwrap())
}

#[tokio::test]
async fn bandit_updates_from_both_replicas_at_once_add_up_exactly() {
    let Some(services) = Services::start().await else {
        return;
    };
    let routing = "[routing]\npolicy = \"bandit\"\n[routing.bandit]\nexplore = 0.2\n";
    let a = replica(&services, "", routing).await;
    let b = replica(&services, "", routing).await;
    const EACH: usize = 12;
    let mut served = Vec::new();
    for i in 0..EACH {
        for h in [&a, &b] {
            let response = h.chat(ask("auto", &format!("{SIMPLE} ({i})"))).await;
            assert_eq!(response.status(), 200);
            served.push((h, header(&response, "x-routewise-request-id").to_owned()));
        }
    }
    // All the feedback at once, half through each replica.
    let rated = served.iter().enumerate().map(|(i, (h, id))| async move {
        let thumbs = if i % 3 == 0 { "down" } else { "up" };
        feedback(h, json!({"request_id": id, "thumbs": thumbs}))
            .await
            .status()
    });
    for status in futures::future::join_all(rated).await {
        assert_eq!(status, 200);
    }
    let total = (2 * EACH) as u64;
    let store = a.gateway.store().unwrap().store.clone();
    let saved_all = eventually(15, || {
        let store = store.clone();
        async move {
            let saved = store.load_state("bandit").await.unwrap();
            saved.is_some_and(|s| observations(&serde_json::from_str(&s).unwrap()) == total)
        }
    })
    .await;
    let saved = store.load_state("bandit").await.unwrap().unwrap();
    assert!(
        saved_all,
        "the stored state counts {} outcomes, not {total}",
        observations(&serde_json::from_str(&saved).unwrap())
    );
    // And each replica has adopted the other's outcomes.
    let both = eventually(5, || async {
        live_observations(&a) == total && live_observations(&b) == total
    })
    .await;
    assert!(
        both,
        "replicas hold {} and {} outcomes, not {total}",
        live_observations(&a),
        live_observations(&b)
    );
    services.finish().await;
}
