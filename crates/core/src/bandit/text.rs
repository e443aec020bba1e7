//! One arm's model of how the query's words change its quality: a sparse linear model over
//! hashed words, learned online by AdaGrad on the squared error that the arm's dense model
//! leaves. Words carry most of what distinguishes one kind of request from another, and a
//! full linear model of thousands of them is out of reach of LinUCB's matrices (measured:
//! squeezing the words into the ~100 dimensions LinUCB can afford recovered a quarter less of
//! the quality gap on MMLU, docs/ONLINE.md).

/// Weights, AdaGrad's sums of squared gradients, and how much of each bucket has been seen
/// (the sum of its squared values), one per hash bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct TextModel {
    pub weights: Vec<f32>,
    pub squares: Vec<f32>,
    pub seen: Vec<f32>,
}

impl TextModel {
    pub fn new(buckets: u32) -> Self {
        Self {
            weights: vec![0.0; buckets as usize],
            squares: vec![0.0; buckets as usize],
            seen: vec![0.0; buckets as usize],
        }
    }

    pub fn buckets(&self) -> usize {
        self.weights.len()
    }

    /// `theirs` plus the steps `mine` took since `base`: replicas' gradient steps add up, as a
    /// parameter server adds its workers' deltas. `None` when the bucket counts differ.
    pub fn merged(base: &Self, mine: &Self, theirs: &Self) -> Option<Self> {
        let n = theirs.buckets();
        if base.buckets() != n || mine.buckets() != n {
            return None;
        }
        let add = |t: &[f32], m: &[f32], b: &[f32]| -> Vec<f32> {
            t.iter()
                .zip(m)
                .zip(b)
                .map(|((t, m), b)| t + (m - b))
                .collect()
        };
        Some(Self {
            weights: add(&theirs.weights, &mine.weights, &base.weights),
            squares: add(&theirs.squares, &mine.squares, &base.squares),
            seen: add(&theirs.seen, &mine.seen, &base.seen),
        })
    }

    pub fn predict(&self, words: &[(u32, f32)]) -> f64 {
        words
            .iter()
            .filter_map(|&(b, v)| self.weights.get(b as usize).map(|w| f64::from(w * v)))
            .sum()
    }

    /// How unfamiliar the words are: `sqrt(sum v^2 / (1 + seen))`, the diagonal form of a
    /// linear model's confidence width, so exploration favours requests unlike those rated.
    pub fn width(&self, words: &[(u32, f32)]) -> f64 {
        words
            .iter()
            .filter_map(|&(b, v)| {
                self.seen
                    .get(b as usize)
                    .map(|s| f64::from(v * v / (1.0 + s)))
            })
            .sum::<f64>()
            .sqrt()
    }

    /// One AdaGrad step towards explaining `residual` (observed minus predicted quality).
    pub fn step(&mut self, words: &[(u32, f32)], residual: f64, rate: f64) {
        for &(bucket, value) in words {
            let i = bucket as usize;
            let (Some(weight), Some(square), Some(seen)) = (
                self.weights.get_mut(i),
                self.squares.get_mut(i),
                self.seen.get_mut(i),
            ) else {
                continue;
            };
            *seen += value * value;
            let gradient = (residual * f64::from(value)) as f32;
            *square += gradient * gradient;
            // One more than the sum, so that early steps are plain gradient steps: a unit-length
            // context then moves the prediction by at most `rate` times the residual.
            *weight += (rate as f32) * gradient / (1.0 + *square).sqrt();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_move_the_prediction_towards_the_residual() {
        let mut model = TextModel::new(16);
        let words = [(3, 0.6), (9, -0.8)];
        let before = model.predict(&words);
        model.step(&words, 1.0, 0.5);
        let after = model.predict(&words);
        assert!(after > before);
        model.step(&words, -1.0, 0.5);
        assert!(model.predict(&words) < after);
        // Buckets out of range are ignored rather than panicking.
        model.step(&[(99, 1.0)], 1.0, 0.5);
        assert_eq!(model.predict(&[(99, 1.0)]), 0.0);
    }
}
