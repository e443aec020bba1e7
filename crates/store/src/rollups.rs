//! The dashboard's rollups: what one decision record adds to its minute and hour buckets
//! (requests, errors, fallbacks, cache hits, spend, baseline, and its latest feedback score),
//! and the deltas a write makes. A record written again under the same request id, or rated
//! again, first takes its old contribution out, so the rollups always equal a sum over the
//! `decisions` table and each record's latest feedback.

use crate::records::DecisionRecord;
use std::collections::BTreeMap;

/// The bucket widths kept: minutes and hours.
pub const WIDTHS_MS: [i64; 2] = [60_000, 3_600_000];

/// The totals of one bucket for one (model, reason). `model` and `reason` are empty where a
/// record has none (a request refused before routing).
#[derive(Debug, Clone, PartialEq)]
pub struct RollupRow {
    pub width_ms: i64,
    pub bucket_ms: i64,
    pub model: String,
    pub reason: String,
    pub requests: i64,
    /// Requests answered with a 5xx or whose stream broke (the migration's backfill counts
    /// the same way).
    pub errors: i64,
    /// Requests served by another model than the first one called.
    pub fallbacks: i64,
    pub cache_hits: i64,
    pub cost_usd: f64,
    pub baseline_cost_usd: f64,
    /// Rated requests (their latest feedback counts), and the sums of those scores and of
    /// their squares.
    pub ratings: i64,
    pub score_sum: f64,
    pub score_sq_sum: f64,
}

/// What a record counts for, as read back from the table or about to be written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Contribution {
    pub created_ms: i64,
    pub model: String,
    pub reason: String,
    pub status: i64,
    pub outcome: String,
    pub fallback: bool,
    pub cost_usd: f64,
    pub baseline_cost_usd: f64,
    /// Its latest feedback score, if it was rated.
    pub score: Option<f64>,
}

impl Contribution {
    /// `record`'s contribution, rated `score`.
    pub fn of(record: &DecisionRecord, score: Option<f64>) -> Self {
        Contribution {
            created_ms: record.created_unix_ms,
            model: record.model.clone().unwrap_or_default(),
            reason: record.reason.clone().unwrap_or_default(),
            status: record.status,
            outcome: record.outcome.clone(),
            fallback: record.fallback,
            cost_usd: record.cost_usd,
            baseline_cost_usd: record.baseline_cost_usd,
            score,
        }
    }

    fn is_error(&self) -> bool {
        self.status >= 500 || self.outcome == "stream_error"
    }
}

type Key = (i64, i64, String, String);

/// The rows to add to the rollups: `added` minus `removed`, per bucket of every width. Rows
/// that net to nothing are left out.
pub(crate) fn deltas(removed: &[Contribution], added: &[Contribution]) -> Vec<RollupRow> {
    let mut rows: BTreeMap<Key, RollupRow> = BTreeMap::new();
    for (sign, contributions) in [(-1, removed), (1, added)] {
        for c in contributions {
            for width_ms in WIDTHS_MS {
                let bucket_ms = c.created_ms.div_euclid(width_ms) * width_ms;
                let key = (width_ms, bucket_ms, c.model.clone(), c.reason.clone());
                let row = rows.entry(key).or_insert_with(|| RollupRow {
                    width_ms,
                    bucket_ms,
                    model: c.model.clone(),
                    reason: c.reason.clone(),
                    requests: 0,
                    errors: 0,
                    fallbacks: 0,
                    cache_hits: 0,
                    cost_usd: 0.0,
                    baseline_cost_usd: 0.0,
                    ratings: 0,
                    score_sum: 0.0,
                    score_sq_sum: 0.0,
                });
                row.requests += sign;
                row.errors += sign * i64::from(c.is_error());
                row.fallbacks += sign * i64::from(c.fallback);
                row.cache_hits += sign * i64::from(c.outcome == "cache_hit");
                let weight = sign as f64;
                row.cost_usd += weight * c.cost_usd;
                row.baseline_cost_usd += weight * c.baseline_cost_usd;
                if let Some(score) = c.score {
                    row.ratings += sign;
                    row.score_sum += weight * score;
                    row.score_sq_sum += weight * score * score;
                }
            }
        }
    }
    rows.into_values()
        .filter(|r| {
            r.requests != 0
                || r.errors != 0
                || r.fallbacks != 0
                || r.cache_hits != 0
                || r.cost_usd != 0.0
                || r.baseline_cost_usd != 0.0
                || r.ratings != 0
                || r.score_sum != 0.0
                || r.score_sq_sum != 0.0
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn contribution(created_ms: i64, model: &str, status: i64, cost_usd: f64) -> Contribution {
        Contribution {
            created_ms,
            model: model.to_owned(),
            reason: "rule:x".to_owned(),
            status,
            outcome: if status >= 500 { "error" } else { "ok" }.to_owned(),
            fallback: false,
            cost_usd,
            baseline_cost_usd: 2.0 * cost_usd,
            score: None,
        }
    }

    #[test]
    fn a_record_counts_once_in_its_minute_and_its_hour() {
        let rows = deltas(&[], &[contribution(3_661_000, "m", 502, 0.5)]);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].width_ms, rows[0].bucket_ms), (60_000, 3_660_000));
        assert_eq!(
            (rows[1].width_ms, rows[1].bucket_ms),
            (3_600_000, 3_600_000)
        );
        for row in &rows {
            assert_eq!((row.requests, row.errors), (1, 1));
            assert!((row.baseline_cost_usd - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn a_new_rating_replaces_the_old_one_and_nothing_else() {
        let old = Contribution {
            score: Some(0.2),
            ..contribution(1_000, "m", 200, 0.25)
        };
        let new = Contribution {
            score: Some(0.9),
            ..old.clone()
        };
        let rows = deltas(&[old], &[new]);
        assert_eq!(rows.len(), 2);
        for row in rows {
            assert_eq!((row.requests, row.ratings), (0, 0));
            assert!((row.score_sum - 0.7).abs() < 1e-12);
            assert!(row.cost_usd.abs() < 1e-12);
        }
        let first = contribution(1_000, "m", 200, 0.25);
        let rated = Contribution {
            score: Some(1.0),
            ..first.clone()
        };
        assert!(
            deltas(&[first], &[rated])
                .iter()
                .all(|r| r.ratings == 1 && r.requests == 0)
        );
    }

    #[test]
    fn rewriting_a_record_the_same_changes_nothing() {
        let old = contribution(1_000, "m", 200, 0.25);
        assert!(deltas(std::slice::from_ref(&old), std::slice::from_ref(&old)).is_empty());
    }

    proptest! {
        /// Whatever is rewritten, the rollups equal a sum over the records that remain.
        #[test]
        fn rollups_equal_the_sum_over_the_final_records(
            writes in proptest::collection::vec((0usize..6, 0i64..10_000_000, 0usize..3, 0u8..2), 1..40),
        ) {
            let models = ["a", "b", "c"];
            let mut table: BTreeMap<usize, Contribution> = BTreeMap::new();
            let mut rollups: BTreeMap<Key, (i64, i64)> = BTreeMap::new();
            for (id, created_ms, model, failed) in writes {
                let new = contribution(created_ms, models[model], if failed == 1 { 503 } else { 200 }, 1.0);
                let old: Vec<Contribution> = table.insert(id, new.clone()).into_iter().collect();
                for row in deltas(&old, &[new]) {
                    let entry = rollups.entry((row.width_ms, row.bucket_ms, row.model, row.reason)).or_default();
                    entry.0 += row.requests;
                    entry.1 += row.errors;
                }
            }
            rollups.retain(|_, v| *v != (0, 0));
            let expected: Vec<Contribution> = table.into_values().collect();
            let mut want: BTreeMap<Key, (i64, i64)> = BTreeMap::new();
            for row in deltas(&[], &expected) {
                want.insert((row.width_ms, row.bucket_ms, row.model, row.reason), (row.requests, row.errors));
            }
            prop_assert_eq!(rollups, want);
        }
    }
}
