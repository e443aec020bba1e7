//! The learned router as served: features of the user's query (TF-IDF word 1-2 grams and
//! query descriptors, word rarity among them), one calibrated logistic head per candidate model,
//! the decision rule "cheapest model whose acceptability clears the threshold", the versioned
//! model file, and the policy that plugs it into the [`crate::router::Router`].
//!
//! Fitting and calibrating a model is offline work and lives in `routewise-learn`; everything
//! here is what a decision needs. Reading and writing model files happens in the shell.

pub mod model;
pub mod overlap;
pub mod policy;
pub mod query;
pub mod rarity;
pub mod tfidf;

pub use model::{FORMAT_VERSION, LearnedChoice, LearnedModel, MODEL_FORMAT};
pub use policy::LearnedPolicy;

use thiserror::Error;

/// What went wrong while training, loading or calibrating a learned router.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum LearnError {
    #[error("no training examples: give at least two labelled prompts")]
    NoExamples,
    #[error(
        "no term occurs in at least {min_df} of the {documents} training prompts: add data or lower min_df"
    )]
    EmptyVocabulary { documents: usize, min_df: usize },
    #[error("inconsistent training data: {0}")]
    Shape(String),
    #[error("invalid learned-router setting: {0}")]
    Config(String),
    #[error("the optimiser failed: {0}")]
    Optimiser(String),
    #[error("not a valid routewise learned-router model: {0}; retrain it with `routewise train`")]
    Corrupt(String),
    #[error(
        "model file format version {found} is not supported (this build reads {supported}); retrain with `routewise train`"
    )]
    UnsupportedVersion { found: u32, supported: u32 },
    #[error("no threshold meets the target on this data: relax the target")]
    TargetUnreachable,
}
