//! Named policies: `[policies.NAME]` of a `kind`, looked up by name from `[routing] policy`
//! and routes, with every mistake reported at its field path.

mod common;

use common::{compile, field_errors};
use routewise_core::{ChatInput, RequestContext};

#[test]
fn named_policies_of_any_kind_route_by_name() {
    let config = compile(
        r#"
[routing]
policy = "always-big"

[policies.always-big]
kind = "rules"
default_target = "strongest"
rules = []

[policies.eager]
kind = "complexity"
thresholds = [0.9]

[[server.routes]]
name = "cheap"
policy = "eager"
"#,
    )
    .unwrap();
    assert_eq!(
        config.routing.policies.names(),
        [
            "always-big",
            "bandit",
            "complexity",
            "default",
            "eager",
            "rules"
        ]
    );
    assert_eq!(
        config.routing.policies.get("eager").unwrap().kind,
        "complexity"
    );
    let input = ChatInput::from_prompt("Say hello.");
    let context = RequestContext::default();
    let served = config.router().unwrap().decide(&input, &context).unwrap();
    assert_eq!(
        (served.model.as_str(), served.policy.as_str()),
        ("big", "always-big")
    );
    let cheap = config
        .router_with("eager")
        .unwrap()
        .decide(&input, &context)
        .unwrap();
    assert_eq!(cheap.model, "mini");
    assert_eq!(config.server.route("cheap").unwrap().policy, "eager");
}

#[test]
fn every_policy_mistake_is_reported_at_its_path() {
    let errors = field_errors(
        r#"
[routing]
policy = "missing"

[policies.rules]
kind = "rules"

[policies.strict]
kind = "rules"
default_target = "nowhere"
[[policies.strict.rules]]
name = "r"
target = "gigantic"

[policies.steep]
kind = "complexity"
thresholds = [2.0]

[[server.routes]]
name = "x"
policy = "ghost"
"#,
    );
    let paths: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
    for expected in [
        "routing.policy",
        "policies.rules",
        "policies.strict.default_target",
        "policies.strict.rules[0].target",
        "policies.steep.thresholds",
        "server.routes[0].policy",
    ] {
        assert!(
            paths.contains(&expected),
            "missing {expected} in {errors:?}"
        );
    }
    let unknown = &errors
        .iter()
        .find(|(p, _)| p == "server.routes[0].policy")
        .unwrap()
        .1;
    assert!(
        unknown.contains("`ghost`") && unknown.contains("strict"),
        "{unknown}"
    );
}

#[test]
fn an_unknown_kind_or_setting_is_a_parse_error_that_names_it() {
    for (extra, needle) in [
        ("[policies.x]\nkind = \"magic\"\n", "magic"),
        ("[policies.x]\nkind = \"rules\"\ntypo = 1\n", "typo"),
        ("[policies.x]\ndefault_target = \"cheapest\"\n", "kind"),
    ] {
        let message = compile(extra).unwrap_err().to_string();
        assert!(message.contains(needle), "{extra}: {message}");
    }
}
