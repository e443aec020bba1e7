//! `routewise train`: fit a learned router on labelled benchmark data and write its model file;
//! also reads model files (plain or gzip JSON) for the other commands.

use super::eval::dataset::{self, EvalData};
use super::eval::progress;
use super::learn_args::LearnArgs;
use anyhow::{Context, Result};
use clap::Args;
use routewise_core::learn::LearnedModel;
use routewise_learn::training::{TrainConfig, fit_records};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Benchmark files (JSONL, plain or .gz); every record must score the same models.
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Where to write the model (JSON; gzip-compressed when the name ends in .gz).
    #[arg(long)]
    out: PathBuf,
    /// Price catalog for prompts without per-prompt costs (orders the candidates by cost).
    /// Default: models.json beside the first data file.
    #[arg(long)]
    prices: Option<PathBuf>,
    /// Completion tokens assumed per call when pricing from tokens.
    #[arg(long, default_value_t = super::eval::DEFAULT_OUTPUT_TOKENS)]
    output_tokens: u64,
    #[command(flatten)]
    learn: LearnArgs,
    /// Platt-scale acceptability on category-held-out predictions (off by default: it cost
    /// ranking quality on held-out subjects; see docs/EVALUATION.md).
    #[arg(long)]
    platt: bool,
}

pub fn run(args: TrainArgs) -> Result<ExitCode> {
    super::check_output_path(&args.out)?;
    let started = Instant::now();
    let records = routewise_data::load_benchmarks(&args.data)?;
    let prices = dataset::load_prices(args.prices.as_deref(), &args.data[0])?;
    let data = EvalData::build(records, &prices, args.output_tokens, None, None)?;
    data.note_prices();
    let (models, mean_costs) = candidates_cheapest_first(&data);
    let mut config = args.learn.apply(TrainConfig::default());
    config.platt = args.platt;

    let refs: Vec<_> = data.records.iter().collect();
    let bar = progress::bar("training heads", 1);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = fit_records(&config, &refs, &models, &mean_costs, workers, &mut |p| {
        bar.set_length(p.total as u64);
        bar.set_position(p.done as u64);
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    bar.finish_and_clear();
    write_model(&model, &args.out)?;

    let t = &model.training;
    outln!(
        "trained on {} prompts in {} {} in {:.1}s; {} features; wrote {}",
        t.examples,
        t.categories,
        if t.categories == 1 {
            "category"
        } else {
            "categories"
        },
        started.elapsed().as_secs_f64(),
        model.features.n_features(),
        args.out.display()
    )?;
    outln!(
        "acceptability on held-out folds ({} folds by {}, {}):",
        t.calibration_folds,
        t.calibration_split,
        if t.platt {
            "Platt-scaled"
        } else {
            "1 - predicted gap"
        }
    )?;
    outln!(
        "  {:<40} {:>12} {:>9} {:>9} {:>14}",
        "model (cheapest first)",
        "usd/prompt",
        "accepted",
        "brier",
        "brier(const)"
    )?;
    for (head, m) in model.models.iter().zip(&t.metrics) {
        let mark = if head.name == model.models[model.reference].name {
            " (reference)"
        } else {
            ""
        };
        outln!(
            "  {:<40} {:>12.6} {:>9.3} {:>9.4} {:>14.4}{mark}",
            head.name,
            head.mean_cost_usd,
            m.base_rate,
            m.brier,
            m.brier_baseline
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The data's models ordered by mean cost per prompt, with those costs.
pub fn candidates_cheapest_first(data: &EvalData) -> (Vec<String>, Vec<f64>) {
    let n = data.outcomes.prompts().max(1) as f64;
    data.outcomes
        .models_by_cost()
        .into_iter()
        .map(|m| {
            let cost = (0..data.outcomes.prompts())
                .map(|p| data.outcomes.cost(p, m))
                .sum::<f64>()
                / n;
            (data.models[m].clone(), cost)
        })
        .unzip()
}

/// Reads a model file written by `routewise train` (gzip is detected from its magic bytes).
pub fn read_model(path: &Path) -> Result<LearnedModel> {
    let text = routewise_data::read_text_file(path)
        .with_context(|| format!("cannot read model file {}", path.display()))?;
    LearnedModel::from_json(&text).with_context(|| format!("in model file {}", path.display()))
}

fn write_model(model: &LearnedModel, path: &Path) -> Result<()> {
    // A serving gateway reloads when the model file is replaced: it must see all of it.
    super::write_text_file(path, &model.to_json()?)
}
