//! The headline numbers of a two-model evaluation, per policy: what `routewise eval` prints in
//! its table and its `--json` output.

use serde::Serialize;

use super::{CurvePoint, DeferralCurve, EvalError};

/// Quality target, as a fraction of the strong model's quality, for the savings figure.
pub const SAVINGS_QUALITY_FRACTION: f64 = 0.95;

/// One policy's metrics on one weak/strong pair. Shares are fractions of prompts sent to the
/// strong model; costs are mean USD per prompt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicySummary {
    pub name: String,
    /// Area under the PGR curve over strong share 0..1; random routing scores 0.5.
    pub apgr: f64,
    /// Smallest strong share recovering 50% / 80% / 95% of the quality gap.
    pub cpt50: Option<f64>,
    pub cpt80: Option<f64>,
    pub cpt95: Option<f64>,
    /// Saving against always-strong at the first point reaching 95% of strong quality.
    pub savings_at_95: Option<f64>,
    /// Strong share and mean cost at that point.
    pub share_at_95: Option<f64>,
    pub cost_at_95: Option<f64>,
    /// Standard deviation of the figures above over seeds (random routing only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spread: Option<Spread>,
    /// For a discrete policy (rules), where it actually operates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operating_point: Option<OperatingShare>,
}

/// Standard deviations of a seeded policy's metrics over its seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Spread {
    pub seeds: usize,
    pub apgr_std: f64,
    pub cpt50_std: f64,
    pub cpt80_std: f64,
    pub cpt95_std: f64,
    pub savings_at_95_std: f64,
}

/// A discrete policy's single operating point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct OperatingShare {
    pub strong_share: f64,
    pub quality: f64,
    pub pgr: f64,
    pub cost: f64,
}

impl PolicySummary {
    /// Reads the metrics off a curve.
    pub fn from_curve(name: &str, curve: &DeferralCurve) -> Result<Self, EvalError> {
        let savings = curve.savings_at(SAVINGS_QUALITY_FRACTION);
        Ok(Self {
            name: name.to_owned(),
            apgr: curve.apgr()?,
            cpt50: curve.cpt(0.5)?,
            cpt80: curve.cpt(0.8)?,
            cpt95: curve.cpt(0.95)?,
            savings_at_95: savings.map(|s| s.saving),
            share_at_95: savings.map(|s| s.point.strong_share),
            cost_at_95: savings.map(|s| s.point.cost),
            spread: None,
            operating_point: None,
        })
    }

    /// Marks this summary as a discrete policy operating at `point`.
    pub fn at_operating_point(
        mut self,
        curve: &DeferralCurve,
        point: CurvePoint,
    ) -> Result<Self, EvalError> {
        self.operating_point = Some(OperatingShare {
            strong_share: point.strong_share,
            quality: point.quality,
            pgr: curve.pgr(point.quality)?,
            cost: point.cost,
        });
        Ok(self)
    }

    /// Mean metrics over several seeded runs of one policy, with their spread. Targets a run
    /// never reached are left out of that target's mean.
    pub fn mean_over_seeds(name: &str, runs: &[PolicySummary]) -> Result<Self, EvalError> {
        if runs.is_empty() {
            return Err(EvalError::Empty);
        }
        let (apgr, apgr_std) = mean_std(runs.iter().map(|r| Some(r.apgr)));
        let (cpt50, cpt50_std) = mean_std(runs.iter().map(|r| r.cpt50));
        let (cpt80, cpt80_std) = mean_std(runs.iter().map(|r| r.cpt80));
        let (cpt95, cpt95_std) = mean_std(runs.iter().map(|r| r.cpt95));
        let (savings, savings_std) = mean_std(runs.iter().map(|r| r.savings_at_95));
        let (share, _) = mean_std(runs.iter().map(|r| r.share_at_95));
        let (cost, _) = mean_std(runs.iter().map(|r| r.cost_at_95));
        Ok(Self {
            name: name.to_owned(),
            apgr: apgr.unwrap_or(f64::NAN),
            cpt50,
            cpt80,
            cpt95,
            savings_at_95: savings,
            share_at_95: share,
            cost_at_95: cost,
            spread: Some(Spread {
                seeds: runs.len(),
                apgr_std,
                cpt50_std,
                cpt80_std,
                cpt95_std,
                savings_at_95_std: savings_std,
            }),
            operating_point: None,
        })
    }
}

/// Mean and population standard deviation of the present values.
fn mean_std(values: impl Iterator<Item = Option<f64>>) -> (Option<f64>, f64) {
    let present: Vec<f64> = values.flatten().collect();
    if present.is_empty() {
        return (None, 0.0);
    }
    let n = present.len() as f64;
    let mean = present.iter().sum::<f64>() / n;
    let variance = present.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (Some(mean), variance.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::PairOutcome;

    fn curve(scores: &[f64]) -> DeferralCurve {
        let outcomes: Vec<PairOutcome> = [(0.0, 1.0), (1.0, 1.0), (0.0, 1.0), (1.0, 0.0)]
            .into_iter()
            .map(|(weak_quality, strong_quality)| PairOutcome {
                weak_quality,
                strong_quality,
                weak_cost: 0.1,
                strong_cost: 1.0,
            })
            .collect();
        DeferralCurve::new(scores, &outcomes).unwrap()
    }

    #[test]
    fn summary_reads_the_curve() {
        let summary = PolicySummary::from_curve("ranked", &curve(&[3.0, 2.0, 1.0, 0.0])).unwrap();
        assert!((summary.apgr - 1.125).abs() < 1e-12);
        assert!((summary.cpt80.unwrap() - 0.2).abs() < 1e-9);
        assert!((summary.savings_at_95.unwrap() - 0.70875).abs() < 1e-9);
        let json = serde_json::to_value(&summary).unwrap();
        for key in ["name", "apgr", "cpt50", "cpt80", "cpt95", "savings_at_95"] {
            assert!(json.get(key).is_some(), "missing {key}");
        }
        assert!(json.get("spread").is_none());
    }

    #[test]
    fn seeds_average_with_their_spread() {
        let a = PolicySummary::from_curve("r", &curve(&[3.0, 2.0, 1.0, 0.0])).unwrap();
        let b = PolicySummary::from_curve("r", &curve(&[0.0; 4])).unwrap();
        let mean = PolicySummary::mean_over_seeds("random", &[a, b]).unwrap();
        assert!((mean.apgr - 0.8125).abs() < 1e-12);
        let spread = mean.spread.unwrap();
        assert_eq!(spread.seeds, 2);
        assert!((spread.apgr_std - 0.3125).abs() < 1e-12);
    }

    #[test]
    fn a_discrete_policy_records_its_operating_point() {
        // Scores 1 for the first two prompts only: the policy sends half the prompts strong.
        let c = curve(&[1.0, 1.0, 0.0, 0.0]);
        let point = c.at_share(0.5);
        let summary = PolicySummary::from_curve("rules", &c)
            .unwrap()
            .at_operating_point(&c, point)
            .unwrap();
        let op = summary.operating_point.unwrap();
        assert_eq!(op.strong_share, 0.5);
        // Prompts 0 and 1 strong: qualities 1, 1, 0, 1 -> 0.75, PGR 1.
        assert!((op.quality - 0.75).abs() < 1e-12);
        assert!((op.pgr - 1.0).abs() < 1e-12);
    }
}
