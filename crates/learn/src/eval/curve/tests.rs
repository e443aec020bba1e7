use proptest::prelude::*;

use super::*;

/// Four prompts: the strong model fixes two, changes nothing on one, and breaks one.
/// Weak mean quality 0.5, strong 0.75; weak costs 0.1, strong 1.0 per prompt.
fn outcomes() -> Vec<PairOutcome> {
    [(0.0, 1.0), (1.0, 1.0), (0.0, 1.0), (1.0, 0.0)]
        .into_iter()
        .map(|(weak_quality, strong_quality)| PairOutcome {
            weak_quality,
            strong_quality,
            weak_cost: 0.1,
            strong_cost: 1.0,
        })
        .collect()
}

fn assert_close(actual: f64, expected: f64) {
    assert!(
        (actual - expected).abs() < 1e-9,
        "expected {expected}, got {actual}"
    );
}

#[test]
fn oracle_curve_matches_hand_computation() {
    // Oracle scores = strong minus weak quality: p0 and p2 tie at 1, then p1, then p3.
    let curve = DeferralCurve::new(&[1.0, 0.0, 1.0, -1.0], &outcomes()).unwrap();
    let shares: Vec<f64> = curve.vertices().iter().map(|p| p.strong_share).collect();
    let quality: Vec<f64> = curve.vertices().iter().map(|p| p.quality).collect();
    assert_eq!(shares, vec![0.0, 0.5, 0.75, 1.0]);
    assert_eq!(quality, vec![0.5, 1.0, 1.0, 0.75]);
    // PGR 0, 2, 2, 1: trapezoids 0.5 + 0.5 + 0.375.
    assert_close(curve.apgr().unwrap(), 1.375);
    // PGR rises 0 -> 2 over shares 0 -> 0.5, so it reaches 0.5 at 0.125 and 0.95 at 0.2375.
    assert_close(curve.cpt(0.5).unwrap().unwrap(), 0.125);
    assert_close(curve.cpt(0.95).unwrap().unwrap(), 0.2375);
}

#[test]
fn known_ranking_matches_hand_computation() {
    let curve = DeferralCurve::new(&[3.0, 2.0, 1.0, 0.0], &outcomes()).unwrap();
    let quality: Vec<f64> = curve.vertices().iter().map(|p| p.quality).collect();
    assert_eq!(quality, vec![0.5, 0.75, 0.75, 1.0, 0.75]);
    // PGR 0, 1, 1, 2, 1 at quarter steps.
    assert_close(curve.apgr().unwrap(), 1.125);
    assert_close(curve.cpt(0.8).unwrap().unwrap(), 0.2);
    // 95% of strong quality is 0.7125, reached at share 0.2125 where cost is 0.1 + 0.9 * share.
    let savings = curve.savings_at(0.95).unwrap();
    assert_close(savings.point.strong_share, 0.2125);
    assert_close(savings.point.cost, 0.29125);
    assert_close(savings.saving, 0.70875);
    assert_close(curve.threshold_at_share(0.25), 3.0);
    assert_close(curve.threshold_at_share(0.3), 2.0);
}

#[test]
fn constant_scores_are_the_straight_line_of_random_routing() {
    let curve = DeferralCurve::new(&[0.7; 4], &outcomes()).unwrap();
    assert_eq!(curve.vertices().len(), 2);
    assert_close(curve.apgr().unwrap(), 0.5);
    assert_close(curve.cpt(0.5).unwrap().unwrap(), 0.5);
    let mid = curve.at_share(0.5);
    assert_close(mid.quality, 0.625);
    assert_close(mid.cost, 0.55);
}

#[test]
fn sweep_spans_both_ends_evenly() {
    let curve = DeferralCurve::new(&[3.0, 2.0, 1.0, 0.0], &outcomes()).unwrap();
    let sweep = curve.sweep(100);
    assert_eq!(sweep.len(), 101);
    assert_eq!(sweep[0], curve.all_weak());
    assert_close(sweep[100].quality, 0.75);
    assert_close(sweep[50].strong_share, 0.5);
}

#[test]
fn rejects_bad_input() {
    assert_eq!(DeferralCurve::new(&[], &[]), Err(EvalError::Empty));
    assert!(matches!(
        DeferralCurve::new(&[1.0], &outcomes()),
        Err(EvalError::LengthMismatch { .. })
    ));
    assert_eq!(
        DeferralCurve::new(&[0.0, f64::NAN, 0.0, 0.0], &outcomes()),
        Err(EvalError::NonFiniteScore { index: 1 })
    );
    let same = vec![
        PairOutcome {
            weak_quality: 1.0,
            strong_quality: 1.0,
            weak_cost: 0.0,
            strong_cost: 1.0,
        };
        2
    ];
    let curve = DeferralCurve::new(&[0.0, 1.0], &same).unwrap();
    assert!(matches!(curve.apgr(), Err(EvalError::NoQualityGap { .. })));
}

fn arb_case() -> impl Strategy<Value = (Vec<f64>, Vec<PairOutcome>)> {
    (1usize..60).prop_flat_map(|n| {
        (
            proptest::collection::vec(-3i32..3, n),
            proptest::collection::vec((0u8..=1, 0u8..=1, 0.0f64..1.0, 0.0f64..1.0), n),
        )
            .prop_map(|(scores, raw)| {
                let scores = scores.into_iter().map(f64::from).collect();
                let outcomes = raw
                    .into_iter()
                    .map(|(w, s, wc, extra)| PairOutcome {
                        weak_quality: f64::from(w),
                        strong_quality: f64::from(s),
                        weak_cost: wc,
                        strong_cost: wc + extra,
                    })
                    .collect();
                (scores, outcomes)
            })
    })
}

fn oracle_scores(outcomes: &[PairOutcome]) -> Vec<f64> {
    outcomes
        .iter()
        .map(|o| o.strong_quality - o.weak_quality)
        .collect()
}

proptest! {
    #[test]
    fn cost_never_falls_along_the_sweep((scores, outcomes) in arb_case()) {
        let curve = DeferralCurve::new(&scores, &outcomes).unwrap();
        let sweep = curve.sweep(37);
        for pair in sweep.windows(2) {
            prop_assert!(pair[1].cost >= pair[0].cost - 1e-12);
            prop_assert!(pair[1].strong_share > pair[0].strong_share);
        }
    }

    #[test]
    fn oracle_dominates_every_router((scores, outcomes) in arb_case()) {
        let curve = DeferralCurve::new(&scores, &outcomes).unwrap();
        let oracle = DeferralCurve::new(&oracle_scores(&outcomes), &outcomes).unwrap();
        for step in 0..=20 {
            let share = f64::from(step) / 20.0;
            prop_assert!(oracle.at_share(share).quality >= curve.at_share(share).quality - 1e-9);
        }
        // With a positive gap, more quality is more PGR, so the oracle's APGR is the highest.
        let gap = curve.all_strong().quality - curve.all_weak().quality;
        if let (true, Ok(a), Ok(o)) = (gap > 1e-9, curve.apgr(), oracle.apgr()) {
            prop_assert!(a <= o + 1e-9);
        }
    }

    #[test]
    fn apgr_of_a_monotone_gain_curve_lies_in_unit_range((_, outcomes) in arb_case()) {
        // When the strong model never loses, the oracle's PGR stays in [0, 1] and so does APGR.
        let outcomes: Vec<PairOutcome> = outcomes
            .into_iter()
            .map(|o| PairOutcome { strong_quality: o.strong_quality.max(o.weak_quality), ..o })
            .collect();
        let oracle = DeferralCurve::new(&oracle_scores(&outcomes), &outcomes).unwrap();
        if let Ok(apgr) = oracle.apgr() {
            prop_assert!((0.5 - 1e-9..=1.0 + 1e-9).contains(&apgr));
        }
    }

    #[test]
    fn constant_scores_give_apgr_one_half((_, outcomes) in arb_case()) {
        let curve = DeferralCurve::new(&vec![0.0; outcomes.len()], &outcomes).unwrap();
        if let Ok(apgr) = curve.apgr() {
            prop_assert!((apgr - 0.5).abs() < 1e-9);
        }
    }

    #[test]
    fn curve_ignores_input_order((scores, outcomes) in arb_case()) {
        let curve = DeferralCurve::new(&scores, &outcomes).unwrap();
        let reversed = DeferralCurve::new(
            &scores.iter().rev().copied().collect::<Vec<_>>(),
            &outcomes.iter().rev().copied().collect::<Vec<_>>(),
        ).unwrap();
        for (a, b) in curve.vertices().iter().zip(reversed.vertices()) {
            prop_assert!((a.quality - b.quality).abs() < 1e-9);
            prop_assert!((a.cost - b.cost).abs() < 1e-9);
        }
    }

    #[test]
    fn cpt_is_monotone_in_its_target((scores, outcomes) in arb_case()) {
        let curve = DeferralCurve::new(&scores, &outcomes).unwrap();
        if let (Ok(Some(a)), Ok(Some(b)), Ok(Some(c))) =
            (curve.cpt(0.5), curve.cpt(0.8), curve.cpt(0.95))
        {
            prop_assert!(a <= b + 1e-12 && b <= c + 1e-12);
        }
    }
}
