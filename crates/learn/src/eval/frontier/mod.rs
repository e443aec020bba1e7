//! N-model evaluation: where a routing policy lands on the quality/cost plane against every
//! single model and the oracle, and its Pareto frontier.
//!
//! A policy here is a per-prompt choice of model; the frontier of a threshold sweep is the set
//! of operating points no other point beats on both quality and cost.

use serde::Serialize;

use super::EvalError;

/// Quality and cost of every model on every prompt, stored row-major (prompt by model).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOutcomes {
    models: Vec<String>,
    quality: Vec<f64>,
    cost: Vec<f64>,
}

/// Mean quality and mean USD per prompt of one way of routing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OperatingPoint {
    pub quality: f64,
    pub cost: f64,
}

impl ModelOutcomes {
    /// `quality[p * models.len() + m]` is model `m`'s quality on prompt `p`; same for `cost`.
    pub fn new(models: Vec<String>, quality: Vec<f64>, cost: Vec<f64>) -> Result<Self, EvalError> {
        if models.is_empty() || quality.is_empty() {
            return Err(EvalError::Empty);
        }
        if !quality.len().is_multiple_of(models.len()) {
            return Err(EvalError::LengthMismatch {
                what: "quality matrix",
                got: quality.len(),
                expected: quality.len().next_multiple_of(models.len()),
            });
        }
        if cost.len() != quality.len() {
            return Err(EvalError::LengthMismatch {
                what: "cost matrix",
                got: cost.len(),
                expected: quality.len(),
            });
        }
        Ok(Self {
            models,
            quality,
            cost,
        })
    }

    pub fn models(&self) -> &[String] {
        &self.models
    }

    pub fn prompts(&self) -> usize {
        self.quality.len() / self.models.len()
    }

    pub fn quality(&self, prompt: usize, model: usize) -> f64 {
        self.quality[prompt * self.models.len() + model]
    }

    pub fn cost(&self, prompt: usize, model: usize) -> f64 {
        self.cost[prompt * self.models.len() + model]
    }

    /// Where always sending every prompt to `model` lands.
    pub fn single_model(&self, model: usize) -> OperatingPoint {
        let n = self.prompts() as f64;
        let (quality, cost) = (0..self.prompts()).fold((0.0, 0.0), |(q, c), p| {
            (q + self.quality(p, model), c + self.cost(p, model))
        });
        OperatingPoint {
            quality: quality / n,
            cost: cost / n,
        }
    }

    /// Models ordered from cheapest to dearest by mean cost on these prompts (name breaks ties).
    pub fn models_by_cost(&self) -> Vec<usize> {
        let means: Vec<f64> = (0..self.models.len())
            .map(|m| self.single_model(m).cost)
            .collect();
        let mut order: Vec<usize> = (0..self.models.len()).collect();
        order.sort_by(|&a, &b| {
            means[a]
                .total_cmp(&means[b])
                .then_with(|| self.models[a].cmp(&self.models[b]))
        });
        order
    }

    /// Where a per-prompt choice of model lands. `choices[p]` indexes [`ModelOutcomes::models`].
    pub fn evaluate(&self, choices: &[usize]) -> Result<OperatingPoint, EvalError> {
        if choices.len() != self.prompts() {
            return Err(EvalError::LengthMismatch {
                what: "model choices",
                got: choices.len(),
                expected: self.prompts(),
            });
        }
        let n = self.prompts() as f64;
        let (quality, cost) = choices
            .iter()
            .enumerate()
            .fold((0.0, 0.0), |(q, c), (p, &m)| {
                (q + self.quality(p, m), c + self.cost(p, m))
            });
        Ok(OperatingPoint {
            quality: quality / n,
            cost: cost / n,
        })
    }

    /// The oracle: per prompt, the best-scoring model, the cheapest among equals. An upper bound
    /// no real router reaches; it shows how much routing could gain on this data.
    pub fn oracle_choices(&self) -> Vec<usize> {
        let m = self.models.len();
        (0..self.prompts())
            .map(|p| {
                (0..m)
                    .min_by(|&a, &b| {
                        self.quality(p, b)
                            .total_cmp(&self.quality(p, a))
                            .then_with(|| self.cost(p, a).total_cmp(&self.cost(p, b)))
                    })
                    .unwrap_or(0)
            })
            .collect()
    }
}

/// The oracle's whole frontier: per prompt the model maximising `quality - lambda * cost`, for
/// `lambda` from 0 (the best model, cheapest among equals) up to a price so high that the
/// cheapest model wins everywhere. Shows the best any router could trade quality for cost.
pub fn oracle_sweep(outcomes: &ModelOutcomes) -> Vec<OperatingPoint> {
    let m = outcomes.models().len();
    let mean_cost = outcomes.cost.iter().sum::<f64>() / outcomes.cost.len() as f64;
    // Prices of quality spread over six decades around the data's own cost scale.
    let scale = if mean_cost > 0.0 {
        1.0 / mean_cost
    } else {
        1.0
    };
    let lambdas =
        std::iter::once(0.0).chain((-30..=30).map(|k| scale * 10f64.powf(f64::from(k) / 10.0)));
    lambdas
        .map(|lambda| {
            let choices: Vec<usize> = (0..outcomes.prompts())
                .map(|p| {
                    (0..m)
                        .min_by(|&a, &b| {
                            let value =
                                |x: usize| outcomes.quality(p, x) - lambda * outcomes.cost(p, x);
                            value(b)
                                .total_cmp(&value(a))
                                .then_with(|| outcomes.cost(p, a).total_cmp(&outcomes.cost(p, b)))
                        })
                        .unwrap_or(0)
                })
                .collect();
            let (quality, cost) = choices
                .iter()
                .enumerate()
                .fold((0.0, 0.0), |(q, c), (p, &x)| {
                    (q + outcomes.quality(p, x), c + outcomes.cost(p, x))
                });
            let n = outcomes.prompts() as f64;
            OperatingPoint {
                quality: quality / n,
                cost: cost / n,
            }
        })
        .collect()
}

/// The learned decision rule on one prompt: the cheapest model (in `by_cost` order) whose
/// predicted acceptability reaches `threshold`, else the model predicted best.
pub fn cheapest_acceptable(probabilities: &[f64], by_cost: &[usize], threshold: f64) -> usize {
    by_cost
        .iter()
        .copied()
        .find(|&m| probabilities[m] >= threshold)
        .unwrap_or_else(|| {
            (0..probabilities.len())
                .max_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b]))
                .unwrap_or(0)
        })
}

/// Operating points of the cheapest-acceptable rule over a sweep of thresholds.
/// `probabilities` is row-major (prompt by model) like [`ModelOutcomes`].
pub fn threshold_sweep(
    outcomes: &ModelOutcomes,
    probabilities: &[f64],
    thresholds: &[f64],
) -> Result<Vec<OperatingPoint>, EvalError> {
    let m = outcomes.models().len();
    if probabilities.len() != outcomes.prompts() * m {
        return Err(EvalError::LengthMismatch {
            what: "predicted probabilities",
            got: probabilities.len(),
            expected: outcomes.prompts() * m,
        });
    }
    let by_cost = outcomes.models_by_cost();
    thresholds
        .iter()
        .map(|&t| {
            let choices: Vec<usize> = probabilities
                .chunks_exact(m)
                .map(|row| cheapest_acceptable(row, &by_cost, t))
                .collect();
            outcomes.evaluate(&choices)
        })
        .collect()
}

/// The Pareto frontier of some points: by increasing cost, each strictly better in quality than
/// every cheaper one.
pub fn pareto_frontier(points: &[OperatingPoint]) -> Vec<OperatingPoint> {
    let mut sorted = points.to_vec();
    sorted.sort_by(|a, b| {
        a.cost
            .total_cmp(&b.cost)
            .then(b.quality.total_cmp(&a.quality))
    });
    let mut frontier: Vec<OperatingPoint> = Vec::new();
    for point in sorted {
        if frontier
            .last()
            .is_none_or(|best| point.quality > best.quality)
        {
            frontier.push(point);
        }
    }
    frontier
}

/// The cheapest frontier point whose quality reaches `quality` (within float noise).
pub fn cheapest_reaching(frontier: &[OperatingPoint], quality: f64) -> Option<OperatingPoint> {
    frontier
        .iter()
        .filter(|p| p.quality >= quality - 1e-12)
        .min_by(|a, b| a.cost.total_cmp(&b.cost))
        .copied()
}

#[cfg(test)]
mod tests;
