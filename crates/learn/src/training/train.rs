//! Fitting a [`LearnedModel`] from labelled prompts: features, one logistic head per candidate,
//! Platt calibration on category-held-out predictions, and the training-time metrics.

use super::logistic::{LogisticConfig, LogisticModel};
use super::sparse::CsrMatrix;
use routewise_core::learn::LearnError;
use routewise_core::learn::model::{
    FORMAT_VERSION, FeatureSpec, HeadMetrics, LearnedModel, MODEL_FORMAT, ModelHead, Platt,
    TrainingInfo,
};
use routewise_core::learn::model::{acceptability_from_gap, quality_gap};
use routewise_core::learn::query::{QUERY_FEATURE_NAMES, QueryFeatures, tfidf_text, user_query};
use routewise_core::learn::tfidf::{TfidfConfig, TfidfVectorizer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Training settings; the defaults are those that generalised best to held-out MMLU subjects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub tfidf: TfidfConfig,
    pub logistic: LogisticConfig,
    pub query_weight: f64,
    /// How much each category counts regardless of its size: every prompt is weighted by
    /// `(1 / prompts in its category)^category_balance`. 0 counts prompts (a big category
    /// dominates), 1 counts categories equally. In between keeps one big category from
    /// deciding what the router learns about all the others.
    pub category_balance: f64,
    pub strip_few_shot: bool,
    /// Folds (grouped by category) whose held-out predictions measure (and, with `platt`,
    /// calibrate) the acceptability.
    pub calibration_folds: usize,
    /// Platt-scale the acceptability on the held-out predictions. Off by default: on MMLU with
    /// subjects held out the fitted slope is unstable from fold to fold, and the rescaling cost
    /// 0.04 APGR against the uncalibrated estimate (see docs/EVALUATION.md).
    pub platt: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            tfidf: TfidfConfig::default(),
            logistic: LogisticConfig::default(),
            query_weight: 0.3,
            category_balance: 0.5,
            strip_few_shot: true,
            calibration_folds: 3,
            platt: false,
        }
    }
}

/// One labelled prompt: `scores[m]` is candidate `m`'s quality in [0, 1].
#[derive(Debug, Clone, Copy)]
pub struct Example<'a> {
    pub prompt: &'a str,
    pub category: &'a str,
    pub scores: &'a [f64],
}

/// A model the router may choose, with what a prompt costs on it on average.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub name: String,
    pub mean_cost_usd: f64,
}

/// Training progress, reported in steps of one head fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub done: usize,
    pub total: usize,
}

/// One fit on some training rows: the feature spec, a head per candidate, and the margins of
/// the held-out rows (record index, one margin per head).
struct FitOutput {
    spec: FeatureSpec,
    heads: Vec<LogisticModel>,
    margins: Vec<(usize, Vec<f64>)>,
}

/// Fits a learned router on one thread. `progress` is called as head fits finish (for a
/// progress bar).
pub fn train(
    examples: &[Example<'_>],
    candidates: &[Candidate],
    config: &TrainConfig,
    progress: &mut dyn FnMut(Progress),
) -> Result<LearnedModel, LearnError> {
    train_parallel(examples, candidates, config, 1, progress)
}

/// Fits a learned router with up to `workers` fits at once: the calibration folds and the final
/// fit are independent, so they run on scoped threads. The model does not depend on `workers`.
pub fn train_parallel(
    examples: &[Example<'_>],
    candidates: &[Candidate],
    config: &TrainConfig,
    workers: usize,
    progress: &mut dyn FnMut(Progress),
) -> Result<LearnedModel, LearnError> {
    validate(examples, candidates)?;
    let queries: Vec<&str> = examples
        .iter()
        .map(|e| {
            if config.strip_few_shot {
                user_query(e.prompt)
            } else {
                e.prompt
            }
        })
        .collect();
    let dense: Vec<[f64; QUERY_FEATURE_NAMES.len()]> = queries
        .iter()
        .map(|q| QueryFeatures::of(q).values)
        .collect();
    let tfidf_texts: Vec<std::borrow::Cow<'_, str>> =
        queries.iter().map(|q| tfidf_text(q)).collect();
    let texts: Vec<&str> = tfidf_texts.iter().map(AsRef::as_ref).collect();
    if !(config.category_balance.is_finite() && config.category_balance >= 0.0) {
        return Err(LearnError::Config(format!(
            "category_balance must be a number >= 0 (0 counts prompts, 1 categories), got {}",
            config.category_balance
        )));
    }
    if config.tfidf.min_df == 0 {
        return Err(LearnError::Config(
            "min_df must be at least 1: a term must occur in at least one training prompt".into(),
        ));
    }
    if config.platt && config.calibration_folds < 2 {
        return Err(LearnError::Config(
            "Platt scaling needs held-out predictions: set calibration_folds to 2 or more".into(),
        ));
    }
    // No held-out folds (calibration_folds < 2) skips the held-out metrics: one fit per head,
    // for callers that measure the router themselves (evaluation's own k-fold).
    let (folds, split) = if config.calibration_folds < 2 {
        (vec![0; examples.len()], "none")
    } else {
        assign_folds(examples, config.calibration_folds)
    };
    let n_folds = if config.calibration_folds < 2 {
        0
    } else {
        folds.iter().copied().max().map_or(0, |m| m + 1)
    };
    let m = candidates.len();
    let total = (n_folds + 1) * m;
    let mut done = 0;
    let labels: Vec<Vec<f64>> = (0..m)
        .map(|k| examples.iter().map(|e| e.scores[k]).collect())
        .collect();

    // Every fold's held-out margins and the final fit, up to `workers` at a time.
    let fit_job = |job: Option<usize>| -> Result<FitOutput, LearnError> {
        let (train_rows, test_rows): (Vec<usize>, Vec<usize>) = match job {
            Some(fold) => (0..examples.len()).partition(|&i| folds[i] != fold),
            None => ((0..examples.len()).collect(), Vec::new()),
        };
        let spec = fit_features(&texts, &dense, &train_rows, config)?;
        let x = matrix(&spec, &texts, &dense, &train_rows);
        let weights = category_weights(examples, &train_rows, config.category_balance);
        let mut heads = Vec::with_capacity(m);
        for column in &labels {
            let y: Vec<f64> = train_rows.iter().map(|&i| column[i]).collect();
            heads.push(LogisticModel::fit_weighted(
                &x,
                &y,
                weights.as_deref(),
                config.logistic,
            )?);
        }
        let margins = test_rows
            .iter()
            .map(|&i| {
                let row = spec.row_of_query(texts[i], &dense[i]);
                (i, heads.iter().map(|h| h.margin(&row)).collect())
            })
            .collect();
        Ok(FitOutput {
            spec,
            heads,
            margins,
        })
    };
    let jobs: Vec<Option<usize>> = (0..n_folds).map(Some).chain([None]).collect();
    let mut held_out = vec![vec![0.0; examples.len()]; m];
    let mut final_fit = None;
    for batch in jobs.chunks(workers.max(1)) {
        let outputs: Vec<Result<FitOutput, LearnError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .iter()
                .map(|&job| scope.spawn(move || fit_job(job)))
                .collect();
            handles
                .into_iter()
                .map(|handle| {
                    handle.join().unwrap_or_else(|_| {
                        Err(LearnError::Optimiser("a training thread panicked".into()))
                    })
                })
                .collect()
        });
        for (&job, output) in batch.iter().zip(outputs) {
            let output = output?;
            for (i, margins) in &output.margins {
                for (k, &margin) in margins.iter().enumerate() {
                    held_out[k][*i] = margin;
                }
            }
            if job.is_none() {
                final_fit = Some(output);
            }
            done += m;
            progress(Progress { done, total });
        }
    }
    let Some(FitOutput {
        spec,
        heads: final_heads,
        ..
    }) = final_fit
    else {
        return Err(LearnError::Shape("the final fit did not run".into()));
    };

    // The reference is the best model on average; every other candidate's acceptability is
    // judged against it.
    let means: Vec<f64> = labels.iter().map(|l| mean(l)).collect();
    let reference = (0..m)
        .max_by(|&a, &b| {
            means[a].total_cmp(&means[b]).then_with(|| {
                candidates[a]
                    .mean_cost_usd
                    .total_cmp(&candidates[b].mean_cost_usd)
            })
        })
        .unwrap_or(0);

    let mut heads = Vec::with_capacity(m);
    let mut metrics = Vec::with_capacity(m);
    for ((k, candidate), head) in candidates.iter().enumerate().zip(final_heads) {
        let (platt, head_metrics) = if k == reference {
            (None, Some(reference_metrics(&candidate.name)))
        } else if n_folds == 0 {
            (None, None)
        } else {
            let gaps: Vec<f64> = (0..examples.len())
                .map(|i| quality_gap(held_out[reference][i], held_out[k][i]))
                .collect();
            let accepted: Vec<f64> = (0..examples.len())
                .map(|i| 1.0 - (labels[reference][i] - labels[k][i]).max(0.0))
                .collect();
            let platt = if config.platt {
                let fit = fit_platt(&gaps, &accepted)?;
                // A larger gap must never raise acceptability: on held-out categories the
                // fitted slope can come out flat or even positive by noise, which would reverse
                // the ranking. A slightly negative slope keeps the ranking.
                Some(Platt {
                    a: fit.a.min(-MIN_SLOPE),
                    b: fit.b,
                })
            } else {
                None
            };
            let metrics = head_metrics(&candidate.name, &gaps, &accepted, platt);
            (platt, Some(metrics))
        };
        if let Some(head_metrics) = head_metrics {
            metrics.push(head_metrics);
        }
        heads.push(ModelHead {
            name: candidate.name.clone(),
            mean_cost_usd: candidate.mean_cost_usd,
            mean_score: means[k],
            bias: head.bias,
            weights: head.weights.iter().map(|&w| w as f32).collect(),
            platt,
        });
    }

    // Cheapest first, so the decision rule is a scan; metrics follow the same order.
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| {
        heads[a]
            .mean_cost_usd
            .total_cmp(&heads[b].mean_cost_usd)
            .then_with(|| heads[a].name.cmp(&heads[b].name))
    });
    let reference = order.iter().position(|&i| i == reference).unwrap_or(0);
    let heads: Vec<ModelHead> = order.iter().map(|&i| heads[i].clone()).collect();
    let metrics: Vec<HeadMetrics> = if n_folds == 0 {
        Vec::new()
    } else {
        order.iter().map(|&i| metrics[i].clone()).collect()
    };
    let categories = examples
        .iter()
        .map(|e| e.category)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    Ok(LearnedModel {
        format: MODEL_FORMAT.to_owned(),
        version: FORMAT_VERSION,
        features: spec,
        models: heads,
        reference,
        training: TrainingInfo {
            examples: examples.len(),
            categories,
            data_sha256: data_hash(examples),
            calibration_split: split.to_owned(),
            calibration_folds: n_folds,
            regularisation_c: config.logistic.c,
            platt: config.platt,
            metrics,
        },
    })
}

fn validate(examples: &[Example<'_>], candidates: &[Candidate]) -> Result<(), LearnError> {
    if examples.len() < 2 {
        return Err(LearnError::NoExamples);
    }
    if candidates.is_empty() {
        return Err(LearnError::Config(
            "name at least one candidate model".into(),
        ));
    }
    for (i, e) in examples.iter().enumerate() {
        if e.scores.len() != candidates.len() {
            return Err(LearnError::Shape(format!(
                "example {i} has {} scores for {} candidate models",
                e.scores.len(),
                candidates.len()
            )));
        }
        if let Some(bad) = e.scores.iter().find(|s| !(0.0..=1.0).contains(*s)) {
            return Err(LearnError::Shape(format!(
                "example {i} has score {bad}; scores must be in [0, 1]"
            )));
        }
    }
    Ok(())
}

/// Grouped folds: whole categories, largest first onto the lightest fold (as scikit-learn's
/// GroupKFold), so calibration sees predictions for categories the head never saw. With a
/// single category, rows are dealt round-robin instead.
fn assign_folds(examples: &[Example<'_>], k: usize) -> (Vec<usize>, &'static str) {
    let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for e in examples {
        *sizes.entry(e.category).or_insert(0) += 1;
    }
    if sizes.len() < 2 {
        let k = k.min(examples.len());
        return ((0..examples.len()).map(|i| i % k).collect(), "row");
    }
    let k = k.min(sizes.len());
    let mut by_size: Vec<(&str, usize)> = sizes.into_iter().collect();
    by_size.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let mut load = vec![0usize; k];
    let mut fold_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (category, size) in by_size {
        let lightest = (0..k).min_by_key(|&f| (load[f], f)).unwrap_or(0);
        load[lightest] += size;
        fold_of.insert(category, lightest);
    }
    let folds = examples
        .iter()
        .map(|e| fold_of.get(e.category).copied().unwrap_or(0))
        .collect();
    (folds, "category")
}

fn fit_features(
    texts: &[&str],
    dense: &[[f64; QUERY_FEATURE_NAMES.len()]],
    rows: &[usize],
    config: &TrainConfig,
) -> Result<FeatureSpec, LearnError> {
    let docs: Vec<&str> = rows.iter().map(|&i| texts[i]).collect();
    let vectorizer = TfidfVectorizer::fit(&docs, config.tfidf.clone())?;
    let n = rows.len().max(1) as f64;
    let d = QUERY_FEATURE_NAMES.len();
    let mut query_mean = vec![0.0; d];
    let mut query_scale = vec![0.0; d];
    for k in 0..d {
        let mean = rows.iter().map(|&i| dense[i][k]).sum::<f64>() / n;
        let var = rows
            .iter()
            .map(|&i| (dense[i][k] - mean).powi(2))
            .sum::<f64>()
            / n;
        query_mean[k] = mean;
        // A constant feature carries nothing; scale 1 keeps it at zero instead of dividing by 0.
        query_scale[k] = if var > 1e-12 { var.sqrt() } else { 1.0 };
    }
    Ok(FeatureSpec {
        strip_few_shot: config.strip_few_shot,
        vectorizer,
        query_features: QUERY_FEATURE_NAMES
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
        query_mean,
        query_scale,
        query_weight: config.query_weight,
    })
}

/// Row weights `(1 / size of the row's category)^balance`; `None` when they are all equal.
fn category_weights(examples: &[Example<'_>], rows: &[usize], balance: f64) -> Option<Vec<f64>> {
    let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for &i in rows {
        *sizes.entry(examples[i].category).or_insert(0) += 1;
    }
    if balance == 0.0 || sizes.len() < 2 {
        return None;
    }
    Some(
        rows.iter()
            .map(|&i| {
                let size = sizes.get(examples[i].category).copied().unwrap_or(1) as f64;
                size.powf(-balance)
            })
            .collect(),
    )
}

fn matrix(
    spec: &FeatureSpec,
    texts: &[&str],
    dense: &[[f64; QUERY_FEATURE_NAMES.len()]],
    rows: &[usize],
) -> CsrMatrix {
    let mut x = CsrMatrix::new(spec.n_features());
    for &i in rows {
        x.push_row(&spec.row_of_query(texts[i], &dense[i]));
    }
    x
}

/// The flattest acceptability calibration allowed (see its use).
const MIN_SLOPE: f64 = 1e-3;

/// Platt scaling is a one-feature logistic regression on held-out scores; a weak penalty
/// keeps it finite when the scores separate the labels perfectly.
fn fit_platt(margins: &[f64], labels: &[f64]) -> Result<Platt, LearnError> {
    let mut x = CsrMatrix::new(1);
    for &m in margins {
        x.push_row(&[(0, m)]);
    }
    let config = LogisticConfig {
        c: 1e4,
        max_iters: 100,
    };
    let fit = LogisticModel::fit(&x, labels, config)?;
    Ok(Platt {
        a: fit.weights.first().copied().unwrap_or(0.0),
        b: fit.bias,
    })
}

fn head_metrics(name: &str, gaps: &[f64], labels: &[f64], platt: Option<Platt>) -> HeadMetrics {
    let base_rate = mean(labels);
    let eps = 1e-12;
    let n = labels.len().max(1) as f64;
    let (mut log_loss, mut brier, mut brier_baseline) = (0.0, 0.0, 0.0);
    for (&gap, &y) in gaps.iter().zip(labels) {
        let p = acceptability_from_gap(gap, platt).clamp(eps, 1.0 - eps);
        log_loss -= y * p.ln() + (1.0 - y) * (1.0 - p).ln();
        brier += (p - y).powi(2);
        brier_baseline += (base_rate - y).powi(2);
    }
    HeadMetrics {
        name: name.to_owned(),
        base_rate,
        log_loss: log_loss / n,
        brier: brier / n,
        brier_baseline: brier_baseline / n,
    }
}

/// The reference is acceptable relative to itself by definition.
fn reference_metrics(name: &str) -> HeadMetrics {
    HeadMetrics {
        name: name.to_owned(),
        base_rate: 1.0,
        log_loss: 0.0,
        brier: 0.0,
        brier_baseline: 0.0,
    }
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

fn data_hash(examples: &[Example<'_>]) -> String {
    let mut hasher = Sha256::new();
    for e in examples {
        hasher.update(e.category.as_bytes());
        hasher.update([0]);
        hasher.update(e.prompt.as_bytes());
        hasher.update([0]);
        for s in e.scores {
            hasher.update(s.to_le_bytes());
        }
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
