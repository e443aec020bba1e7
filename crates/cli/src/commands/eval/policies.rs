//! The policies `routewise eval` can judge, by name, and how each becomes a curve: baselines
//! (random over seeds, oracle), the foundation's policies (rules, complexity), and the learned
//! router, trained in-run under grouped k-fold by category.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{Context, Result};
use routewise_core::catalog::{Capability, Catalog, ModelSpec};
use routewise_core::learn::LearnedModel;
use routewise_core::policy::{ComplexityPolicy, DefaultPolicy, Policy, RulesPolicy};
use routewise_learn::bench::BenchmarkRecord;
use routewise_learn::eval::frontier::{oracle_sweep, threshold_sweep};
use routewise_learn::eval::scorers::{
    cross_validated_predictions, oracle_scores, policy_scores, predict_all, random_scores,
    weak_doubt_scores,
};
use routewise_learn::eval::transfer::{STRONG_ROLE, WEAK_ROLE};
use routewise_learn::eval::{
    CurvePoint, DeferralCurve, Fitter, OperatingPoint, PairOutcome, PolicySummary, QualityPredictor,
};
use routewise_learn::training::{LearnedFitter, LearnedPredictor, TrainConfig};

use super::dataset::EvalData;
use super::progress;

/// A policy named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyName {
    Random,
    Rules,
    Complexity,
    /// The learned router, fitted and scored under grouped k-fold by category.
    Learned,
    /// A model file written by `routewise train`.
    LearnedFile(PathBuf),
    Oracle,
    /// The policy routewise routes with when given no config (the built-in config's).
    Default,
}

impl PolicyName {
    /// What `routewise eval` runs when no `--policy` is given.
    pub const DEFAULTS: [PolicyName; 6] = [
        PolicyName::Random,
        PolicyName::Rules,
        PolicyName::Complexity,
        PolicyName::Learned,
        PolicyName::Default,
        PolicyName::Oracle,
    ];
}

impl FromStr for PolicyName {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "random" => Ok(Self::Random),
            "rules" => Ok(Self::Rules),
            "complexity" => Ok(Self::Complexity),
            "learned" => Ok(Self::Learned),
            "oracle" => Ok(Self::Oracle),
            "default" => Ok(Self::Default),
            other => match other.strip_prefix("learned:") {
                Some(path) if !path.is_empty() => Ok(Self::LearnedFile(PathBuf::from(path))),
                _ => Err(format!(
                    "unknown policy {other:?}: choose random, rules, complexity, learned, \
                     learned:PATH, default or oracle"
                )),
            },
        }
    }
}

impl fmt::Display for PolicyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Random => f.write_str("random"),
            Self::Rules => f.write_str("rules"),
            Self::Complexity => f.write_str("complexity"),
            Self::Learned => f.write_str("learned"),
            Self::LearnedFile(path) => write!(f, "learned:{}", path.display()),
            Self::Oracle => f.write_str("oracle"),
            Self::Default => f.write_str("default"),
        }
    }
}

/// One policy's results on a data set.
#[derive(Debug)]
pub struct PolicyResult {
    pub summary: PolicySummary,
    /// The threshold sweep on the weak/strong pair, evenly spaced in strong share.
    pub sweep: Vec<CurvePoint>,
    /// Quality/cost points the policy can reach (N-model view).
    pub points: Vec<OperatingPoint>,
}

/// Settings shared by every policy's evaluation.
#[derive(Debug, Clone)]
pub struct Settings {
    pub seeds: u64,
    pub steps: usize,
    /// Folds of the grouped k-fold for in-run training.
    pub folds: usize,
    /// Seed of the grouped fold assignment (`None`: largest category first).
    pub fold_seed: Option<u64>,
    /// How `learned` is trained in-run.
    pub train: TrainConfig,
}

pub fn evaluate(name: &PolicyName, data: &EvalData, settings: &Settings) -> Result<PolicyResult> {
    let pair = data.pair_outcomes();
    let label = name.to_string();
    match name {
        PolicyName::Random => random(&label, &pair, settings),
        PolicyName::Oracle => {
            let curve = DeferralCurve::new(&oracle_scores(&pair), &pair)?;
            let mut result = from_curve(&label, &curve, settings.steps)?;
            result.points = oracle_sweep(&data.outcomes);
            Ok(result)
        }
        PolicyName::Learned => {
            let probabilities = cross_validate(
                &LearnedFitter {
                    config: settings.train.clone(),
                },
                data,
                settings,
            )?;
            from_predictions(&label, data, &probabilities, settings.steps)
        }
        PolicyName::LearnedFile(path) => {
            let text = routewise_data::read_text_file(path)?;
            let model = LearnedModel::from_json(&text)
                .with_context(|| format!("in model file {}", path.display()))?;
            saved_model(
                &label,
                data,
                &LearnedPredictor::new(Arc::new(model)),
                settings.steps,
            )
        }
        PolicyName::Rules | PolicyName::Complexity | PolicyName::Default => {
            let catalog = pair_catalog(data)?;
            let policy: Arc<dyn Policy> = match name {
                PolicyName::Rules => Arc::new(RulesPolicy::default_rules(&catalog)),
                PolicyName::Default => builtin_policy(&catalog)?,
                _ => Arc::new(ComplexityPolicy::default_for_tiers(2)),
            };
            let scores = policy_scores(policy.as_ref(), &catalog, &data.requests, &data.signals);
            let curve = DeferralCurve::new(&scores, &pair)?;
            let mut result = from_curve(&label, &curve, settings.steps)?;
            if *name == PolicyName::Rules {
                // Rules make one decision per prompt: report where they operate.
                let strong = scores.iter().filter(|&&s| s >= 1.0).count();
                let point = curve.at_share(strong as f64 / scores.len() as f64);
                result.summary = result.summary.at_operating_point(&curve, point)?;
                result.points = vec![to_operating(&point)];
            }
            Ok(result)
        }
    }
}

/// A policy's results on `data` when trainable policies may learn only from `train` (role
/// records of other benchmarks: see `routewise_learn::eval::transfer`). Policies that do not
/// train are evaluated as they are.
pub fn evaluate_transfer(
    name: &PolicyName,
    data: &EvalData,
    train: &[&BenchmarkRecord],
    settings: &Settings,
) -> Result<PolicyResult> {
    match name {
        PolicyName::Learned => {
            let fitter = LearnedFitter {
                config: settings.train.clone(),
            };
            role_model(&name.to_string(), data, &fitter, train, settings.steps)
        }
        _ => evaluate(name, data, settings),
    }
}

/// Fits `fitter` on role records and scores `data` by its doubt about the weak role.
fn role_model(
    label: &str,
    data: &EvalData,
    fitter: &dyn Fitter,
    train: &[&BenchmarkRecord],
    steps: usize,
) -> Result<PolicyResult> {
    let roles = [WEAK_ROLE.to_owned(), STRONG_ROLE.to_owned()];
    let costs = [data.weak, data.strong].map(|m| data.outcomes.single_model(m).cost);
    let predictor = fitter
        .fit(train, &roles, &costs)
        .map_err(|e| anyhow::anyhow!("training {label}: {e}"))?;
    let weak = predictor
        .models()
        .iter()
        .position(|m| m == WEAK_ROLE)
        .context("the fitted router predicts nothing for the weak role")?;
    let prompts: Vec<&str> = data.records.iter().map(|r| r.prompt.as_str()).collect();
    let rows = predict_all(predictor.as_ref(), &prompts);
    let scores = weak_doubt_scores(&rows, predictor.models().len(), weak);
    let curve = DeferralCurve::new(&scores, &data.pair_outcomes())?;
    let mut result = from_curve(label, &curve, steps)?;
    // A router of roles knows no model of this benchmark's catalog: no N-model points.
    result.points.clear();
    Ok(result)
}

/// The built-in config's `default` policy over the pair's two-tier catalog: its guard, then
/// its complexity weights, whose score ranks the prompts.
fn builtin_policy(catalog: &Catalog) -> Result<Arc<dyn Policy>> {
    let config = routewise_config::builtin().context("the built-in config does not compile")?;
    let weights = *config.routing.complexity.weights();
    let score = ComplexityPolicy::new(weights, ComplexityPolicy::default_thresholds(2), vec![None]);
    Ok(Arc::new(DefaultPolicy::new(catalog, score)))
}

/// Out-of-fold probabilities of a fitter, per prompt and model in `data.models` order.
fn cross_validate(fitter: &dyn Fitter, data: &EvalData, settings: &Settings) -> Result<Vec<f64>> {
    let folds = settings.folds;
    // Fitters get the candidates cheapest first, with their mean cost.
    let by_cost = data.outcomes.models_by_cost();
    let names: Vec<String> = by_cost.iter().map(|&m| data.models[m].clone()).collect();
    let costs: Vec<f64> = by_cost
        .iter()
        .map(|&m| data.outcomes.single_model(m).cost)
        .collect();
    let bar = progress::bar(&format!("{}: training folds", fitter.name()), folds);
    bar.tick();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let by_cost_rows = cross_validated_predictions(
        fitter,
        &data.records,
        &names,
        &costs,
        folds,
        settings.fold_seed,
        workers,
        &|done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    )?;
    bar.finish_and_clear();
    into_data_order(&by_cost_rows, &names, data)
}

/// Re-orders per-prompt probability rows whose columns follow `columns` (model names) into the
/// order of `data.models`. Every model of the data must have a column.
fn into_data_order(rows: &[f64], columns: &[String], data: &EvalData) -> Result<Vec<f64>> {
    let source: Vec<usize> = (0..data.models.len())
        .map(|model| {
            column_of(data, columns, model).with_context(|| {
                format!(
                    "the router predicts nothing for model {:?}; it covers {columns:?}",
                    data.models[model]
                )
            })
        })
        .collect::<Result<_>>()?;
    let width = columns.len().max(1);
    Ok(rows
        .chunks_exact(width)
        .flat_map(|row| source.iter().map(move |&from| row[from]))
        .collect())
}

/// The column of `columns` that predicts the data's model `model`, by name or alias.
fn column_of(data: &EvalData, columns: &[String], model: usize) -> Option<usize> {
    columns
        .iter()
        .position(|c| data.same_model(c, &data.models[model]))
}

/// A saved model on this data. When it covers every model of the data, it gets the full
/// two-model and N-model evaluation; when it covers only some (a router trained on another
/// benchmark), the two-model curve needs just its prediction for the weak model.
fn saved_model(
    label: &str,
    data: &EvalData,
    predictor: &dyn QualityPredictor,
    steps: usize,
) -> Result<PolicyResult> {
    let prompts: Vec<&str> = data.records.iter().map(|r| r.prompt.as_str()).collect();
    let rows = predict_all(predictor, &prompts);
    let columns = predictor.models();
    if let Ok(probabilities) = into_data_order(&rows, columns, data) {
        return from_predictions(label, data, &probabilities, steps);
    }
    let weak = column_of(data, columns, data.weak).with_context(|| {
        format!(
            "the model file predicts nothing for the weak model {:?} (it covers {columns:?}): \
             pick a covered model with --weak",
            data.models[data.weak]
        )
    })?;
    let scores = weak_doubt_scores(&rows, columns.len(), weak);
    let curve = DeferralCurve::new(&scores, &data.pair_outcomes())?;
    let mut result = from_curve(label, &curve, steps)?;
    // Its own decision rule cannot be swept over models it does not know: no N-model points.
    result.points.clear();
    Ok(result)
}

/// A predictor's results: the two-model curve from its doubt about the weak model, and the
/// N-model points of its own decision rule swept over the threshold.
fn from_predictions(
    label: &str,
    data: &EvalData,
    probabilities: &[f64],
    steps: usize,
) -> Result<PolicyResult> {
    let pair = data.pair_outcomes();
    let m = data.models.len();
    let scores = weak_doubt_scores(probabilities, m, data.weak);
    let curve = DeferralCurve::new(&scores, &pair)?;
    let mut result = from_curve(label, &curve, steps)?;
    let steps = steps.max(1);
    let thresholds: Vec<f64> = (0..=steps).map(|i| i as f64 / steps as f64).collect();
    result.points = threshold_sweep(&data.outcomes, probabilities, &thresholds)?;
    Ok(result)
}

/// Random routing over several seeds: mean metrics with their spread, and the mean curve.
fn random(label: &str, pair: &[PairOutcome], settings: &Settings) -> Result<PolicyResult> {
    let seeds = settings.seeds.max(1);
    let mut summaries = Vec::new();
    let mut sweep: Vec<CurvePoint> = Vec::new();
    for seed in 0..seeds {
        let curve = DeferralCurve::new(&random_scores(pair.len(), seed), pair)?;
        summaries.push(PolicySummary::from_curve(label, &curve)?);
        let points = curve.sweep(settings.steps);
        if sweep.is_empty() {
            sweep = points;
        } else {
            for (mean, point) in sweep.iter_mut().zip(points) {
                mean.quality += point.quality;
                mean.cost += point.cost;
            }
        }
    }
    for point in &mut sweep {
        point.quality /= seeds as f64;
        point.cost /= seeds as f64;
    }
    Ok(PolicyResult {
        summary: PolicySummary::mean_over_seeds(label, &summaries)?,
        points: sweep.iter().map(to_operating).collect(),
        sweep,
    })
}

fn from_curve(label: &str, curve: &DeferralCurve, steps: usize) -> Result<PolicyResult> {
    let sweep = curve.sweep(steps);
    Ok(PolicyResult {
        summary: PolicySummary::from_curve(label, curve)?,
        points: sweep.iter().map(to_operating).collect(),
        sweep,
    })
}

fn to_operating(point: &CurvePoint) -> OperatingPoint {
    OperatingPoint {
        quality: point.quality,
        cost: point.cost,
    }
}

/// A two-tier catalog of the weak and strong model, so the foundation's tier-based policies
/// can run: whatever they send above the cheapest tier counts as a strong call.
fn pair_catalog(data: &EvalData) -> Result<Catalog> {
    let spec = |index: usize, tier: usize| ModelSpec {
        name: data.models[index].clone(),
        provider: "benchmark".to_owned(),
        upstream_model: data.models[index].clone(),
        tier,
        input_usd_per_mtok: 0.0,
        output_usd_per_mtok: 0.0,
        context_window: u32::MAX,
        capabilities: Capability::ALL.to_vec(),
    };
    Ok(Catalog::new(
        vec!["weak".to_owned(), "strong".to_owned()],
        vec![spec(data.weak, 0), spec(data.strong, 1)],
    )?)
}
