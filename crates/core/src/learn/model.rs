//! The learned router's model: a versioned, self-describing, serialisable predictor of how likely
//! each candidate model's answer is to be acceptable, and the decision rule built on it.
//!
//! Per candidate model a logistic head over `[TF-IDF of the user's query | scaled query
//! features]` predicts P(score is high). A model's *acceptability* is the probability that its
//! answer is no worse than the reference's (the best model in training), estimated from the
//! predicted quality gap `gap = sigmoid(margin_ref) - sigmoid(margin_m)` as `1 - gap` (exact
//! for 0/1 scores when the reference is right whenever the candidate is), or Platt-scaled on
//! category-held-out predictions when trained with `platt`. Ranking by the gap transfers to
//! unseen categories far better than predicting the cheap model's correctness alone (hard
//! prompts defeat both models). Held-out calibration metrics are stored in the model file.

use super::LearnError;
use super::query::{QUERY_FEATURE_NAMES, QueryFeatures, tfidf_text, user_query};
use super::tfidf::TfidfVectorizer;
use serde::{Deserialize, Serialize};

/// Written in every model file so other tools can recognise it.
pub const MODEL_FORMAT: &str = "routewise-learned-router";
/// Bumped on any change a reader of older files could misread. 3: answer options' words are
/// their own TF-IDF terms (`o_word`) and two query descriptors were added (option overlap,
/// judgement words), so a version 2 file no longer matches the features of its prompts.
pub const FORMAT_VERSION: u32 = 3;

/// What every version of the file starts with: read first, so a file of another version is
/// refused for its version rather than for whichever field changed.
#[derive(Deserialize)]
struct FileHeader {
    format: String,
    version: u32,
}

/// Everything that turns a prompt into a feature row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    /// Drop few-shot examples before featurising (see [`user_query`]).
    pub strip_few_shot: bool,
    pub vectorizer: TfidfVectorizer,
    /// Names of the dense query features appended after the TF-IDF columns.
    pub query_features: Vec<String>,
    pub query_mean: Vec<f64>,
    pub query_scale: Vec<f64>,
    /// Weight of the standardised query features relative to the unit-norm TF-IDF row.
    pub query_weight: f64,
}

impl FeatureSpec {
    pub fn n_features(&self) -> usize {
        self.vectorizer.n_features() + self.query_features.len()
    }

    /// The feature row of one prompt: sorted (column, value) pairs.
    pub fn row(&self, prompt: &str) -> Vec<(u32, f64)> {
        let query = if self.strip_few_shot {
            user_query(prompt)
        } else {
            prompt
        };
        self.row_of_query(&tfidf_text(query), &QueryFeatures::of(query).values)
    }

    /// The feature row of a query given its TF-IDF text ([`tfidf_text`]) and dense features.
    pub fn row_of_query(&self, text: &str, dense: &[f64]) -> Vec<(u32, f64)> {
        let mut row = self.vectorizer.transform(text);
        let base = self.vectorizer.n_features();
        for (k, value) in dense.iter().enumerate() {
            let (Some(mean), Some(scale)) = (self.query_mean.get(k), self.query_scale.get(k))
            else {
                continue;
            };
            let scaled = (value - mean) / scale * self.query_weight;
            if scaled != 0.0 {
                row.push(((base + k) as u32, scaled));
            }
        }
        row
    }
}

/// Platt scaling: `P(acceptable) = sigmoid(a * gap + b)`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Platt {
    pub a: f64,
    pub b: f64,
}

/// One candidate model's head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelHead {
    pub name: String,
    /// Mean cost per prompt in the training data (USD); orders the candidates.
    pub mean_cost_usd: f64,
    /// Mean score in the training data.
    pub mean_score: f64,
    pub bias: f64,
    /// One weight per feature column; f32 keeps the file small at no accuracy cost.
    pub weights: Vec<f32>,
    /// Maps the quality gap to the reference onto P(acceptable) when trained with Platt
    /// scaling; `None` means `1 - gap`. Unused for the reference.
    pub platt: Option<Platt>,
}

impl ModelHead {
    fn margin(&self, row: &[(u32, f64)]) -> f64 {
        row.iter()
            .map(|&(c, v)| {
                self.weights
                    .get(c as usize)
                    .map_or(0.0, |&w| f64::from(w) * v)
            })
            .sum::<f64>()
            + self.bias
    }
}

/// Quality of one candidate's calibrated, category-held-out acceptability at training time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadMetrics {
    pub name: String,
    /// Mean acceptability label (for the reference, 1 by definition).
    pub base_rate: f64,
    pub log_loss: f64,
    pub brier: f64,
    /// Brier score of always predicting the base rate, for comparison.
    pub brier_baseline: f64,
}

/// Where a model came from and how good it looked when trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingInfo {
    pub examples: usize,
    pub categories: usize,
    /// SHA-256 over every example's category, prompt and scores, in order.
    pub data_sha256: String,
    /// `category` (grouped folds), `row` (when the data has a single category) or `none`
    /// (trained without held-out folds: no metrics).
    pub calibration_split: String,
    pub calibration_folds: usize,
    pub regularisation_c: f64,
    /// Whether acceptability is Platt-scaled (see [`ModelHead::platt`]).
    pub platt: bool,
    /// Held-out metrics per head (same order as [`LearnedModel::models`]); empty without folds.
    pub metrics: Vec<HeadMetrics>,
}

/// A fitted learned router. Candidates are ordered cheapest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearnedModel {
    pub format: String,
    pub version: u32,
    pub features: FeatureSpec,
    pub models: Vec<ModelHead>,
    /// Index into `models` of the quality reference (best mean score in training).
    pub reference: usize,
    pub training: TrainingInfo,
}

/// The decision for one prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct LearnedChoice {
    /// Index into [`LearnedModel::models`].
    pub model: usize,
    /// Acceptability of every candidate, in model order.
    pub acceptability: Vec<f64>,
}

impl LearnedModel {
    /// Parses and validates a model file's JSON.
    pub fn from_json(json: &str) -> Result<Self, LearnError> {
        if let Ok(header) = serde_json::from_str::<FileHeader>(json) {
            check_header(&header.format, header.version)?;
        }
        let model: Self =
            serde_json::from_str(json).map_err(|e| LearnError::Corrupt(e.to_string()))?;
        model.validate()?;
        Ok(model)
    }

    /// The model file's JSON.
    pub fn to_json(&self) -> Result<String, LearnError> {
        serde_json::to_string(self).map_err(|e| LearnError::Corrupt(e.to_string()))
    }

    fn validate(&self) -> Result<(), LearnError> {
        check_header(&self.format, self.version)?;
        let spec = &self.features;
        let dense = spec.query_features.len();
        if spec
            .query_features
            .iter()
            .map(String::as_str)
            .ne(QUERY_FEATURE_NAMES)
            || spec.query_mean.len() != dense
            || spec.query_scale.len() != dense
        {
            return Err(LearnError::Corrupt(format!(
                "the query features must be {QUERY_FEATURE_NAMES:?} with one mean and scale each"
            )));
        }
        if self.models.is_empty() || self.reference >= self.models.len() {
            return Err(LearnError::Corrupt(
                "the model has no candidates or its reference is out of range".into(),
            ));
        }
        let width = spec.n_features();
        if let Some(head) = self.models.iter().find(|h| h.weights.len() != width) {
            return Err(LearnError::Corrupt(format!(
                "head `{}` has {} weights for {width} features",
                head.name,
                head.weights.len()
            )));
        }
        Ok(())
    }

    /// Candidate names, cheapest first.
    pub fn model_names(&self) -> Vec<String> {
        self.models.iter().map(|h| h.name.clone()).collect()
    }

    /// P(score is high) per candidate, in model order, as each head predicts it.
    pub fn predict_quality(&self, prompt: &str) -> Vec<f64> {
        let row = self.features.row(prompt);
        self.models
            .iter()
            .map(|h| sigmoid(h.margin(&row)))
            .collect()
    }

    /// Calibrated P(answer no worse than the reference's) per candidate, each in [0, 1]; the
    /// reference's is 1.
    pub fn predict(&self, prompt: &str) -> Vec<f64> {
        let row = self.features.row(prompt);
        let margins: Vec<f64> = self.models.iter().map(|h| h.margin(&row)).collect();
        let reference = margins.get(self.reference).copied().unwrap_or(0.0);
        self.models
            .iter()
            .zip(&margins)
            .enumerate()
            .map(|(i, (h, &margin))| {
                if i == self.reference {
                    1.0
                } else {
                    acceptability_from_gap(quality_gap(reference, margin), h.platt)
                }
            })
            .collect()
    }

    /// The cheapest candidate whose acceptability clears `threshold` (the reference always does
    /// for thresholds up to 1, and takes everything above).
    pub fn decide(&self, prompt: &str, threshold: f64) -> LearnedChoice {
        let acceptability = self.predict(prompt);
        let model = choose(&acceptability, threshold, self.reference);
        LearnedChoice {
            model,
            acceptability,
        }
    }
}

fn check_header(format: &str, version: u32) -> Result<(), LearnError> {
    if format != MODEL_FORMAT {
        return Err(LearnError::Corrupt(format!(
            "format is `{format}`, expected `{MODEL_FORMAT}`"
        )));
    }
    if version != FORMAT_VERSION {
        return Err(LearnError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    Ok(())
}

/// The decision rule: first (cheapest) candidate with acceptability >= threshold, else the
/// reference.
pub fn choose(acceptability: &[f64], threshold: f64, reference: usize) -> usize {
    acceptability
        .iter()
        .position(|&a| a >= threshold)
        .unwrap_or(reference)
}

/// The logistic function, without overflow for large |z|.
pub fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// A candidate's acceptability from its predicted quality gap to the reference: Platt-scaled
/// when the model was trained with calibration, else `1 - gap`.
pub fn acceptability_from_gap(gap: f64, platt: Option<Platt>) -> f64 {
    match platt {
        Some(p) => sigmoid(p.a * gap + p.b),
        None => (1.0 - gap).clamp(0.0, 1.0),
    }
}

/// The predicted quality gap between the reference and a candidate, from their margins: the
/// uncalibrated score that acceptability calibration maps to a probability.
pub fn quality_gap(reference_margin: f64, candidate_margin: f64) -> f64 {
    sigmoid(reference_margin) - sigmoid(candidate_margin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choose_takes_the_cheapest_model_that_clears_the_threshold() {
        let a = [0.7, 0.8, 1.0];
        assert_eq!(choose(&a, 0.0, 2), 0);
        assert_eq!(choose(&a, 0.75, 2), 1);
        assert_eq!(choose(&a, 0.9, 2), 2);
        assert_eq!(
            choose(&a, 1.5, 2),
            2,
            "above 1 everything goes to the reference"
        );
    }
}
