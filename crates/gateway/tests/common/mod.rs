//! A gateway in front of the testkit mock, both on port 0, for the integration tests.
#![expect(
    clippy::unwrap_used,
    reason = "test harness: a failure to start is a failed test"
)]
#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use routewise_gateway::account::RequestLog;
use routewise_gateway::{Gateway, Runtime};
use routewise_testkit::MockUpstream;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// A prompt the default rules send to the cheapest tier (`simple-task`).
pub const SIMPLE: &str = "Translate 'good morning' into French.";
/// A prompt the default rules send to the strongest tier (`multi-step-reasoning`).
pub const HARD: &str = "Explain why the sky is blue and compare it with the colours of a sunset.";

/// The catalog: `small` and `large` on an OpenAI-compatible provider, `claude` on an
/// Anthropic one, all served by the same mock.
pub fn config_text(mock: &MockUpstream, server: &str) -> String {
    let base = mock.base_url();
    format!(
        r#"
tiers = ["economy", "frontier"]

[[providers]]
name = "mock"
kind = "openai"
base_url = "{base}"

[[providers]]
name = "mock-anthropic"
kind = "anthropic"
base_url = "{base}"

[[models]]
name = "small"
provider = "mock"
upstream_model = "small-up"
tier = "economy"
input_usd_per_mtok = 0.15
output_usd_per_mtok = 0.60
context_window = 128000

[[models]]
name = "large"
provider = "mock"
upstream_model = "large-up"
tier = "frontier"
input_usd_per_mtok = 2.50
output_usd_per_mtok = 10.00
context_window = 128000

[[models]]
name = "claude"
provider = "mock-anthropic"
upstream_model = "claude-up"
tier = "frontier"
input_usd_per_mtok = 3.00
output_usd_per_mtok = 15.00
context_window = 200000

{server}
"#
    )
}

/// Captures what a request log writes.
#[derive(Debug, Clone, Default)]
pub struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogSink {
    /// Everything written, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    pub fn lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

pub struct Harness {
    pub mock: MockUpstream,
    pub gateway: Gateway,
    pub url: String,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Harness {
    /// Starts a mock and a gateway configured with the given `[server]` TOML.
    pub async fn start(server: &str) -> Self {
        Self::start_config(|mock| config_text(mock, server)).await
    }

    /// Starts a mock and a gateway whose whole config `config` writes, given the mock.
    pub async fn start_config(config: impl FnOnce(&MockUpstream) -> String) -> Self {
        Self::start_logged(config, &|_| None).await.0
    }

    /// Like [`Harness::start_config`], with provider keys read through `env`, and the request
    /// log captured.
    pub async fn start_logged(
        config: impl FnOnce(&MockUpstream) -> String,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> (Self, LogSink) {
        let mock = MockUpstream::start().await.unwrap();
        let config = routewise_config::from_str_with_env(&config(&mock), env).unwrap();
        let sink = LogSink::default();
        let log = RequestLog::to_writer(sink.clone()).unwrap();
        let gateway = Gateway::with_request_log(Runtime::build(config, env).unwrap(), log);
        (Self::serve(mock, gateway).await, sink)
    }

    /// Starts a gateway with an SQLite store at `db`: `extra` config after the catalog and
    /// `[server]`, and `store` keys for `[store]` besides its url.
    pub async fn start_with_store(
        db: &std::path::Path,
        server: &str,
        extra: &str,
        store: &str,
    ) -> (Self, LogSink) {
        let url = format!("sqlite://{}", db.display());
        let text = {
            let (server, extra, store, url) = (
                server.to_owned(),
                extra.to_owned(),
                store.to_owned(),
                url.clone(),
            );
            move |mock: &MockUpstream| {
                format!(
                    "{}\n{extra}\n[store]\nurl = \"{url}\"\n{store}\n",
                    config_text(mock, &server)
                )
            }
        };
        let (h, log) = Self::start_logged(text, &|_| None).await;
        let opened = routewise_store::SqlStore::open(&url).await.unwrap();
        h.gateway
            .attach_store(Arc::new(opened), &url)
            .await
            .unwrap();
        (h, log)
    }

    /// The request log lines written so far, parsed.
    pub fn log_lines(&self, sink: &LogSink) -> Vec<Value> {
        self.gateway.request_log().flush();
        sink.lines()
    }

    /// Serves `gateway` in front of `mock` on port 0.
    pub async fn serve(mock: MockUpstream, gateway: Gateway) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(routewise_gateway::run(listener, gateway.clone(), async {
            let _ = stopped.await;
        }));
        Self {
            mock,
            gateway,
            url,
            // A fresh connection per request: tests that jump paused time past the server's
            // idle timeout would otherwise reuse a connection the server has just closed.
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
            stop: Some(stop),
            server,
        }
    }

    /// Sends a shutdown signal to the server.
    pub fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    pub async fn chat(&self, body: Value) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/chat/completions", self.url))
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

/// A chat request with one user message.
pub fn ask(model: &str, prompt: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": prompt}]})
}

pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The assistant text of a non-streamed completion.
pub fn text_of(body: &Value) -> &str {
    body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or("")
}

/// Parses an SSE body into its `data:` payloads.
pub fn sse_data(body: &str) -> Vec<String> {
    body.split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

/// The concatenated delta text of parsed SSE payloads.
pub fn streamed_text(events: &[String]) -> String {
    events
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

/// Writes a learned model over `small` and `large` in which prompts with `hard_verb` ("prove"
/// or "name") defeat `small` and the others do not, whatever the topic.
pub fn write_learned_model(path: &std::path::Path, hard_verb: &str) {
    use routewise_learn::training::{Candidate, Example, TrainConfig, train};
    let mut prompts = Vec::new();
    for category in 0..4 {
        for i in 0..30 {
            let verb = if i % 2 == 0 { "prove" } else { "name" };
            let hard = verb == hard_verb;
            prompts.push((
                format!("Please {verb} the fact number {i} of topic{category}"),
                format!("topic{category}"),
                [if hard { 0.0 } else { 1.0 }, 1.0],
            ));
        }
    }
    let examples: Vec<Example<'_>> = prompts
        .iter()
        .map(|(prompt, category, scores)| Example {
            prompt,
            category,
            scores,
        })
        .collect();
    let candidates = [("small", 0.0001), ("large", 0.002)].map(|(name, cost)| Candidate {
        name: name.to_owned(),
        mean_cost_usd: cost,
    });
    let model = train(&examples, &candidates, &TrainConfig::default(), &mut |_| {}).unwrap();
    std::fs::write(path, model.to_json().unwrap()).unwrap();
}
