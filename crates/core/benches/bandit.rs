//! The contextual bandit: one decision (analysis of a ~300-token prompt included, 4 arms, a
//! state that has learned from 2,000 outcomes) and one update from an outcome.
#![expect(
    clippy::expect_used,
    reason = "a benchmark with a broken setup should abort loudly"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use rand::SeedableRng;
use rand::rngs::StdRng;
use routewise_core::bandit::{BanditPolicy, BanditSettings};
use routewise_core::catalog::{Catalog, ModelSpec};
use routewise_core::policy::{LearnedState, Learner, Outcome, Policy};
use routewise_core::router::{RouterOptions, Steering};
use routewise_core::{Analysis, ChatInput, RequestContext, Routed, Router};
use std::hint::black_box;
use std::sync::Arc;

fn catalog() -> Arc<Catalog> {
    let model = |name: &str, tier: usize, price: f64| ModelSpec {
        name: name.into(),
        provider: "openai".into(),
        upstream_model: name.into(),
        tier,
        input_usd_per_mtok: price,
        output_usd_per_mtok: price * 4.0,
        context_window: 128_000,
        capabilities: Vec::new(),
    };
    let catalog = Catalog::new(
        vec!["small".into(), "medium".into(), "large".into()],
        vec![
            model("mini", 0, 0.15),
            model("nano", 0, 0.1),
            model("mid", 1, 1.0),
            model("big", 2, 2.5),
        ],
    );
    Arc::new(catalog.expect("benchmark catalog is valid"))
}

/// About 300 o200k tokens of ordinary English with a question at the end.
fn prompt(variant: usize) -> String {
    let context = "Our team runs a service that ingests sensor readings from ten thousand devices, \
        stores them in a time-series database and raises alerts when a reading drifts from its \
        baseline. Last week the alerting job started to lag behind by several minutes. ";
    format!(
        "{}Could you suggest what to look at first (case {variant}), and in which order?",
        context.repeat(6)
    )
}

/// The bandit's choice for one analysed request, with `state`.
fn choose(
    router: &Router,
    bandit: &BanditPolicy,
    (input, analysis): (&ChatInput, &Analysis),
    state: &LearnedState,
    rng: &mut StdRng,
) -> Routed {
    let mut steering = Steering {
        rng,
        now_unix_ms: 0,
        bias: 0.0,
        state: Some(state),
        failure_rates: &[],
    };
    router
        .choose(bandit, input, analysis, &mut steering)
        .expect("routable")
}

fn bench_bandit(c: &mut Criterion) {
    let catalog = catalog();
    let bandit = Arc::new(BanditPolicy::new(&catalog, BanditSettings::default()));
    let router = Router::new(catalog.clone(), bandit.clone(), RouterOptions::default())
        .expect("router setup succeeds");
    let context = RequestContext::default();
    let analyse = |text: String| {
        let input = ChatInput::from_prompt(text);
        let analysis = router.analyse(&input, &context).expect("analysable");
        (input, analysis)
    };
    // A state that has learned from 2,000 outcomes spread over the arms.
    let mut state = bandit.fresh();
    let mut rng = StdRng::seed_from_u64(7);
    for i in 0..2000 {
        let (input, analysis) = analyse(prompt(i));
        let routed = choose(&router, &bandit, (&input, &analysis), &state, &mut rng);
        let choice = routed.choice.expect("the bandit chose");
        let model = catalog
            .get(routed.model)
            .expect("in the catalog")
            .name
            .clone();
        let outcome = Outcome {
            model: &model,
            features: &choice.features,
            quality: if i % 3 == 0 { 0.0 } else { 1.0 },
            cost_usd: 0.001,
        };
        state = bandit.observe(&state, &outcome);
    }
    let input = ChatInput::from_prompt(prompt(99_999));
    c.bench_function("bandit/decide/300-tokens/4-arms", |b| {
        b.iter(|| {
            let analysis = router
                .analyse(black_box(&input), &context)
                .expect("analysable");
            choose(&router, &bandit, (&input, &analysis), &state, &mut rng)
        })
    });
    let (input, analysis) = analyse(prompt(5));
    let choice = choose(&router, &bandit, (&input, &analysis), &state, &mut rng)
        .choice
        .expect("the bandit chose");
    let outcome = Outcome {
        model: "mid",
        features: &choice.features,
        quality: 0.7,
        cost_usd: 0.001,
    };
    c.bench_function("bandit/update", |b| {
        b.iter(|| bandit.observe(black_box(&state), black_box(&outcome)))
    });
    eprintln!("policy {}", bandit.name());
}

criterion_group!(benches, bench_bandit);
criterion_main!(benches);
