//! How fast the dashboard answers over a large store: fills an SQLite store with RECORDS
//! decision records (default 1,000,000, spread over the last 24 hours, 15% of them rated)
//! unless the file already holds them, serves a gateway on it, and times each API call cold
//! (the first after the summary cache has expired) and, when Chromium is found, the page in a
//! headless browser from navigation until its data is on screen.
//!
//! ```sh
//! cargo run --release -p routewise-gateway --example dashboard_load -- [RECORDS] [DB]
//! ```
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a measuring tool: a failure to start is reported by the panic"
)]

use routewise_gateway::account::RequestLog;
use routewise_gateway::{Gateway, Runtime};
use routewise_store::{DecisionRecord, FeedbackRecord, FeedbackSource, SqlStore, Store};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONFIG: &str = r#"
tiers = ["economy", "frontier"]
[[providers]]
name = "mock"
kind = "openai"
base_url = "http://127.0.0.1:9/v1"
[[models]]
name = "small"
provider = "mock"
tier = "economy"
input_usd_per_mtok = 0.15
output_usd_per_mtok = 0.60
context_window = 128000
[[models]]
name = "large"
provider = "mock"
tier = "frontier"
input_usd_per_mtok = 2.50
output_usd_per_mtok = 10.00
context_window = 128000
"#;

const REASONS: [&str; 5] = [
    "rule:simple-task",
    "rule:short-and-simple",
    "rule:multi-step-reasoning",
    "rule:code",
    "memory:upgrade",
];

fn record(i: u64, now_ms: i64) -> DecisionRecord {
    let large = i.is_multiple_of(4);
    let model = if large { "large" } else { "small" };
    let age_ms = i64::try_from((i * 86_400_000) / 1_000_000 % 86_400_000).unwrap_or(0);
    DecisionRecord {
        request_id: format!("bench-{i:08}"),
        created_unix_ms: now_ms - age_ms,
        key_name: Some(format!("team-{}", i % 7)),
        route: Some("auto".into()),
        policy: Some("rules".into()),
        reason: Some(REASONS[usize::try_from(i % 5).unwrap_or(0)].into()),
        experiment: None,
        arm: None,
        model: Some(model.into()),
        tier: Some(i64::from(large)),
        propensity: 1.0,
        outcome: if i.is_multiple_of(97) { "error" } else { "ok" }.into(),
        status: if i.is_multiple_of(97) { 502 } else { 200 },
        prompt_tokens: 300,
        completion_tokens: 120,
        cost_usd: if large { 0.00195 } else { 0.000117 },
        baseline_cost_usd: 0.00195,
        latency_ms: 200.0 + f64::from(u32::try_from(i % 800).unwrap_or(0)),
        overhead_ms: 0.2 + f64::from(u32::try_from(i % 10).unwrap_or(0)) / 20.0,
        fingerprint: Some(vec![u8::try_from(i % 251).unwrap_or(0); 256]),
        prompt_hash: Some(format!("{i:064x}")),
        prompt: None,
        upgraded_by: None,
        fallback: i.is_multiple_of(53),
        body: format!(
            r#"{{"request_id":"bench-{i:08}","model":"{model}","decision":{{"model":"{model}","policy":"rules","reason":"{}","detail":"a benchmark decision number {i}, routed by the default rules","signals":{{"prompt_tokens":300}}}},"attempts":[{{"model":"{model}","attempt":1,"outcome":"ok","duration_ms":200.0}}]}}"#,
            REASONS[usize::try_from(i % 5).unwrap_or(0)]
        ),
    }
}

async fn fill(store: &SqlStore, records: u64, now_ms: i64) {
    let have = store
        .rollups(3_600_000, 0, i64::MAX)
        .await
        .unwrap()
        .iter()
        .map(|r| u64::try_from(r.requests).unwrap_or(0))
        .sum::<u64>();
    if have >= records {
        println!("the store holds {have} records already");
        return;
    }
    let started = Instant::now();
    let batch: u64 = 2_000;
    for first in (have..records).step_by(usize::try_from(batch).unwrap_or(1)) {
        let rows: Vec<DecisionRecord> = (first..(first + batch).min(records))
            .map(|i| record(i, now_ms))
            .collect();
        store.write_records(&rows).await.unwrap();
        for i in (first..(first + batch).min(records)).filter(|i| i % 10 == 3 || i % 20 == 4) {
            store
                .add_feedback(FeedbackRecord {
                    id: format!("fb-{i}"),
                    request_id: format!("bench-{i:08}"),
                    created_unix_ms: now_ms - 1_000,
                    score: if i.is_multiple_of(4) { 0.9 } else { 0.7 },
                    source: FeedbackSource::User,
                    comment: None,
                    key_name: None,
                })
                .await
                .unwrap();
        }
    }
    println!(
        "wrote {} records in {:.1} s",
        records - have,
        started.elapsed().as_secs_f64()
    );
}

/// Each of a 24 h summary's queries on its own.
async fn queries(store: &SqlStore, now_ms: i64) {
    let since = now_ms - 86_400_000;
    let until = now_ms + 60_000;
    let started = Instant::now();
    let rows = store.rollups(60_000, since, until).await.unwrap().len();
    println!(
        "rollups (minutes, 24 h): {rows} rows in {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    let started = Instant::now();
    let rows = store
        .latency_sample(since, until, 20_000)
        .await
        .unwrap()
        .len();
    println!(
        "latency sample: {rows} rows in {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
}

async fn timed(client: &reqwest::Client, url: &str) -> (u16, f64, usize) {
    let started = Instant::now();
    let response = client.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap().len();
    (status, started.elapsed().as_secs_f64() * 1000.0, bytes)
}

fn browser_load(url: &str) -> Option<f64> {
    let path = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists())?;
    let options = headless_chrome::LaunchOptions::default_builder()
        .path(Some(path))
        .sandbox(false)
        .window_size(Some((1400, 2200)))
        .build()
        .unwrap();
    let browser = headless_chrome::Browser::new(options).unwrap();
    let tab = browser.new_tab().unwrap();
    // Warm the browser itself on an empty page first.
    tab.navigate_to("about:blank")
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    let started = Instant::now();
    tab.navigate_to(url).unwrap();
    loop {
        let state = tab
            .evaluate(
                "document.body ? (document.body.dataset.state || '') : ''",
                false,
            )
            .unwrap()
            .value
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        if state == "ready" || state == "error" || state == "empty" {
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            println!("page state `{state}`");
            return Some(ms);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut args = std::env::args().skip(1);
    let records: u64 = args
        .next()
        .map_or(1_000_000, |a| a.parse().expect("RECORDS"));
    let db = args
        .next()
        .unwrap_or_else(|| "target/dashboard-load.db".to_owned());
    let url = format!("sqlite://{db}");
    let now_ms = i64::try_from(routewise_gateway::now_unix_ms()).unwrap_or(0);
    let store = SqlStore::open(&url).await.unwrap();
    fill(&store, records, now_ms).await;

    queries(&store, now_ms).await;
    let config = routewise_config::from_str(CONFIG).unwrap();
    let runtime = Runtime::build(config, &|_| None).unwrap();
    let gateway = Gateway::with_request_log(runtime, RequestLog::Tracing);
    gateway.attach_store(Arc::new(store), &url).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(routewise_gateway::run(
        listener,
        gateway.clone(),
        std::future::pending(),
    ));
    let client = reqwest::Client::new();
    println!("| call | status | cold ms | bytes |\n|---|---|---|---|");
    for range in ["1h", "6h", "24h", "7d", "30d"] {
        for path in [
            format!("/v1/dashboard/summary?range={range}"),
            format!("/v1/dashboard/decisions?range={range}&limit=50"),
        ] {
            let (status, ms, bytes) = timed(&client, &format!("{base}{path}")).await;
            println!("| {path} | {status} | {ms:.1} | {bytes} |");
        }
    }
    let (status, ms, bytes) = timed(
        &client,
        &format!("{base}/v1/dashboard/decisions/bench-00000042"),
    )
    .await;
    println!("| /v1/dashboard/decisions/bench-00000042 | {status} | {ms:.1} | {bytes} |");
    // Let every summary expire, so the page computes its own.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let page = format!("{base}/dashboard?range=24h");
    match tokio::task::spawn_blocking(move || browser_load(&page))
        .await
        .unwrap()
    {
        Some(ms) => {
            println!("page load in headless Chromium, navigation to data on screen: {ms:.0} ms")
        }
        None => println!("no Chromium: the page load was not measured"),
    }
}
