//! Choosing the learned router's threshold for a target: a share of requests sent to the
//! reference (strongest) model, or a quality floor relative to always using it.

use routewise_core::learn::LearnError;
use routewise_core::learn::model::choose;

/// What the threshold must achieve on the calibration data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CalibrationTarget {
    /// At most this share of requests go to the reference model; quality is maximised within it.
    StrongShare(f64),
    /// Mean quality of at least this fraction of the reference model's; cost is minimised.
    QualityFloor(f64),
}

/// One prompt as the calibration sees it, in the router's model order.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationPoint {
    pub acceptability: Vec<f64>,
    pub scores: Vec<f64>,
    pub costs: Vec<f64>,
}

/// What routing at `threshold` did on the calibration data.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Operating {
    pub threshold: f64,
    /// Share of prompts routed to the reference model.
    pub strong_share: f64,
    pub mean_quality: f64,
    /// `mean_quality` over the reference model's mean quality.
    pub relative_quality: f64,
    pub mean_cost_usd: f64,
}

/// Routes every point at `threshold` and summarises the outcome.
pub fn operating_point(points: &[CalibrationPoint], reference: usize, threshold: f64) -> Operating {
    let n = points.len().max(1) as f64;
    let (mut strong, mut quality, mut cost, mut reference_quality) = (0usize, 0.0, 0.0, 0.0);
    for p in points {
        let m = choose(&p.acceptability, threshold, reference);
        strong += usize::from(m == reference);
        quality += p.scores.get(m).copied().unwrap_or(0.0);
        cost += p.costs.get(m).copied().unwrap_or(0.0);
        reference_quality += p.scores.get(reference).copied().unwrap_or(0.0);
    }
    Operating {
        threshold,
        strong_share: strong as f64 / n,
        mean_quality: quality / n,
        relative_quality: if reference_quality > 0.0 {
            quality / reference_quality
        } else {
            1.0
        },
        mean_cost_usd: cost / n,
    }
}

/// The threshold that meets `target` on `points`, searched over (up to) 1,001 quantiles of the
/// observed acceptabilities plus 0 and "everything to the reference".
pub fn calibrate(
    points: &[CalibrationPoint],
    reference: usize,
    target: CalibrationTarget,
) -> Result<Operating, LearnError> {
    if points.is_empty() {
        return Err(LearnError::NoExamples);
    }
    let goal = match target {
        CalibrationTarget::StrongShare(s) | CalibrationTarget::QualityFloor(s) => s,
    };
    if !(0.0..=1.0).contains(&goal) {
        return Err(LearnError::Config(format!(
            "the calibration target must be in [0, 1], got {goal}"
        )));
    }
    let mut values: Vec<f64> = points
        .iter()
        .flat_map(|p| p.acceptability.iter().copied())
        .filter(|v| v.is_finite())
        .collect();
    values.sort_by(f64::total_cmp);
    values.dedup();
    let mut candidates: Vec<f64> = if values.len() <= 1001 {
        values
    } else {
        (0..=1000)
            .map(|k| values[k * (values.len() - 1) / 1000])
            .collect()
    };
    candidates.push(0.0);
    candidates.push(f64::INFINITY);
    candidates.sort_by(f64::total_cmp);
    candidates.dedup();
    let sweep: Vec<Operating> = candidates
        .iter()
        .map(|&t| operating_point(points, reference, t))
        .collect();
    let best = match target {
        CalibrationTarget::StrongShare(share) => sweep
            .iter()
            .filter(|o| o.strong_share <= share + 1e-12)
            .max_by(|a, b| {
                a.mean_quality
                    .total_cmp(&b.mean_quality)
                    .then_with(|| b.threshold.total_cmp(&a.threshold))
            }),
        CalibrationTarget::QualityFloor(floor) => sweep
            .iter()
            .filter(|o| o.relative_quality >= floor - 1e-12)
            .min_by(|a, b| {
                a.mean_cost_usd
                    .total_cmp(&b.mean_cost_usd)
                    .then_with(|| a.threshold.total_cmp(&b.threshold))
            }),
    };
    best.copied().ok_or(LearnError::TargetUnreachable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points() -> Vec<CalibrationPoint> {
        // Two models (cheap, reference); acceptability of the cheap one falls as the gain rises.
        [
            (0.9, 1.0, 1.0),
            (0.8, 1.0, 1.0),
            (0.6, 0.0, 1.0),
            (0.4, 0.0, 1.0),
        ]
        .iter()
        .map(|&(a, weak, strong)| CalibrationPoint {
            acceptability: vec![a, 1.0],
            scores: vec![weak, strong],
            costs: vec![1.0, 10.0],
        })
        .collect()
    }

    #[test]
    fn strong_share_target_is_met_with_the_best_quality() {
        let op = calibrate(&points(), 1, CalibrationTarget::StrongShare(0.5)).unwrap();
        assert_eq!(op.strong_share, 0.5);
        assert_eq!(op.mean_quality, 1.0);
        assert!(op.threshold > 0.6 && op.threshold <= 0.8);
    }

    #[test]
    fn quality_floor_is_met_at_the_lowest_cost() {
        let op = calibrate(&points(), 1, CalibrationTarget::QualityFloor(0.7)).unwrap();
        assert!(op.relative_quality >= 0.7);
        assert_eq!(
            op.strong_share, 0.25,
            "one hard prompt to the reference suffices"
        );
        let all = calibrate(&points(), 1, CalibrationTarget::QualityFloor(1.0)).unwrap();
        assert_eq!(all.relative_quality, 1.0);
        assert_eq!(all.strong_share, 0.5);
    }

    #[test]
    fn targets_outside_the_unit_interval_are_rejected() {
        assert!(calibrate(&points(), 1, CalibrationTarget::StrongShare(1.5)).is_err());
        assert!(matches!(
            calibrate(&[], 1, CalibrationTarget::StrongShare(0.5)),
            Err(LearnError::NoExamples)
        ));
    }
}
