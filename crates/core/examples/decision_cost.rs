//! Runs one part of a routing decision many times, for instruction counts that machine noise
//! does not move: `valgrind --tool=callgrind target/release/examples/decision_cost tokens 1000`
//! (the difference to 2000 rounds, divided by 1000, is one round's instructions). Parts: `tokens`, `signals`, `rules`, `complexity`, and
//! `setup` (the same start-up with no work, to subtract). The prompt is the decide benchmark's.
#![expect(
    clippy::expect_used,
    reason = "a measuring tool with a broken setup should abort loudly"
)]

use routewise_core::catalog::{Capability, Catalog, ModelSpec};
use routewise_core::policy::{ComplexityPolicy, RulesPolicy};
use routewise_core::router::RouterOptions;
use routewise_core::{ChatInput, RequestContext, Router, SignalExtractor};
use std::hint::black_box;
use std::sync::Arc;

/// Rounds unless the second argument says otherwise.
const ROUNDS: usize = 100_000;

fn catalog() -> Arc<Catalog> {
    let model = |name: &str, tier: usize, price: f64| ModelSpec {
        name: name.into(),
        provider: "openai".into(),
        upstream_model: name.into(),
        tier,
        input_usd_per_mtok: price,
        output_usd_per_mtok: price * 4.0,
        context_window: 128_000,
        capabilities: vec![Capability::Code, Capability::Vision],
    };
    let catalog = Catalog::new(
        vec!["small".into(), "large".into()],
        vec![model("gpt-4o-mini", 0, 0.15), model("gpt-4o", 1, 2.5)],
    );
    Arc::new(catalog.expect("catalog is valid"))
}

fn prompt() -> String {
    let context = "Our team runs a service that ingests sensor readings from ten thousand devices, \
        stores them in a time-series database and raises alerts when a reading drifts from its \
        baseline. Last week the alerting job started to lag behind by several minutes. ";
    format!(
        "{}Could you suggest what to look at first, and in which order we should check things?",
        context.repeat(6)
    )
}

fn main() {
    let part = std::env::args().nth(1).unwrap_or_else(|| "rules".into());
    let catalog = catalog();
    let text = prompt();
    let input = ChatInput::from_prompt(text.clone());
    let context = RequestContext::default();
    let extractor = SignalExtractor::new().expect("lexicon compiles");
    let counter = extractor.token_counter();
    let rules = Router::new(
        catalog.clone(),
        Arc::new(RulesPolicy::default_rules(&catalog)),
        RouterOptions::default(),
    )
    .expect("router");
    let complexity = Router::new(
        catalog.clone(),
        Arc::new(ComplexityPolicy::default_for_tiers(2)),
        RouterOptions::default(),
    )
    .expect("router");
    // Warm every lazy table, so that the rounds measure steady state only.
    black_box(rules.decide(&input, &context).is_ok());
    black_box(complexity.decide(&input, &context).is_ok());
    let rounds = std::env::args()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(ROUNDS);
    let rounds = if part == "setup" { 0 } else { rounds };
    for _ in 0..rounds {
        match part.as_str() {
            "tokens" => {
                black_box(counter.count(black_box(&text)));
            }
            "signals" => {
                black_box(extractor.extract(black_box(&input), &context));
            }
            "complexity" => {
                black_box(complexity.decide(black_box(&input), &context).is_ok());
            }
            _ => {
                black_box(rules.decide(black_box(&input), &context).is_ok());
            }
        }
    }
    eprintln!("{part}: {rounds} rounds");
}
