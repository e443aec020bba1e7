//! The seam between the evaluation harness and any trainable router: a [`Fitter`] learns from
//! labelled records and returns a [`QualityPredictor`], which evaluation queries prompt by prompt.
//!
//! `routewise eval` trains fitters in-run under grouped k-fold (so no category is both trained
//! on and tested on) and loads saved predictors for `learned:PATH`; either way it only ever sees
//! these two traits.

use std::fmt::Debug;

use crate::bench::BenchmarkRecord;

/// Error a fitter may return; boxed so each router keeps its own typed error.
pub type FitError = Box<dyn std::error::Error + Send + Sync>;

/// A fitted router as evaluation sees it: per candidate model, the probability that the model's
/// answer to a prompt is acceptable.
pub trait QualityPredictor: Debug + Send + Sync {
    /// Candidate models, in the order of [`QualityPredictor::predict`]'s output.
    fn models(&self) -> &[String];

    /// Calibrated probability, per model in [`QualityPredictor::models`] order, that its answer
    /// to `prompt` is acceptable. Values lie in `[0, 1]`.
    fn predict(&self, prompt: &str) -> Vec<f64>;
}

/// Something that learns a [`QualityPredictor`] from labelled records.
pub trait Fitter: Debug + Send + Sync {
    /// Short name shown in tables and plots (e.g. `learned`).
    fn name(&self) -> String;

    /// Fits on `train`, predicting acceptability for each of `models` (every record scores all
    /// of them). `models` come cheapest first, with `mean_costs[i]` the mean USD per prompt of
    /// `models[i]` on the evaluation data. Must be deterministic for the same input.
    fn fit(
        &self,
        train: &[&BenchmarkRecord],
        models: &[String],
        mean_costs: &[f64],
    ) -> Result<Box<dyn QualityPredictor>, FitError>;
}
