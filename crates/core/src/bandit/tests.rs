use super::*;
use crate::catalog::{Catalog, ModelSet, ModelSpec};
use crate::request::{ChatInput, RequestContext};
use crate::signals::{SignalExtractor, Signals};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn model(name: &str, tier: usize, price: f64) -> ModelSpec {
    ModelSpec {
        name: name.into(),
        provider: "p".into(),
        upstream_model: name.into(),
        tier,
        input_usd_per_mtok: price,
        output_usd_per_mtok: price * 4.0,
        context_window: 128_000,
        capabilities: Vec::new(),
    }
}

/// Four arms over three tiers, a 100x price spread.
fn catalog() -> Catalog {
    Catalog::new(
        vec!["small".into(), "medium".into(), "large".into()],
        vec![
            model("mini", 0, 0.1),
            model("nano", 0, 0.2),
            model("mid", 1, 1.0),
            model("big", 2, 10.0),
        ],
    )
    .unwrap()
}

struct Request {
    input: ChatInput,
    signals: Signals,
}

fn request(text: &str, tier: &str) -> Request {
    let input = ChatInput::from_prompt(text);
    let context = RequestContext {
        user_tier: tier.into(),
        hour_of_day: 9,
    };
    let signals = SignalExtractor::new().unwrap().extract(&input, &context);
    Request { input, signals }
}

fn choose(
    bandit: &BanditPolicy,
    catalog: &Catalog,
    req: &Request,
    state: &LearnedState,
    seed: u64,
) -> Choice {
    let eligible = ModelSet::all(catalog);
    let mut input = PolicyInput::plain(&req.signals, &req.input, catalog, &eligible);
    input.state = Some(state);
    bandit.choose(&input, &mut StdRng::seed_from_u64(seed))
}

fn outcome<'a>(model: &'a str, features: &'a [f32], quality: f64) -> Outcome<'a> {
    Outcome {
        model,
        features,
        quality,
        cost_usd: 0.0,
    }
}

/// No optimism: the tests look at what feedback teaches, not at the bonus for arms never tried.
fn settings(explore: f64) -> BanditSettings {
    BanditSettings {
        explore,
        optimism: 0.0,
        quality_value_usd: 1.0,
        ..BanditSettings::default()
    }
}

const PROMPTS: [&str; 4] = [
    "Translate 'good morning' into French.",
    "Prove that there are infinitely many primes, step by step.",
    "Classify this review as positive or negative: great phone!",
    "Write a Rust function that parses a CSV line with quoted fields.",
];

proptest! {
    #[test]
    fn propensities_are_a_distribution_and_the_choice_carries_its_own(
        prompt in prop::sample::select(PROMPTS.to_vec()),
        explore in 0.0f64..0.5,
        bias in -1.0f64..1.0,
        seed in any::<u64>(),
        feedback in prop::collection::vec((0usize..4, 0.0f64..1.0), 0..20),
    ) {
        let catalog = catalog();
        let bandit = BanditPolicy::new(&catalog, settings(explore));
        let req = request(prompt, "standard");
        let mut state = bandit.fresh();
        let x = Context::of(&req.signals, &req.input, bandit.settings.text_features);
        for (arm, q) in &feedback {
            state = bandit.observe(&state, &outcome(&bandit.arms[*arm], &x.encode(), *q));
        }
        let eligible = ModelSet::all(&catalog);
        let mut input = PolicyInput::plain(&req.signals, &req.input, &catalog, &eligible);
        input.state = Some(&state);
        input.bias = bias;
        let scores = bandit.score(&input, state.downcast().unwrap(), &x);
        let p = bandit.distribution(&input, &scores);
        prop_assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        prop_assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
        let choice = bandit.choose(&input, &mut StdRng::seed_from_u64(seed));
        let Target::Model(id) = choice.target else { panic!("a bandit picks a model") };
        let i = scores.iter().position(|s| s.model == id).unwrap();
        prop_assert!((choice.propensity - p[i]).abs() < 1e-12);
        prop_assert!(choice.propensity > 0.0);
    }

    #[test]
    fn the_same_seed_and_state_give_the_same_choice(
        prompt in prop::sample::select(PROMPTS.to_vec()),
        seed in any::<u64>(),
    ) {
        let catalog = catalog();
        let bandit = BanditPolicy::new(&catalog, settings(0.3));
        let req = request(prompt, "standard");
        let state = bandit.fresh();
        prop_assert_eq!(
            choose(&bandit, &catalog, &req, &state, seed),
            choose(&bandit, &catalog, &req, &state, seed)
        );
    }

    #[test]
    fn rewards_move_the_prediction_their_way(
        prompt in prop::sample::select(PROMPTS.to_vec()),
        arm in 0usize..4,
        quality in 0.0f64..1.0,
    ) {
        let catalog = catalog();
        let bandit = BanditPolicy::new(&catalog, settings(0.0));
        let req = request(prompt, "standard");
        let x = Context::of(&req.signals, &req.input, bandit.settings.text_features);
        let before = bandit.fresh();
        let predicted = |state: &LearnedState| {
            let state: &BanditState = state.downcast().unwrap();
            state.arms[arm].predict(&x, 0.0).0
        };
        let after = bandit.observe(&before, &outcome(&bandit.arms[arm], &x.encode(), quality));
        let (old, new) = (predicted(&before), predicted(&after));
        // The prediction moves towards the observed quality and does not overshoot it.
        if quality >= old {
            prop_assert!(new >= old - 1e-12 && new <= quality + 1e-12);
        } else {
            prop_assert!(new <= old + 1e-12 && new >= quality - 1e-12);
        }
    }

    #[test]
    fn merging_two_replicas_loses_no_outcome(
        before in prop::collection::vec((0usize..4, 0usize..4, 0.0f64..1.0), 0..6),
        mine in prop::collection::vec((0usize..4, 0usize..4, 0.0f64..1.0), 0..12),
        theirs in prop::collection::vec((0usize..4, 0usize..4, 0.0f64..1.0), 0..12),
    ) {
        let catalog = catalog();
        let bandit = BanditPolicy::new(&catalog, settings(0.1));
        let contexts: Vec<Vec<f32>> = PROMPTS
            .iter()
            .map(|p| {
                let req = request(p, "standard");
                Context::of(&req.signals, &req.input, bandit.settings.text_features).encode()
            })
            .collect();
        let fold = |state: LearnedState, outcomes: &[(usize, usize, f64)]| {
            outcomes.iter().fold(state, |s, (arm, prompt, q)| {
                bandit.observe(&s, &outcome(&bandit.arms[*arm], &contexts[*prompt], *q))
            })
        };
        let base = fold(bandit.fresh(), &before);
        let (a, b) = (fold(base.clone(), &mine), fold(base.clone(), &theirs));
        let merged = bandit.merge(&base, &a, &b).unwrap();
        let stats = |s: &LearnedState| -> Vec<ArmStats> {
            s.downcast::<BanditState>().unwrap().arms.iter().map(|arm| arm.dense.stats()).collect()
        };
        // Observation counts add up exactly, per arm; the dense statistics are the sums.
        for (arm, got) in stats(&merged).iter().enumerate() {
            let count = |o: &[(usize, usize, f64)]| o.iter().filter(|(a, _, _)| *a == arm).count() as u64;
            prop_assert_eq!(got.observations, count(&before) + count(&mine) + count(&theirs));
            let (sb, sa, st) = (&stats(&base)[arm], &stats(&a)[arm], &stats(&b)[arm]);
            for (i, g) in got.gram_upper.iter().enumerate() {
                let want = st.gram_upper[i] + sa.gram_upper[i] - sb.gram_upper[i];
                prop_assert!((g - want).abs() < 1e-9);
            }
        }
        // Merging is symmetric in the two replicas.
        let other_way = bandit.merge(&base, &b, &a).unwrap();
        prop_assert_eq!(stats(&merged).iter().map(|s| s.observations).collect::<Vec<_>>(),
            stats(&other_way).iter().map(|s| s.observations).collect::<Vec<_>>());
        // Nothing learned on one side: the merge is the other side as it is.
        let unchanged = bandit.merge(&base, &base, &b).unwrap();
        prop_assert_eq!(stats(&unchanged), stats(&b));
    }

    #[test]
    fn premium_callers_are_never_explored(
        prompt in prop::sample::select(PROMPTS.to_vec()),
        seed in any::<u64>(),
    ) {
        let catalog = catalog();
        let bandit = BanditPolicy::new(&catalog, settings(0.5));
        let req = request(prompt, "premium");
        let choice = choose(&bandit, &catalog, &req, &bandit.fresh(), seed);
        prop_assert_eq!(choice.reason.as_str(), "bandit:exploit");
        prop_assert_eq!(choice.propensity, 1.0);
    }
}

#[test]
fn arms_never_tried_get_the_benefit_of_the_doubt() {
    let catalog = catalog();
    let curious = BanditPolicy::new(
        &catalog,
        BanditSettings {
            optimism: 0.3,
            ..settings(0.0)
        },
    );
    let req = request(PROMPTS[0], "standard");
    let x = Context::of(&req.signals, &req.input, curious.settings.text_features);
    let mut state = curious.fresh();
    for _ in 0..50 {
        state = curious.observe(&state, &outcome("mini", &x.encode(), 0.9));
    }
    // `mini` is known to be good here; `nano` (same tier, never tried) is uncertain enough to
    // be worth a look.
    let eligible = ModelSet::all(&catalog);
    let mut input = PolicyInput::plain(&req.signals, &req.input, &catalog, &eligible);
    input.state = Some(&state);
    let scores = curious.score(&input, state.downcast().unwrap(), &x);
    let of = |name: &str| {
        let id = catalog.id_of(name).unwrap();
        *scores.iter().find(|s| s.model == id).unwrap()
    };
    assert!(of("nano").uncertainty > 2.0 * of("mini").uncertainty);
}

#[test]
fn exploration_stays_within_its_share() {
    let catalog = catalog();
    let bandit = BanditPolicy::new(&catalog, settings(0.05));
    let req = request(PROMPTS[0], "standard");
    let state = bandit.fresh();
    let exploring = (0..4000)
        .filter(|&seed| choose(&bandit, &catalog, &req, &state, seed).reason == "bandit:explore")
        .count();
    // 5% of 4000 is 200; four standard deviations either side.
    assert!((145..=255).contains(&exploring), "{exploring} explored");
}

#[test]
fn the_cold_start_follows_the_tier_order() {
    let catalog = catalog();
    // Quality is worth a lot: the prior's stronger tiers win.
    let generous = BanditPolicy::new(
        &catalog,
        BanditSettings {
            explore: 0.0,
            quality_value_usd: 100.0,
            ..BanditSettings::default()
        },
    );
    let req = request(PROMPTS[1], "standard");
    let choice = choose(&generous, &catalog, &req, &generous.fresh(), 1);
    assert_eq!(choice.target, Target::Model(catalog.id_of("big").unwrap()));
    // Quality is worth little: the cheapest arm.
    let frugal = BanditPolicy::new(
        &catalog,
        BanditSettings {
            explore: 0.0,
            quality_value_usd: 1e-6,
            ..BanditSettings::default()
        },
    );
    let choice = choose(&frugal, &catalog, &req, &frugal.fresh(), 1);
    assert_eq!(choice.target, Target::Model(catalog.id_of("mini").unwrap()));
}

/// Feedback that the cheap arm answers translations well and proofs badly sends translations
/// to it and proofs away from it.
#[test]
fn feedback_teaches_which_requests_the_cheap_model_serves() {
    let catalog = catalog();
    let bandit = BanditPolicy::new(&catalog, settings(0.0));
    let translate = request("Translate 'thank you very much' into German.", "standard");
    let prove = request(
        "Prove step by step that the square root of two is irrational.",
        "standard",
    );
    let features =
        |r: &Request| Context::of(&r.signals, &r.input, bandit.settings.text_features).encode();
    let (xt, xp) = (features(&translate), features(&prove));
    let mut state = bandit.fresh();
    for _ in 0..30 {
        state = bandit.observe(&state, &outcome("mini", &xt, 1.0));
        state = bandit.observe(&state, &outcome("mini", &xp, 0.0));
        state = bandit.observe(&state, &outcome("big", &xp, 1.0));
        state = bandit.observe(&state, &outcome("big", &xt, 1.0));
    }
    let mini = catalog.id_of("mini").unwrap();
    assert_eq!(
        choose(&bandit, &catalog, &translate, &state, 1).target,
        Target::Model(mini)
    );
    assert_eq!(
        choose(&bandit, &catalog, &prove, &state, 1).target,
        Target::Model(catalog.id_of("big").unwrap())
    );
}

#[test]
fn a_failing_model_costs_its_fallback_too() {
    let catalog = catalog();
    let bandit = BanditPolicy::new(&catalog, settings(0.0));
    let req = request(PROMPTS[0], "standard");
    let eligible = ModelSet::all(&catalog);
    let state = bandit.fresh();
    let x = Context::of(&req.signals, &req.input, bandit.settings.text_features);
    let mut input = PolicyInput::plain(&req.signals, &req.input, &catalog, &eligible);
    input.state = Some(&state);
    let reliable = bandit.score(&input, state.downcast().unwrap(), &x);
    let failing = [0.5, 0.0, 0.0, 0.0];
    input.failure_rates = &failing;
    let unreliable = bandit.score(&input, state.downcast().unwrap(), &x);
    let mini = catalog.id_of("mini").unwrap();
    let cost = |s: &[ArmScore]| s.iter().find(|a| a.model == mini).unwrap().cost_usd;
    // Half its calls also pay for `mid`, the next tier's cheapest model (10x its price).
    assert!((cost(&unreliable) - cost(&reliable) * 6.0).abs() < 1e-12);
}

#[test]
fn state_round_trips_and_refuses_another_catalog() {
    let catalog = catalog();
    let bandit = BanditPolicy::new(&catalog, settings(0.1));
    let req = request(PROMPTS[2], "standard");
    let x = Context::of(&req.signals, &req.input, bandit.settings.text_features);
    let state = bandit.observe(&bandit.fresh(), &outcome("mid", &x.encode(), 0.9));
    let encoded = bandit.encode(&state).unwrap();
    let decoded = bandit.decode(&encoded).unwrap();
    assert_eq!(
        choose(&bandit, &catalog, &req, &state, 7),
        choose(&bandit, &catalog, &req, &decoded, 7)
    );
    let other = Catalog::new(
        vec!["small".into(), "large".into()],
        vec![model("mini", 0, 0.1), model("big", 1, 10.0)],
    )
    .unwrap();
    let elsewhere = BanditPolicy::new(&other, settings(0.1));
    assert!(matches!(
        elsewhere.decode(&encoded),
        Err(StateError::Mismatch(_))
    ));
    assert!(elsewhere.fits(&state).is_err());
    let mut broken = encoded.clone();
    broken["arms"][0]["b"] = serde_json::json!([1.0]);
    let mut bad_text = encoded.clone();
    bad_text["arms"][2]["text"]["buckets"] = serde_json::json!([1_000_000]);
    bad_text["arms"][2]["text"]["weights"] = serde_json::json!([1.0]);
    bad_text["arms"][2]["text"]["squares"] = serde_json::json!([1.0]);
    bad_text["arms"][2]["text"]["seen"] = serde_json::json!([1.0]);
    assert!(matches!(
        bandit.decode(&bad_text),
        Err(StateError::Corrupt(_))
    ));
    assert!(matches!(
        bandit.decode(&broken),
        Err(StateError::Corrupt(_))
    ));
}

#[test]
fn features_of_another_policy_teach_nothing() {
    let catalog = catalog();
    let bandit = BanditPolicy::new(&catalog, settings(0.0));
    let state = bandit.fresh();
    let next = bandit.observe(&state, &outcome("mini", &[1.0, 2.0], 1.0));
    let observations = |s: &LearnedState| {
        s.downcast::<BanditState>()
            .unwrap()
            .observations()
            .iter()
            .map(|(_, n)| *n)
            .sum::<u64>()
    };
    assert_eq!(observations(&next), 0);
}
