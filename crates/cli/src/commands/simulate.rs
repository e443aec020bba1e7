//! `routewise simulate`: streams benchmark prompts through the gateway's serving code, with
//! feedback from the benchmark's scores, and reports how each policy does as the stream goes:
//! the way online learning, controllers and budget pacing are judged (docs/ONLINE.md).

mod plot;
mod replay;
mod report;
mod world;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Args;

use super::eval::dataset::{self, EvalData};
use super::eval::{DEFAULT_OUTPUT_TOKENS, progress};
use replay::{PolicySpec, RunSpec};
use report::{PolicyReport, References, Report, SeedRun};
use world::{Order, World};

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Benchmark files (JSONL or JSONL.gz) scored for at least two models.
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Policies to run: rules, complexity, bandit, learned:PATH[@THRESHOLD] (a model file from
    /// `routewise train`; threshold default 0.5). Repeatable; default: rules, complexity, bandit.
    #[arg(long = "policy", value_parser = PolicySpec::parse)]
    policies: Vec<PolicySpec>,
    /// Share of answers rated with the benchmark's score, from 0 to 1.
    #[arg(long, default_value_t = 0.2, value_parser = unit_interval)]
    feedback_rate: f64,
    /// Requests between an answer and its rating.
    #[arg(long, default_value_t = 0)]
    feedback_delay: usize,
    /// Stream order: shuffled, or by-category (the traffic drifts).
    #[arg(long, value_enum, default_value_t = Order::Shuffled)]
    order: Order,
    /// Hold every policy with a threshold at this strong share (`[routing.target]`).
    #[arg(long, value_parser = open_unit_interval)]
    strong_share: Option<f64>,
    /// Or hold the quality that feedback measures at this floor, as cheaply as possible.
    #[arg(long, value_parser = open_unit_interval, conflicts_with = "strong_share")]
    quality_floor: Option<f64>,
    /// The target controller's step (`[routing.target] gain`).
    #[arg(long, value_parser = gain)]
    target_gain: Option<f64>,
    /// A budget in USD for the whole stream, paced over one simulated day (`[budget]`).
    #[arg(long, value_parser = positive)]
    budget: Option<f64>,
    /// Keep the upgrade memory on (`[memory] enabled`), as served traffic does by default.
    #[arg(long)]
    memory: bool,
    /// A setting of the bandit, `KEY=VALUE` as in `[routing.bandit]` (e.g. `explore=0.1`,
    /// `quality_value_usd=0.05`). Repeatable.
    #[arg(long = "bandit", value_parser = bandit_setting)]
    bandit: Vec<String>,
    /// Seeds (stream order, feedback sampling, exploration): each runs every policy; figures
    /// are means over them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100))]
    seeds: u64,
    /// First seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Windows the stream is reported in.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1000))]
    windows: u64,
    /// Price catalog. Default: models.json beside the first data file.
    #[arg(long)]
    prices: Option<PathBuf>,
    /// Print the report as JSON (stable keys).
    #[arg(long)]
    json: bool,
    /// Also draw strong share and quality by window to this file (.png or .svg).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// A TOML file of `[policies.NAME]` tables and `[[experiments]]` added to every run's
    /// config: the experiment's arms, shadows and control share act on the stream.
    #[arg(long)]
    experiment: Option<PathBuf>,
    /// Keep the run's config (`routewise.toml`) and store (`records.db`, prompts logged) in
    /// this directory, for `routewise report` and `routewise replay`; needs one policy and one
    /// seed.
    #[arg(long)]
    keep: Option<PathBuf>,
}

/// `KEY=VALUE` as a TOML line; the config's own checks judge the value.
fn bandit_setting(text: &str) -> Result<String, String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(format!("{text:?} is not KEY=VALUE, e.g. explore=0.1"));
    };
    let key = key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        return Err(format!("{key:?} is not a [routing.bandit] key"));
    }
    Ok(format!("{key} = {}", value.trim()))
}

fn unit_interval(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} must be from 0 to 1"))
    }
}

fn open_unit_interval(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if v > 0.0 && v < 1.0 {
        Ok(v)
    } else {
        Err(format!("{v} must be between 0 and 1, exclusive"))
    }
}

fn gain(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if v > 0.0 && v <= 0.5 {
        Ok(v)
    } else {
        Err(format!("{v} must be above 0 and at most 0.5"))
    }
}

fn positive(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(format!("{v} must be above 0"))
    }
}

pub fn run(args: SimulateArgs) -> Result<ExitCode> {
    if let Some(path) = &args.plot {
        plot::check_target(path)?;
    }
    let policies = policies_to_run(&args)?;
    let extra = match &args.experiment {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --experiment {}", path.display()))?,
        ),
        None => None,
    };
    if let Some(dir) = &args.keep {
        check_keep(dir, policies.len(), args.seeds)?;
    }
    let records = routewise_data::load_benchmarks(&args.data)?;
    let prices = dataset::load_prices(args.prices.as_deref(), &args.data[0])?;
    let data = EvalData::build(records, &prices, DEFAULT_OUTPUT_TOKENS, None, None)?;
    data.note_prices();
    let world = World::new(data, Some(&prices.catalog))?;
    let seeds: Vec<u64> = (args.seed..args.seed + args.seeds).collect();
    let bar = progress::bar("simulating", policies.len() * seeds.len() * world.prompts());
    let reports = policies
        .iter()
        .map(|policy| simulate_policy(&world, &args, policy, &seeds, extra.as_deref(), &bar))
        .collect::<Result<Vec<_>>>()?;
    bar.finish_and_clear();
    let report = Report {
        data: args.data.iter().map(|p| p.display().to_string()).collect(),
        requests: world.prompts(),
        seeds,
        order: args.order,
        feedback_rate: args.feedback_rate,
        feedback_delay: args.feedback_delay,
        strong_share_target: args.strong_share,
        quality_floor_target: args.quality_floor,
        budget_usd: args.budget,
        weak_model: world.data.models[world.weak].clone(),
        strong_model: world.data.models[world.strong].clone(),
        references: references(&world),
        policies: reports,
    };
    write_report(&args, &report)?;
    Ok(ExitCode::SUCCESS)
}

/// `--keep DIR` holds one run: one policy, one seed, and no store there yet.
fn check_keep(dir: &std::path::Path, policies: usize, seeds: u64) -> Result<()> {
    if policies != 1 || seeds != 1 {
        bail!("--keep keeps one run: give one --policy and --seeds 1");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let store = dir.join("records.db");
    if store.exists() {
        bail!(
            "{} exists: remove it (or keep the run elsewhere) so that two runs' records do not mix",
            store.display()
        );
    }
    Ok(())
}

/// The policies named (default: rules, complexity, bandit), their model files checked before
/// anything runs.
fn policies_to_run(args: &SimulateArgs) -> Result<Vec<PolicySpec>> {
    let policies = if args.policies.is_empty() {
        vec![
            PolicySpec::Rules,
            PolicySpec::Complexity,
            PolicySpec::Bandit,
        ]
    } else {
        args.policies.clone()
    };
    for policy in &policies {
        if let PolicySpec::Learned { path, .. } = policy
            && !path.is_file()
        {
            bail!(
                "no learned model file at {}: train one with `routewise train`",
                path.display()
            );
        }
    }
    Ok(policies)
}

/// One policy over every seed, reported.
fn simulate_policy(
    world: &World,
    args: &SimulateArgs,
    policy: &PolicySpec,
    seeds: &[u64],
    extra: Option<&str>,
    bar: &indicatif::ProgressBar,
) -> Result<PolicyReport> {
    let mut runs = Vec::new();
    for &seed in seeds {
        let spec = RunSpec {
            policy: policy.clone(),
            seed,
            order: args.order,
            feedback_rate: args.feedback_rate,
            feedback_delay: args.feedback_delay,
            strong_share: args.strong_share,
            quality_floor: args.quality_floor,
            target_gain: args.target_gain,
            budget_usd: args.budget,
            memory: args.memory,
            bandit: args.bandit.clone(),
            extra: extra.map(str::to_owned),
            // Absolute: the kept config names its store, and a relative path there would
            // resolve against the config's directory.
            keep: args
                .keep
                .as_ref()
                .map(|dir| std::path::absolute(dir).unwrap_or_else(|_| dir.clone())),
        };
        let steps = replay::run(world, &spec, bar)?;
        runs.push(seed_run(world, args.order, seed, steps));
    }
    let controlled = policy.steerable()
        && (args.strong_share.is_some() || args.quality_floor.is_some() || args.budget.is_some());
    Ok(PolicyReport::new(
        policy.label(),
        controlled,
        &runs,
        usize::try_from(args.windows).unwrap_or(20),
        args.strong_share,
    ))
}

/// The report as a table or JSON, and the plot when asked for.
fn write_report(args: &SimulateArgs, report: &Report) -> Result<()> {
    if args.json {
        outln!("{}", serde_json::to_string_pretty(report)?)?;
    } else {
        out!("{}", report.render())?;
    }
    if let Some(path) = &args.plot {
        plot::write(report, path)?;
        if !args.json {
            outln!("plot written to {}", path.display())?;
        }
    }
    Ok(())
}

/// A run with the always-weak and always-strong qualities along its stream.
fn seed_run(world: &World, order: Order, seed: u64, steps: Vec<replay::Step>) -> SeedRun {
    let stream = world.stream(order, seed);
    let outcomes = &world.data.outcomes;
    SeedRun {
        weak: stream
            .iter()
            .map(|&p| outcomes.quality(p, world.weak))
            .collect(),
        strong: stream
            .iter()
            .map(|&p| outcomes.quality(p, world.strong))
            .collect(),
        steps,
    }
}

fn references(world: &World) -> References {
    let n = world.prompts().max(1) as f64;
    let outcomes = &world.data.outcomes;
    let sum = |model: usize| {
        (0..world.prompts())
            .map(|p| outcomes.quality(p, model))
            .sum::<f64>()
    };
    References {
        weak_quality: sum(world.weak) / n,
        strong_quality: sum(world.strong) / n,
        oracle_quality: (0..world.prompts()).map(|p| world.oracle(p).0).sum::<f64>() / n,
    }
}
