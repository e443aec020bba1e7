//! The loop end to end with the real binary: `serve` with its default SQLite store beside the
//! config, chat and feedback under load, a SIGKILL in the middle, a restart; then every
//! acknowledged feedback is in the store, the database passes its integrity check, the records
//! it holds are whole; `route` reads the same memory, and `export` writes the rated requests as
//! benchmark lines.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test harness: a failure is a failed test"
)]

use routewise_store::{SqlStore, Store};
use routewise_testkit::MockUpstream;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn config(mock: &MockUpstream) -> String {
    let local = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/examples/local.toml"),
    )
    .unwrap();
    local
        .replace(
            "${ROUTEWISE_UPSTREAM_URL:-http://127.0.0.1:8000/v1}",
            &mock.base_url(),
        )
        .replace("${ROUTEWISE_LISTEN:-127.0.0.1:8080}", "127.0.0.1:0")
        .replace(
            "${ROUTEWISE_STORE:-sqlite://routewise.db}",
            "sqlite://routewise.db",
        )
}

/// Starts `routewise serve` and returns it with the address it listens on.
fn serve(config: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_routewise"))
        .env("RUST_LOG", "info")
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = stderr
        .by_ref()
        .find_map(|line| {
            let line = line.ok()?;
            let rest = line.split("listening on http://").nth(1)?;
            Some(rest.split_whitespace().next()?.to_owned())
        })
        .unwrap_or_else(|| panic!("serve did not start"));
    std::thread::spawn(move || stderr.for_each(drop));
    (child, address)
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Asked under load and rated (a third of them bad), so their upgrades are in memory after the
/// restart; `RATED_AFTER` is none of them, so what happens to it is the later rating's doing.
const QUESTIONS: [&str; 3] = [
    "What is the boiling point of water at the top of Mount Everest?",
    "Name the longest river in South America and the countries it crosses.",
    "Who painted the ceiling of the Sistine Chapel, and in which years?",
];
const RATED_AFTER: &str = "Which planet in our solar system has the most moons orbiting it today?";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_survives_a_kill_and_the_loop_closes() {
    let mock = MockUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routewise.toml");
    std::fs::write(&path, config(&mock)).unwrap();
    let (child, address) = serve(&path);
    let client = reqwest::Client::new();

    // Load: four clients chat and rate each answer, until the server is killed under them.
    let mut clients = Vec::new();
    for worker in 0..4usize {
        let (client, address) = (client.clone(), address.clone());
        clients.push(tokio::spawn(async move {
            let mut acked: Vec<(String, String)> = Vec::new();
            for i in 0.. {
                let question = format!("{} (take {i})", QUESTIONS[(worker + i) % QUESTIONS.len()]);
                let chat = client
                    .post(format!("http://{address}/v1/chat/completions"))
                    .json(&json!({"model": "auto", "messages": [{"role": "user", "content": question}]}))
                    .send()
                    .await;
                let Ok(chat) = chat else { break };
                let Some(id) = chat.headers().get("x-routewise-request-id") else { break };
                let id = id.to_str().unwrap().to_owned();
                let thumbs = if i % 3 == 0 { "down" } else { "up" };
                let rated = client
                    .post(format!("http://{address}/v1/feedback"))
                    .json(&json!({"request_id": id, "thumbs": thumbs}))
                    .send()
                    .await;
                match rated {
                    Ok(response) if response.status() == 200 => {
                        let ack: Value = response.json().await.unwrap_or(Value::Null);
                        if let Some(feedback) = ack["id"].as_str() {
                            acked.push((id, feedback.to_owned()));
                        }
                    }
                    _ => break,
                }
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    signal(&child, "KILL");
    let mut child = child;
    let _ = child.wait();
    let mut acked = Vec::new();
    for client in clients {
        acked.extend(client.await.unwrap());
    }
    assert!(
        acked.len() > 20,
        "only {} feedbacks were acknowledged",
        acked.len()
    );

    // The database opens again (a restart), passes its integrity check, and holds every
    // acknowledged feedback; the records it holds are whole.
    let (restarted, address) = serve(&path);
    let url = format!("sqlite://{}", dir.path().join("routewise.db").display());
    let store = SqlStore::open(&url).await.unwrap();
    store.check().await.unwrap();
    for (request, feedback) in &acked {
        let kept = store.feedback(request).await.unwrap();
        assert!(
            kept.iter().any(|f| &f.id == feedback),
            "feedback {feedback} on {request} was lost"
        );
    }
    let records = store
        .records(&routewise_store::RecordQuery {
            limit: 100_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(!records.is_empty());
    for record in &records {
        let body: Value = serde_json::from_str(&record.body).unwrap();
        assert_eq!(body["request_id"], record.request_id.as_str());
    }

    // A rated-bad question is upgraded for the restarted server and for `route`, reading the
    // same memory.
    let bad = client
        .post(format!("http://{address}/v1/chat/completions"))
        .json(&json!({"model": "auto", "messages": [{"role": "user", "content": RATED_AFTER}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.headers()["x-routewise-model"], "small");
    let id = bad.headers()["x-routewise-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let rated = client
        .post(format!("http://{address}/v1/feedback"))
        .json(&json!({"request_id": id, "score": 0.0, "comment": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(rated.status(), 200);
    signal(&restarted, "TERM");
    let mut restarted = restarted;
    assert!(restarted.wait().unwrap().success());

    let route = Command::new(env!("CARGO_BIN_EXE_routewise"))
        .args(["route", "--json", "--config"])
        .arg(&path)
        .arg(RATED_AFTER)
        .output()
        .unwrap();
    assert!(
        route.status.success(),
        "{}",
        String::from_utf8_lossy(&route.stderr)
    );
    let decision: Value = serde_json::from_slice(&route.stdout).unwrap();
    assert_eq!(
        (decision["model"].as_str(), decision["reason"].as_str()),
        (Some("large"), Some("memory:upgrade"))
    );

    let out = dir.path().join("rated.jsonl.gz");
    let export = Command::new(env!("CARGO_BIN_EXE_routewise"))
        .args(["export", "--config"])
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let exported = String::from_utf8_lossy(&export.stderr);
    assert!(exported.contains("wrote"), "{exported}");
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&out).unwrap()),
        &mut text,
    )
    .unwrap();
    let lines: Vec<_> = text
        .lines()
        .map(|line| routewise_learn::bench::parse_line(line).unwrap())
        .collect();
    assert!(
        lines.len() > acked.len() / 2,
        "{} lines for {} ratings",
        lines.len(),
        acked.len()
    );
    let wrong = lines.iter().find(|l| l.id == id).unwrap();
    assert_eq!(wrong.scores["small"], 0.0);
    assert_eq!(wrong.prompt, RATED_AFTER);
    assert_eq!(wrong.meta["feedback_comment"], "wrong");
}
