//! Routers as evaluation sees them: per-prompt strong-ness scores (higher = send to the strong
//! model) for the baselines (random, oracle), the foundation's policies (rules, complexity), and
//! any [`QualityPredictor`], including one trained in-run under grouped k-fold.

use std::sync::atomic::{AtomicUsize, Ordering};

use rand::{Rng, SeedableRng, rngs::StdRng};

use super::{EvalError, Fitter, PairOutcome, QualityPredictor, grouped_folds_seeded};
use crate::bench::BenchmarkRecord;
use routewise_core::catalog::{Catalog, ModelSet};
use routewise_core::policy::{Policy, PolicyInput, Target};
use routewise_core::request::ChatInput;
use routewise_core::signals::Signals;

/// Uniform random scores from a seeded generator: the baseline every router must beat.
pub fn random_scores(prompts: usize, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..prompts).map(|_| rng.random::<f64>()).collect()
}

/// The oracle knows the answers: it sends a prompt to the strong model exactly as much as the
/// strong model gains on it, cheapest gains first among equals. An upper bound, not a router.
pub fn oracle_scores(outcomes: &[PairOutcome]) -> Vec<f64> {
    outcomes
        .iter()
        .map(|o| o.strong_quality - o.weak_quality)
        .collect()
}

/// Runs a foundation policy on each request, given its signals (extract them once and share
/// them between policies: tokenising dominates the cost). The score is the policy's own
/// continuous score when it has one (complexity), so the whole curve can be swept; otherwise the
/// position of its target tier, 0 (cheapest) to 1 (top), which makes a discrete policy such as
/// `rules` a single operating point on the curve.
pub fn policy_scores(
    policy: &dyn Policy,
    catalog: &Catalog,
    requests: &[ChatInput],
    signals: &[Signals],
) -> Vec<f64> {
    let top = catalog.top_tier().max(1) as f64;
    let eligible = ModelSet::all(catalog);
    // Benchmark policies are deterministic; a fixed seed keeps any that is not reproducible.
    let mut rng = StdRng::seed_from_u64(0);
    requests
        .iter()
        .zip(signals)
        .map(|(request, signals)| {
            let input = PolicyInput::plain(signals, request, catalog, &eligible);
            let choice = policy.choose(&input, &mut rng);
            choice.score.unwrap_or_else(|| {
                let tier = match choice.target {
                    Target::Tier(tier) => tier,
                    Target::Model(model) => catalog.get(model).map_or(0, |m| m.tier),
                };
                tier as f64 / top
            })
        })
        .collect()
}

/// Two-model scores of a predictor: the decision is "weak when its probability clears the
/// threshold", so the strong-ness is `1 - P(weak acceptable)`.
pub fn weak_doubt_scores(probabilities: &[f64], models: usize, weak: usize) -> Vec<f64> {
    probabilities
        .chunks_exact(models)
        .map(|row| 1.0 - row[weak])
        .collect()
}

/// Per prompt and model (row-major), the predictor's probabilities on these prompts.
pub fn predict_all(predictor: &dyn QualityPredictor, prompts: &[&str]) -> Vec<f64> {
    prompts.iter().flat_map(|p| predictor.predict(p)).collect()
}

/// Out-of-fold predictions under grouped k-fold by category: each record is predicted by a
/// model fitted on the other folds, which never saw its category. `models` come cheapest first
/// with their `mean_costs` (see [`Fitter::fit`]). Returns probabilities per record and model
/// (row-major, `models` order).
///
/// Folds are independent, so up to `workers` of them are fitted at once on scoped threads; the
/// result does not depend on `workers`. `progress(done, total)` is called as folds finish.
/// `fold_seed` picks another grouped assignment (see [`grouped_folds_seeded`]).
#[expect(
    clippy::too_many_arguments,
    reason = "each argument is one independent knob of the cross-validation"
)]
pub fn cross_validated_predictions(
    fitter: &dyn Fitter,
    records: &[BenchmarkRecord],
    models: &[String],
    mean_costs: &[f64],
    folds: usize,
    fold_seed: Option<u64>,
    workers: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<f64>, CrossValidationError> {
    let categories: Vec<&str> = records.iter().map(|r| r.category.as_str()).collect();
    let (fold_of, folds) = grouped_folds_seeded(&categories, folds, fold_seed)?;
    let m = models.len();
    let done = AtomicUsize::new(0);
    let predict_fold = |fold: usize| -> Result<FoldRows, CrossValidationError> {
        let train: Vec<&BenchmarkRecord> = records
            .iter()
            .zip(&fold_of)
            .filter(|(_, f)| **f != fold)
            .map(|(r, _)| r)
            .collect();
        let predictor = fitter
            .fit(&train, models, mean_costs)
            .map_err(|source| CrossValidationError::Fit { fold, source })?;
        let order = matching_order(predictor.models(), models)?;
        let rows = records
            .iter()
            .enumerate()
            .filter(|(index, _)| fold_of[*index] == fold)
            .map(|(index, record)| {
                let row = predictor.predict(&record.prompt);
                let ordered = order
                    .iter()
                    .map(|&from| row.get(from).copied().unwrap_or(0.0))
                    .collect();
                (index, ordered)
            })
            .collect();
        progress(done.fetch_add(1, Ordering::Relaxed) + 1, folds);
        Ok(rows)
    };

    let mut predictions = vec![0.0; records.len() * m];
    let all_folds: Vec<usize> = (0..folds).collect();
    for batch in all_folds.chunks(workers.max(1)) {
        let results: Vec<Result<FoldRows, CrossValidationError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|&fold| scope.spawn(move || predict_fold(fold)))
                .collect();
            handles
                .into_iter()
                .zip(batch)
                .map(|(handle, &fold)| {
                    handle
                        .join()
                        .unwrap_or(Err(CrossValidationError::Panicked { fold }))
                })
                .collect()
        });
        for rows in results {
            for (index, row) in rows? {
                predictions[index * m..(index + 1) * m].copy_from_slice(&row);
            }
        }
    }
    Ok(predictions)
}

/// A fold's predictions: record index and its probabilities in `models` order.
type FoldRows = Vec<(usize, Vec<f64>)>;

/// Where each wanted model sits in the predictor's output.
fn matching_order(have: &[String], want: &[String]) -> Result<Vec<usize>, CrossValidationError> {
    want.iter()
        .map(|model| {
            have.iter()
                .position(|h| h == model)
                .ok_or_else(|| CrossValidationError::MissingModel {
                    model: model.clone(),
                })
        })
        .collect()
}

/// Why in-run training for evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum CrossValidationError {
    #[error(transparent)]
    Split(#[from] EvalError),
    #[error("training on fold {fold} failed: {source}")]
    Fit {
        fold: usize,
        #[source]
        source: super::FitError,
    },
    #[error("training on fold {fold} crashed: this is a bug in the router's fitter")]
    Panicked { fold: usize },
    #[error(
        "the fitted router predicts no probability for model {model:?}: it must cover every model it was asked to fit"
    )]
    MissingModel { model: String },
}

#[cfg(test)]
mod tests;
