//! The learned router behind the evaluation seam: [`LearnedFitter`] trains from benchmark
//! records and [`LearnedPredictor`] answers for a fitted or loaded [`LearnedModel`].

use super::train::{Candidate, Example, TrainConfig, train_parallel};
use crate::bench::BenchmarkRecord;
use crate::eval::{FitError, Fitter, QualityPredictor};
use routewise_core::learn::model::LearnedModel;
use std::sync::Arc;

/// Trains a [`LearnedModel`] with `config`.
#[derive(Debug, Clone)]
pub struct LearnedFitter {
    pub config: TrainConfig,
}

impl Default for LearnedFitter {
    /// The default training settings without the inner held-out folds: evaluation measures the
    /// router with its own grouped k-fold, so one fit per head suffices (4x faster).
    fn default() -> Self {
        Self {
            config: TrainConfig {
                calibration_folds: 0,
                ..TrainConfig::default()
            },
        }
    }
}

/// Scores of `records` for `models`, row-major; a record that lacks a score for one of them is
/// an error naming it.
fn score_table(records: &[&BenchmarkRecord], models: &[String]) -> Result<Vec<f64>, FitError> {
    let mut scores = Vec::with_capacity(records.len() * models.len());
    for record in records {
        for model in models {
            let score = record.scores.get(model).copied().ok_or_else(|| {
                format!("record {:?} has no score for model {model:?}", record.id)
            })?;
            scores.push(score);
        }
    }
    Ok(scores)
}

impl Fitter for LearnedFitter {
    fn name(&self) -> String {
        "learned".to_owned()
    }

    fn fit(
        &self,
        train_records: &[&BenchmarkRecord],
        models: &[String],
        mean_costs: &[f64],
    ) -> Result<Box<dyn QualityPredictor>, FitError> {
        // Evaluation already fits its folds in parallel: one thread per fit here.
        let model = fit_records(
            &self.config,
            train_records,
            models,
            mean_costs,
            1,
            &mut |_| {},
        )?;
        Ok(Box::new(LearnedPredictor::new(Arc::new(model))))
    }
}

/// Fits a model on records with up to `workers` fits at once; `progress` as in [`super::train()`].
pub fn fit_records(
    config: &TrainConfig,
    records: &[&BenchmarkRecord],
    models: &[String],
    mean_costs: &[f64],
    workers: usize,
    progress: &mut dyn FnMut(super::train::Progress),
) -> Result<LearnedModel, FitError> {
    let scores = score_table(records, models)?;
    let width = models.len();
    let examples: Vec<Example<'_>> = records
        .iter()
        .zip(scores.chunks_exact(width.max(1)))
        .map(|(r, s)| Example {
            prompt: &r.prompt,
            category: &r.category,
            scores: s,
        })
        .collect();
    let candidates: Vec<Candidate> = models
        .iter()
        .zip(mean_costs)
        .map(|(name, &cost)| Candidate {
            name: name.clone(),
            mean_cost_usd: cost,
        })
        .collect();
    Ok(train_parallel(
        &examples,
        &candidates,
        config,
        workers,
        progress,
    )?)
}

/// A [`LearnedModel`] as a [`QualityPredictor`]: acceptability per candidate, cheapest first.
#[derive(Debug, Clone)]
pub struct LearnedPredictor {
    model: Arc<LearnedModel>,
    names: Vec<String>,
}

impl LearnedPredictor {
    pub fn new(model: Arc<LearnedModel>) -> Self {
        let names = model.model_names();
        Self { model, names }
    }

    pub fn model(&self) -> &LearnedModel {
        &self.model
    }
}

impl QualityPredictor for LearnedPredictor {
    fn models(&self) -> &[String] {
        &self.names
    }

    fn predict(&self, prompt: &str) -> Vec<f64> {
        self.model.predict(prompt)
    }
}
