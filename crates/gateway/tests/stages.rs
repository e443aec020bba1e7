//! The stages-and-state shape through the real HTTP server: layers on every route, circuit
//! probes that always resolve, fallback that keeps to eligible models, and learned state that
//! survives a reload.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure to build is a failed test"
)]

mod common;

use common::{Harness, SIMPLE, ask, config_text, header};
use routewise_config::PolicyEntry;
use routewise_core::policy::{
    Choice, LearnedState, Learner, Outcome, Policy, PolicyInput, StateError, Target,
};
use routewise_gateway::learning::StateChange;
use routewise_gateway::{Gateway, Runtime};
use routewise_testkit::{MockUpstream, Reply};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;

/// Before the fix, a half-open circuit whose probe got a client error recorded neither
/// success nor failure: the circuit stayed half-open and the model was refused until restart.
#[tokio::test(start_paused = true)]
async fn a_probe_that_gets_a_client_error_closes_the_circuit() {
    let h = Harness::start(
        "[server.execution]\nmax_retries = 0\ncircuit_failure_threshold = 1\ncircuit_cooldown_secs = 30",
    )
    .await;
    h.mock.script("small-up", [Reply::status(503)]);
    let response = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(header(&response, "x-routewise-model"), "large");
    assert!(h.gateway.circuits().is_open("small"));

    tokio::time::advance(Duration::from_secs(31)).await;
    h.mock.script("small-up", [Reply::status(400)]);
    let refused = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(
        refused.status(),
        400,
        "the probe's client error reaches the client"
    );
    assert!(!h.gateway.circuits().is_open("small"));
    let next = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(header(&next, "x-routewise-model"), "small");
}

/// Before the fix, a probe dropped because its client hung up left the circuit half-open for
/// good.
#[tokio::test(start_paused = true)]
async fn a_probe_dropped_by_a_departing_client_lets_the_next_request_probe() {
    let h = Harness::start(
        "[server.execution]\nmax_retries = 0\ncircuit_failure_threshold = 1\ncircuit_cooldown_secs = 30",
    )
    .await;
    h.mock.script("small-up", [Reply::status(503)]);
    h.chat(ask("auto", SIMPLE)).await;
    tokio::time::advance(Duration::from_secs(31)).await;

    // The probe's answer would come long after the test is over: only dropping the probe
    // can release the circuit in time.
    h.mock.script(
        "small-up",
        [Reply::text("too late").after(Duration::from_secs(100_000))],
    );
    let impatient = tokio::time::timeout(Duration::from_secs(1), h.chat(ask("auto", SIMPLE))).await;
    assert!(impatient.is_err(), "the client gave up");
    // The server notices the closed connection and drops the request; until then the circuit
    // is probing and requests go to `large`.
    let mut served = String::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let next = h.chat(ask("auto", SIMPLE)).await;
        served = header(&next, "x-routewise-model").to_owned();
        if served == "small" {
            break;
        }
    }
    assert_eq!(
        served, "small",
        "the abandoned probe let a later request probe"
    );
}

/// A catalog where the cheaper frontier model cannot see images.
fn vision_config(mock: &MockUpstream) -> String {
    format!(
        r#"
tiers = ["economy", "frontier"]
[[providers]]
name = "mock"
kind = "openai"
base_url = "{}"
[[models]]
name = "small-vision"
provider = "mock"
tier = "economy"
input_usd_per_mtok = 0.1
output_usd_per_mtok = 0.4
context_window = 128000
capabilities = ["vision"]
[[models]]
name = "large-text"
provider = "mock"
tier = "frontier"
input_usd_per_mtok = 1.0
output_usd_per_mtok = 4.0
context_window = 128000
[[models]]
name = "large-vision"
provider = "mock"
tier = "frontier"
input_usd_per_mtok = 2.5
output_usd_per_mtok = 10.0
context_window = 128000
capabilities = ["vision"]
[server.execution]
max_retries = 0
"#,
        mock.base_url()
    )
}

/// Before the fix, the fallback chain took every higher-tier model, and a request with an
/// image fell back to a text-only model.
#[tokio::test]
async fn a_request_with_an_image_falls_back_only_to_vision_models() {
    let h = Harness::start_config(vision_config).await;
    h.mock.script("small-vision", [Reply::status(503)]);
    let request = json!({"model": "auto", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    ]}]});
    let response = h.chat(request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-routewise-model"), "large-vision");
    assert!(h.mock.calls_for("large-text").is_empty());
}

fn key_entry(name: &str, secret: &str) -> String {
    let digest: String = Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("[[server.client_keys]]\nname = \"{name}\"\nkey_sha256 = \"{digest}\"\n")
}

#[tokio::test]
async fn every_api_route_needs_a_key_and_health_stays_open() {
    let h = Harness::start(&key_entry("team", "sk-team")).await;
    let get = |path: &str, key: Option<&str>| {
        let request = h.client.get(format!("{}{path}", h.url));
        match key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
        .send()
    };
    for path in ["/v1/models", "/v1/models/small"] {
        let refused = get(path, None).await.unwrap();
        assert_eq!(refused.status(), 401, "{path}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["type"], "authentication_error");
        assert_eq!(
            get(path, Some("sk-team")).await.unwrap().status(),
            200,
            "{path}"
        );
    }
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(get(path, None).await.unwrap().status(), 200, "{path}");
    }
    let missing = get("/v1/models/gpt-9", Some("sk-team")).await.unwrap();
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "model_not_found");
}

#[tokio::test]
async fn metrics_can_require_a_key() {
    let h = Harness::start(&format!(
        "[server]\nmetrics_auth = true\n{}",
        key_entry("ops", "sk-ops")
    ))
    .await;
    let url = format!("{}/metrics", h.url);
    assert_eq!(h.client.get(&url).send().await.unwrap().status(), 401);
    let ok = h
        .client
        .get(&url)
        .bearer_auth("sk-ops")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn every_response_carries_the_request_id_and_echoes_the_clients() {
    let h = Harness::start("").await;
    let response = h.chat(ask("auto", SIMPLE)).await;
    let id = header(&response, "x-routewise-request-id").to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    assert_eq!(
        header(&response, "x-request-id"),
        id,
        "SDKs read x-request-id"
    );
    let mine = h
        .client
        .post(format!("{}/v1/chat/completions", h.url))
        .header("x-request-id", "client-123")
        .json(&ask("auto", SIMPLE))
        .send()
        .await
        .unwrap();
    assert_eq!(header(&mine, "x-request-id"), "client-123");
    assert_ne!(header(&mine, "x-routewise-request-id"), "client-123");
    let missing = h
        .client
        .get(format!("{}/nowhere", h.url))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(!header(&missing, "x-routewise-request-id").is_empty());
}

/// A learning policy for the test: it counts outcomes, and its state fits only learners with
/// the same number of arms.
#[derive(Debug)]
struct Counting {
    arms: usize,
}

#[derive(Debug, PartialEq)]
struct Counts {
    arms: usize,
    seen: u64,
}

impl Policy for Counting {
    fn name(&self) -> &str {
        "counting"
    }

    fn choose(&self, input: &PolicyInput<'_>, _: &mut dyn rand::RngCore) -> Choice {
        let seen = input
            .state
            .and_then(|s| s.downcast::<Counts>())
            .map_or(0, |c| c.seen);
        Choice::new(
            Target::Tier(usize::from(seen > 0)),
            "counting",
            format!("{seen} seen"),
        )
    }

    fn learner(&self) -> Option<&dyn Learner> {
        Some(self)
    }
}

impl Learner for Counting {
    fn fresh(&self) -> LearnedState {
        LearnedState::new(Counts {
            arms: self.arms,
            seen: 0,
        })
    }

    fn fits(&self, state: &LearnedState) -> Result<(), StateError> {
        match state.downcast::<Counts>() {
            Some(c) if c.arms == self.arms => Ok(()),
            _ => Err(StateError::Mismatch(format!("not {} arms", self.arms))),
        }
    }

    fn observe(&self, state: &LearnedState, _: &Outcome<'_>) -> LearnedState {
        let seen = state.downcast::<Counts>().map_or(0, |c| c.seen);
        LearnedState::new(Counts {
            arms: self.arms,
            seen: seen + 1,
        })
    }

    fn encode(&self, _: &LearnedState) -> Result<Value, StateError> {
        Ok(Value::Null)
    }

    fn decode(&self, _: &Value) -> Result<LearnedState, StateError> {
        Ok(self.fresh())
    }
}

fn runtime_with(mock: &MockUpstream, arms: usize) -> Runtime {
    let mut config =
        routewise_config::from_str_with_env(&config_text(mock, ""), &|_| None).unwrap();
    config.routing.policies.insert(PolicyEntry {
        name: "counting".into(),
        kind: "counting",
        policy: Arc::new(Counting { arms }),
        files: Vec::new(),
    });
    config.routing.policy = "counting".into();
    if let Some(auto) = config.server.routes.iter_mut().find(|r| r.name == "auto") {
        auto.policy = "counting".into();
    }
    Runtime::build(config, &|_| None).unwrap()
}

#[tokio::test]
async fn learned_state_survives_a_reload_and_restarts_when_it_no_longer_fits() {
    let mock = MockUpstream::start().await.unwrap();
    let gateway = Gateway::new(runtime_with(&mock, 2));
    let h = Harness::serve(mock, gateway).await;
    let first = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(
        header(&first, "x-routewise-model"),
        "small",
        "nothing learned yet"
    );

    let runtime = h.gateway.runtime();
    let learner = runtime
        .config
        .routing
        .policies
        .get("counting")
        .unwrap()
        .policy
        .clone();
    let outcome = Outcome {
        model: "small",
        features: &[],
        quality: 0.0,
        cost_usd: 0.0,
    };
    h.gateway
        .learned()
        .observe("counting", learner.learner().unwrap(), &outcome);
    let learned = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(header(&learned, "x-routewise-model"), "large");

    // The built-in bandit learns too; this test follows `counting`.
    let counting = |changes: Vec<StateChange>| -> Vec<StateChange> {
        changes
            .into_iter()
            .filter(|c| !matches!(c, StateChange::Kept { policy } if policy == "bandit"))
            .collect()
    };
    let changes = counting(h.gateway.swap(runtime_with(&h.mock, 2)));
    assert_eq!(
        changes,
        [StateChange::Kept {
            policy: "counting".into()
        }]
    );
    let after_reload = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(
        header(&after_reload, "x-routewise-model"),
        "large",
        "state kept"
    );

    let changes = counting(h.gateway.swap(runtime_with(&h.mock, 3)));
    assert!(matches!(&changes[..], [StateChange::Reset { policy, .. }] if policy == "counting"));
    let reset = h.chat(ask("auto", SIMPLE)).await;
    assert_eq!(
        header(&reset, "x-routewise-model"),
        "small",
        "state restarted"
    );
}
