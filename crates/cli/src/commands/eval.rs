//! `routewise eval`: judges routing policies on labelled benchmark data. For the weak/strong
//! pair it reports the threshold sweep (deferral curve), APGR, CPT(50/80/95%), dollar cost along
//! the curve and the saving against always-strong at 95% of its quality; with more than two
//! models it also reports each policy's quality/cost frontier against every single model and
//! the oracle. Output: a table, `--json`, and an optional PNG/SVG plot.

pub(crate) mod dataset;
pub(crate) mod plot;
mod policies;
pub(crate) mod progress;
mod report;
mod transfer;

use std::path::PathBuf;
use std::process::ExitCode;

use super::learn_args::LearnArgs;
use anyhow::Result;
use clap::Args;
use routewise_learn::training::LearnedFitter;

use dataset::EvalData;
use policies::{PolicyName, Settings};
use report::Report;

/// Completion tokens assumed per call when a benchmark records no per-prompt cost: benchmark
/// answers (a letter, a short span) are short, so prompt tokens dominate the price.
pub(crate) const DEFAULT_OUTPUT_TOKENS: u64 = 8;

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Benchmark files (JSONL or JSONL.gz), e.g. data/benchmarks/routellm_mmlu_part*.jsonl.gz.
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Policies to compare: random, rules, complexity, learned (trained in-run under grouped
    /// k-fold by category), learned:PATH, default (the built-in config's policy), oracle.
    /// Repeatable; default: all but learned:PATH.
    #[arg(long = "policy")]
    policies: Vec<PolicyName>,
    /// The cheap model of the two-model metrics. Default: the cheapest model.
    #[arg(long)]
    weak: Option<String>,
    /// The expensive model of the two-model metrics. Default: the best model on average.
    #[arg(long)]
    strong: Option<String>,
    /// Price catalog for prompts without per-prompt costs. Default: models.json beside the
    /// first data file.
    #[arg(long)]
    prices: Option<PathBuf>,
    /// Completion tokens assumed per call when pricing from tokens.
    #[arg(long, default_value_t = DEFAULT_OUTPUT_TOKENS)]
    output_tokens: u64,
    /// Seeds to average random routing over.
    #[arg(long, default_value_t = 10, value_parser = at_least::<1, u64>)]
    seeds: u64,
    /// Folds of the grouped k-fold (by category) that trains `learned` in-run (at least 2;
    /// fewer are used when the data has fewer categories).
    #[arg(long, default_value_t = 5, value_parser = at_least::<2, usize>)]
    folds: usize,
    /// Shuffle which categories share a fold (another balanced grouped assignment); without
    /// it, categories go largest first to the lightest fold. Average held-out figures over a
    /// few seeds before comparing routers: the assignment alone moves them by about 0.01-0.02.
    #[arg(long)]
    fold_seed: Option<u64>,
    #[command(flatten)]
    learn: LearnArgs,
    /// Leave-one-benchmark-out: hold out each benchmark of the data in turn (or only the one
    /// named), train on the others, test on it, each on its own weak/strong pair. The figure
    /// for traffic of a kind the router never saw.
    #[arg(long, value_name = "BENCHMARK", num_args = 0..=1)]
    holdout_benchmark: Option<Option<String>>,
    /// Points of the threshold sweep, evenly spaced in share of strong calls.
    #[arg(long, default_value_t = 100, value_parser = at_least::<1, usize>)]
    steps: usize,
    /// Print the report as JSON (stable keys) instead of tables.
    #[arg(long)]
    json: bool,
    /// Also draw the curves to this file (.png or .svg).
    #[arg(long)]
    plot: Option<PathBuf>,
}

/// A count argument with a lower bound: smaller values were silently raised before.
fn at_least<const MIN: u64, T: TryFrom<u64>>(text: &str) -> Result<T, String> {
    let n: u64 = text
        .parse()
        .map_err(|_| format!("expected a whole number >= {MIN}"))?;
    if n < MIN {
        return Err(format!("must be at least {MIN}"));
    }
    T::try_from(n).map_err(|_| format!("{n} is too large"))
}

/// The policies asked for, each once where first named; all by default.
fn policy_names(asked: &[PolicyName]) -> Vec<PolicyName> {
    if asked.is_empty() {
        return PolicyName::DEFAULTS.to_vec();
    }
    let mut unique: Vec<PolicyName> = Vec::with_capacity(asked.len());
    for name in asked {
        if !unique.contains(name) {
            unique.push(name.clone());
        }
    }
    unique
}

pub fn run(args: EvalArgs) -> Result<ExitCode> {
    if let Some(path) = &args.plot {
        plot::check_target(path)?;
    }
    let records = routewise_data::load_benchmarks(&args.data)?;
    let prices = dataset::load_prices(args.prices.as_deref(), &args.data[0])?;
    let names = policy_names(&args.policies);
    let settings = Settings {
        seeds: args.seeds,
        steps: args.steps,
        folds: args.folds,
        fold_seed: args.fold_seed,
        train: args.learn.apply(LearnedFitter::default().config),
    };
    if let Some(only) = &args.holdout_benchmark {
        if only.as_deref().is_some_and(|name| name.trim().is_empty()) {
            anyhow::bail!(
                "--holdout-benchmark was given an empty name: name a benchmark, or give the flag alone to hold out each in turn"
            );
        }
        if args.plot.is_some() {
            anyhow::bail!(
                "--plot draws one benchmark's curves: leave it out with --holdout-benchmark"
            );
        }
        let run = transfer::TransferRun {
            prices: &prices,
            output_tokens: args.output_tokens,
            weak: args.weak.as_deref(),
            strong: args.strong.as_deref(),
            only: only.as_deref(),
            settings: &settings,
        };
        let report = transfer::run(records, &names, &run)?;
        if args.json {
            outln!("{}", serde_json::to_string_pretty(&report)?)?;
        } else {
            out!("{}", report.render())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let data = EvalData::build(
        records,
        &prices,
        args.output_tokens,
        args.weak.as_deref(),
        args.strong.as_deref(),
    )?;
    let results = names
        .iter()
        .map(|name| policies::evaluate(name, &data, &settings))
        .collect::<Result<Vec<_>>>()?;
    let files = args.data.iter().map(|p| p.display().to_string()).collect();
    let report = Report::new(files, &data, args.output_tokens, results)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?)?;
    } else {
        out!("{}", report.render())?;
    }
    if let Some(path) = &args.plot {
        plot::write(&report, path)?;
        if !args.json {
            outln!("plot written to {}", path.display())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
