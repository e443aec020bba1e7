//! The learning loop's settings: the bandit policy kind, `[routing.target]` and `[budget]`,
//! with every mistake reported at its field path.

mod common;

use common::{compile, field_errors};
use routewise_core::control::{BudgetPeriod, ControlTarget};

fn has_error(errors: &[(String, String)], path: &str, words: &str) -> bool {
    errors.iter().any(|(p, m)| p == path && m.contains(words))
}

#[test]
fn the_bandit_is_built_in_and_can_be_named_twice_with_other_settings() {
    let config = compile(
        r#"
[routing]
policy = "bandit"
[routing.bandit]
explore = 0.1
quality_value_usd = 0.05

[policies.careful]
kind = "bandit"
explore = 0.0
no_explore_tiers = ["premium", "enterprise"]
"#,
    )
    .unwrap();
    let bandit = config.routing.policies.get("bandit").unwrap();
    assert_eq!(bandit.kind, "bandit");
    assert!(bandit.policy.learner().is_some() && bandit.policy.steerable());
    assert_eq!(
        config.routing.policies.get("careful").unwrap().kind,
        "bandit"
    );
}

#[test]
fn bad_bandit_settings_are_named() {
    let errors = field_errors(
        r#"
[routing.bandit]
quality_value_usd = -1
explore = 0.9
optimism = -0.1
prior_weight = 0
text_learning_rate = 2
text_features = 99999999
"#,
    );
    for (path, words) in [
        ("routing.bandit.quality_value_usd", "lambda"),
        ("routing.bandit.explore", "0.5"),
        ("routing.bandit.optimism", "0 or more"),
        ("routing.bandit.prior_weight", "above 0"),
        ("routing.bandit.text_learning_rate", "at most 1"),
        ("routing.bandit.text_features", "more than"),
    ] {
        assert!(has_error(&errors, path, words), "{path}: {errors:?}");
    }
    let unknown = field_errors("[routing]\npolicy = \"bandits\"\n");
    assert!(
        has_error(&unknown, "routing.policy", "bandit"),
        "{unknown:?}"
    );
    let kind = compile("[policies.x]\nkind = \"thompson\"\n")
        .unwrap_err()
        .to_string();
    assert!(kind.contains("thompson"), "{kind}");
}

#[test]
fn a_target_is_a_share_or_a_floor_inside_zero_and_one() {
    let config =
        compile("[routing]\npolicy = \"complexity\"\n[routing.target]\nstrong_share = 0.3\n")
            .unwrap();
    assert_eq!(
        config.control.target.unwrap().target,
        ControlTarget::StrongShare(0.3)
    );
    for (text, path, words) in [
        (
            "strong_share = 1.0",
            "routing.target.strong_share",
            "between 0 and 1",
        ),
        (
            "strong_share = 0",
            "routing.target.strong_share",
            "between 0 and 1",
        ),
        (
            "quality_floor = 1.5",
            "routing.target.quality_floor",
            "between 0 and 1",
        ),
        (
            "strong_share = 0.3\nquality_floor = 0.9",
            "routing.target",
            "not both",
        ),
        ("gain = 0.1", "routing.target", "strong_share"),
        (
            "strong_share = 0.3\ngain = 0",
            "routing.target.gain",
            "above 0",
        ),
    ] {
        let errors = field_errors(&format!(
            "[routing]\npolicy = \"complexity\"\n[routing.target]\n{text}\n"
        ));
        assert!(has_error(&errors, path, words), "{text}: {errors:?}");
    }
    // Rules have no threshold to move.
    let errors = field_errors("[routing.target]\nstrong_share = 0.3\n");
    assert!(
        has_error(&errors, "routing.target", "threshold"),
        "{errors:?}"
    );
}

#[test]
fn budgets_are_positive_per_period_and_name_real_keys() {
    let digest = "0".repeat(64);
    let config = compile(&format!(
        r#"
[routing]
policy = "bandit"
[budget]
usd = 50
period = "month"
hourly = [1,1,1,1,1,1,1,1,2,2,2,2,2,2,2,2,2,2,1,1,1,1,1,1]
keys = {{ team = 5 }}

[[server.client_keys]]
name = "team"
key_sha256 = "{digest}"
"#
    ))
    .unwrap();
    let budget = config.control.budget.unwrap();
    assert_eq!(budget.period, BudgetPeriod::Month);
    assert_eq!(budget.global.unwrap().plan.usd, 50.0);
    assert_eq!(budget.keys["team"].plan.hourly[8], 2.0);
    for (text, path, words) in [
        ("usd = 0", "budget.usd", "above 0"),
        (
            "usd = 5\nperiod = \"week\"",
            "budget.period",
            "\"day\" or \"month\"",
        ),
        ("usd = 5\nhourly = [1, 2]", "budget.hourly", "24"),
        (
            "usd = 5\nkeys = { nobody = 1 }",
            "budget.keys.nobody",
            "no client key",
        ),
        (
            "usd = 5\nkeys = { team = -1 }",
            "budget.keys.team",
            "above 0",
        ),
        ("hard_cap = true", "budget", "usd"),
    ] {
        let errors = field_errors(&format!(
            "[routing]\npolicy = \"bandit\"\n[budget]\n{text}\n[[server.client_keys]]\nname = \"team\"\nkey_sha256 = \"{digest}\"\n"
        ));
        assert!(has_error(&errors, path, words), "{text}: {errors:?}");
    }
    // Pacing needs a threshold; a hard cap alone does not.
    let errors = field_errors("[budget]\nusd = 5\n");
    assert!(has_error(&errors, "budget", "threshold"), "{errors:?}");
    assert!(compile("[budget]\nusd = 5\nhard_cap = true\n").is_ok());
}
