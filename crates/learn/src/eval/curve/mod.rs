//! The two-model deferral curve: as a router's threshold sweeps from "never strong" to "always
//! strong", the share of strong calls against mean quality and cost, and the metrics read off it
//! (PGR, APGR, CPT, savings), as defined by the RouteLLM paper.
//!
//! Prompts are sorted once by the router's strong-ness score; prefix sums then give every point.
//! Prompts with equal scores form one group that the router cannot order, so the curve runs
//! straight across the group (the expected value of picking its members in random order). A
//! router that gives every prompt the same score therefore traces the straight line from weak to
//! strong, APGR 0.5, exactly like random routing, and never better.

use std::cmp::Ordering;

use serde::Serialize;

use super::EvalError;

/// How the weak and the strong model did on one prompt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairOutcome {
    pub weak_quality: f64,
    pub strong_quality: f64,
    /// USD for this prompt on the weak model.
    pub weak_cost: f64,
    /// USD for this prompt on the strong model.
    pub strong_cost: f64,
}

/// One point of the curve. Quality and cost are means per prompt.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CurvePoint {
    /// Share of prompts sent to the strong model, in `[0, 1]`.
    pub strong_share: f64,
    /// Mean quality of the answers at this point.
    pub quality: f64,
    /// Mean USD per prompt at this point.
    pub cost: f64,
}

/// The deferral curve of one router on one data set: exact at the boundaries of score groups,
/// linear in between.
#[derive(Debug, Clone, PartialEq)]
pub struct DeferralCurve {
    /// Curve vertices by increasing `strong_share`: the first is all-weak, the last all-strong.
    vertices: Vec<CurvePoint>,
    /// Scores at which each vertex is reached: prompts scoring `>= thresholds[i]` go strong at
    /// vertex `i` (`+inf` for the all-weak vertex).
    thresholds: Vec<f64>,
}

impl DeferralCurve {
    /// Builds the curve from per-prompt strong-ness `scores` (higher = more in need of the strong
    /// model) and outcomes. Runs in O(n log n).
    pub fn new(scores: &[f64], outcomes: &[PairOutcome]) -> Result<Self, EvalError> {
        let n = outcomes.len();
        if n == 0 {
            return Err(EvalError::Empty);
        }
        if scores.len() != n {
            return Err(EvalError::LengthMismatch {
                what: "router scores",
                got: scores.len(),
                expected: n,
            });
        }
        if let Some(index) = scores.iter().position(|s| !s.is_finite()) {
            return Err(EvalError::NonFiniteScore { index });
        }
        let mut order: Vec<usize> = (0..n).collect();
        // Highest score first; index order inside a group only fixes the summation order.
        order.sort_by(|&a, &b| {
            scores[b]
                .partial_cmp(&scores[a])
                .unwrap_or(Ordering::Equal)
                .then(a.cmp(&b))
        });

        let count = n as f64;
        let mut quality: f64 = outcomes.iter().map(|o| o.weak_quality).sum();
        let mut cost: f64 = outcomes.iter().map(|o| o.weak_cost).sum();
        let mut vertices = vec![CurvePoint {
            strong_share: 0.0,
            quality: quality / count,
            cost: cost / count,
        }];
        let mut thresholds = vec![f64::INFINITY];
        for (rank, &i) in order.iter().enumerate() {
            let o = &outcomes[i];
            quality += o.strong_quality - o.weak_quality;
            cost += o.strong_cost - o.weak_cost;
            let group_ends = order
                .get(rank + 1)
                .is_none_or(|&next| scores[next] != scores[i]);
            if group_ends {
                vertices.push(CurvePoint {
                    strong_share: (rank + 1) as f64 / count,
                    quality: quality / count,
                    cost: cost / count,
                });
                thresholds.push(scores[i]);
            }
        }
        Ok(Self {
            vertices,
            thresholds,
        })
    }

    /// Curve vertices, from all-weak to all-strong.
    pub fn vertices(&self) -> &[CurvePoint] {
        &self.vertices
    }

    /// The all-weak end of the curve.
    pub fn all_weak(&self) -> CurvePoint {
        self.vertices[0]
    }

    /// The all-strong end of the curve.
    pub fn all_strong(&self) -> CurvePoint {
        self.vertices[self.vertices.len() - 1]
    }

    /// The point at a given strong share (clamped to `[0, 1]`), interpolated within a group.
    pub fn at_share(&self, share: f64) -> CurvePoint {
        let share = share.clamp(0.0, 1.0);
        let upper = self
            .vertices
            .partition_point(|p| p.strong_share < share)
            .min(self.vertices.len() - 1);
        if upper == 0 {
            return self.vertices[0];
        }
        interpolate(&self.vertices[upper - 1], &self.vertices[upper], share)
    }

    /// The score threshold that sends (at least) `share` of prompts to the strong model:
    /// route strong when `score >= threshold`.
    pub fn threshold_at_share(&self, share: f64) -> f64 {
        let share = share.clamp(0.0, 1.0);
        let index = self
            .vertices
            .partition_point(|p| p.strong_share < share)
            .min(self.vertices.len() - 1);
        self.thresholds[index]
    }

    /// `steps + 1` evenly spaced points from share 0 to share 1: the threshold sweep.
    pub fn sweep(&self, steps: usize) -> Vec<CurvePoint> {
        let steps = steps.max(1);
        (0..=steps)
            .map(|i| self.at_share(i as f64 / steps as f64))
            .collect()
    }

    /// Performance gap recovered at a quality: 0 at the weak model, 1 at the strong one.
    pub fn pgr(&self, quality: f64) -> Result<f64, EvalError> {
        let weak = self.all_weak().quality;
        let gap = self.all_strong().quality - weak;
        if gap.abs() < f64::EPSILON {
            return Err(EvalError::NoQualityGap { quality: weak });
        }
        Ok((quality - weak) / gap)
    }

    /// Average PGR over the strong share from 0 to 1 (trapezoid rule over the exact vertices).
    pub fn apgr(&self) -> Result<f64, EvalError> {
        let area: f64 = self
            .vertices
            .windows(2)
            .map(|w| (w[1].strong_share - w[0].strong_share) * (w[0].quality + w[1].quality) / 2.0)
            .sum();
        self.pgr(area)
    }

    /// Call-performance threshold: the smallest strong share whose PGR reaches `target`
    /// (e.g. 0.5 for CPT(50%)). `None` if the curve never reaches it (targets above 1).
    pub fn cpt(&self, target: f64) -> Result<Option<f64>, EvalError> {
        let weak = self.all_weak().quality;
        let quality_target = weak + target * (self.all_strong().quality - weak);
        self.pgr(quality_target)?;
        Ok(self
            .first_reaching(quality_target)
            .map(|point| point.strong_share))
    }

    /// The cheapest-in-share point whose quality reaches `fraction` of the strong model's
    /// quality, and what it saves against always-strong.
    pub fn savings_at(&self, fraction: f64) -> Option<Savings> {
        let strong = self.all_strong();
        let point = self.first_reaching(fraction * strong.quality)?;
        let saving = if strong.cost > 0.0 {
            1.0 - point.cost / strong.cost
        } else {
            0.0
        };
        Some(Savings { point, saving })
    }

    /// First point along the curve (by strong share) with `quality >= target`, interpolated.
    fn first_reaching(&self, target: f64) -> Option<CurvePoint> {
        // A tiny slack keeps float noise in the prefix sums from missing an exact hit.
        let target = target - 1e-12;
        let first = &self.vertices[0];
        if first.quality >= target {
            return Some(*first);
        }
        self.vertices.windows(2).find_map(|w| {
            if w[1].quality < target {
                return None;
            }
            let fraction = (target - w[0].quality) / (w[1].quality - w[0].quality);
            let share = w[0].strong_share + fraction * (w[1].strong_share - w[0].strong_share);
            Some(interpolate(&w[0], &w[1], share))
        })
    }
}

/// A point that meets a quality target and its saving against always-strong.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Savings {
    pub point: CurvePoint,
    /// `1 - cost / always-strong cost`, in `[0, 1]` when costs are non-negative.
    pub saving: f64,
}

fn interpolate(a: &CurvePoint, b: &CurvePoint, share: f64) -> CurvePoint {
    let width = b.strong_share - a.strong_share;
    let t = if width > 0.0 {
        (share - a.strong_share) / width
    } else {
        1.0
    };
    CurvePoint {
        strong_share: share,
        quality: a.quality + t * (b.quality - a.quality),
        cost: a.cost + t * (b.cost - a.cost),
    }
}

#[cfg(test)]
mod tests;
