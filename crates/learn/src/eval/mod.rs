//! Offline evaluation maths: threshold sweeps and deferral curves for two models, quality/cost
//! frontiers for N models, grouped k-fold splits, and the seam trainable routers plug into.
//!
//! All of it is pure: the CLI loads data and renders tables and plots.

pub mod curve;
pub mod error;
pub mod frontier;
pub mod kfold;
pub mod predictor;
pub mod scorers;
pub mod summary;
pub mod transfer;

pub use curve::{CurvePoint, DeferralCurve, PairOutcome, Savings};
pub use error::EvalError;
pub use frontier::{ModelOutcomes, OperatingPoint};
pub use kfold::{grouped_folds, grouped_folds_seeded};
pub use predictor::{FitError, Fitter, QualityPredictor};
pub use scorers::CrossValidationError;
pub use summary::{PolicySummary, SAVINGS_QUALITY_FRACTION};
