use super::*;
use crate::catalog::{Capability, Catalog, ModelSpec};
use crate::policy::{ComplexityPolicy, RulesPolicy};
use crate::request::{ChatInput, Message, RequestContext, Role};
use proptest::prelude::*;

fn model(name: &str, tier: usize, price: f64, caps: &[Capability], context: u32) -> ModelSpec {
    ModelSpec {
        name: name.into(),
        provider: "p".into(),
        upstream_model: name.into(),
        tier,
        input_usd_per_mtok: price,
        output_usd_per_mtok: price * 4.0,
        context_window: context,
        capabilities: caps.to_vec(),
    }
}

/// small (text only, 16k) < medium (code, vision) < large (everything).
fn catalog() -> Arc<Catalog> {
    Arc::new(
        Catalog::new(
            vec!["small".into(), "medium".into(), "large".into()],
            vec![
                model("small", 0, 0.1, &[], 16_000),
                model(
                    "medium",
                    1,
                    1.0,
                    &[Capability::Code, Capability::Vision],
                    128_000,
                ),
                model(
                    "large",
                    2,
                    10.0,
                    &[Capability::Code, Capability::Vision, Capability::Tools],
                    200_000,
                ),
            ],
        )
        .unwrap(),
    )
}

fn rules_router() -> Router {
    let catalog = catalog();
    let policy = Arc::new(RulesPolicy::default_rules(&catalog));
    Router::new(catalog, policy, RouterOptions::default()).unwrap()
}

fn route(router: &Router, prompt: &str, tier: &str) -> Decision {
    let context = RequestContext {
        user_tier: tier.into(),
        hour_of_day: 9,
    };
    router
        .decide(&ChatInput::from_prompt(prompt), &context)
        .unwrap()
}

#[test]
fn default_rules_route_the_readme_examples() {
    let router = rules_router();
    let d = route(&router, "What's the capital of France?", "standard");
    assert_eq!(
        (d.model.as_str(), d.reason.as_str()),
        ("small", "rule:short-and-simple")
    );
    let d = route(&router, "What's the capital of France?", "premium");
    assert_eq!(
        (d.model.as_str(), d.reason.as_str()),
        ("large", "rule:premium-tier")
    );
    let d = route(
        &router,
        "Write a Rust function that parses ISO-8601 dates",
        "standard",
    );
    assert_eq!(
        (d.model.as_str(), d.reason.as_str()),
        ("medium", "rule:code-generation")
    );
    let d = route(
        &router,
        "What dosage of ibuprofen is safe for a child?",
        "standard",
    );
    assert_eq!(d.reason, "rule:high-stakes-domain");
    assert_eq!(d.model, "large");
    let d = route(
        &router,
        "Explain why the sky is blue and compare it with sunsets",
        "standard",
    );
    assert_eq!(d.reason, "rule:multi-step-reasoning");
    let d = route(
        &router,
        "Classify this ticket: my card was charged twice",
        "standard",
    );
    assert_eq!(
        (d.model.as_str(), d.reason.as_str()),
        ("small", "rule:simple-task")
    );
}

#[test]
fn long_summaries_follow_the_token_rules() {
    let router = rules_router();
    let article = "The committee met on Tuesday to review the annual budget. ".repeat(150);
    let d = route(
        &router,
        &format!("Summarize this article:\n{article}"),
        "standard",
    );
    assert_eq!(
        (d.model.as_str(), d.reason.as_str()),
        ("small", "rule:summary")
    );
    // Past 16k tokens the summary goes up a tier; past small's window it could not stay anyway.
    let book = "The committee met on Tuesday to review the annual budget. ".repeat(1_500);
    let d = route(
        &router,
        &format!("Summarize this book:\n{book}"),
        "standard",
    );
    assert_eq!(
        (d.model.as_str(), d.reason.as_str()),
        ("medium", "rule:long-summary")
    );
}

#[test]
fn images_only_go_to_vision_models_and_escalation_is_explained() {
    let router = rules_router();
    let input = ChatInput {
        messages: vec![Message {
            role: Role::User,
            text: "What's in this image?".into(),
            image_parts: 1,
        }],
        ..ChatInput::default()
    };
    let d = router.decide(&input, &RequestContext::default()).unwrap();
    assert_eq!(d.model, "medium");
    assert!(
        d.constraints.iter().any(|c| c.contains("vision")),
        "{:?}",
        d.constraints
    );
    assert!(d.detail.contains("escalated"), "{}", d.detail);
}

#[test]
fn explicit_models_are_honoured_checked_and_accounted() {
    let router = rules_router();
    let mut input = ChatInput::from_prompt("hello");
    input.requested_model = Some("large".into());
    let d = router.decide(&input, &RequestContext::default()).unwrap();
    assert_eq!((d.model.as_str(), d.policy.as_str()), ("large", "explicit"));
    assert!((d.estimated_cost_usd - d.baseline_cost_usd).abs() < 1e-15);

    input.requested_model = Some("gpt-9".into());
    let err = router
        .decide(&input, &RequestContext::default())
        .unwrap_err();
    assert!(matches!(err, RouteError::UnknownModel { .. }));
    assert!(err.to_string().contains("small, medium, large"));

    input.requested_model = Some("small".into());
    input.messages[0].image_parts = 1;
    let err = router
        .decide(&input, &RequestContext::default())
        .unwrap_err();
    assert!(matches!(err, RouteError::ModelCannotServe { .. }), "{err}");
}

#[test]
fn bad_requests_get_clear_errors() {
    let router = rules_router();
    let ctx = RequestContext::default();
    assert_eq!(
        router.decide(&ChatInput::default(), &ctx),
        Err(RouteError::NoMessages)
    );
    assert_eq!(
        router.decide(&ChatInput::from_prompt("  \n "), &ctx),
        Err(RouteError::EmptyPrompt)
    );
    let huge = ChatInput::from_prompt("x".repeat(9 * 1024 * 1024));
    assert!(matches!(
        router.decide(&huge, &ctx),
        Err(RouteError::InputTooLarge { .. })
    ));
    let many = ChatInput {
        messages: vec![Message::text(Role::User, "hi"); 1_001],
        ..ChatInput::default()
    };
    assert!(matches!(
        router.decide(&many, &ctx),
        Err(RouteError::TooManyMessages { .. })
    ));
    let mut too_long = ChatInput::from_prompt("hello");
    too_long.max_output_tokens = Some(300_000);
    let err = router.decide(&too_long, &ctx).unwrap_err();
    assert!(matches!(err, RouteError::NoEligibleModel { .. }), "{err}");
}

#[test]
fn costs_use_list_prices_and_the_baseline_is_the_top_model() {
    let router = rules_router();
    let d = route(&router, "What's the capital of France?", "standard");
    let tokens = u64::from(d.signals.prompt_tokens);
    let expected = (tokens as f64 * 0.1 + 256.0 * 0.4) / 1e6;
    assert!((d.estimated_cost_usd - expected).abs() < 1e-15);
    assert_eq!(d.baseline_model, "large");
    assert!((d.baseline_cost_usd - expected * 100.0).abs() < 1e-12);
}

#[test]
fn complexity_policy_maps_scores_onto_tiers() {
    let catalog = catalog();
    let policy = Arc::new(ComplexityPolicy::default_for_tiers(3));
    let router = Router::new(catalog, policy, RouterOptions::default()).unwrap();
    let d = route(&router, "What's the capital of France?", "standard");
    assert_eq!(d.model, "small");
    assert_eq!(d.reason, "complexity:tier-0");
    assert!(d.score.unwrap() < d.threshold.unwrap());
    let d = route(
        &router,
        "Explain why this proof works, step by step, and compare it with the alternative: solve x^2 = 4",
        "standard",
    );
    assert_eq!(d.model, "large", "{}", d.detail);
}

fn any_message() -> impl Strategy<Value = Message> {
    (
        prop_oneof![Just(Role::System), Just(Role::User), Just(Role::Assistant)],
        "\\PC{0,200}",
        0u32..3,
    )
        .prop_map(|(role, text, image_parts)| Message {
            role,
            text,
            image_parts,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn decisions_are_deterministic_and_meet_hard_constraints(
        messages in proptest::collection::vec(any_message(), 0..5),
        tier in prop_oneof![Just("standard"), Just("premium"), Just("free")],
        hour in 0u8..24,
        max_output in proptest::option::of(0u32..250_000),
        use_complexity in any::<bool>(),
    ) {
        let catalog = catalog();
        let policy: Arc<dyn Policy> = if use_complexity {
            Arc::new(ComplexityPolicy::default_for_tiers(3))
        } else {
            Arc::new(RulesPolicy::default_rules(&catalog))
        };
        let router = Router::new(catalog.clone(), policy, RouterOptions::default()).unwrap();
        let input = ChatInput { messages, requested_model: None, max_output_tokens: max_output, needs: Vec::new() };
        let context = RequestContext { user_tier: tier.into(), hour_of_day: hour };
        let first = router.decide(&input, &context);
        let second = router.decide(&input, &context);
        prop_assert_eq!(&first, &second);
        if let Ok(decision) = first {
            let model = catalog.model(&decision.model).unwrap();
            if decision.signals.image_parts > 0 {
                prop_assert!(model.has(Capability::Vision));
            }
            prop_assert!(decision.signals.required_context(0) <= model.context_window);
            prop_assert!(decision.estimated_cost_usd <= decision.baseline_cost_usd + 1e-15);
        }
    }
}

#[test]
fn three_policies_choose_over_one_analysis_with_one_tokenisation() {
    let router = rules_router();
    let catalog = catalog();
    let policies: [Arc<dyn Policy>; 3] = [
        Arc::new(RulesPolicy::default_rules(&catalog)),
        Arc::new(ComplexityPolicy::default_for_tiers(3)),
        Arc::new(RulesPolicy::new(Vec::new(), Target::Tier(2))),
    ];
    let input = ChatInput::from_prompt("Explain why the sky is blue, and compare it with sunsets.");
    let before = router.extractor().extractions();
    let analysis = router.analyse(&input, &RequestContext::default()).unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let mut models = Vec::new();
    for policy in &policies {
        let mut steering = Steering {
            rng: &mut rng,
            now_unix_ms: 0,
            bias: 0.0,
            state: None,
            failure_rates: &[],
        };
        let routed = router
            .choose(policy.as_ref(), &input, &analysis, &mut steering)
            .unwrap();
        models.push(catalog.get(routed.model).unwrap().name.clone());
    }
    assert_eq!(router.extractor().extractions() - before, 1);
    assert_eq!(models, ["large", "medium", "large"]);
}

#[test]
fn raising_to_a_tier_keeps_to_eligible_models() {
    let router = rules_router();
    let input = ChatInput::from_prompt("Translate 'good morning' into French.");
    let analysis = router.analyse(&input, &RequestContext::default()).unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let mut steering = Steering {
        rng: &mut rng,
        now_unix_ms: 0,
        bias: 0.0,
        state: None,
        failure_rates: &[],
    };
    let mut routed = router
        .choose(router.policy(), &input, &analysis, &mut steering)
        .unwrap();
    assert_eq!(router.catalog().get(routed.model).unwrap().name, "small");
    assert!(router.raise_to_tier(&mut routed, &analysis, 1));
    assert_eq!(router.catalog().get(routed.model).unwrap().name, "medium");
    assert!(
        !router.raise_to_tier(&mut routed, &analysis, 1),
        "already there"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn a_raised_decision_is_still_a_catalog_model_meeting_the_hard_constraints(
        messages in proptest::collection::vec(any_message(), 1..5),
        max_output in proptest::option::of(0u32..250_000),
        floor in 0usize..4,
    ) {
        let router = rules_router();
        let input = ChatInput { messages, requested_model: None, max_output_tokens: max_output, needs: Vec::new() };
        let Ok(analysis) = router.analyse(&input, &RequestContext::default()) else {
            return Ok(());
        };
        let mut rng = StdRng::seed_from_u64(7);
        let mut steering = Steering { rng: &mut rng, now_unix_ms: 0, bias: 0.0, state: None, failure_rates: &[] };
        let Ok(mut routed) = router.choose(router.policy(), &input, &analysis, &mut steering) else {
            return Ok(());
        };
        router.raise_to_tier(&mut routed, &analysis, floor);
        prop_assert!(analysis.eligible.contains(routed.model));
        let model = router.catalog().get(routed.model).unwrap();
        if analysis.signals.image_parts > 0 {
            prop_assert!(model.has(Capability::Vision));
        }
        prop_assert!(analysis.signals.required_context(0) <= model.context_window);
    }
}
