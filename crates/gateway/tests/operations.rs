//! Operating the gateway: the response cache, client auth and rate limits, hot reload, and
//! graceful shutdown.

mod common;

use common::{HARD, Harness, SIMPLE, ask, config_text, header, sse_data, streamed_text};
use routewise_testkit::Reply;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

fn key_entry(name: &str, secret: &str, extra: &str) -> String {
    let digest: String = Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("[[server.client_keys]]\nname = \"{name}\"\nkey_sha256 = \"{digest}\"\n{extra}\n")
}

#[tokio::test]
async fn a_repeated_request_on_a_caching_route_is_served_from_the_cache() {
    let h = Harness::start("[[server.routes]]\nname = \"auto\"\ncache = true").await;
    let first = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "x-routewise-cache"), "");
    let first_body: Value = first.json().await.unwrap();
    let second = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(header(&second, "x-routewise-cache"), "hit");
    assert_eq!(header(&second, "x-routewise-model"), "small");
    assert_eq!(header(&second, "x-routewise-cost-usd"), "0.00000000");
    assert_eq!(second.json::<Value>().await.unwrap(), first_body);
    assert_eq!(
        h.mock.calls_for("small-up").len(),
        1,
        "one upstream call for two requests"
    );

    h.chat(ask("auto", HARD)).await;
    assert_eq!(
        h.mock.calls_for("large-up").len(),
        1,
        "a different request misses"
    );
    let mut streamed = ask("auto", SIMPLE);
    streamed["stream"] = json!(true);
    h.chat(streamed).await.text().await.unwrap();
    assert_eq!(
        h.mock.calls_for("small-up").len(),
        2,
        "streams are never cached"
    );
}

#[tokio::test]
async fn routes_without_cache_always_call_the_upstream() {
    let h = Harness::start("[[server.routes]]\nname = \"cheap\"\npolicy = \"complexity\"").await;
    for _ in 0..2 {
        let response = h.chat(ask("cheap", SIMPLE)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "x-routewise-policy"), "complexity");
    }
    assert_eq!(h.mock.calls().len(), 2);
}

#[tokio::test]
async fn client_keys_are_required_when_configured() {
    let h = Harness::start(&key_entry("team", "sk-team-secret", "tier = \"premium\"")).await;
    let response = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "authentication_error");
    let wrong = h
        .client
        .post(format!("{}/v1/chat/completions", h.url))
        .bearer_auth("sk-wrong")
        .json(&ask("auto", SIMPLE))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(h.mock.calls().is_empty());

    let ok = h
        .client
        .post(format!("{}/v1/chat/completions", h.url))
        .bearer_auth("sk-team-secret")
        .json(&ask("auto", SIMPLE))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        header(&ok, "x-routewise-reason"),
        "rule:premium-tier",
        "the key's tier routes"
    );
}

#[tokio::test]
async fn a_tier_header_is_ignored_unless_the_operator_trusts_it() {
    let h = Harness::start("").await;
    let send = |h: &Harness| {
        h.client
            .post(format!("{}/v1/chat/completions", h.url))
            .header("x-routewise-user-tier", "premium")
            .json(&ask("auto", SIMPLE))
            .send()
    };
    assert_eq!(
        header(&send(&h).await.unwrap(), "x-routewise-model"),
        "small"
    );
    let trusting = Harness::start("[server]\ntrust_tier_header = true").await;
    assert_eq!(
        header(&send(&trusting).await.unwrap(), "x-routewise-model"),
        "large"
    );
}

#[tokio::test]
async fn a_key_over_its_request_limit_gets_a_429_with_retry_after() {
    let h = Harness::start(&key_entry("k", "sk-k", "requests_per_minute = 2")).await;
    let send = || {
        h.client
            .post(format!("{}/v1/chat/completions", h.url))
            .bearer_auth("sk-k")
            .json(&ask("auto", SIMPLE))
            .send()
    };
    assert_eq!(send().await.unwrap().status(), 200);
    assert_eq!(send().await.unwrap().status(), 200);
    let limited = send().await.unwrap();
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = header(&limited, "retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["type"], "rate_limit_error");
    assert_eq!(h.mock.calls().len(), 2);
}

/// Before the fix, a request larger than the key's whole per-minute token quota got a 429 with
/// `retry-after: 60` that no wait could satisfy, and SDKs retry 429s forever.
#[tokio::test]
async fn a_request_over_the_keys_whole_token_quota_is_a_400_not_a_429() {
    let h = Harness::start(&key_entry("k", "sk-k", "tokens_per_minute = 50")).await;
    let huge = "word ".repeat(400);
    let refused = h
        .client
        .post(format!("{}/v1/chat/completions", h.url))
        .bearer_auth("sk-k")
        .json(&ask("auto", &huge))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.headers().get("retry-after").is_none());
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body["error"]["code"], "exceeds_rate_limit_capacity",
        "{body}"
    );
    assert_eq!(body["error"]["type"], "invalid_request_error");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("may use in a minute (50)"), "{message}");
    assert!(h.mock.calls().is_empty());
}

/// Before the fix, `Authorization: bearer sk-k` was refused: the scheme is case-insensitive.
#[tokio::test]
async fn the_bearer_scheme_is_accepted_in_any_case() {
    let h = Harness::start(&key_entry("k", "sk-k", "")).await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let answered = h
            .client
            .post(format!("{}/v1/chat/completions", h.url))
            .header("authorization", format!("{scheme} sk-k"))
            .json(&ask("auto", SIMPLE))
            .send()
            .await
            .unwrap();
        assert_eq!(answered.status(), 200, "{scheme}");
    }
}

#[tokio::test]
async fn reload_swaps_a_valid_config_and_keeps_the_old_one_when_invalid() {
    let h = Harness::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routewise.toml");

    std::fs::write(&path, "tiers = [").unwrap();
    let err = routewise_gateway::reload::reload(&h.gateway, &path)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("keeping the running one"), "{err}");
    assert_eq!(h.chat(ask("auto", SIMPLE)).await.status(), 200);

    let routed = config_text(
        &h.mock,
        "[[server.routes]]\nname = \"fast\"\npolicy = \"complexity\"",
    );
    std::fs::write(&path, routed).unwrap();
    let files = routewise_gateway::reload::reload(&h.gateway, &path)
        .await
        .unwrap();
    assert_eq!(files, std::slice::from_ref(&path));
    let response = h.chat(ask("fast", SIMPLE)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-routewise-policy"), "complexity");
}

#[tokio::test]
async fn shutdown_drains_an_in_flight_stream_and_refuses_new_connections() {
    let mut h = Harness::start("").await;
    h.mock.script(
        "small-up",
        [Reply::text("one two three four").chunk_every(Duration::from_millis(150))],
    );
    let mut request = ask("auto", SIMPLE);
    request["stream"] = json!(true);
    let response = h.chat(request).await;
    assert_eq!(response.status(), 200);
    h.shutdown();
    let text = response.text().await.unwrap();
    assert_eq!(streamed_text(&sse_data(&text)), "one two three four");
    let served = tokio::time::timeout(Duration::from_secs(10), &mut h.server).await;
    assert!(matches!(served, Ok(Ok(Ok(())))), "{served:?}");
    assert!(
        h.client
            .get(format!("{}/healthz", h.url))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn editing_the_watched_file_reloads_it() {
    let h = Harness::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routewise.toml");
    std::fs::write(&path, config_text(&h.mock, "")).unwrap();
    routewise_gateway::reload::spawn(h.gateway.clone(), vec![path.clone()], true).unwrap();
    assert_eq!(h.chat(ask("fast", SIMPLE)).await.status(), 404);

    let routed = config_text(&h.mock, "[[server.routes]]\nname = \"fast\"");
    std::fs::write(&path, routed).unwrap();
    // The watcher reacts to a filesystem event; poll for its effect rather than guess a delay.
    let reloaded = async {
        while h.chat(ask("fast", SIMPLE)).await.status() != 200 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), reloaded)
        .await
        .expect("the edited config was not reloaded");
}

#[tokio::test]
async fn replacing_the_learned_model_file_reloads_it() {
    let h = Harness::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routewise.toml");
    let model = dir.path().join("router.json");
    common::write_learned_model(&model, "prove");
    let learned = "[routing.learned]\nmodel = \"router.json\"\nthreshold = 0.5\n\
                   [[server.routes]]\nname = \"smart\"\npolicy = \"learned\"";
    std::fs::write(&path, config_text(&h.mock, learned)).unwrap();
    let files = routewise_gateway::reload::reload(&h.gateway, &path)
        .await
        .unwrap();
    assert_eq!(files, [path.clone(), dir.path().join("router.json")]);
    routewise_gateway::reload::spawn(h.gateway.clone(), files, true).unwrap();
    let prove = || h.chat(ask("smart", "Please prove the fact number 7 of topic12"));
    assert_eq!(header(&prove().await, "x-routewise-model"), "large");

    // A model in which "prove" prompts are easy: the route must follow it without a restart.
    let staged = dir.path().join("staged.json");
    common::write_learned_model(&staged, "name");
    std::fs::rename(&staged, &model).unwrap();
    let reloaded = async {
        while header(&prove().await, "x-routewise-model") != "small" {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), reloaded)
        .await
        .expect("the replaced model file was not reloaded");
}

#[tokio::test]
async fn a_model_file_named_by_a_rejected_config_is_watched_until_it_appears() {
    let h = Harness::start("").await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routewise.toml");
    common::write_learned_model(&dir.path().join("router.json"), "prove");
    let learned = |model: &str| {
        format!(
            "[routing.learned]\nmodel = \"{model}\"\nthreshold = 0.5\n\
             [[server.routes]]\nname = \"smart\"\npolicy = \"learned\""
        )
    };
    std::fs::write(&path, config_text(&h.mock, &learned("router.json"))).unwrap();
    let files = routewise_gateway::reload::reload(&h.gateway, &path)
        .await
        .unwrap();
    routewise_gateway::reload::spawn(h.gateway.clone(), files, true).unwrap();
    let prove = || h.chat(ask("smart", "Please prove the fact number 7 of topic12"));
    assert_eq!(header(&prove().await, "x-routewise-model"), "large");

    // The config moves to a model file that is not written yet: that reload is rejected ...
    std::fs::write(&path, config_text(&h.mock, &learned("next.json"))).unwrap();
    let rejected = async {
        loop {
            let metrics = reqwest::get(format!("{}/metrics", h.url))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if metrics.contains("routewise_config_reloads_total{outcome=\"rejected\"}") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), rejected)
        .await
        .expect("the config naming a missing model file was not rejected");
    assert_eq!(header(&prove().await, "x-routewise-model"), "large");

    // ... and writing the file it names (a model in which "prove" prompts are easy) must take
    // effect without touching the config again.
    let staged = dir.path().join("staged.json");
    common::write_learned_model(&staged, "name");
    std::fs::rename(&staged, dir.path().join("next.json")).unwrap();
    let reloaded = async {
        while header(&prove().await, "x-routewise-model") != "small" {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), reloaded)
        .await
        .expect("the model file the rejected config names was not picked up");
}
