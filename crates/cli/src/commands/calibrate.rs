//! `routewise calibrate`: the learned router's threshold that meets a strong-model share or a
//! quality floor on labelled data, printed and optionally written into a config file.

use super::eval::dataset::{self, EvalData};
use super::train::read_model;
use anyhow::{Context, Result, bail};
use clap::Args;
use routewise_learn::training::{CalibrationPoint, CalibrationTarget, calibrate};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["strong_share", "quality_floor"])))]
pub struct CalibrateArgs {
    /// The policy to calibrate: `learned:PATH` (a model file from `routewise train`).
    #[arg(long)]
    policy: String,
    /// Labelled data to calibrate on (JSONL, plain or .gz); ideally not the training data.
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Send at most this share of requests to the reference (strongest) model.
    #[arg(long, allow_negative_numbers = true)]
    strong_share: Option<f64>,
    /// Keep at least this fraction of the reference model's quality, at the lowest cost.
    #[arg(long, allow_negative_numbers = true)]
    quality_floor: Option<f64>,
    /// Also write `[routing.learned]` (model and threshold) into this TOML config file.
    #[arg(long, value_name = "CONFIG")]
    write_config: Option<PathBuf>,
    /// Price catalog for prompts without per-prompt costs. Default: models.json beside the data.
    #[arg(long)]
    prices: Option<PathBuf>,
    /// Completion tokens assumed per call when pricing from tokens.
    #[arg(long, default_value_t = super::eval::DEFAULT_OUTPUT_TOKENS)]
    output_tokens: u64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: CalibrateArgs) -> Result<ExitCode> {
    let Some(path) = args.policy.strip_prefix("learned:") else {
        bail!(
            "only learned routers have a threshold to calibrate: use --policy learned:PATH, got {:?}",
            args.policy
        );
    };
    if let Some(config) = &args.write_config {
        anyhow::ensure!(
            config.is_file(),
            "--write-config {} is not an existing config file: create it first (for example from config/examples/)",
            config.display()
        );
    }
    let model_path = PathBuf::from(path);
    let model = read_model(&model_path)?;
    let target = match (args.strong_share, args.quality_floor) {
        (Some(share), _) => CalibrationTarget::StrongShare(share),
        (None, Some(floor)) => CalibrationTarget::QualityFloor(floor),
        (None, None) => bail!("give --strong-share or --quality-floor"),
    };
    let records = routewise_data::load_benchmarks(&args.data)?;
    let prices = dataset::load_prices(args.prices.as_deref(), &args.data[0])?;
    let data = EvalData::build(records, &prices, args.output_tokens, None, None)?;
    data.note_prices();
    // By name or price-catalog alias, as `eval` matches them: a model trained on one
    // benchmark's names is calibrated on another's.
    let column = |name: &str| {
        data.models
            .iter()
            .position(|m| data.same_model(m, name))
            .with_context(|| {
                format!(
                    "the model routes to {name:?} but the data has no scores for it, under that \
                     name or an alias in the price catalog (it has: {})",
                    data.models.join(", ")
                )
            })
    };
    let columns: Vec<usize> = model
        .models
        .iter()
        .map(|head| column(&head.name))
        .collect::<Result<_>>()?;
    let points: Vec<CalibrationPoint> = data
        .records
        .iter()
        .enumerate()
        .map(|(p, record)| CalibrationPoint {
            acceptability: model.predict(&record.prompt),
            scores: columns
                .iter()
                .map(|&m| data.outcomes.quality(p, m))
                .collect(),
            costs: columns.iter().map(|&m| data.outcomes.cost(p, m)).collect(),
        })
        .collect();
    let op = calibrate(&points, model.reference, target)?;
    let reference = &model.models[model.reference].name;
    if args.json {
        let out = serde_json::json!({
            "threshold": finite_or_null(op.threshold),
            "strong_share": op.strong_share,
            "mean_quality": op.mean_quality,
            "relative_quality": op.relative_quality,
            "mean_cost_usd": op.mean_cost_usd,
            "reference_model": reference,
            "prompts": points.len(),
        });
        outln!("{}", serde_json::to_string_pretty(&out)?)?;
    } else {
        outln!(
            "threshold {} on {} prompts: {:.1}% to {reference}, quality {:.4} ({:.1}% of {reference}), ${:.6} per prompt",
            show_threshold(op.threshold),
            points.len(),
            100.0 * op.strong_share,
            op.mean_quality,
            100.0 * op.relative_quality,
            op.mean_cost_usd
        )?;
    }
    if let Some(config) = &args.write_config {
        write_threshold(config, path, op.threshold)?;
        eprintln!("wrote [routing.learned] into {}", config.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Above every observed acceptability means "always the reference model".
fn show_threshold(t: f64) -> String {
    if t.is_finite() {
        format!("{t:.4}")
    } else {
        "above 1 (always the reference model)".to_owned()
    }
}

fn finite_or_null(t: f64) -> serde_json::Value {
    if t.is_finite() {
        serde_json::json!(t)
    } else {
        serde_json::Value::Null
    }
}

/// The model path as the config should name it: relative paths in a config resolve against the
/// config's directory, so the model is named relative to it when it lies below it, else
/// absolutely.
fn model_path_for(config: &std::path::Path, model: &str) -> Result<String> {
    let model = std::path::absolute(model)
        .with_context(|| format!("cannot resolve the model path {model}"))?;
    let config_dir = std::path::absolute(config)
        .with_context(|| format!("cannot resolve the config path {}", config.display()))?
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let named = model.strip_prefix(&config_dir).unwrap_or(&model);
    Ok(named.display().to_string())
}

/// Sets `[routing.learned] model` and `threshold`, keeping the rest of the file (and its
/// comments) as it was.
fn write_threshold(config: &std::path::Path, model: &str, threshold: f64) -> Result<()> {
    let text = std::fs::read_to_string(config)
        .with_context(|| format!("cannot read config {}", config.display()))?;
    let mut doc: toml_edit::DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not valid TOML", config.display()))?;
    let routing = doc
        .entry("routing")
        .or_insert(toml_edit::table())
        .as_table_mut()
        .context("`routing` in the config is not a table")?;
    let learned = routing
        .entry("learned")
        .or_insert(toml_edit::table())
        .as_table_mut()
        .context("`routing.learned` in the config is not a table")?;
    learned["model"] = toml_edit::value(model_path_for(config, model)?);
    // Above 1 routes everything to the reference model; 1.0 + epsilon says so in a finite number.
    let stored = if threshold.is_finite() {
        threshold
    } else {
        1.000001
    };
    learned["threshold"] = toml_edit::value(stored);
    let edited = doc.to_string();
    // A config that worked must still work: a model whose candidates the catalog lacks would
    // otherwise turn a served config into one the gateway refuses to load.
    if routewise_config::from_str_at(&text, config).is_ok() {
        routewise_config::from_str_at(&edited, config).with_context(|| {
            format!(
                "left {} unchanged: with this model it would no longer be a valid config",
                config.display()
            )
        })?;
    }
    super::write_replacing(config, edited.as_bytes())
}
