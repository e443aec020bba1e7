//! Experiment assignment: which arm a unit (a client key, a `user`, a header's value) falls in,
//! whether a request joins a sampled share, and the probability with which an experiment's
//! request was served the model it got.
//!
//! Assignment must not move when a replica restarts, when there are several replicas, or when
//! routewise is upgraded, so the point of a unit in [0, 1) is taken from SHA-256 of the
//! experiment's name, a salt and the unit: a hash whose output is fixed by its standard, unlike
//! a hasher whose algorithm a crate may change between versions.

use sha2::{Digest, Sha256};

/// A unit's point in [0, 1) for `experiment` and `salt` (one salt per use, so that the arm a
/// unit is in and, say, its shadow sampling are independent).
pub fn unit_point(experiment: &str, salt: &str, unit: &str) -> f64 {
    let mut hasher = Sha256::new();
    for part in [experiment, salt, unit] {
        hasher.update(part.as_bytes());
        // A separator that no UTF-8 text contains, so ("ab", "c") and ("a", "bc") differ.
        hasher.update([0xff]);
    }
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // The top 53 bits, as many as an f64 holds exactly.
    (u64::from_be_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

/// The arm whose cumulative weight range holds `point` (arms laid out in order). Weights must
/// be non-negative with a positive sum (the config checks); a point past the end, as rounding
/// may give, falls in the last arm with weight.
pub fn pick_arm(point: f64, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let target = point * total;
    let mut cumulative = 0.0;
    for (i, weight) in weights.iter().enumerate() {
        cumulative += weight;
        if target < cumulative {
            return i;
        }
    }
    weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
}

/// Arm weights for a staged rollout of `share` of a candidate over its incumbent: the
/// candidate first, so that raising the share keeps every unit already on the candidate there
/// (a unit's point does not move; only the boundary does).
pub fn rollout_weights(share: f64) -> [f64; 2] {
    let share = share.clamp(0.0, 1.0);
    [share, 1.0 - share]
}

/// The probability that an experiment's request is served the model it got, given its arm:
/// with `control_share` of requests forced to the strongest tier, the served model is the
/// strongest when either the control draw or the policy put it there. `policy_propensity` is
/// the policy's probability for its own choice; `policy_chose_top` whether that choice was of
/// the strongest tier; `served_top` whether the served model is.
pub fn served_propensity(
    control_share: f64,
    policy_propensity: f64,
    policy_chose_top: bool,
    served_top: bool,
) -> f64 {
    let by_policy = if policy_chose_top == served_top {
        policy_propensity
    } else {
        // The policy did not choose the served model (the control forced a stronger one). A
        // stochastic policy's probability of the strongest tier is not known here; it is at
        // most the exploration share, so the estimate errs by at most that.
        0.0
    };
    let forced = if served_top { control_share } else { 0.0 };
    (forced + (1.0 - control_share) * by_policy).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn points_are_stable_across_versions() {
        // Fixed by SHA-256: if this changes, every sticky assignment in the field moves.
        let point = unit_point("new-rules", "arm", "team-a");
        assert!((point - unit_point("new-rules", "arm", "team-a")).abs() < f64::EPSILON);
        assert_ne!(
            unit_point("new-rules", "arm", "team-a"),
            unit_point("new-rules", "arm", "team-b")
        );
        assert_ne!(unit_point("ab", "c", "d"), unit_point("a", "bc", "d"));
        let digest = Sha256::digest(b"e\xffarm\xffu\xff");
        let expected = (u64::from_be_bytes([
            digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
        ]) >> 11) as f64
            / (1u64 << 53) as f64;
        assert_eq!(unit_point("e", "arm", "u"), expected);
    }

    #[test]
    fn arms_split_at_their_weights() {
        let weights = [0.7, 0.2, 0.1];
        let mut counts = [0usize; 3];
        for i in 0..20_000 {
            counts[pick_arm(unit_point("x", "arm", &format!("user-{i}")), &weights)] += 1;
        }
        for (count, weight) in counts.iter().zip(weights) {
            let share = *count as f64 / 20_000.0;
            // Four standard errors of a binomial share at n = 20,000.
            assert!((share - weight).abs() < 0.015, "{share} vs {weight}");
        }
    }

    #[test]
    fn zero_weight_arms_get_nothing_even_at_the_edge() {
        assert_eq!(pick_arm(0.999_999_999, &[1.0, 0.0]), 0);
        assert_eq!(pick_arm(0.0, &[0.0, 1.0]), 1);
    }

    #[test]
    fn control_propensity_mixes_the_forced_share() {
        // A deterministic policy choosing the cheap tier, not forced.
        assert!((served_propensity(0.05, 1.0, false, false) - 0.95).abs() < 1e-12);
        // The same request forced to the strongest: only the control put it there.
        assert!((served_propensity(0.05, 1.0, false, true) - 0.05).abs() < 1e-12);
        // The policy chose the strongest itself: served with certainty.
        assert!((served_propensity(0.05, 1.0, true, true) - 1.0).abs() < 1e-12);
        assert!((served_propensity(0.0, 0.4, false, false) - 0.4).abs() < 1e-12);
    }

    proptest! {
        #[test]
        fn points_are_in_the_unit_interval(e in ".{0,20}", s in ".{0,8}", u in ".{0,40}") {
            let p = unit_point(&e, &s, &u);
            prop_assert!((0.0..1.0).contains(&p));
        }

        #[test]
        fn raising_a_rollout_never_moves_a_unit_off_the_candidate(
            unit in "[a-z0-9]{1,16}", low in 0.0f64..1.0, high in 0.0f64..1.0
        ) {
            let (low, high) = if low <= high { (low, high) } else { (high, low) };
            let point = unit_point("rollout", "arm", &unit);
            if pick_arm(point, &rollout_weights(low)) == 0 {
                prop_assert_eq!(pick_arm(point, &rollout_weights(high)), 0);
            }
        }

        #[test]
        fn propensities_are_probabilities(
            c in 0.0f64..1.0, p in 0.0f64..=1.0, chose in any::<bool>(), served in any::<bool>()
        ) {
            let q = served_propensity(c, p, chose, served);
            prop_assert!((0.0..=1.0).contains(&q));
        }
    }
}
