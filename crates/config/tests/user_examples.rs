//! The user's own three examples, pinned: a factual question goes to the cheapest tier, a
//! summary of a long report to the middle tier, and open-ended design work to the most capable
//! tier, under the shipped default (the built-in config, no config given) and under the
//! complexity policy of `config/examples/anthropic-three-tiers.toml`. ("Short" is not
//! "simple": the design request is seven words long.)

#![expect(
    clippy::expect_used,
    reason = "a test fails loudly on a broken fixture"
)]

use routewise_config::Config;
use routewise_core::{ChatInput, RequestContext};

const FACT: &str = "What's the capital of France?";
const DESIGN: &str = "Design a novel ML architecture";

/// "Summarize this 5-page report", as a user sends it: the request and the report (about 3,000
/// tokens of ordinary business prose).
fn summary_request(with_report: bool) -> String {
    let mut text = String::from("Summarize this 5-page report");
    if with_report {
        text.push_str(":\n\n");
        for page in 1..=5 {
            for paragraph in 1..=6 {
                text.push_str(&format!(
                    "Page {page}, section {paragraph}. Revenue in the northern region grew \
                     steadily over the quarter, while costs in logistics and warehousing rose \
                     faster than planned. The team renegotiated two supplier contracts, hired \
                     three engineers for the data platform and postponed the office move to \
                     the spring. Customer satisfaction held at its earlier level.\n\n"
                ));
            }
        }
    }
    text
}

fn tier_of(config: &Config, prompt: &str) -> String {
    let decision = config
        .router()
        .expect("the config routes")
        .decide(&ChatInput::from_prompt(prompt), &RequestContext::default())
        .expect("a decision");
    let model = config
        .catalog
        .model(&decision.model)
        .expect("the decision names a catalog model");
    config.catalog.tiers()[model.tier].clone()
}

fn assert_examples(config: &Config, tiers: [&str; 3]) {
    assert_eq!(tier_of(config, FACT), tiers[0], "{FACT}");
    for with_report in [false, true] {
        let prompt = summary_request(with_report);
        assert_eq!(
            tier_of(config, &prompt),
            tiers[1],
            "the summary request (report attached: {with_report})"
        );
    }
    assert_eq!(tier_of(config, DESIGN), tiers[2], "{DESIGN}");
}

#[test]
fn the_shipped_default_routes_the_three_examples_to_three_tiers() {
    let config = routewise_config::builtin().expect("the built-in config compiles");
    assert_eq!(config.routing.policy, "default");
    assert_examples(&config, ["small", "medium", "large"]);
}

#[test]
fn the_anthropic_example_routes_them_to_haiku_sonnet_and_opus() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/examples/anthropic-three-tiers.toml"
    );
    let text = std::fs::read_to_string(path).expect("the example config is readable");
    let config = routewise_config::from_str_with_env(&text, &|_| Some("key".to_owned()))
        .expect("the example compiles");
    assert_examples(&config, ["fast", "balanced", "frontier"]);
}
