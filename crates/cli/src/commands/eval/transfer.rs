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
    let roles: Vec<BenchmarkRecord> = per_benchmark
        .values()
        .flat_map(|data| {
            let (weak, strong) = (&data.models[data.weak], &data.models[data.strong]);
            data.records
                .iter()
                .filter_map(move |record| role_record(record, weak, strong))
        })
        .collect();
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
        benchmarks,
    })
}

/// Each benchmark's records as their own evaluation data, on its pair: the `--weak`/`--strong`
/// models where it scores them; else a pair another benchmark defaults to, where it scores
/// both (MMLU's Mixtral -> GPT-4 is also RouterBench's), so benchmarks compare on one view
/// where they can; else its own cheapest model (the better among equally priced ones) and its
/// best.
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
            let data = EvalData::build(records, run.prices, run.output_tokens, None, None)
                .with_context(|| format!("in benchmark {name:?}"))?;
            Ok((name, data))
        })
        .collect::<Result<_>>()?;
    let own_pairs: Vec<(String, String)> = built
        .iter()
        .map(|(_, d)| {
            let weak = cheapest_best_model(&d.outcomes);
            (d.models[weak].clone(), d.models[d.strong].clone())
        })
        .collect();
    built
        .into_iter()
        .enumerate()
        .map(|(index, (name, data))| {
            let find = |wanted: &str| data.models.iter().position(|m| data.same_model(m, wanted));
            let asked = run
                .weak
                .zip(run.strong)
                .and_then(|(w, s)| find(w).zip(find(s)));
            let shared = own_pairs
                .iter()
                .enumerate()
                .filter(|(other, _)| *other != index)
                .find_map(|(_, (w, s))| find(w).zip(find(s)));
            let (own_weak, own_strong) = &own_pairs[index];
            let own = find(own_weak).zip(find(own_strong));
            let (weak, strong) = asked.or(shared).or(own).context("no pair")?;
            let data = data
                .with_pair(weak, strong)
                .with_context(|| format!("in benchmark {name:?}"))?;
            Ok((name, data))
        })
        .collect()
}

impl TransferReport {
    /// The table for humans: one row per policy, one APGR column per held-out benchmark.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::from("leave-one-benchmark-out: train on the others, test on one\n");
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
