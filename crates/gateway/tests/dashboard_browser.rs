//! The dashboard in headless Chromium (Debian's `chromium`, `ROUTEWISE_CHROMIUM` to name
//! another): a gateway with an SQLite store and the mock upstream gets a mix of requests and
//! feedback, and the page must show the numbers the store holds (spend, baseline, savings, the
//! routing mix, the recent decisions), open a decision's explanation on a click, and say so
//! clearly when there is no traffic or a parameter is wrong. Screenshots are saved under the
//! test target directory (`dashboard-screenshots/`). Without Chromium the test is skipped with
//! a note, unless `ROUTEWISE_REQUIRE_SERVICES=1` (CI), which makes that a failure.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test harness: a failure is a failed test"
)]

mod common;

use common::{HARD, Harness, SIMPLE, ask, header};
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::{Browser, LaunchOptions, Tab};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn chromium() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("ROUTEWISE_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let found = [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .map(PathBuf::from)
    .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var("ROUTEWISE_REQUIRE_SERVICES").as_deref() != Ok("1"),
            "Chromium is required (ROUTEWISE_REQUIRE_SERVICES=1): apt-get install chromium"
        );
        eprintln!("skipping: no Chromium (apt-get install chromium)");
    }
    found
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits until the page says it has finished a refresh, and returns the state it reached.
fn settled(tab: &Tab) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let state = eval(tab, "document.body.dataset.state || ''");
        let state = state.as_str().unwrap_or_default().to_owned();
        if ["ready", "empty", "error"].contains(&state.as_str()) {
            return state;
        }
        assert!(
            Instant::now() < deadline,
            "the page never settled (state `{state}`)"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Evaluates `expression` (which must produce JSON-able data) in the page.
fn eval(tab: &Tab, expression: &str) -> Value {
    let wrapped = format!("JSON.stringify({expression})");
    let result = tab.evaluate(&wrapped, false).unwrap();
    let text = result.value.and_then(|v| v.as_str().map(str::to_owned));
    text.map_or(Value::Null, |t| serde_json::from_str(&t).unwrap())
}

fn shoot(tab: &Tab, name: &str) {
    let png = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .unwrap();
    let path = screenshots().join(name);
    std::fs::write(&path, png).unwrap();
    eprintln!("screenshot: {}", path.display());
}

fn number(text: &Value) -> f64 {
    text.as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("not a number: {text}"))
}

async fn rated(h: &Harness, prompt: &str, score: Option<f64>) {
    let response = h.chat(ask("auto", prompt)).await;
    assert_eq!(response.status(), 200);
    let id = header(&response, "x-routewise-request-id").to_owned();
    if let Some(score) = score {
        let ack = h
            .client
            .post(format!("{}/v1/feedback", h.url))
            .json(&json!({"request_id": id, "score": score}))
            .send()
            .await
            .unwrap();
        assert_eq!(ack.status(), 200);
    }
}

fn browser(path: PathBuf) -> Browser {
    let options = LaunchOptions::default_builder()
        .path(Some(path))
        .headless(true)
        .sandbox(false)
        .window_size(Some((1400, 2200)))
        .idle_browser_timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    Browser::new(options).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_stores_numbers_and_explains_a_decision() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (h, _) = Harness::start_with_store(&dir.path().join("d.db"), "", "", "").await;
    let empty_url = format!("{}/dashboard?range=1h", h.url);
    let bad_url = format!("{}/dashboard?range=fortnight", h.url);
    let browser = tokio::task::spawn_blocking(move || {
        let browser = browser(chromium);
        let tab = browser.new_tab().unwrap();
        tab.navigate_to(&empty_url)
            .unwrap()
            .wait_until_navigated()
            .unwrap();
        assert_eq!(settled(&tab), "empty");
        let message = eval(&tab, "document.getElementById('message').textContent");
        assert!(
            message.as_str().unwrap().contains("No requests"),
            "{message}"
        );
        shoot(&tab, "empty.png");
        tab.navigate_to(&bad_url)
            .unwrap()
            .wait_until_navigated()
            .unwrap();
        assert_eq!(settled(&tab), "error");
        let message = eval(&tab, "document.getElementById('message').textContent");
        assert!(message.as_str().unwrap().contains("fortnight"), "{message}");
        browser
    })
    .await
    .unwrap();

    for i in 0..6 {
        rated(&h, SIMPLE, (i % 2 == 0).then_some(0.5)).await;
    }
    for i in 0..2 {
        rated(&h, HARD, (i == 0).then_some(1.0)).await;
    }
    h.gateway.flush_records().await;
    let records = h
        .gateway
        .store()
        .unwrap()
        .store
        .recent(&routewise_store::RecentQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(records.len(), 8);
    let cost: f64 = records.iter().map(|r| r.record.cost_usd).sum();
    let baseline: f64 = records.iter().map(|r| r.record.baseline_cost_usd).sum();
    let small = records
        .iter()
        .filter(|r| r.record.model.as_deref() == Some("small"))
        .count();
    let newest = records[0].record.clone();
    let newest_body: Value = serde_json::from_str(&newest.body).unwrap();
    let explanation = newest_body["decision"]["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!explanation.is_empty());

    let url = format!("{}/dashboard?range=1h", h.url);
    tokio::task::spawn_blocking(move || {
        let tab = browser.new_tab().unwrap();
        tab.navigate_to(&url).unwrap().wait_until_navigated().unwrap();
        assert_eq!(settled(&tab), "ready");
        let value = |id: &str| number(&eval(&tab, &format!("document.getElementById('{id}').dataset.value")));
        assert_eq!(value("total-requests"), 8.0);
        assert!((value("total-cost") - cost).abs() < 1e-12);
        assert!((value("total-baseline") - baseline).abs() < 1e-12);
        assert!((value("total-savings") - (baseline - cost)).abs() < 1e-12);
        let mix = eval(
            &tab,
            "[...document.querySelectorAll('#mix-table tr[data-model]')].map(r => [r.dataset.model, r.querySelector('.requests').dataset.value])",
        );
        assert_eq!(mix, json!([["small", small.to_string()], ["large", (8 - small).to_string()]]));
        let listed = eval(
            &tab,
            "[...document.querySelectorAll('#decisions tr.decision-row')].map(r => r.dataset.requestId)",
        );
        let listed: Vec<&str> = listed.as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let stored: Vec<&str> = records.iter().map(|r| r.record.request_id.as_str()).collect();
        assert_eq!(listed, stored);
        let visible = eval(&tab, "document.getElementById('total-requests').textContent");
        assert_eq!(visible, json!("8"));
        shoot(&tab, "overview.png");

        tab.find_element(&format!("tr.decision-row[data-request-id='{}']", newest.request_id))
            .unwrap()
            .click()
            .unwrap();
        let shown = tab.wait_for_element("#decision-explanation").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while shown.get_inner_text().unwrap().trim().is_empty() {
            assert!(Instant::now() < deadline, "the explanation never showed");
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(shown.get_inner_text().unwrap().trim(), explanation.trim());
        shoot(&tab, "decision.png");
    })
    .await
    .unwrap();
}
