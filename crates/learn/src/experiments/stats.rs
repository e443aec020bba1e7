//! Means with confidence intervals, and the normal quantile they need.
//!
//! Hand-written rather than taken from a statistics crate: the one function needed is the
//! normal quantile, and the crates that have it bring a linear-algebra stack with them.

use serde::Serialize;

/// The standard normal quantile (inverse CDF) at `p` in (0, 1), by Acklam's rational
/// approximation (relative error below 1.2e-9, far inside what an interval needs).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// The two-sided z of a confidence level (1.96 at 0.95).
pub fn z_of(confidence: f64) -> f64 {
    normal_quantile(0.5 + confidence.clamp(0.0, 0.999_999) / 2.0)
}

/// A running mean and variance (Welford), of scores or of per-request estimates.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moments {
    pub n: u64,
    pub mean: f64,
    m2: f64,
}

impl Moments {
    pub fn add(&mut self, x: f64) {
        self.n += 1;
        let delta = x - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (x - self.mean);
    }

    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut m = Moments::default();
        for v in values {
            m.add(v);
        }
        m
    }

    /// Sample variance (0 below two observations).
    pub fn variance(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            self.m2 / (self.n - 1) as f64
        }
    }

    /// Variance of the mean.
    pub fn mean_variance(&self) -> f64 {
        if self.n == 0 {
            f64::INFINITY
        } else {
            self.variance() / self.n as f64
        }
    }

    /// The mean with its interval at `confidence`; `None` without observations.
    pub fn interval(&self, confidence: f64) -> Option<Interval> {
        (self.n > 0)
            .then(|| Interval::around(self.mean, self.mean_variance().sqrt() * z_of(confidence)))
    }
}

/// An estimate and its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    pub fn around(estimate: f64, half_width: f64) -> Self {
        Interval {
            estimate,
            low: estimate - half_width,
            high: estimate + half_width,
        }
    }

    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }
}

/// The difference of two independent means `a - b` with its interval (Welch's normal
/// approximation); `None` unless both have observations.
pub fn difference(a: &Moments, b: &Moments, confidence: f64) -> Option<Interval> {
    (a.n > 0 && b.n > 0).then(|| {
        let se = (a.mean_variance() + b.mean_variance()).sqrt();
        Interval::around(a.mean - b.mean, se * z_of(confidence))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn quantiles_match_tables() {
        for (p, z) in [
            (0.975, 1.959_963_985),
            (0.5, 0.0),
            (0.995, 2.575_829_304),
            (0.01, -2.326_347_874),
        ] {
            assert!((normal_quantile(p) - z).abs() < 1e-6, "{p}");
        }
        assert!((z_of(0.95) - 1.959_963_985).abs() < 1e-6);
    }

    #[test]
    fn moments_match_the_textbook() {
        let m = Moments::of([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert!((m.mean - 5.0).abs() < 1e-12);
        assert!((m.variance() - 32.0 / 7.0).abs() < 1e-12);
        let interval = m.interval(0.95).unwrap_or(Interval::around(0.0, 0.0));
        assert!(interval.contains(5.0) && interval.low < 5.0);
        assert_eq!(Moments::default().interval(0.95), None);
    }

    proptest! {
        #[test]
        fn the_quantile_inverts_the_cdf_monotonically(a in 0.001f64..0.999, b in 0.001f64..0.999) {
            let (lo, hi) = if a < b { (a, b) } else { (b, a) };
            prop_assert!(normal_quantile(lo) <= normal_quantile(hi));
            prop_assert!((normal_quantile(a) + normal_quantile(1.0 - a)).abs() < 1e-6);
        }

        #[test]
        fn intervals_widen_with_confidence(values in prop::collection::vec(0.0f64..1.0, 2..50)) {
            let m = Moments::of(values);
            let (narrow, wide) = (m.interval(0.8), m.interval(0.99));
            if let (Some(n), Some(w)) = (narrow, wide) {
                prop_assert!(w.low <= n.low + 1e-12 && w.high >= n.high - 1e-12);
            }
        }
    }
}
