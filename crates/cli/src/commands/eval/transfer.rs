//! `routewise eval --holdout-benchmark`: leave-one-benchmark-out. Each benchmark of the data is
//! held out in turn; trainable policies learn from every other benchmark (each seen through its
//! own weak/strong pair, models renamed to their roles) and every policy is scored on the
//! held-out benchmark's pair. The honest figure for a user's first week of traffic.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use routewise_learn::bench::BenchmarkRecord;
use routewise_learn::eval::PolicySummary;
use routewise_learn::eval::transfer::{leave_one_benchmark_out, role_record};
use serde::Serialize;

use super::dataset::{EvalData, Prices, cheapest_best_model};
use super::policies::{self, PolicyName, Settings};

/// What the protocol needs beyond the data.
pub struct TransferRun<'a> {
    pub prices: &'a Prices,
    pub output_tokens: u64,
    /// The pair asked for with `--weak`/`--strong`, used on every benchmark that scores both.
    pub weak: Option<&'a str>,
    pub strong: Option<&'a str>,
    /// Hold out only this benchmark.
    pub only: Option<&'a str>,
    pub settings: &'a Settings,
}

/// The protocol's results (the `--json` output; keys are stable).
#[derive(Debug, Serialize)]
pub struct TransferReport {
    pub protocol: &'static str,
    /// The price catalog that costed prompts from tokens, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prices: Option<String>,
    pub benchmarks: Vec<HeldOut>,
}

/// One held-out benchmark.
#[derive(Debug, Serialize)]
pub struct HeldOut {
    pub benchmark: String,
    pub prompts: usize,
    pub categories: usize,
    /// The benchmarks trainable policies learned from, and how many prompts they hold.
    pub trained_on: Vec<String>,
    pub train_prompts: usize,
    pub weak: String,
    pub strong: String,
    pub weak_quality: f64,
    pub strong_quality: f64,
    pub policies: Vec<PolicySummary>,
}

/// Runs every fold for every policy.
pub fn run(
    records: Vec<BenchmarkRecord>,
    names: &[PolicyName],
    run: &TransferRun<'_>,
) -> Result<TransferReport> {
    let per_benchmark = split_by_benchmark(records, run)?;
    let all: Vec<&str> = per_benchmark
        .iter()
        .flat_map(|(name, data)| std::iter::repeat_n(name.as_str(), data.records.len()))
        .collect();
    let folds = leave_one_benchmark_out(&all, run.only)?;
    // One role record per record, in the order of `all`: every record scores its benchmark's
    // pair (the pair is chosen among the models every record scores).
    let roles: Vec<BenchmarkRecord> = per_benchmark
        .values()
        .flat_map(|data| {
            let (weak, strong) = (&data.models[data.weak], &data.models[data.strong]);
            data.records.iter().map(move |record| {
                role_record(record, weak, strong)
                    .with_context(|| format!("record {:?} lacks its pair's scores", record.id))
            })
        })
        .collect::<Result<_>>()?;
    let mut benchmarks = Vec::with_capacity(folds.len());
    for fold in folds {
        let data = &per_benchmark[&fold.held_out];
        let train: Vec<&BenchmarkRecord> = fold.train.iter().map(|&i| &roles[i]).collect();
        let policies = names
            .iter()
            .map(|name| {
                policies::evaluate_transfer(name, data, &train, run.settings)
                    .map(|r| r.summary)
                    .with_context(|| format!("policy {name} with {} held out", fold.held_out))
            })
            .collect::<Result<Vec<_>>>()?;
        let pair = |m: usize| data.outcomes.single_model(m).quality;
        benchmarks.push(HeldOut {
            trained_on: per_benchmark
                .keys()
                .filter(|name| **name != fold.held_out)
                .cloned()
                .collect(),
            train_prompts: train.len(),
            prompts: data.records.len(),
            categories: data.categories(),
            weak: data.models[data.weak].clone(),
            strong: data.models[data.strong].clone(),
            weak_quality: pair(data.weak),
            strong_quality: pair(data.strong),
            benchmark: fold.held_out,
            policies,
        });
    }
    Ok(TransferReport {
        protocol: "leave-one-benchmark-out",
        prices: per_benchmark
            .values()
            .find_map(|data| data.prices_origin.clone()),
        benchmarks,
    })
}

/// Each benchmark's records as their own evaluation data, on its pair: the `--weak`/`--strong`
/// models where it scores them (a note says where it does not); else the first of the
/// benchmarks' own pairs, largest benchmark first, that it scores both models of (MMLU's
/// Mixtral -> GPT-4 is also RouterBench's), so benchmarks compare on one view where they can.
/// A benchmark's own pair is its cheapest model (the better among equally priced ones) and
/// its best other model.
fn split_by_benchmark(
    records: Vec<BenchmarkRecord>,
    run: &TransferRun<'_>,
) -> Result<BTreeMap<String, EvalData>> {
    let mut groups: BTreeMap<String, Vec<BenchmarkRecord>> = BTreeMap::new();
    for record in records {
        groups
            .entry(record.benchmark.clone())
            .or_default()
            .push(record);
    }
    let built: Vec<(String, EvalData)> = groups
        .into_iter()
        .map(|(name, records)| {
            let data = EvalData::build_unpaired(records, run.prices, run.output_tokens)
                .with_context(|| format!("in benchmark {name:?}"))?;
            Ok((name, data))
        })
        .collect::<Result<_>>()?;
    let mut by_size: Vec<&EvalData> = built.iter().map(|(_, d)| d).collect();
    by_size.sort_by_key(|d| std::cmp::Reverse(d.records.len()));
    let shared: Vec<(String, String)> = by_size
        .iter()
        .map(|d| {
            let (weak, strong) = own_pair(d);
            (d.models[weak].clone(), d.models[strong].clone())
        })
        .collect();
    built
        .into_iter()
        .map(|(name, data)| {
            let (weak, strong) = choose_pair(&name, &data, run, &shared);
            let data = data
                .with_pair(weak, strong)
                .with_context(|| format!("in benchmark {name:?}"))?;
            Ok((name, data))
        })
        .collect()
}

/// The pair of one benchmark (see [`split_by_benchmark`]).
fn choose_pair(
    name: &str,
    data: &EvalData,
    run: &TransferRun<'_>,
    shared: &[(String, String)],
) -> (usize, usize) {
    let find = |wanted: &str| data.models.iter().position(|m| data.same_model(m, wanted));
    let asked = |flag: &str, wanted: Option<&str>| {
        let wanted = wanted?;
        let found = find(wanted);
        if found.is_none() {
            eprintln!(
                "note: benchmark {name:?} does not score {flag} {wanted:?}; its default is used"
            );
        }
        found
    };
    let (own_weak, own_strong) = own_pair(data);
    match (asked("--weak", run.weak), asked("--strong", run.strong)) {
        (Some(weak), Some(strong)) => (weak, strong),
        (Some(weak), None) => (weak, best_other(data, weak)),
        (None, Some(strong)) => (own_weak, strong),
        (None, None) => shared
            .iter()
            .find_map(|(w, s)| find(w).zip(find(s)))
            .unwrap_or((own_weak, own_strong)),
    }
}

/// A benchmark's own pair: its cheapest model (the better among equally priced ones) and its
/// best other model (the dearer among equals).
fn own_pair(data: &EvalData) -> (usize, usize) {
    let weak = cheapest_best_model(&data.outcomes);
    (weak, best_other(data, weak))
}

fn best_other(data: &EvalData, not: usize) -> usize {
    let quality = |m: usize| data.outcomes.single_model(m).quality;
    data.outcomes
        .models_by_cost()
        .into_iter()
        .filter(|&m| m != not)
        .max_by(|&a, &b| quality(a).total_cmp(&quality(b)))
        .unwrap_or(not)
}

impl TransferReport {
    /// The table for humans: one row per policy, one APGR column per held-out benchmark.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::from("leave-one-benchmark-out: train on the others, test on one\n");
        if let Some(origin) = &self.prices {
            let _ = writeln!(out, "prices from {origin}");
        }
        for b in &self.benchmarks {
            let _ = writeln!(
                out,
                "  {:<14} {:>6} prompts, {:>3} categories; weak {} ({:.1}%), strong {} ({:.1}%); \
                 trained on {} ({} prompts)",
                b.benchmark,
                b.prompts,
                b.categories,
                b.weak,
                100.0 * b.weak_quality,
                b.strong,
                100.0 * b.strong_quality,
                b.trained_on.join(" + "),
                b.train_prompts
            );
        }
        let _ = write!(out, "\nAPGR (random = 0.50)\n{:<22}", "policy");
        for b in &self.benchmarks {
            let _ = write!(out, " {:>14}", b.benchmark);
        }
        out.push('\n');
        let names: Vec<&str> = self
            .benchmarks
            .first()
            .map(|b| b.policies.iter().map(|p| p.name.as_str()).collect())
            .unwrap_or_default();
        for (row, name) in names.iter().enumerate() {
            let _ = write!(out, "{name:<22}");
            for b in &self.benchmarks {
                let _ = write!(out, " {:>14.3}", b.policies[row].apgr);
            }
            out.push('\n');
        }
        out
    }
}
