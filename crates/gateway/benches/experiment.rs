//! What an experiment adds to a decision: the decision stages for a ~300-token prompt on the
//! `auto` route without an experiment, and with one that assigns an A/B arm by client key,
//! decides one shadow policy and draws a control share.
#![expect(
    clippy::expect_used,
    reason = "a benchmark with a broken setup should abort loudly"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use routewise_core::{ChatInput, RequestContext};
use routewise_gateway::decide::Audience;
use routewise_gateway::{Gateway, Runtime, pipeline};
use std::hint::black_box;

const EXPERIMENT: &str = r#"
[policies.strong]
kind = "rules"
default_target = "strongest"
rules = []

[[experiments]]
name = "ab"
shadow = ["complexity"]
control_share = 0.05
arms = [{ name = "a", policy = "rules", weight = 9 }, { name = "b", policy = "strong", weight = 1 }]
"#;

fn gateway(extra: &str) -> Gateway {
    let text = format!("{}\n{extra}", routewise_config::BUILTIN_TOML);
    let config = routewise_config::from_str_with_env(&text, &|_| None).expect("bench config");
    // Provider keys are never used: nothing is sent upstream.
    let key = |_: &str| Some("unused".to_owned());
    Gateway::new(Runtime::build(config, &key).expect("bench runtime"))
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

fn decisions(c: &mut Criterion) {
    let input = ChatInput::from_prompt(prompt());
    let context = RequestContext {
        user_tier: "standard".into(),
        hour_of_day: 12,
    };
    for (name, extra) in [
        ("decide/no experiment", ""),
        ("decide/ab + shadow + control", EXPERIMENT),
    ] {
        let gateway = gateway(extra);
        let runtime = gateway.runtime();
        let analysis = runtime.router.analyse(&input, &context).expect("analysis");
        let audience = Audience {
            route: Some("auto"),
            key: Some("team-a"),
            ..Audience::default()
        };
        c.bench_function(name, |b| {
            b.iter(|| {
                pipeline::decide_request(
                    &gateway,
                    &runtime,
                    black_box(&input),
                    black_box(&analysis),
                    "rules".to_owned(),
                    audience,
                    "0193d2f0-5a6e-7cc1-9a70-3b1f3e0c2a11",
                )
                .expect("decision")
            });
        });
    }
}

criterion_group!(benches, decisions);
criterion_main!(benches);
