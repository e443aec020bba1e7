//! Errors of the evaluation maths: inputs that cannot yield a meaningful metric.

/// Why a metric could not be computed; each says what to fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error("no prompts to evaluate: pass a data file with at least one record")]
    Empty,
    #[error("{what} has {got} entries but there are {expected} prompts: give one per prompt")]
    LengthMismatch {
        what: &'static str,
        got: usize,
        expected: usize,
    },
    #[error("router score for prompt {index} is not a number: scores must be finite")]
    NonFiniteScore { index: usize },
    #[error(
        "weak and strong models have the same mean quality ({quality}): PGR is undefined; \
         pick a pair whose quality differs"
    )]
    NoQualityGap { quality: f64 },
    #[error(
        "grouped k-fold needs at least 2 categories, found {found}: add more categories or evaluate a saved model"
    )]
    TooFewGroups { found: usize },
}
