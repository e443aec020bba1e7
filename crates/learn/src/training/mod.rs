//! Fitting the learned router offline: sparse logistic regression (L-BFGS), one head per
//! candidate model, Platt calibration on category-held-out predictions, threshold calibration,
//! and the [`crate::eval::Fitter`] that `routewise eval` trains under grouped k-fold.
//!
//! What a fitted model *is* (its file format, features and decision rule) lives in
//! `routewise_core::learn`, so that serving links the predictor and not the trainer.

pub mod fitter;
pub mod logistic;
pub mod sparse;
pub mod threshold;
pub mod train;

#[cfg(test)]
mod tests;

pub use fitter::{LearnedFitter, LearnedPredictor, fit_records};
pub use threshold::{CalibrationPoint, CalibrationTarget, Operating, calibrate};
pub use train::{Candidate, Example, Progress, TrainConfig, train, train_parallel};
