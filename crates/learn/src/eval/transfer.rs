//! Leave-one-benchmark-out: the protocol for traffic of a kind a router has never seen. Each
//! benchmark in turn is held out; a trainable router learns from every other benchmark and is
//! scored on the held-out one, on that benchmark's weak/strong pair.
//!
//! Benchmarks score different models, so training sees each one through its own pair, with the
//! models renamed to their roles ([`WEAK_ROLE`], [`STRONG_ROLE`]): what a router learns is "when
//! does the weak side of a pair fall short", the question every held-out pair asks again.

use std::collections::BTreeMap;

use crate::bench::BenchmarkRecord;

/// The name the weak model of a pair takes in role records.
pub const WEAK_ROLE: &str = "weak";
/// The name the strong model of a pair takes in role records.
pub const STRONG_ROLE: &str = "strong";

/// One fold: a benchmark held out, and the records (indices into the data) of every other one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferFold {
    pub held_out: String,
    /// Every record of another benchmark: what a router may learn from.
    pub train: Vec<usize>,
    /// Every record of the held-out benchmark: what it is scored on.
    pub test: Vec<usize>,
}

/// Why the protocol cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    #[error(
        "leave-one-benchmark-out needs records of at least 2 benchmarks, found {found:?}: pass \
         the files of several benchmarks (their records' `benchmark` field tells them apart)"
    )]
    TooFewBenchmarks { found: Vec<String> },
    #[error("no benchmark is called {name:?}; the data holds {known:?}")]
    UnknownBenchmark { name: String, known: Vec<String> },
}

/// One fold per benchmark (by name, in name order), or only `only`'s when given.
pub fn leave_one_benchmark_out(
    benchmarks: &[&str],
    only: Option<&str>,
) -> Result<Vec<TransferFold>, TransferError> {
    let mut members: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (index, name) in benchmarks.iter().enumerate() {
        members.entry(name).or_default().push(index);
    }
    let known: Vec<String> = members.keys().map(|n| (*n).to_owned()).collect();
    if members.len() < 2 {
        return Err(TransferError::TooFewBenchmarks { found: known });
    }
    if let Some(name) = only
        && !members.contains_key(name)
    {
        return Err(TransferError::UnknownBenchmark {
            name: name.to_owned(),
            known,
        });
    }
    Ok(members
        .iter()
        .filter(|(name, _)| only.is_none_or(|o| o == **name))
        .map(|(name, test)| TransferFold {
            held_out: (*name).to_owned(),
            train: (0..benchmarks.len())
                .filter(|&i| benchmarks[i] != *name)
                .collect(),
            test: test.clone(),
        })
        .collect())
}

/// `record` seen through its benchmark's pair: only the two models' scores (and costs), named
/// by role. `None` when the record does not score both.
pub fn role_record(record: &BenchmarkRecord, weak: &str, strong: &str) -> Option<BenchmarkRecord> {
    let pick = |values: &BTreeMap<String, f64>| -> Option<BTreeMap<String, f64>> {
        Some(BTreeMap::from([
            (WEAK_ROLE.to_owned(), *values.get(weak)?),
            (STRONG_ROLE.to_owned(), *values.get(strong)?),
        ]))
    };
    Some(BenchmarkRecord {
        scores: pick(&record.scores)?,
        costs: record.costs.as_ref().and_then(pick),
        ..record.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn record(id: &str, benchmark: &str) -> BenchmarkRecord {
        BenchmarkRecord {
            id: id.to_owned(),
            benchmark: benchmark.to_owned(),
            category: format!("{benchmark}-subject"),
            prompt: format!("prompt {id}"),
            scores: BTreeMap::from([
                ("a".to_owned(), 0.0),
                ("b".to_owned(), 1.0),
                ("c".to_owned(), 0.5),
            ]),
            costs: None,
            meta: serde_json::Map::new(),
        }
    }

    proptest! {
        /// No leakage: a held-out benchmark's records never reach its own training side, every
        /// other record does, and each benchmark is held out exactly once.
        #[test]
        fn a_benchmark_never_trains_its_own_fold(names in prop::collection::vec(0u8..4, 2..60)) {
            let names: Vec<String> = names.iter().map(|n| format!("bench{n}")).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let mut distinct = refs.clone();
            distinct.sort_unstable();
            distinct.dedup();
            match leave_one_benchmark_out(&refs, None) {
                Err(TransferError::TooFewBenchmarks { .. }) => prop_assert!(distinct.len() < 2),
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
                Ok(folds) => {
                    prop_assert_eq!(folds.len(), distinct.len());
                    for fold in &folds {
                        prop_assert!(fold.train.iter().all(|&i| refs[i] != fold.held_out));
                        prop_assert!(fold.test.iter().all(|&i| refs[i] == fold.held_out));
                        prop_assert_eq!(fold.train.len() + fold.test.len(), refs.len());
                    }
                }
            }
        }
    }

    #[test]
    fn one_fold_can_be_asked_for_by_name() {
        let folds = leave_one_benchmark_out(&["x", "y", "x", "z"], Some("x")).unwrap();
        assert_eq!(
            folds,
            vec![TransferFold {
                held_out: "x".into(),
                train: vec![1, 3],
                test: vec![0, 2],
            }]
        );
        assert_eq!(
            leave_one_benchmark_out(&["x", "y"], Some("w")).unwrap_err(),
            TransferError::UnknownBenchmark {
                name: "w".into(),
                known: vec!["x".into(), "y".into()],
            }
        );
        assert!(matches!(
            leave_one_benchmark_out(&["x", "x"], None),
            Err(TransferError::TooFewBenchmarks { .. })
        ));
    }

    #[test]
    fn role_records_keep_only_the_pair_under_role_names() {
        let roles = role_record(&record("1", "m"), "c", "b").unwrap();
        assert_eq!(
            roles.scores,
            BTreeMap::from([(WEAK_ROLE.into(), 0.5), (STRONG_ROLE.into(), 1.0)])
        );
        assert!(role_record(&record("1", "m"), "c", "missing").is_none());
    }
}
