//! Training settings of the learned router, shared by `train` and `eval` (which trains it
//! in-run), so that a setting measured with `eval` is the one `train` ships.

use clap::Args;
use routewise_learn::training::TrainConfig;

#[derive(Debug, Clone, Args)]
pub struct LearnArgs {
    /// Inverse regularisation strength of the logistic heads (larger fits the data harder).
    #[arg(long, allow_negative_numbers = true, default_value_t = TrainConfig::default().logistic.c)]
    c: f64,
    /// Minimum number of training prompts a term must occur in.
    #[arg(long, default_value_t = TrainConfig::default().tfidf.min_df)]
    min_df: usize,
    /// Weight each prompt by (1 / prompts in its category)^B: 0 counts prompts, 1 counts
    /// categories equally.
    #[arg(long, value_name = "B", allow_negative_numbers = true, default_value_t = TrainConfig::default().category_balance)]
    category_balance: f64,
}

impl LearnArgs {
    /// `base` with these settings applied.
    pub fn apply(&self, mut base: TrainConfig) -> TrainConfig {
        base.logistic.c = self.c;
        base.tfidf.min_df = self.min_df;
        base.category_balance = self.category_balance;
        base
    }
}
