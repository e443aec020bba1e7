use super::*;
use routewise_config::PolicyEntry;
use routewise_core::catalog::{Catalog, ModelSpec};
use routewise_core::policy::{Choice, Policy, PolicyInput, RulesPolicy, Target};
use routewise_core::router::RouterOptions;
use routewise_core::{ChatInput, RequestContext};
use std::sync::Arc;

fn catalog() -> Arc<Catalog> {
    let model = |name: &str, tier: usize, price: f64| ModelSpec {
        name: name.into(),
        provider: "p".into(),
        upstream_model: name.into(),
        tier,
        input_usd_per_mtok: price,
        output_usd_per_mtok: price,
        context_window: 10_000,
        capabilities: vec![],
    };
    Arc::new(
        Catalog::new(
            vec!["small".into(), "large".into()],
            vec![model("small", 0, 0.1), model("large", 1, 1.0)],
        )
        .unwrap(),
    )
}

fn registry(catalog: &Catalog) -> PolicyRegistry {
    let mut registry = PolicyRegistry::default();
    registry.insert(PolicyEntry {
        name: "cheap".into(),
        kind: "rules",
        policy: Arc::new(RulesPolicy::new(Vec::new(), Target::Tier(0))),
        files: Vec::new(),
    });
    registry.insert(PolicyEntry {
        name: "rules".into(),
        kind: "rules",
        policy: Arc::new(RulesPolicy::default_rules(catalog)),
        files: Vec::new(),
    });
    registry
}

fn choose_only() -> Vec<Box<dyn DecisionStage>> {
    vec![Box::new(Choose)]
}

fn draft<'a>(
    router: &'a Router,
    input: &'a ChatInput,
    analysis: &'a Analysis,
    policies: &'a PolicyRegistry,
    states: &'a LearnedStates,
) -> Draft<'a> {
    Draft {
        router,
        input,
        analysis,
        policies,
        states,
        memory: None,
        policy: "cheap".into(),
        now_unix_ms: 0,
        seed: 1,
        audience: Default::default(),
        adjustments: Adjustments::default(),
        control: None,
        decision: None,
    }
}

#[test]
fn the_choose_stage_decides_with_the_named_policy_and_raises_to_a_floor() {
    let catalog = catalog();
    let policies = registry(&catalog);
    let router = Router::new(
        catalog.clone(),
        Arc::new(RulesPolicy::default_rules(&catalog)),
        RouterOptions::default(),
    )
    .unwrap();
    let input = ChatInput::from_prompt("Say hi.");
    let analysis = router.analyse(&input, &RequestContext::default()).unwrap();
    let states = LearnedStates::default();

    let plain = decide(
        &choose_only(),
        draft(&router, &input, &analysis, &policies, &states),
    )
    .unwrap();
    assert_eq!(
        (plain.model.as_str(), plain.policy.as_str()),
        ("small", "cheap")
    );
    assert!(plain.stages.is_empty());

    let mut floored = draft(&router, &input, &analysis, &policies, &states);
    floored.adjustments.floors.push(Floor {
        tier: 1,
        note: StageNote {
            stage: "memory".into(),
            reason: "memory:upgrade".into(),
            detail: "a similar request was rated bad".into(),
            source: Some("r1".into()),
        },
    });
    let raised = decide(&choose_only(), floored).unwrap();
    assert_eq!(raised.model, "large");
    assert_eq!(raised.reason, "memory:upgrade");
    assert_eq!(raised.stages.len(), 1);
    assert!(raised.detail.contains("rated bad"), "{}", raised.detail);
    assert_eq!(raised.upgraded_by(), Some("r1"));
}

#[test]
fn an_explicit_model_is_not_raised_and_an_unknown_policy_is_an_error() {
    let catalog = catalog();
    let policies = registry(&catalog);
    let router = Router::new(
        catalog.clone(),
        Arc::new(RulesPolicy::default_rules(&catalog)),
        RouterOptions::default(),
    )
    .unwrap();
    let mut input = ChatInput::from_prompt("Say hi.");
    input.requested_model = Some("small".into());
    let analysis = router.analyse(&input, &RequestContext::default()).unwrap();
    let states = LearnedStates::default();
    let mut explicit = draft(&router, &input, &analysis, &policies, &states);
    explicit.adjustments.floors.push(Floor {
        tier: 1,
        note: StageNote {
            stage: "memory".into(),
            reason: "memory:upgrade".into(),
            detail: String::new(),
            source: None,
        },
    });
    assert_eq!(decide(&choose_only(), explicit).unwrap().model, "small");

    let mut unknown = draft(&router, &input, &analysis, &policies, &states);
    unknown.policy = "nope".into();
    assert!(decide(&choose_only(), unknown).is_err());
}

/// A policy that records the bias it was given, to check the stages pass it through.
#[derive(Debug)]
struct BiasEcho;

impl Policy for BiasEcho {
    fn name(&self) -> &str {
        "echo"
    }

    fn choose(&self, input: &PolicyInput<'_>, _: &mut dyn rand::RngCore) -> Choice {
        let tier = usize::from(input.bias > 0.0);
        Choice::new(Target::Tier(tier), "echo", format!("bias {}", input.bias))
    }
}

#[test]
fn the_bias_reaches_the_policy() {
    let catalog = catalog();
    let mut policies = registry(&catalog);
    policies.insert(PolicyEntry {
        name: "echo".into(),
        kind: "test",
        policy: Arc::new(BiasEcho),
        files: Vec::new(),
    });
    let router = Router::new(
        catalog.clone(),
        Arc::new(BiasEcho),
        RouterOptions::default(),
    )
    .unwrap();
    let input = ChatInput::from_prompt("Say hi.");
    let analysis = router.analyse(&input, &RequestContext::default()).unwrap();
    let states = LearnedStates::default();
    let mut biased = draft(&router, &input, &analysis, &policies, &states);
    biased.policy = "echo".into();
    biased.adjustments.bias = 0.5;
    assert_eq!(decide(&choose_only(), biased).unwrap().model, "large");
}
