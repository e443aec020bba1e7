//! One arm's linear model of quality: ridge regression kept as sufficient statistics
//! (`A = ridge * I + sum x x^T`, `b = ridge * prior + sum q x`) plus `A^-1` and `theta = A^-1 b`,
//! updated in O(d^2) per observation by the Sherman-Morrison formula.
//!
//! Hand-written rather than a linear-algebra crate: the matrices are small (d < 100), the only
//! operations are a rank-one update, a quadratic form and a Cholesky inverse, and the pure core
//! takes no heavy dependency for them. `A` is kept (upper triangle) because it is what persists
//! and what replicas can add up; `A^-1` is rebuilt from it when loaded and every
//! [`REFRESH_EVERY`] updates, so rounding in the rank-one updates never accumulates.

use serde::{Deserialize, Serialize};

/// Rank-one updates between two exact inversions of `A`.
pub const REFRESH_EVERY: u64 = 512;

/// An arm's model.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmModel {
    dim: usize,
    /// Upper triangle of `A`, row by row.
    gram: Vec<f64>,
    b: Vec<f64>,
    /// `A^-1`, full, row-major.
    inverse: Vec<f64>,
    theta: Vec<f64>,
    /// Observations folded in.
    pub observations: u64,
}

/// What persists of an arm: the sufficient statistics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ArmStats {
    pub gram_upper: Vec<f64>,
    pub b: Vec<f64>,
    pub observations: u64,
}

fn upper_len(dim: usize) -> usize {
    dim * (dim + 1) / 2
}

fn upper_index(dim: usize, row: usize, col: usize) -> usize {
    let (r, c) = if row <= col { (row, col) } else { (col, row) };
    r * dim - r * (r + 1) / 2 + c
}

impl ArmModel {
    /// The prior: `ridge * I` and a prior mean `prior` (so `b = ridge * prior`).
    pub fn prior(prior: &[f64], ridge: f64) -> Self {
        let dim = prior.len();
        let mut gram = vec![0.0; upper_len(dim)];
        let mut inverse = vec![0.0; dim * dim];
        for i in 0..dim {
            gram[upper_index(dim, i, i)] = ridge;
            inverse[i * dim + i] = 1.0 / ridge;
        }
        Self {
            dim,
            gram,
            b: prior.iter().map(|p| p * ridge).collect(),
            inverse,
            theta: prior.to_vec(),
            observations: 0,
        }
    }

    /// Rebuilds a model from persisted statistics; `None` when they do not describe a
    /// positive-definite `A` of this dimension.
    pub fn from_stats(dim: usize, stats: &ArmStats) -> Option<Self> {
        if stats.gram_upper.len() != upper_len(dim) || stats.b.len() != dim {
            return None;
        }
        if !stats
            .gram_upper
            .iter()
            .chain(&stats.b)
            .all(|v| v.is_finite())
        {
            return None;
        }
        let mut model = Self {
            dim,
            gram: stats.gram_upper.clone(),
            b: stats.b.clone(),
            inverse: vec![0.0; dim * dim],
            theta: vec![0.0; dim],
            observations: stats.observations,
        };
        model.refresh().then_some(model)
    }

    pub fn stats(&self) -> ArmStats {
        ArmStats {
            gram_upper: self.gram.clone(),
            b: self.b.clone(),
            observations: self.observations,
        }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// `theirs` plus what `mine` added since `base` (statistics add, so this is exact up to
    /// rounding, and the observation counts are exact); `None` when the dimensions differ or
    /// the sum is not positive definite.
    pub fn merged(base: &Self, mine: &Self, theirs: &Self) -> Option<Self> {
        let dim = theirs.dim;
        if base.dim != dim || mine.dim != dim {
            return None;
        }
        let add = |t: &[f64], m: &[f64], b: &[f64]| -> Vec<f64> {
            t.iter()
                .zip(m)
                .zip(b)
                .map(|((t, m), b)| t + (m - b))
                .collect()
        };
        let stats = ArmStats {
            gram_upper: add(&theirs.gram, &mine.gram, &base.gram),
            b: add(&theirs.b, &mine.b, &base.b),
            observations: theirs
                .observations
                .saturating_add(mine.observations.saturating_sub(base.observations)),
        };
        Self::from_stats(dim, &stats)
    }

    /// The predicted quality at `x` and its uncertainty `sqrt(x^T A^-1 x)`.
    pub fn predict(&self, x: &[f32]) -> (f64, f64) {
        let mut mean = 0.0;
        let mut spread = 0.0;
        for (i, &xi) in x.iter().enumerate().take(self.dim) {
            let xi = f64::from(xi);
            mean += self.theta[i] * xi;
            if xi == 0.0 {
                continue;
            }
            let row = &self.inverse[i * self.dim..(i + 1) * self.dim];
            let dot: f64 = row.iter().zip(x).map(|(a, &xj)| a * f64::from(xj)).sum();
            spread += xi * dot;
        }
        (mean, spread.max(0.0).sqrt())
    }

    /// Folds in one observation of quality `q` at `x` (`x` must have the model's dimension).
    pub fn observe(&mut self, x: &[f32], q: f64) {
        let dim = self.dim;
        let x: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        for i in 0..dim {
            if x[i] == 0.0 {
                continue;
            }
            for j in i..dim {
                self.gram[upper_index(dim, i, j)] += x[i] * x[j];
            }
            self.b[i] += q * x[i];
        }
        self.observations += 1;
        if self.observations.is_multiple_of(REFRESH_EVERY) && self.refresh() {
            return;
        }
        // Sherman-Morrison: (A + x x^T)^-1 = A^-1 - (A^-1 x)(A^-1 x)^T / (1 + x^T A^-1 x).
        let ax: Vec<f64> = (0..dim)
            .map(|i| {
                let row = &self.inverse[i * dim..(i + 1) * dim];
                row.iter().zip(&x).map(|(a, xj)| a * xj).sum()
            })
            .collect();
        let denominator = 1.0 + x.iter().zip(&ax).map(|(a, b)| a * b).sum::<f64>();
        for i in 0..dim {
            let scale = ax[i] / denominator;
            if scale == 0.0 {
                continue;
            }
            let row = &mut self.inverse[i * dim..(i + 1) * dim];
            for (cell, axj) in row.iter_mut().zip(&ax) {
                *cell -= scale * axj;
            }
        }
        self.update_theta();
    }

    fn update_theta(&mut self) {
        let dim = self.dim;
        for i in 0..dim {
            let row = &self.inverse[i * dim..(i + 1) * dim];
            self.theta[i] = row.iter().zip(&self.b).map(|(a, b)| a * b).sum();
        }
    }

    /// Recomputes `A^-1` exactly (Cholesky); `false`, leaving it as it was, when `A` is not
    /// positive definite.
    fn refresh(&mut self) -> bool {
        match cholesky_inverse(self.dim, &self.gram) {
            Some(inverse) => {
                self.inverse = inverse;
                self.update_theta();
                true
            }
            None => false,
        }
    }
}

/// The inverse of the symmetric positive-definite matrix whose upper triangle is `upper`.
fn cholesky_inverse(dim: usize, upper: &[f64]) -> Option<Vec<f64>> {
    // Lower-triangular L with A = L L^T.
    let mut l = vec![0.0; dim * dim];
    for i in 0..dim {
        for j in 0..=i {
            let mut sum = upper[upper_index(dim, i, j)];
            for k in 0..j {
                sum -= l[i * dim + k] * l[j * dim + k];
            }
            if i == j {
                if sum <= 0.0 || !sum.is_finite() {
                    return None;
                }
                l[i * dim + i] = sum.sqrt();
            } else {
                l[i * dim + j] = sum / l[j * dim + j];
            }
        }
    }
    // A^-1 = L^-T L^-1, column by column: solve L y = e_c, then L^T z = y.
    let mut inverse = vec![0.0; dim * dim];
    let mut y = vec![0.0; dim];
    for c in 0..dim {
        for i in 0..dim {
            let mut sum = if i == c { 1.0 } else { 0.0 };
            for k in 0..i {
                sum -= l[i * dim + k] * y[k];
            }
            y[i] = sum / l[i * dim + i];
        }
        for i in (0..dim).rev() {
            let mut sum = y[i];
            for k in i + 1..dim {
                sum -= l[k * dim + i] * inverse[k * dim + c];
            }
            inverse[i * dim + c] = sum / l[i * dim + i];
        }
    }
    Some(inverse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-6 * (1.0 + a.abs().max(b.abs()))
    }

    proptest! {
        /// The rank-one updates agree with an exact inversion of the statistics.
        #[test]
        fn updates_match_an_exact_solve(
            rows in prop::collection::vec((prop::collection::vec(-1.0f32..1.0, 4), 0.0f64..1.0), 1..60)
        ) {
            let mut model = ArmModel::prior(&[0.5, 0.0, 0.0, 0.0], 1.0);
            for (x, q) in &rows {
                model.observe(x, *q);
            }
            let exact = ArmModel::from_stats(4, &model.stats()).unwrap();
            for (x, _) in &rows {
                let (a, wa) = model.predict(x);
                let (b, wb) = exact.predict(x);
                prop_assert!(close(a, b) && close(wa, wb), "{a} {b} {wa} {wb}");
            }
        }

        /// More observations at a point never widen the uncertainty there.
        #[test]
        fn uncertainty_shrinks_with_observations(x in prop::collection::vec(-1.0f32..1.0, 3), q in 0.0f64..1.0) {
            let mut model = ArmModel::prior(&[0.0; 3], 1.0);
            let (_, before) = model.predict(&x);
            model.observe(&x, q);
            let (_, after) = model.predict(&x);
            prop_assert!(after <= before + 1e-12);
        }
    }

    #[test]
    fn the_prior_predicts_its_mean() {
        let model = ArmModel::prior(&[0.7, 0.0], 2.0);
        let (mean, spread) = model.predict(&[1.0, 0.0]);
        assert!(close(mean, 0.7));
        assert!(close(spread, (0.5f64).sqrt()));
    }

    #[test]
    fn statistics_that_are_not_positive_definite_are_refused() {
        let stats = ArmStats {
            gram_upper: vec![-1.0, 0.0, 1.0],
            b: vec![0.0, 0.0],
            observations: 0,
        };
        assert!(ArmModel::from_stats(2, &stats).is_none());
        let wrong_size = ArmStats {
            gram_upper: vec![1.0],
            b: vec![0.0, 0.0],
            observations: 0,
        };
        assert!(ArmModel::from_stats(2, &wrong_size).is_none());
    }
}
