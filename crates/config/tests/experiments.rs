//! `[[experiments]]`: arms, shadows, control shares and rollouts compile, and every mistake is
//! reported at its field path.

mod common;

use common::{compile, field_errors};
use routewise_config::experiments::AssignBy;

fn has_error(errors: &[(String, String)], path: &str, words: &str) -> bool {
    errors.iter().any(|(p, m)| p == path && m.contains(words))
}

const STRONG: &str = r#"
[policies.strong]
kind = "rules"
default_target = "strongest"
rules = []
"#;

#[test]
fn arms_shadows_and_a_rollout_compile() {
    let config = compile(&format!(
        r#"{STRONG}
[[server.routes]]
name = "code"

[[experiments]]
name = "split"
routes = ["auto"]
shadow = ["complexity", "strong"]
shadow_share = 0.5
control_share = 0.05
assign_by = "header:X-Tenant"
arms = [{{ name = "a", policy = "rules", weight = 9 }}, {{ name = "b", policy = "strong", weight = 1 }}]

[[experiments]]
name = "roll"
routes = ["code"]
incumbent = "rules"
candidate = "complexity"
rollout = 0.1
keep_previous_until = 2026-12-15
"#
    ))
    .unwrap();
    let split = &config.experiments[0];
    assert_eq!(split.assign_by, AssignBy::Header("x-tenant".into()));
    assert_eq!(split.shadows, ["complexity", "strong"]);
    assert_eq!(split.arms.len(), 2);
    assert!((split.tolerance - 0.05).abs() < 1e-12);
    let roll = &config.experiments[1];
    assert_eq!(roll.arms[0].name, "candidate");
    assert!((roll.arms[0].weight - 0.1).abs() < 1e-12);
    assert_eq!(roll.arms[1].policy, "rules");
    let until = roll.rollout.as_ref().unwrap().keep_previous_until.clone();
    assert_eq!(until.map(|(_, d)| d).as_deref(), Some("2026-12-15"));
    assert_eq!(config.experiment_for("code").unwrap().name, "roll");
    assert_eq!(config.experiment_for("auto").unwrap().name, "split");
}

#[test]
fn bad_experiments_are_named_at_their_fields() {
    let errors = field_errors(
        r#"
[[experiments]]
name = "bad"
shadow = ["nope"]
control_share = 1.0
arms = [{ name = "a", policy = "unknown-policy", weight = 0 }, { name = "control", policy = "rules", weight = -1 }]
assign_by = "cookie"

[[experiments]]
name = "bad"
routes = ["auto", "missing"]
incumbent = "rules"
candidate = "rules"
rollout = 1.5
"#,
    );
    for (path, words) in [
        ("experiments[0].shadow[0]", "nope"),
        ("experiments[0].control_share", "below 1"),
        ("experiments[0].arms[0].policy", "unknown-policy"),
        ("experiments[0].arms[1].name", "control"),
        ("experiments[0].arms[1].weight", "at least 0"),
        ("experiments[0].arms", "positive"),
        ("experiments[0].assign_by", "header:NAME"),
        ("experiments[1].name", "declared twice"),
        ("experiments[1].routes[1]", "unknown route `missing`"),
        ("experiments[1].routes[0]", "already in experiment `bad`"),
        ("experiments[1].candidate", "incumbent"),
        ("experiments[1].rollout", "between 0 and 1"),
    ] {
        assert!(
            has_error(&errors, path, words),
            "{path}: {words} in {errors:#?}"
        );
    }
}

#[test]
fn a_rollout_needs_its_incumbent_and_an_experiment_must_do_something() {
    let errors = field_errors(
        r#"
[[experiments]]
name = "half"
candidate = "complexity"
rollout = 0.1
keep_previous_until = "2026-02-30"

[[server.routes]]
name = "code"

[[experiments]]
name = "idle"
routes = ["code"]

[[experiments]]
name = "both"
routes = ["code2"]
arms = [{ name = "a", policy = "rules", weight = 1 }]
incumbent = "rules"
candidate = "complexity"
rollout = 0.5
"#,
    );
    assert!(
        has_error(&errors, "experiments[0].incumbent", "missing"),
        "{errors:#?}"
    );
    assert!(has_error(
        &errors,
        "experiments[0].keep_previous_until",
        "not a date"
    ));
    assert!(has_error(&errors, "experiments[1]", "does nothing"));
    assert!(has_error(&errors, "experiments[2].arms", "not both"));
    assert!(has_error(
        &errors,
        "experiments[2].routes[0]",
        "unknown route"
    ));
}

#[test]
fn a_global_experiment_claims_every_route() {
    let errors = field_errors(
        r#"
[[experiments]]
name = "everywhere"
shadow = ["complexity"]

[[experiments]]
name = "auto-only"
routes = ["auto"]
control_share = 0.1
"#,
    );
    assert!(
        has_error(
            &errors,
            "experiments[1].routes[0]",
            "already in experiment `everywhere`"
        ),
        "{errors:#?}"
    );
}
