//! L2-regularised logistic regression on sparse rows, optimised with argmin's L-BFGS.
//!
//! Objective (scikit-learn's, divided by the row count for conditioning):
//! `mean_i logloss(y_i, w.x_i + b) + ||w||^2 / (2 C n)`; the intercept is not penalised.
//! Labels may be soft (any value in [0, 1]), so graded scores such as F1 train directly.

use super::sparse::CsrMatrix;
use argmin::core::{CostFunction, Error as ArgminError, Executor, Gradient, State};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use routewise_core::learn::LearnError;
use routewise_core::learn::model::sigmoid;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;

/// Regularisation and stopping settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogisticConfig {
    /// Inverse regularisation strength, as scikit-learn's `C`.
    pub c: f64,
    pub max_iters: u64,
}

impl Default for LogisticConfig {
    fn default() -> Self {
        Self {
            c: 0.3,
            max_iters: 100,
        }
    }
}

/// A fitted linear model: `P(y = 1 | x) = sigmoid(w.x + b)`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogisticModel {
    pub weights: Vec<f64>,
    pub bias: f64,
}

/// `ln(1 + e^z)` without overflow.
fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

struct Problem<'a> {
    x: &'a CsrMatrix,
    y: &'a [f64],
    /// Per-row weights with mean 1, or `None` for all ones.
    weights: Option<&'a [f64]>,
    /// `1 / (C n)`: the penalty weight after dividing the objective by n.
    alpha: f64,
    /// L-BFGS asks for the cost and the gradient at the same point; one pass over the data
    /// yields both, so the last point's pair is kept.
    last: RefCell<Option<Evaluated>>,
}

/// A point with its objective and gradient.
type Evaluated = (Vec<f64>, f64, Vec<f64>);

impl Problem<'_> {
    fn n(&self) -> f64 {
        self.x.n_rows().max(1) as f64
    }

    fn margin(&self, row: usize, p: &[f64]) -> f64 {
        let d = self.x.n_cols();
        self.x.dot_row(row, &p[..d]) + p[d]
    }

    /// Objective and gradient at `p`, in one pass over the rows.
    fn evaluate(&self, p: &[f64]) -> (f64, Vec<f64>) {
        if let Some((at, cost, gradient)) = self.last.borrow().as_ref()
            && at.as_slice() == p
        {
            return (*cost, gradient.clone());
        }
        let d = self.x.n_cols();
        let n = self.n();
        let mut g: Vec<f64> = p[..d].iter().map(|w| self.alpha * w).collect();
        let mut g_bias = 0.0;
        let mut loss = 0.0;
        for i in 0..self.x.n_rows() {
            let z = self.margin(i, p);
            let weight = self.weights.map_or(1.0, |w| w[i]);
            loss += weight * (softplus(z) - self.y[i] * z);
            let r = weight * (sigmoid(z) - self.y[i]) / n;
            let (columns, values) = self.x.row(i);
            for (&c, &v) in columns.iter().zip(values) {
                g[c as usize] += r * v;
            }
            g_bias += r;
        }
        g.push(g_bias);
        let penalty: f64 = p[..d].iter().map(|w| w * w).sum();
        let cost = loss / n + 0.5 * self.alpha * penalty;
        *self.last.borrow_mut() = Some((p.to_vec(), cost, g.clone()));
        (cost, g)
    }

    fn cost(&self, p: &[f64]) -> f64 {
        self.evaluate(p).0
    }

    fn gradient(&self, p: &[f64]) -> Vec<f64> {
        self.evaluate(p).1
    }
}

impl CostFunction for Problem<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, p: &Self::Param) -> Result<f64, ArgminError> {
        Ok(Problem::cost(self, p))
    }
}

impl Gradient for Problem<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, p: &Self::Param) -> Result<Vec<f64>, ArgminError> {
        Ok(Problem::gradient(self, p))
    }
}

impl LogisticModel {
    /// Fits the model to rows `x` and labels `y` (each in [0, 1]).
    pub fn fit(x: &CsrMatrix, y: &[f64], config: LogisticConfig) -> Result<Self, LearnError> {
        Self::fit_weighted(x, y, None, config)
    }

    /// Fits with a weight per row (positive; rescaled to mean 1, so `C` means the same as
    /// unweighted).
    pub fn fit_weighted(
        x: &CsrMatrix,
        y: &[f64],
        weights: Option<&[f64]>,
        config: LogisticConfig,
    ) -> Result<Self, LearnError> {
        if x.n_rows() != y.len() || weights.is_some_and(|w| w.len() != y.len()) {
            return Err(LearnError::Shape(format!(
                "{} feature rows, {} labels and {} row weights",
                x.n_rows(),
                y.len(),
                weights.map_or(y.len(), <[f64]>::len)
            )));
        }
        if x.n_rows() == 0 {
            return Err(LearnError::NoExamples);
        }
        if let Some(bad) = y.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            return Err(LearnError::Shape(format!("label {bad} is outside [0, 1]")));
        }
        if !(config.c > 0.0 && config.c.is_finite()) {
            return Err(LearnError::Config(format!(
                "the regularisation C must be a positive number, got {}",
                config.c
            )));
        }
        let weights = match weights {
            Some(w) if w.iter().any(|v| !(v.is_finite() && *v > 0.0)) => {
                return Err(LearnError::Shape(
                    "row weights must be positive numbers".into(),
                ));
            }
            Some(w) => {
                let mean = w.iter().sum::<f64>() / w.len() as f64;
                Some(w.iter().map(|v| v / mean).collect::<Vec<f64>>())
            }
            None => None,
        };
        let d = x.n_cols();
        let problem = Problem {
            x,
            y,
            weights: weights.as_deref(),
            alpha: 1.0 / (config.c * x.n_rows() as f64),
            last: RefCell::new(None),
        };
        // Start from the base rate so that an all-zero row predicts the mean label.
        let mean = (y.iter().sum::<f64>() / y.len() as f64).clamp(1e-6, 1.0 - 1e-6);
        let mut init = vec![0.0; d + 1];
        init[d] = (mean / (1.0 - mean)).ln();
        let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10)
            .with_tolerance_grad(1e-7)
            .and_then(|s| s.with_tolerance_cost(1e-10))
            .map_err(|e| LearnError::Optimiser(e.to_string()))?;
        let result = Executor::new(problem, solver)
            .configure(|state| state.param(init).max_iters(config.max_iters))
            .run()
            .map_err(|e| LearnError::Optimiser(e.to_string()))?;
        let mut p = result
            .state()
            .get_best_param()
            .cloned()
            .ok_or_else(|| LearnError::Optimiser("L-BFGS returned no parameters".into()))?;
        let bias = p.pop().unwrap_or(0.0);
        Ok(Self { weights: p, bias })
    }

    /// `w.x + b` for a sparse row.
    pub fn margin(&self, row: &[(u32, f64)]) -> f64 {
        row.iter()
            .map(|&(c, v)| self.weights.get(c as usize).map_or(0.0, |w| w * v))
            .sum::<f64>()
            + self.bias
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> (CsrMatrix, Vec<f64>) {
        let mut x = CsrMatrix::new(3);
        let rows: [(&[(u32, f64)], f64); 6] = [
            (&[(0, 1.0)], 1.0),
            (&[(0, 0.8), (2, 0.1)], 1.0),
            (&[(0, 0.2), (1, 0.9)], 0.0),
            (&[(1, 1.0)], 0.0),
            (&[(2, 1.0)], 1.0),
            (&[(1, 0.5), (2, 0.5)], 0.3),
        ];
        let mut y = Vec::new();
        for (r, label) in rows {
            x.push_row(r);
            y.push(label);
        }
        (x, y)
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let (x, y) = toy();
        let weights = [0.5, 1.5, 1.0, 0.7, 1.3, 1.0];
        for weights in [None, Some(&weights[..])] {
            check_gradient(&x, &y, weights);
        }
    }

    fn check_gradient(x: &CsrMatrix, y: &[f64], weights: Option<&[f64]>) {
        let problem = Problem {
            x,
            y,
            weights,
            alpha: 0.2,
            last: RefCell::new(None),
        };
        let p = vec![0.3, -0.7, 0.2, 0.1];
        let g = problem.gradient(&p);
        let h = 1e-6;
        for k in 0..p.len() {
            let mut up = p.clone();
            let mut down = p.clone();
            up[k] += h;
            down[k] -= h;
            let numeric = (problem.cost(&up) - problem.cost(&down)) / (2.0 * h);
            assert!(
                (numeric - g[k]).abs() < 1e-6,
                "d/dp{k}: analytic {} vs numeric {numeric}",
                g[k]
            );
        }
    }

    #[test]
    fn fit_reaches_a_stationary_point_and_separates_the_classes() {
        let (x, y) = toy();
        let config = LogisticConfig {
            c: 10.0,
            max_iters: 500,
        };
        let model = LogisticModel::fit(&x, &y, config).unwrap();
        let problem = Problem {
            x: &x,
            y: &y,
            weights: None,
            alpha: 1.0 / (config.c * 6.0),
            last: RefCell::new(None),
        };
        let mut p = model.weights.clone();
        p.push(model.bias);
        let grad_norm = problem
            .gradient(&p)
            .iter()
            .map(|g| g * g)
            .sum::<f64>()
            .sqrt();
        assert!(grad_norm < 1e-4, "gradient norm {grad_norm}");
        assert!(sigmoid(model.margin(&[(0, 1.0)])) > 0.7);
        assert!(sigmoid(model.margin(&[(1, 1.0)])) < 0.3);
    }

    #[test]
    fn a_row_weighted_twice_counts_as_two_copies_of_it() {
        let (x, y) = toy();
        // The toy rows, then the first one again.
        let mut doubled = CsrMatrix::new(3);
        let mut doubled_y = y.clone();
        for i in (0..x.n_rows()).chain([0]) {
            let (columns, values) = x.row(i);
            let row: Vec<(u32, f64)> = columns
                .iter()
                .copied()
                .zip(values.iter().copied())
                .collect();
            doubled.push_row(&row);
        }
        doubled_y.push(y[0]);
        let config = LogisticConfig {
            c: 1.0,
            max_iters: 500,
        };
        // Seven rows with one counted twice; weights are rescaled to mean 1, so C matches the
        // seven-row fit when expressed over the same total weight.
        let weights = [2.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        let weighted = LogisticModel::fit_weighted(
            &x,
            &y,
            Some(&weights),
            LogisticConfig {
                c: config.c * 7.0 / 6.0,
                ..config
            },
        )
        .unwrap();
        let copied = LogisticModel::fit(&doubled, &doubled_y, config).unwrap();
        for (a, b) in weighted.weights.iter().zip(&copied.weights) {
            assert!(
                (a - b).abs() < 1e-4,
                "{:?} vs {:?}",
                weighted.weights,
                copied.weights
            );
        }
        assert!((weighted.bias - copied.bias).abs() < 1e-4);
        assert!(matches!(
            LogisticModel::fit_weighted(&x, &y, Some(&[1.0; 5]), config),
            Err(LearnError::Shape(_))
        ));
        assert!(matches!(
            LogisticModel::fit_weighted(&x, &y, Some(&[1.0, 1.0, 1.0, 1.0, 1.0, 0.0]), config),
            Err(LearnError::Shape(_))
        ));
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let (x, y) = toy();
        assert!(matches!(
            LogisticModel::fit(&x, &y[..2], LogisticConfig::default()),
            Err(LearnError::Shape(_))
        ));
        let mut bad = y.clone();
        bad[0] = 2.0;
        assert!(LogisticModel::fit(&x, &bad, LogisticConfig::default()).is_err());
        let zero_c = LogisticConfig {
            c: 0.0,
            max_iters: 10,
        };
        assert!(matches!(
            LogisticModel::fit(&x, &y, zero_c),
            Err(LearnError::Config(_))
        ));
        assert!(matches!(
            LogisticModel::fit(&CsrMatrix::new(3), &[], LogisticConfig::default()),
            Err(LearnError::NoExamples)
        ));
    }
}
