//! `policy = "learned"` and `[routing.learned]`: the model file is loaded (relative to the
//! config file) and checked against the catalog when the config is compiled, and every way of
//! getting it wrong is reported at its field path.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test fixtures fail the test by panicking"
)]

use routewise_config::{ConfigError, load_file};
use routewise_core::{ChatInput, RequestContext};
use routewise_learn::training::{Candidate, Example, TrainConfig, train};
use std::path::Path;

const CATALOG: &str = r#"
tiers = ["small", "large"]
[[providers]]
name = "openai"
kind = "openai"
base_url = "https://api.openai.com/v1"
[[models]]
name = "mini"
provider = "openai"
tier = "small"
input_usd_per_mtok = 0.15
output_usd_per_mtok = 0.6
context_window = 128000
[[models]]
name = "big"
provider = "openai"
tier = "large"
input_usd_per_mtok = 2.5
output_usd_per_mtok = 10
context_window = 128000
"#;

/// A model over `names` (cheap first) in which "prove" prompts defeat the cheap model and
/// "name" prompts do not, in every category.
fn write_model(path: &Path, names: [&str; 2]) {
    let mut prompts = Vec::new();
    let mut scores = Vec::new();
    for category in 0..4 {
        for i in 0..30 {
            let hard = i % 2 == 0;
            let verb = if hard { "prove" } else { "name" };
            prompts.push((
                format!("Please {verb} the fact number {i} of topic{category}"),
                format!("topic{category}"),
            ));
            scores.push([if hard { 0.0 } else { 1.0 }, 1.0]);
        }
    }
    let examples: Vec<Example<'_>> = prompts
        .iter()
        .zip(&scores)
        .map(|((prompt, category), s)| Example {
            prompt,
            category,
            scores: s,
        })
        .collect();
    let candidates = [
        Candidate {
            name: names[0].to_owned(),
            mean_cost_usd: 0.0001,
        },
        Candidate {
            name: names[1].to_owned(),
            mean_cost_usd: 0.002,
        },
    ];
    let model = train(&examples, &candidates, &TrainConfig::default(), &mut |_| {}).unwrap();
    std::fs::write(path, model.to_json().unwrap()).unwrap();
}

fn config_with(dir: &Path, routing: &str) -> std::path::PathBuf {
    let path = dir.join("routewise.toml");
    std::fs::write(&path, format!("{CATALOG}\n{routing}")).unwrap();
    path
}

fn field_errors(error: ConfigError) -> Vec<(String, String)> {
    match error {
        ConfigError::Invalid { errors, .. } => {
            errors.into_iter().map(|e| (e.path, e.message)).collect()
        }
        other => panic!("expected field errors, got {other}"),
    }
}

#[test]
fn a_learned_policy_routes_with_the_model_next_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    write_model(&dir.path().join("router.json"), ["mini", "big"]);
    let config = load_file(&config_with(
        dir.path(),
        "[routing]\npolicy = \"learned\"\n[routing.learned]\nmodel = \"router.json\"\nthreshold = 0.5\n",
    ))
    .unwrap();
    assert_eq!(config.routing.policy, "learned");
    let router = config.router().unwrap();
    let decide = |prompt: &str| {
        router
            .decide(&ChatInput::from_prompt(prompt), &RequestContext::default())
            .unwrap()
    };
    let easy = decide("Please name the fact number 3 of topic9");
    let hard = decide("Please prove the fact number 3 of topic9");
    assert_eq!(
        (easy.model.as_str(), easy.policy.as_str()),
        ("mini", "learned")
    );
    assert_eq!(hard.model, "big");
}

/// A bandit warm-started from a model file routes like it from the first request, and a
/// missing prior model is an error at its field.
#[test]
fn a_bandit_warm_started_from_a_model_file_routes_like_it_from_the_first_request() {
    let dir = tempfile::tempdir().unwrap();
    write_model(&dir.path().join("router.json"), ["mini", "big"]);
    let bandit = "[routing]\npolicy = \"bandit\"\n[routing.bandit]\nexplore = 0.0\noptimism = 0.0\nquality_value_usd = 0.01\n";
    let warm = load_file(&config_with(
        dir.path(),
        &format!("{bandit}prior_model = \"router.json\"\n"),
    ))
    .unwrap();
    assert_eq!(
        warm.routing.policies.get("bandit").unwrap().files,
        ["router.json"]
    );
    let router = warm.router().unwrap();
    let decide = |prompt: &str| {
        router
            .decide(&ChatInput::from_prompt(prompt), &RequestContext::default())
            .unwrap()
            .model
    };
    assert_eq!(decide("Please name the fact number 3 of topic9"), "mini");
    assert_eq!(decide("Please prove the fact number 3 of topic9"), "big");
    // Cold, the tier order's prior sends both the same way.
    let cold = load_file(&config_with(dir.path(), bandit))
        .unwrap()
        .router()
        .unwrap();
    let cold_decide = |prompt: &str| {
        cold.decide(&ChatInput::from_prompt(prompt), &RequestContext::default())
            .unwrap()
            .model
    };
    assert_eq!(
        cold_decide("Please name the fact number 3 of topic9"),
        cold_decide("Please prove the fact number 3 of topic9")
    );
    let missing = load_file(&config_with(
        dir.path(),
        &format!("{bandit}prior_model = \"nowhere.json\"\n"),
    ))
    .unwrap_err();
    assert!(
        field_errors(missing)
            .iter()
            .any(|(path, _)| path == "routing.bandit.prior_model")
    );
}

#[test]
fn a_route_may_use_the_learned_policy_while_auto_keeps_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    write_model(&dir.path().join("router.json"), ["mini", "big"]);
    let config = load_file(&config_with(
        dir.path(),
        "[routing.learned]\nmodel = \"router.json\"\nthreshold = 0.5\n\
         [[server.routes]]\nname = \"smart\"\npolicy = \"learned\"\n",
    ))
    .unwrap();
    assert_eq!(config.routing.policy, "rules");
    let smart = config.server.route("smart").unwrap();
    assert_eq!(smart.policy, "learned");
    assert_eq!(
        config.router_with(&smart.policy).unwrap().policy().name(),
        "learned"
    );
}

#[test]
fn the_learned_policy_without_a_model_section_is_an_error_at_each_use() {
    let dir = tempfile::tempdir().unwrap();
    let error = load_file(&config_with(
        dir.path(),
        "[routing]\npolicy = \"learned\"\n[[server.routes]]\nname = \"smart\"\npolicy = \"learned\"\n",
    ))
    .unwrap_err();
    let errors = field_errors(error);
    let paths: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["routing.policy", "server.routes[0].policy"]);
    assert!(errors[0].1.contains("[routing.learned]"), "{errors:?}");
}

#[test]
fn a_missing_or_corrupt_model_file_is_reported_at_routing_learned_model() {
    let dir = tempfile::tempdir().unwrap();
    let missing = load_file(&config_with(
        dir.path(),
        "[routing.learned]\nmodel = \"nowhere.json\"\nthreshold = 0.5\n",
    ))
    .unwrap_err();
    let errors = field_errors(missing);
    assert_eq!(errors[0].0, "routing.learned.model");
    assert!(errors[0].1.contains("nowhere.json"), "{errors:?}");

    std::fs::write(
        dir.path().join("bad.json"),
        "{\"format\": \"something else\"}",
    )
    .unwrap();
    let corrupt = load_file(&config_with(
        dir.path(),
        "[routing.learned]\nmodel = \"bad.json\"\nthreshold = -1\n",
    ))
    .unwrap_err();
    let errors = field_errors(corrupt);
    let paths: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        ["routing.learned.threshold", "routing.learned.model"]
    );
    assert!(errors[1].1.contains("routewise train"), "{errors:?}");
}

#[test]
fn a_model_trained_for_other_models_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_model(&dir.path().join("router.json"), ["mixtral", "gpt-4"]);
    let error = load_file(&config_with(
        dir.path(),
        "[routing.learned]\nmodel = \"router.json\"\nthreshold = 0.5\n",
    ))
    .unwrap_err();
    let errors = field_errors(error);
    assert_eq!(errors[0].0, "routing.learned.model");
    assert!(
        errors[0].1.contains("`mixtral`, `gpt-4`"),
        "names the model file's models: {errors:?}"
    );
}

#[test]
fn named_files_reads_the_model_path_of_an_invalid_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("routewise.toml");
    // Invalid twice over (a missing model file, an unknown key) yet it still names its model.
    let text = format!(
        "{CATALOG}\n[routing]\npolicy = \"learned\"\nno_such_key = 1\n\
         [routing.learned]\nmodel = \"models/next.json\"\nthreshold = 0.5\n\
         [routing.bandit]\nprior_model = \"models/prior.json\"\n\
         [policies.warm]\nkind = \"bandit\"\nprior_model = \"models/warm.json\"\n"
    );
    std::fs::write(&path, text).unwrap();
    assert!(load_file(&path).is_err());
    assert_eq!(
        routewise_config::named_files(&path),
        [
            path.clone(),
            dir.path().join("models/next.json"),
            dir.path().join("models/prior.json"),
            dir.path().join("models/warm.json")
        ]
    );
    std::fs::write(&path, "tiers = [").unwrap();
    assert_eq!(
        routewise_config::named_files(&path),
        std::slice::from_ref(&path)
    );
}
