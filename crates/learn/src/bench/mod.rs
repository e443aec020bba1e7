//! Benchmark records: one labelled prompt with every model's quality (and optionally cost) on it,
//! and the pure parser for one JSONL line of routewise's benchmark format.
//!
//! Reading files (plain or gzip) is I/O and lives in `routewise-data`; this module only turns a
//! line of text into a validated [`BenchmarkRecord`], so pure code (metrics, training) can share
//! the type.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One prompt of a routing benchmark and how every model did on it.
///
/// Invariants (checked by [`parse_line`]): `scores` is non-empty and every score is a finite
/// number in `[0, 1]`; every cost is finite and non-negative.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkRecord {
    /// Unique across all files of a data set.
    pub id: String,
    /// The benchmark it comes from (`mmlu`, `routerbench`, `llmrouter-dc`, ...).
    pub benchmark: String,
    /// Subject or task; the unit of grouping for leakage-free splits.
    pub category: String,
    /// What the user sent.
    pub prompt: String,
    /// Quality of each model's answer, in `[0, 1]`.
    pub scores: BTreeMap<String, f64>,
    /// Real per-prompt cost in USD, where the benchmark recorded it; otherwise prices x tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub costs: Option<BTreeMap<String, f64>>,
    /// File-specific extras (splits, turn counts); unknown keys are kept but never interpreted.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub meta: serde_json::Map<String, serde_json::Value>,
}

/// Why a benchmark line was rejected. The file reader adds the file name and line number.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(
        "not a valid benchmark record: {0} (expected {{\"id\", \"benchmark\", \"category\", \"prompt\", \"scores\": {{model: 0..1}}}})"
    )]
    Json(#[from] serde_json::Error),
    #[error("record {id:?} has no scores: list at least one model's score")]
    NoScores { id: String },
    #[error("record {id:?}: score of {model:?} is {value}, but scores must lie in [0, 1]")]
    ScoreOutOfRange {
        id: String,
        model: String,
        value: f64,
    },
    #[error("record {id:?}: cost of {model:?} is {value}, but costs must be finite USD >= 0")]
    BadCost {
        id: String,
        model: String,
        value: f64,
    },
}

/// Parses and validates one JSONL line. Unknown top-level keys are ignored, so the format can
/// grow without breaking old readers.
pub fn parse_line(line: &str) -> Result<BenchmarkRecord, RecordError> {
    let record: BenchmarkRecord = serde_json::from_str(line)?;
    validate(&record)?;
    Ok(record)
}

fn validate(record: &BenchmarkRecord) -> Result<(), RecordError> {
    if record.scores.is_empty() {
        return Err(RecordError::NoScores {
            id: record.id.clone(),
        });
    }
    for (model, &value) in &record.scores {
        if !(0.0..=1.0).contains(&value) {
            return Err(RecordError::ScoreOutOfRange {
                id: record.id.clone(),
                model: model.clone(),
                value,
            });
        }
    }
    for (model, &value) in record.costs.iter().flatten() {
        if !value.is_finite() || value < 0.0 {
            return Err(RecordError::BadCost {
                id: record.id.clone(),
                model: model.clone(),
                value,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MMLU_LINE: &str = r#"{"id": "mmlu/x/0", "benchmark": "mmlu", "category": "x", "prompt": "2+2?", "scores": {"weak": 0.0, "strong": 1.0}}"#;

    #[test]
    fn parses_a_minimal_record_without_costs_or_meta() {
        let record = parse_line(MMLU_LINE).unwrap();
        assert_eq!(record.id, "mmlu/x/0");
        assert_eq!(record.category, "x");
        assert_eq!(record.scores["strong"], 1.0);
        assert!(record.costs.is_none());
        assert!(record.meta.is_empty());
    }

    #[test]
    fn keeps_costs_and_meta_and_ignores_unknown_keys() {
        let line = r#"{"id": "r/1", "benchmark": "routerbench", "category": "arc", "prompt": "p",
            "scores": {"a": 1.0}, "costs": {"a": 0.002}, "meta": {"split": "train", "n": 1},
            "future_key": [1, 2]}"#;
        let record = parse_line(line).unwrap();
        assert_eq!(record.costs.unwrap()["a"], 0.002);
        assert_eq!(record.meta["split"], "train");
    }

    #[test]
    fn rejects_out_of_range_scores_and_negative_costs() {
        let bad_score = MMLU_LINE.replace("1.0", "1.5");
        assert!(matches!(
            parse_line(&bad_score),
            Err(RecordError::ScoreOutOfRange { .. })
        ));
        let bad_cost = r#"{"id": "r", "benchmark": "b", "category": "c", "prompt": "p", "scores": {"a": 1.0}, "costs": {"a": -1.0}}"#;
        assert!(matches!(
            parse_line(bad_cost),
            Err(RecordError::BadCost { .. })
        ));
    }

    #[test]
    fn rejects_missing_fields_and_empty_scores() {
        assert!(matches!(
            parse_line(r#"{"id": "a", "prompt": "p"}"#),
            Err(RecordError::Json(_))
        ));
        let empty =
            r#"{"id": "r", "benchmark": "b", "category": "c", "prompt": "p", "scores": {}}"#;
        assert!(matches!(
            parse_line(empty),
            Err(RecordError::NoScores { .. })
        ));
        assert!(matches!(parse_line("not json"), Err(RecordError::Json(_))));
    }
}
