//! The JSON the dashboard API answers with (documented in docs/DASHBOARD.md), built from the
//! store's rows and the core's summary arithmetic. Field names are a contract: the page and
//! scripts read them.

use crate::alerts::AlertView;
use routewise_core::dashboard::{Cell, Mix, Percentiles, Summary, Tally, Window, summarize};
use routewise_store::{DecisionRecord, FeedbackRecord, LatencySample, RollupRow};
use serde::Serialize;

/// What a record without a model (refused before routing) is listed as.
const NO_MODEL: &str = "(none)";

#[derive(Debug, Serialize)]
pub struct SummaryView {
    pub range: Window,
    pub store: &'static str,
    pub generated_ms: i64,
    pub totals: TotalsView,
    pub series: Vec<PointView>,
    pub models: Vec<ModelMixView>,
    pub reasons: Vec<ReasonMixView>,
    pub quality: Vec<QualityView>,
    pub latency: LatencyView,
    pub alerts_enabled: bool,
    pub alerts: Vec<AlertView>,
    pub experiments: Vec<crate::experiments_report::ExperimentReport>,
}

#[derive(Debug, Serialize)]
pub struct TotalsView {
    pub requests: i64,
    pub errors: i64,
    pub fallbacks: i64,
    pub cache_hits: i64,
    pub cost_usd: f64,
    pub baseline_cost_usd: f64,
    pub savings_usd: f64,
    /// Savings as a share of the baseline (0 without a baseline).
    pub savings_share: f64,
    pub cost_per_request_usd: f64,
    pub error_rate: f64,
    pub fallback_rate: f64,
}

impl TotalsView {
    fn of(t: &Tally) -> Self {
        let savings_usd = t.baseline_cost_usd - t.cost_usd;
        TotalsView {
            requests: t.requests,
            errors: t.errors,
            fallbacks: t.fallbacks,
            cache_hits: t.cache_hits,
            cost_usd: t.cost_usd,
            baseline_cost_usd: t.baseline_cost_usd,
            savings_usd,
            savings_share: if t.baseline_cost_usd > 0.0 {
                savings_usd / t.baseline_cost_usd
            } else {
                0.0
            },
            cost_per_request_usd: t.per_request(t.cost_usd),
            error_rate: t.per_request(t.errors as f64),
            fallback_rate: t.per_request(t.fallbacks as f64),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PointView {
    pub start_ms: i64,
    pub requests: i64,
    pub errors: i64,
    pub fallbacks: i64,
    pub cost_usd: f64,
    pub baseline_cost_usd: f64,
}

#[derive(Debug, Serialize)]
pub struct ModelMixView {
    pub model: String,
    pub requests: i64,
    pub share: f64,
    pub cost_usd: f64,
    pub cost_per_request_usd: f64,
    pub series: Vec<i64>,
}

#[derive(Debug, Serialize)]
pub struct ReasonMixView {
    pub reason: String,
    pub requests: i64,
    pub share: f64,
    pub series: Vec<i64>,
}

#[derive(Debug, Serialize)]
pub struct QualityView {
    pub model: String,
    pub ratings: i64,
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

#[derive(Debug, Serialize)]
pub struct LatencyView {
    /// Requests the percentiles come from (the newest of the range).
    pub sampled: usize,
    /// Requests in the range.
    pub of: i64,
    pub latency_ms: Option<Percentiles>,
    pub overhead_ms: Option<Percentiles>,
}

/// What the store gave for one summary.
#[derive(Debug)]
pub struct SummaryInputs {
    pub window: Window,
    pub store: &'static str,
    pub now_ms: i64,
    pub rollups: Vec<RollupRow>,
    pub latencies: Vec<LatencySample>,
    pub alerts_enabled: bool,
    pub alerts: Vec<AlertView>,
    pub experiments: Vec<crate::experiments_report::ExperimentReport>,
}

pub fn summary(inputs: SummaryInputs) -> SummaryView {
    let cells = inputs.rollups.iter().map(|row| Cell {
        bucket_ms: row.bucket_ms,
        model: if row.model.is_empty() {
            NO_MODEL
        } else {
            &row.model
        },
        reason: if row.reason.is_empty() {
            NO_MODEL
        } else {
            &row.reason
        },
        tally: Tally {
            requests: row.requests,
            errors: row.errors,
            fallbacks: row.fallbacks,
            cache_hits: row.cache_hits,
            cost_usd: row.cost_usd,
            baseline_cost_usd: row.baseline_cost_usd,
            ratings: row.ratings,
            score_sum: row.score_sum,
            score_sq_sum: row.score_sq_sum,
        },
    });
    let Summary {
        totals,
        series,
        models,
        reasons,
    } = summarize(&inputs.window, cells);
    let share = |requests: i64| totals.per_request(requests as f64);
    let quality = quality(&models);
    SummaryView {
        range: inputs.window,
        store: inputs.store,
        generated_ms: inputs.now_ms,
        totals: TotalsView::of(&totals),
        series: series
            .iter()
            .map(|(start_ms, t)| PointView {
                start_ms: *start_ms,
                requests: t.requests,
                errors: t.errors,
                fallbacks: t.fallbacks,
                cost_usd: t.cost_usd,
                baseline_cost_usd: t.baseline_cost_usd,
            })
            .collect(),
        models: models
            .into_iter()
            .map(|m| ModelMixView {
                share: share(m.tally.requests),
                requests: m.tally.requests,
                cost_usd: m.tally.cost_usd,
                cost_per_request_usd: m.tally.per_request(m.tally.cost_usd),
                model: m.name,
                series: m.series,
            })
            .collect(),
        reasons: reasons
            .into_iter()
            .map(|r| ReasonMixView {
                share: share(r.tally.requests),
                requests: r.tally.requests,
                reason: r.name,
                series: r.series,
            })
            .collect(),
        quality,
        latency: latency(&inputs.latencies, totals.requests),
        alerts_enabled: inputs.alerts_enabled,
        alerts: inputs.alerts,
        experiments: inputs.experiments,
    }
}

/// Each rated model's mean latest score, most requests first.
fn quality(models: &[Mix]) -> Vec<QualityView> {
    models
        .iter()
        .filter_map(|m| {
            let interval = m.tally.quality()?;
            Some(QualityView {
                model: m.name.clone(),
                ratings: m.tally.ratings,
                mean: interval.mean,
                low: interval.low,
                high: interval.high,
            })
        })
        .collect()
}

fn latency(samples: &[LatencySample], of: i64) -> LatencyView {
    LatencyView {
        sampled: samples.len(),
        of,
        latency_ms: Percentiles::of(samples.iter().map(|s| s.latency_ms).collect()),
        overhead_ms: Percentiles::of(samples.iter().map(|s| s.overhead_ms).collect()),
    }
}

/// One decision as the recent-decisions table lists it.
#[derive(Debug, Serialize)]
pub struct DecisionView {
    pub request_id: String,
    pub created_ms: i64,
    pub model: Option<String>,
    pub tier: Option<i64>,
    pub route: Option<String>,
    pub policy: Option<String>,
    pub reason: Option<String>,
    /// The decision's sentence (`decision.detail` of the record), or "" when it has none.
    pub explanation: String,
    pub cost_usd: f64,
    pub baseline_cost_usd: f64,
    pub latency_ms: f64,
    pub status: i64,
    pub outcome: String,
    pub fallback: bool,
    pub key_name: Option<String>,
    pub score: Option<f64>,
}

impl DecisionView {
    pub fn of(record: DecisionRecord, score: Option<f64>, body: &serde_json::Value) -> Self {
        let explanation = body
            .pointer("/decision/detail")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        DecisionView {
            request_id: record.request_id,
            created_ms: record.created_unix_ms,
            model: record.model,
            tier: record.tier,
            route: record.route,
            policy: record.policy,
            reason: record.reason,
            explanation,
            cost_usd: record.cost_usd,
            baseline_cost_usd: record.baseline_cost_usd,
            latency_ms: record.latency_ms,
            status: record.status,
            outcome: record.outcome,
            fallback: record.fallback,
            key_name: record.key_name,
            score,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DecisionPage {
    pub decisions: Vec<DecisionView>,
    /// Pass as `before` for the next page; `null` on the last.
    pub next_before: Option<String>,
}

/// One decision whole: its row, its log line, its feedback.
#[derive(Debug, Serialize)]
pub struct DecisionDetail {
    pub decision: DecisionView,
    pub record: serde_json::Value,
    pub feedback: Vec<FeedbackView>,
}

#[derive(Debug, Serialize)]
pub struct FeedbackView {
    pub id: String,
    pub created_ms: i64,
    pub score: f64,
    pub source: &'static str,
    pub comment: Option<String>,
}

impl FeedbackView {
    pub fn of(feedback: FeedbackRecord) -> Self {
        FeedbackView {
            id: feedback.id,
            created_ms: feedback.created_unix_ms,
            score: feedback.score,
            source: feedback.source.as_str(),
            comment: feedback.comment,
        }
    }
}

/// The paging cursor of a record: `created_ms.request_id`.
pub fn cursor(record: &DecisionRecord) -> String {
    format!("{}.{}", record.created_unix_ms, record.request_id)
}

/// A cursor back into (created, request id); `None` when it is not one.
pub fn parse_cursor(text: &str) -> Option<(i64, String)> {
    let (created, id) = text.split_once('.')?;
    Some((created.parse().ok()?, id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_cursor_parses_back_to_its_record(created in any::<i64>(), id in ".{0,40}") {
            let record = DecisionRecord {
                request_id: id.clone(),
                created_unix_ms: created,
                ..crate::dashboard::api::tests::record()
            };
            prop_assert_eq!(parse_cursor(&cursor(&record)), Some((created, id)));
        }
    }

    #[test]
    fn bad_cursors_are_refused() {
        assert_eq!(parse_cursor("abc"), None);
        assert_eq!(parse_cursor("x.y"), None);
        assert_eq!(parse_cursor(""), None);
    }
}
