use proptest::prelude::*;

use super::*;

/// Three prompts, three models: `cheap` (cost 1) solves prompt 0, `mid` (cost 2) solves 0 and 1,
/// `big` (cost 10) solves 1 and 2.
fn outcomes() -> ModelOutcomes {
    let models = vec!["big".to_string(), "cheap".to_string(), "mid".to_string()];
    #[rustfmt::skip]
    let quality = vec![
        0.0, 1.0, 1.0,
        1.0, 0.0, 1.0,
        1.0, 0.0, 0.0,
    ];
    let cost = [10.0, 1.0, 2.0].repeat(3);
    ModelOutcomes::new(models, quality, cost).unwrap()
}

#[test]
fn single_models_and_oracle_match_hand_computation() {
    let o = outcomes();
    assert_eq!(
        o.single_model(0),
        OperatingPoint {
            quality: 2.0 / 3.0,
            cost: 10.0
        }
    );
    assert_eq!(o.models_by_cost(), vec![1, 2, 0]);
    // Prompt 0: cheap (ties with mid, cheaper); prompt 1: mid; prompt 2: only big.
    assert_eq!(o.oracle_choices(), vec![1, 2, 0]);
    let oracle = o.evaluate(&o.oracle_choices()).unwrap();
    assert_eq!(oracle.quality, 1.0);
    assert!((oracle.cost - 13.0 / 3.0).abs() < 1e-12);
}

#[test]
fn oracle_sweep_runs_from_the_oracle_to_the_cheapest_model() {
    let o = outcomes();
    let sweep = oracle_sweep(&o);
    assert_eq!(sweep[0], o.evaluate(&o.oracle_choices()).unwrap());
    assert_eq!(*sweep.last().unwrap(), o.single_model(1));
    for pair in sweep.windows(2) {
        assert!(pair[1].cost <= pair[0].cost + 1e-12);
    }
}

#[test]
fn cheapest_acceptable_walks_up_the_price_list() {
    let by_cost = [1, 2, 0];
    assert_eq!(cheapest_acceptable(&[0.9, 0.2, 0.6], &by_cost, 0.5), 2);
    assert_eq!(cheapest_acceptable(&[0.9, 0.7, 0.6], &by_cost, 0.5), 1);
    // Nobody clears the bar: the model predicted best.
    assert_eq!(cheapest_acceptable(&[0.3, 0.1, 0.2], &by_cost, 0.5), 0);
}

#[test]
fn threshold_sweep_moves_from_cheap_to_strong() {
    let o = outcomes();
    // A perfect predictor (probability = true quality) at threshold 0.5 reproduces the oracle.
    let perfect: Vec<f64> = (0..3)
        .flat_map(|p| (0..3).map(move |m| (p, m)))
        .map(|(p, m)| o.quality(p, m))
        .collect();
    let points = threshold_sweep(&o, &perfect, &[0.0, 0.5]).unwrap();
    assert_eq!(points[0], o.single_model(1));
    assert_eq!(points[1], o.evaluate(&o.oracle_choices()).unwrap());
}

#[test]
fn frontier_drops_dominated_points() {
    let p = |quality, cost| OperatingPoint { quality, cost };
    let frontier = pareto_frontier(&[
        p(0.5, 1.0),
        p(0.4, 2.0),
        p(0.9, 3.0),
        p(0.9, 4.0),
        p(0.6, 1.0),
    ]);
    assert_eq!(frontier, vec![p(0.6, 1.0), p(0.9, 3.0)]);
    assert_eq!(cheapest_reaching(&frontier, 0.7), Some(p(0.9, 3.0)));
    assert_eq!(cheapest_reaching(&frontier, 0.95), None);
}

#[test]
fn rejects_ragged_matrices() {
    let err = ModelOutcomes::new(vec!["a".into(), "b".into()], vec![1.0; 3], vec![1.0; 3]);
    assert!(matches!(err, Err(EvalError::LengthMismatch { .. })));
    assert!(matches!(
        outcomes().evaluate(&[0]),
        Err(EvalError::LengthMismatch { .. })
    ));
}

proptest! {
    #[test]
    fn frontier_is_increasing_in_both_axes(
        raw in proptest::collection::vec((0.0f64..1.0, 0.0f64..5.0), 1..40)
    ) {
        let points: Vec<OperatingPoint> =
            raw.into_iter().map(|(quality, cost)| OperatingPoint { quality, cost }).collect();
        let frontier = pareto_frontier(&points);
        prop_assert!(!frontier.is_empty());
        for pair in frontier.windows(2) {
            prop_assert!(pair[1].cost >= pair[0].cost);
            prop_assert!(pair[1].quality > pair[0].quality);
        }
        // No input point beats a frontier point on both axes.
        for f in &frontier {
            prop_assert!(!points.iter().any(|p| p.cost < f.cost && p.quality > f.quality));
        }
    }

    #[test]
    fn oracle_beats_every_single_model(
        quality in proptest::collection::vec(0u8..=1, 12),
        cost in proptest::collection::vec(0.1f64..3.0, 12),
    ) {
        let o = ModelOutcomes::new(
            vec!["a".into(), "b".into(), "c".into()],
            quality.into_iter().map(f64::from).collect(),
            cost,
        ).unwrap();
        let oracle = o.evaluate(&o.oracle_choices()).unwrap();
        for m in 0..3 {
            prop_assert!(oracle.quality >= o.single_model(m).quality - 1e-12);
        }
    }
}
