//! The dashboard's JSON API: `GET /v1/dashboard/summary?range=R`,
//! `GET /v1/dashboard/decisions?range=R&limit=N&before=CURSOR` and
//! `GET /v1/dashboard/decisions/{request_id}`. Bad parameters are a 400 naming the parameter,
//! no store a 503 `no_store`, a store that fails a 503 `store_unavailable`: never a 500.

use super::views::{self, DecisionDetail, DecisionPage, DecisionView, FeedbackView, SummaryInputs};
use super::{LATENCY_SAMPLE, MAX_PAGE, SUMMARY_TTL};
use crate::error::GatewayError;
use crate::experiments_report::{ExperimentReport, experiment_report};
use crate::runtime::Runtime;
use crate::{Gateway, StoreHandle};
use axum::response::{IntoResponse, Response};
use routewise_core::dashboard::{Range, Window};
use routewise_store::{RecentQuery, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// How often the experiments' reports (which read every record of an experiment) are
/// recomputed, in the background.
const EXPERIMENTS_TTL: Duration = Duration::from_secs(60);

/// Computed summaries, reused for [`SUMMARY_TTL`], and the experiments' reports.
#[derive(Debug, Default)]
pub struct Summaries {
    recent: Mutex<HashMap<&'static str, (Instant, axum::body::Bytes)>>,
    /// One summary is computed at a time.
    computing: tokio::sync::Mutex<()>,
    experiments: Mutex<Option<(Instant, &'static str, Vec<ExperimentReport>)>>,
    refreshing_experiments: AtomicBool,
}

/// The query string's parameters, refusing any not in `allowed`.
fn params(
    query: Option<&str>,
    allowed: &[&'static str],
) -> Result<HashMap<String, String>, GatewayError> {
    let pairs: Vec<(String, String)> =
        query_pairs(query.unwrap_or_default()).map_err(|message| GatewayError::BadRequest {
            param: None,
            message,
        })?;
    let mut found = HashMap::new();
    for (name, value) in pairs {
        if !allowed.contains(&name.as_str()) {
            return Err(GatewayError::BadRequest {
                message: format!(
                    "unknown query parameter `{name}`; this endpoint takes {}",
                    allowed.join(", ")
                ),
                param: Some(name),
            });
        }
        found.insert(name, value);
    }
    Ok(found)
}

fn query_pairs(query: &str) -> Result<Vec<(String, String)>, String> {
    let uri: axum::http::Uri = format!("/?{query}")
        .parse()
        .map_err(|err| format!("the query string is not valid: {err}"))?;
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map(|q| q.0)
        .map_err(|err| format!("the query string is not valid: {err}"))
}

fn range(params: &HashMap<String, String>) -> Result<Range, GatewayError> {
    let Some(name) = params.get("range") else {
        return Ok(Range::Day);
    };
    Range::parse(name).ok_or_else(|| GatewayError::BadRequest {
        message: format!(
            "`{name}` is not a range the dashboard shows; use one of {}",
            Range::ALL.map(Range::name).join(", ")
        ),
        param: Some("range".to_owned()),
    })
}

fn store(gateway: &Gateway) -> Result<&StoreHandle, GatewayError> {
    gateway.store().ok_or_else(|| GatewayError::Unavailable {
        code: "no_store",
        message: "this gateway has no [store], so it keeps no decisions to show: add `[store] url = \"sqlite://routewise.db\"` (or PostgreSQL) to its config and restart it".to_owned(),
    })
}

fn store_failed(err: &StoreError) -> GatewayError {
    GatewayError::Unavailable {
        code: "store_unavailable",
        message: format!(
            "the store could not be read ({err}); requests are still served, and the dashboard will show them once it answers again"
        ),
    }
}

fn enabled(runtime: &Runtime) -> Result<(), GatewayError> {
    if runtime.config.dashboard.enabled {
        Ok(())
    } else {
        Err(GatewayError::NotFound {
            code: "dashboard_off",
            message: "the dashboard is turned off ([dashboard] enabled = false)".to_owned(),
        })
    }
}

fn json_response(body: axum::body::Bytes) -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// `GET /v1/dashboard/summary`.
pub async fn summary(gateway: &Gateway, runtime: &Runtime, query: Option<&str>) -> Response {
    match summary_body(gateway, runtime, query).await {
        Ok(body) => json_response(body),
        Err(err) => err.into_response(),
    }
}

async fn summary_body(
    gateway: &Gateway,
    runtime: &Runtime,
    query: Option<&str>,
) -> Result<axum::body::Bytes, GatewayError> {
    enabled(runtime)?;
    let range = range(&params(query, &["range"])?)?;
    let handle = store(gateway)?;
    let summaries = gateway.dashboard();
    if let Some(body) = summaries.fresh(range.name()) {
        return Ok(body);
    }
    let _turn = summaries.computing.lock().await;
    // Another request may have computed it while this one waited.
    if let Some(body) = summaries.fresh(range.name()) {
        return Ok(body);
    }
    let now_ms = i64::try_from(gateway.now_unix_ms()).unwrap_or(i64::MAX);
    let window = Window::of(range, now_ms);
    let store = handle.store.as_ref();
    // One query at a time: a pool connection stays free for the writer and feedback.
    let rollups = store
        .rollups(window.width_ms, window.since_ms, window.until_ms)
        .await
        .map_err(|e| store_failed(&e))?;
    let latencies = store
        .latency_sample(window.since_ms, window.until_ms, LATENCY_SAMPLE)
        .await
        .map_err(|e| store_failed(&e))?;
    let alerts = gateway.alerts().view(&runtime.config.alerts);
    let view = views::summary(SummaryInputs {
        window,
        store: store.backend(),
        now_ms,
        rollups,
        latencies,
        alerts_enabled: alerts.enabled,
        alerts: alerts.alerts,
        experiments: summaries.experiments(gateway, range, &window),
    });
    let body = serde_json::to_vec(&view)
        .map(axum::body::Bytes::from)
        .map_err(|err| GatewayError::Internal(format!("the summary did not serialise: {err}")))?;
    summaries.keep(range.name(), body.clone());
    Ok(body)
}

impl Summaries {
    fn fresh(&self, range: &'static str) -> Option<axum::body::Bytes> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent
            .get(range)
            .filter(|(at, _)| at.elapsed() < SUMMARY_TTL)
            .map(|(_, body)| body.clone())
    }

    fn keep(&self, range: &'static str, body: axum::body::Bytes) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.insert(range, (Instant::now(), body));
    }

    /// The experiments' reports over the range as last computed; recomputed in the
    /// background when older than [`EXPERIMENTS_TTL`] or for another range, so that no
    /// summary waits on a scan of every experiment record.
    fn experiments(
        &self,
        gateway: &Gateway,
        range: Range,
        window: &Window,
    ) -> Vec<ExperimentReport> {
        let runtime = gateway.runtime();
        if runtime.config.experiments.is_empty() {
            return Vec::new();
        }
        let (reports, stale) = {
            let cached = self.experiments.lock().unwrap_or_else(|p| p.into_inner());
            match &*cached {
                Some((at, name, reports)) if *name == range.name() => {
                    (reports.clone(), at.elapsed() >= EXPERIMENTS_TTL)
                }
                Some((_, _, reports)) => (reports.clone(), true),
                None => (Vec::new(), true),
            }
        };
        if stale && !self.refreshing_experiments.swap(true, Ordering::AcqRel) {
            let gateway = gateway.downgrade();
            let window = *window;
            tokio::spawn(async move {
                let Some(gateway) = gateway.upgrade() else {
                    return;
                };
                let reports = compute_experiments(&gateway, &window).await;
                let summaries = gateway.dashboard();
                if let Some(reports) = reports {
                    let mut cached = summaries
                        .experiments
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    *cached = Some((Instant::now(), range.name(), reports));
                }
                summaries
                    .refreshing_experiments
                    .store(false, Ordering::Release);
            });
        }
        reports
    }
}

/// Every configured experiment's report over `window`; `None` when the store failed (logged).
async fn compute_experiments(gateway: &Gateway, window: &Window) -> Option<Vec<ExperimentReport>> {
    let runtime = gateway.runtime();
    let handle = gateway.store()?;
    let mut reports = Vec::new();
    for experiment in &runtime.config.experiments {
        let report = experiment_report(
            handle.store.as_ref(),
            &runtime.config,
            experiment,
            Some(window.since_ms),
            Some(window.until_ms),
        )
        .await;
        match report {
            Ok(report) => reports.push(report),
            Err(err) => {
                tracing::warn!(experiment = %experiment.name, error = %err, "the dashboard could not report on an experiment");
                return None;
            }
        }
    }
    Some(reports)
}

/// `GET /v1/dashboard/decisions`.
pub async fn decisions(gateway: &Gateway, runtime: &Runtime, query: Option<&str>) -> Response {
    match decision_page(gateway, runtime, query).await {
        Ok(page) => axum::Json(page).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn decision_page(
    gateway: &Gateway,
    runtime: &Runtime,
    query: Option<&str>,
) -> Result<DecisionPage, GatewayError> {
    enabled(runtime)?;
    let params = params(query, &["range", "limit", "before"])?;
    let range = range(&params)?;
    let limit = match params.get("limit") {
        None => 50,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| GatewayError::BadRequest {
                message: format!(
                    "`{text}` is not a page size: use a whole number from 1 to {MAX_PAGE}"
                ),
                param: Some("limit".to_owned()),
            })?,
    };
    let before = match params.get("before") {
        None => None,
        Some(text) => Some(views::parse_cursor(text).ok_or_else(|| GatewayError::BadRequest {
            message: format!(
                "`{text}` is not a paging cursor: pass the `next_before` of the previous page as it is"
            ),
            param: Some("before".to_owned()),
        })?),
    };
    let handle = store(gateway)?;
    let now_ms = i64::try_from(gateway.now_unix_ms()).unwrap_or(i64::MAX);
    let window = Window::of(range, now_ms);
    // One more than asked: whether there is a next page.
    let mut rows = handle
        .store
        .recent(&RecentQuery {
            since_unix_ms: Some(window.since_ms),
            until_unix_ms: Some(window.until_ms),
            before,
            limit: limit + 1,
        })
        .await
        .map_err(|e| store_failed(&e))?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_before = rows
        .last()
        .filter(|_| more)
        .map(|last| views::cursor(&last.record));
    let decisions = rows
        .into_iter()
        .map(|scored| {
            let body = serde_json::from_str(&scored.record.body).unwrap_or_default();
            DecisionView::of(scored.record, scored.score, &body)
        })
        .collect();
    Ok(DecisionPage {
        decisions,
        next_before,
    })
}

/// `GET /v1/dashboard/decisions/{request_id}`.
pub async fn decision(gateway: &Gateway, runtime: &Runtime, request_id: &str) -> Response {
    match decision_detail(gateway, runtime, request_id).await {
        Ok(detail) => axum::Json(detail).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn decision_detail(
    gateway: &Gateway,
    runtime: &Runtime,
    request_id: &str,
) -> Result<DecisionDetail, GatewayError> {
    enabled(runtime)?;
    let handle = store(gateway)?;
    let store = handle.store.as_ref();
    let record = store
        .record(request_id)
        .await
        .map_err(|e| store_failed(&e))?
        .ok_or_else(|| GatewayError::NotFound {
            code: "decision_not_found",
            message: format!(
                "no decision `{request_id}` is stored: it may be older than the store keeps, or still queued for writing (records are written within a second)"
            ),
        })?;
    let feedback = store
        .feedback(request_id)
        .await
        .map_err(|e| store_failed(&e))?;
    let score = feedback.last().map(|f| f.score);
    let body: serde_json::Value = serde_json::from_str(&record.body).unwrap_or_default();
    Ok(DecisionDetail {
        decision: DecisionView::of(record, score, &body),
        record: body,
        feedback: feedback.into_iter().map(FeedbackView::of).collect(),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn record() -> routewise_store::DecisionRecord {
        routewise_store::DecisionRecord {
            request_id: "r".into(),
            created_unix_ms: 0,
            key_name: None,
            route: None,
            policy: None,
            reason: None,
            experiment: None,
            arm: None,
            model: None,
            tier: None,
            propensity: 1.0,
            outcome: "ok".into(),
            status: 200,
            prompt_tokens: 0,
            completion_tokens: 0,
            cost_usd: 0.0,
            baseline_cost_usd: 0.0,
            latency_ms: 0.0,
            overhead_ms: 0.0,
            fingerprint: None,
            prompt_hash: None,
            prompt: None,
            upgraded_by: None,
            fallback: false,
            body: "{}".into(),
        }
    }

    #[test]
    fn unknown_and_malformed_parameters_are_refused_by_name() {
        let err = params(Some("range=1h&colour=red"), &["range"]).unwrap_err();
        assert!(err.to_string().contains("`colour`"), "{err}");
        assert_eq!(err.status(), axum::http::StatusCode::BAD_REQUEST);
        let found = params(Some("range=7d"), &["range"]).unwrap();
        assert_eq!(range(&found).unwrap(), Range::Week);
        let bad = params(Some("range=2h"), &["range"]).unwrap();
        assert!(
            range(&bad)
                .unwrap_err()
                .to_string()
                .contains("1h, 6h, 24h, 7d, 30d")
        );
        assert_eq!(range(&HashMap::new()).unwrap(), Range::Day);
    }
}
