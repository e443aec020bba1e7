//! The policies `routewise eval` can judge, by name, and how each becomes a curve: baselines
//! (random over seeds, oracle), the foundation's policies (rules, complexity) and the learned
//! router (trained in-run under grouped k-fold, or loaded from a model file).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::Result;
use routewise_core::catalog::{Capability, Catalog, ModelSpec};
use routewise_core::eval::frontier::oracle_sweep;
use routewise_core::eval::scorers::{
    cross_validated_predictions, oracle_scores, policy_scores, predict_all, random_scores,
    weak_doubt_scores,
};
use routewise_core::eval::{
    CurvePoint, DeferralCurve, OperatingPoint, PairOutcome, PolicySummary, QualityPredictor,
};
use routewise_core::learn::{LearnedFitter, LearnedPredictor};
use routewise_core::policy::{ComplexityPolicy, Policy, RulesPolicy};

use super::dataset::EvalData;
use super::progress;
use crate::commands::train::{candidates_cheapest_first, read_model};

/// Folds of the in-run grouped k-fold for `learned`.
const LEARNED_FOLDS: usize = 5;

/// A policy named on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyName {
    Random,
    Rules,
    Complexity,
    Oracle,
    /// Trained in-run under grouped k-fold by category.
    Learned,
    /// A saved model file from `routewise train`.
    LearnedFile(PathBuf),
}

impl PolicyName {
    /// What `routewise eval` runs when no `--policy` is given.
    pub const DEFAULTS: [PolicyName; 5] = [
        PolicyName::Random,
        PolicyName::Rules,
        PolicyName::Complexity,
        PolicyName::Learned,
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
            "oracle" => Ok(Self::Oracle),
            "learned" => Ok(Self::Learned),
            other => match other.strip_prefix("learned:") {
                Some(path) if !path.is_empty() => Ok(Self::LearnedFile(PathBuf::from(path))),
                _ => Err(format!(
                    "unknown policy {other:?}: choose random, rules, complexity, oracle, learned \
                     or learned:PATH"
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
            Self::Oracle => f.write_str("oracle"),
            Self::Learned => f.write_str("learned"),
            Self::LearnedFile(path) => write!(f, "learned:{}", path.display()),
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
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub seeds: u64,
    pub steps: usize,
}

pub fn evaluate(name: &PolicyName, data: &EvalData, settings: Settings) -> Result<PolicyResult> {
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
        PolicyName::Rules | PolicyName::Complexity => {
            let catalog = pair_catalog(data)?;
            let policy: Box<dyn Policy> = match name {
                PolicyName::Rules => Box::new(RulesPolicy::default_rules(&catalog)),
                _ => Box::new(ComplexityPolicy::default_for_tiers(2)),
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
        PolicyName::Learned | PolicyName::LearnedFile(_) => learned(name, data, settings),
    }
}

/// The learned router: acceptability per candidate (cheapest first) for every prompt, out of
/// fold when trained in-run; the pair curve ranks by the weak model's doubt, and the N-model
/// points sweep the router's own threshold.
fn learned(name: &PolicyName, data: &EvalData, settings: Settings) -> Result<PolicyResult> {
    let label = name.to_string();
    let (models, predictions) = match name {
        PolicyName::LearnedFile(path) => {
            let predictor = LearnedPredictor::new(Arc::new(read_model(path)?));
            let prompts: Vec<&str> = data.records.iter().map(|r| r.prompt.as_str()).collect();
            let models = predictor.models().to_vec();
            (models, predict_all(&predictor, &prompts))
        }
        _ => {
            let (models, mean_costs) = candidates_cheapest_first(data);
            let bar = progress::bar("learned: k-fold", LEARNED_FOLDS);
            let predictions = cross_validated_predictions(
                &LearnedFitter::default(),
                &data.records,
                &models,
                &mean_costs,
                LEARNED_FOLDS,
                &mut |done, total| {
                    bar.set_length(total as u64);
                    bar.set_position(done as u64);
                },
            )?;
            bar.finish_and_clear();
            (models, predictions)
        }
    };
    let columns: Vec<usize> = models
        .iter()
        .map(|m| {
            data.models.iter().position(|d| d == m).ok_or_else(|| {
                anyhow::anyhow!("the learned model routes to {m:?}, which the data does not score")
            })
        })
        .collect::<Result<_>>()?;
    let weak = columns
        .iter()
        .position(|&c| c == data.weak)
        .ok_or_else(|| anyhow::anyhow!("the learned model has no head for the weak model"))?;
    let m = models.len();
    let scores = weak_doubt_scores(&predictions, m, weak);
    let curve = DeferralCurve::new(&scores, &data.pair_outcomes())?;
    let mut result = from_curve(&label, &curve, settings.steps)?;
    let n = data.outcomes.prompts().max(1) as f64;
    result.points = (0..=settings.steps.max(1))
        .map(|k| {
            let threshold = k as f64 / settings.steps.max(1) as f64;
            let (mut quality, mut cost) = (0.0, 0.0);
            for (p, row) in predictions.chunks_exact(m).enumerate() {
                let best = (0..m)
                    .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                    .unwrap_or(0);
                let pick = row.iter().position(|&a| a >= threshold).unwrap_or(best);
                quality += data.outcomes.quality(p, columns[pick]);
                cost += data.outcomes.cost(p, columns[pick]);
            }
            OperatingPoint {
                quality: quality / n,
                cost: cost / n,
            }
        })
        .collect();
    Ok(result)
}

/// Random routing over several seeds: mean metrics with their spread, and the mean curve.
fn random(label: &str, pair: &[PairOutcome], settings: Settings) -> Result<PolicyResult> {
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
