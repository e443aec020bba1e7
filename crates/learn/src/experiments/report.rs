//! `routewise report`'s maths: per group (arm, control, shadow) the requests, cost, strong
//! share, savings and quality with intervals; the deltas against control and the incumbent;
//! and the recommendation for a candidate: cut over, keep testing (with the ratings still
//! needed), or roll back.

use super::stats::{Interval, Moments, difference, z_of};
use serde::Serialize;

/// Fewest ratings on each side before the report recommends anything but testing on.
pub const MIN_RATED: u64 = 30;
/// What "keep testing" reports when the observed difference sits on the tolerance itself.
const MANY: u64 = 100_000;

/// One request as the report counts it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// Served (an answer came back): cost, share and savings count over these.
    pub served: bool,
    pub strong: bool,
    pub cost_usd: f64,
    pub baseline_cost_usd: f64,
    pub score: Option<f64>,
}

/// Running totals of one group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub requests: u64,
    pub served: u64,
    pub strong: u64,
    pub cost_usd: f64,
    pub baseline_cost_usd: f64,
    pub quality: Moments,
}

impl Tally {
    pub fn add(&mut self, o: Observation) {
        self.requests += 1;
        if o.served {
            self.served += 1;
            self.strong += u64::from(o.strong);
            self.cost_usd += o.cost_usd;
            self.baseline_cost_usd += o.baseline_cost_usd;
        }
        if let Some(score) = o.score {
            self.quality.add(score);
        }
    }

    pub fn cost_per_request(&self) -> Option<f64> {
        (self.served > 0).then(|| self.cost_usd / self.served as f64)
    }

    pub fn strong_share(&self) -> Option<f64> {
        (self.served > 0).then(|| self.strong as f64 / self.served as f64)
    }

    /// Share of the always-strong cost saved.
    pub fn savings(&self) -> Option<f64> {
        (self.baseline_cost_usd > 0.0).then(|| 1.0 - self.cost_usd / self.baseline_cost_usd)
    }
}

/// A group's line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupReport {
    pub name: String,
    /// `arm`, `control`, `shadow` or `served` (the route's policy, in an experiment of shadows).
    pub kind: &'static str,
    pub policy: Option<String>,
    pub requests: u64,
    pub cost_per_request_usd: Option<f64>,
    pub strong_share: Option<f64>,
    pub savings_vs_strong: Option<f64>,
    pub rated: u64,
    pub quality: Option<Interval>,
    pub vs_control: Option<Interval>,
    pub vs_incumbent: Option<Interval>,
}

impl GroupReport {
    /// The line of `tally`; `control` and `incumbent` are the groups it is compared with
    /// (`None` for the group itself, or when there is none).
    pub fn of(
        name: &str,
        kind: &'static str,
        policy: Option<&str>,
        tally: &Tally,
        control: Option<&Tally>,
        incumbent: Option<&Tally>,
        confidence: f64,
    ) -> Self {
        let versus = |other: Option<&Tally>| {
            other.and_then(|o| difference(&tally.quality, &o.quality, confidence))
        };
        GroupReport {
            name: name.to_owned(),
            kind,
            policy: policy.map(str::to_owned),
            requests: tally.requests,
            cost_per_request_usd: tally.cost_per_request(),
            strong_share: tally.strong_share(),
            savings_vs_strong: tally.savings(),
            rated: tally.quality.n,
            quality: tally.quality.interval(confidence),
            vs_control: versus(control),
            vs_incumbent: versus(incumbent),
        }
    }
}

/// What to do with a candidate.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The quality drop is within tolerance at the confidence asked.
    CutOver,
    /// Not yet known: about `more_rated` more ratings on each side.
    KeepTesting { more_rated: u64 },
    /// The quality drop exceeds the tolerance at the confidence asked.
    RollBack,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub candidate: String,
    pub reference: String,
    #[serde(flatten)]
    pub verdict: Verdict,
    /// The candidate's quality minus the reference's, relative to the reference's.
    pub relative_change: Option<Interval>,
    pub tolerance: f64,
    pub confidence: f64,
    pub why: String,
}

/// Judges `candidate` against `reference`: the quality difference's interval against
/// `-tolerance x` the reference's quality.
pub fn recommend(
    candidate: (&str, &Moments),
    reference: (&str, &Moments),
    tolerance: f64,
    confidence: f64,
) -> Recommendation {
    let (cname, c) = candidate;
    let (rname, r) = reference;
    let diff = difference(c, r, confidence);
    let relative = diff.filter(|_| r.mean > 0.0).map(|d| Interval {
        estimate: d.estimate / r.mean,
        low: d.low / r.mean,
        high: d.high / r.mean,
    });
    let limit = -tolerance * r.mean;
    let pct = |v: f64| format!("{:+.1}%", v * 100.0);
    let (verdict, why) = match diff {
        _ if c.n < MIN_RATED || r.n < MIN_RATED => (
            Verdict::KeepTesting {
                more_rated: MIN_RATED
                    .saturating_sub(c.n.min(r.n))
                    .max(ratings_needed(c, r, limit, confidence)),
            },
            format!(
                "{} and {} ratings: at least {MIN_RATED} on each side come before a verdict",
                c.n, r.n
            ),
        ),
        Some(d) if d.low >= limit => (
            Verdict::CutOver,
            format!(
                "quality changes by {} (interval {} to {}), inside the tolerated -{:.1}%",
                pct(d.estimate / r.mean.max(f64::MIN_POSITIVE)),
                pct(d.low / r.mean.max(f64::MIN_POSITIVE)),
                pct(d.high / r.mean.max(f64::MIN_POSITIVE)),
                tolerance * 100.0
            ),
        ),
        Some(d) if d.high < limit => (
            Verdict::RollBack,
            format!(
                "quality drops by {} (interval {} to {}), past the tolerated -{:.1}%",
                pct(d.estimate / r.mean.max(f64::MIN_POSITIVE)),
                pct(d.low / r.mean.max(f64::MIN_POSITIVE)),
                pct(d.high / r.mean.max(f64::MIN_POSITIVE)),
                tolerance * 100.0
            ),
        ),
        _ => (
            Verdict::KeepTesting {
                more_rated: ratings_needed(c, r, limit, confidence),
            },
            format!(
                "the interval of the quality change straddles the tolerated -{:.1}%",
                tolerance * 100.0
            ),
        ),
    };
    Recommendation {
        candidate: cname.to_owned(),
        reference: rname.to_owned(),
        verdict,
        relative_change: relative,
        tolerance,
        confidence,
        why,
    }
}

/// More ratings on each side until the interval, at today's variances and difference, clears
/// the tolerance line on one side.
fn ratings_needed(c: &Moments, r: &Moments, limit: f64, confidence: f64) -> u64 {
    let margin = ((c.mean - r.mean) - limit).abs();
    let variance = c.variance() + r.variance();
    if margin < 1e-9 {
        return MANY;
    }
    if variance <= 0.0 {
        return 0;
    }
    let z = z_of(confidence);
    let n = (z * z * variance / (margin * margin)).ceil();
    let have = c.n.min(r.n) as f64;
    ((n - have).max(0.0) as u64).min(MANY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(mean: f64, n: usize) -> Moments {
        // Alternating around the mean, spread 0.3: a known variance.
        Moments::of((0..n).map(|i| if i % 2 == 0 { mean + 0.15 } else { mean - 0.15 }))
    }

    #[test]
    fn a_clearly_worse_candidate_is_rolled_back() {
        let r = recommend(
            ("candidate", &scores(0.6, 400)),
            ("incumbent", &scores(0.8, 400)),
            0.05,
            0.95,
        );
        assert_eq!(r.verdict, Verdict::RollBack, "{}", r.why);
        assert!(r.relative_change.is_some_and(|c| c.high < -0.05));
    }

    #[test]
    fn a_candidate_within_tolerance_is_cut_over() {
        let r = recommend(
            ("candidate", &scores(0.79, 2000)),
            ("incumbent", &scores(0.8, 2000)),
            0.05,
            0.95,
        );
        assert_eq!(r.verdict, Verdict::CutOver, "{}", r.why);
    }

    #[test]
    fn too_few_ratings_keep_testing_and_say_how_many_more() {
        let r = recommend(
            ("candidate", &scores(0.79, 10)),
            ("incumbent", &scores(0.8, 10)),
            0.05,
            0.95,
        );
        assert!(
            matches!(r.verdict, Verdict::KeepTesting { more_rated } if more_rated >= 20),
            "{r:?}"
        );
        let close = recommend(
            ("candidate", &scores(0.765, 100)),
            ("incumbent", &scores(0.8, 100)),
            0.05,
            0.95,
        );
        let Verdict::KeepTesting { more_rated } = close.verdict else {
            panic!("{close:?}")
        };
        // With that many more on each side, the verdict is reached.
        let n = 100 + more_rated as usize;
        let later = recommend(
            ("candidate", &scores(0.765, n)),
            ("incumbent", &scores(0.8, n)),
            0.05,
            0.95,
        );
        assert_ne!(later.verdict, close.verdict, "{later:?}");
    }

    #[test]
    fn tallies_count_served_requests_only_for_cost() {
        let mut t = Tally::default();
        t.add(Observation {
            served: true,
            strong: true,
            cost_usd: 2.0,
            baseline_cost_usd: 2.0,
            score: Some(1.0),
        });
        t.add(Observation {
            served: true,
            strong: false,
            cost_usd: 0.0,
            baseline_cost_usd: 2.0,
            score: None,
        });
        t.add(Observation {
            served: false,
            strong: false,
            cost_usd: 0.0,
            baseline_cost_usd: 0.0,
            score: None,
        });
        assert_eq!(t.requests, 3);
        assert_eq!(t.cost_per_request(), Some(1.0));
        assert_eq!(t.strong_share(), Some(0.5));
        assert_eq!(t.savings(), Some(0.5));
        assert_eq!(t.quality.n, 1);
    }
}
