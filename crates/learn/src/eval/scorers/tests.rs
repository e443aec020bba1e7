use std::collections::BTreeMap;

use super::*;
use crate::eval::{DeferralCurve, FitError};
use routewise_core::signals::SignalExtractor;

fn record(id: usize, category: &str, prompt: &str, weak: f64, strong: f64) -> BenchmarkRecord {
    BenchmarkRecord {
        id: id.to_string(),
        benchmark: "test".into(),
        category: category.into(),
        prompt: prompt.into(),
        scores: BTreeMap::from([("weak".into(), weak), ("strong".into(), strong)]),
        costs: None,
        meta: serde_json::Map::new(),
    }
}

/// Learns which words mark prompts the weak model fails, from the training records only.
#[derive(Debug)]
struct WordFitter;

#[derive(Debug)]
struct WordPredictor {
    models: Vec<String>,
    hard_words: Vec<String>,
}

impl QualityPredictor for WordPredictor {
    fn models(&self) -> &[String] {
        &self.models
    }
    fn predict(&self, prompt: &str) -> Vec<f64> {
        let hard = prompt
            .split(' ')
            .any(|w| self.hard_words.iter().any(|h| h == w));
        self.models
            .iter()
            .map(|m| if m == "weak" && hard { 0.1 } else { 0.9 })
            .collect()
    }
}

impl Fitter for WordFitter {
    fn name(&self) -> String {
        "words".into()
    }
    fn fit(
        &self,
        train: &[&BenchmarkRecord],
        models: &[String],
        _: &[f64],
    ) -> Result<Box<dyn QualityPredictor>, FitError> {
        let hard_words = train
            .iter()
            .filter(|r| r.scores["weak"] < r.scores["strong"])
            .flat_map(|r| r.prompt.split(' ').map(str::to_owned))
            .collect();
        // Models in reverse order, to check that evaluation re-orders by name.
        Ok(Box::new(WordPredictor {
            models: models.iter().rev().cloned().collect(),
            hard_words,
        }))
    }
}

#[test]
fn cross_validation_never_trains_on_the_tested_category() {
    // "proof" marks hard prompts in every category, so a model trained on other categories
    // still finds it; "alpha" only appears in category a and must not leak.
    let records = vec![
        record(0, "a", "proof alpha", 0.0, 1.0),
        record(1, "a", "easy alpha", 1.0, 1.0),
        record(2, "b", "proof beta", 0.0, 1.0),
        record(3, "b", "easy beta", 1.0, 1.0),
        record(4, "c", "proof gamma", 0.0, 1.0),
        record(5, "c", "easy gamma", 1.0, 1.0),
    ];
    let models = vec!["weak".to_string(), "strong".to_string()];
    let folds_done = std::sync::Mutex::new(Vec::new());
    let predictions = cross_validated_predictions(
        &WordFitter,
        &records,
        &models,
        &[0.1, 1.0],
        3,
        None,
        2,
        &|done, total| folds_done.lock().unwrap().push((done, total)),
    )
    .unwrap();
    let mut folds_done = folds_done.into_inner().unwrap();
    folds_done.sort_unstable();
    assert_eq!(folds_done, vec![(1, 3), (2, 3), (3, 3)]);
    // One worker or several: the same predictions.
    let serial = cross_validated_predictions(
        &WordFitter,
        &records,
        &models,
        &[0.1, 1.0],
        3,
        None,
        1,
        &|_, _| {},
    )
    .unwrap();
    assert_eq!(serial, predictions);
    // Columns follow `models` (weak, strong) although the predictor listed them reversed.
    let weak_probability: Vec<f64> = predictions.chunks(2).map(|row| row[0]).collect();
    assert_eq!(weak_probability, vec![0.1, 0.9, 0.1, 0.9, 0.1, 0.9]);

    let outcomes: Vec<PairOutcome> = records
        .iter()
        .map(|r| PairOutcome {
            weak_quality: r.scores["weak"],
            strong_quality: r.scores["strong"],
            weak_cost: 0.0,
            strong_cost: 1.0,
        })
        .collect();
    let scores = weak_doubt_scores(&predictions, 2, 0);
    let curve = DeferralCurve::new(&scores, &outcomes).unwrap();
    let oracle = DeferralCurve::new(&oracle_scores(&outcomes), &outcomes).unwrap();
    assert!((curve.apgr().unwrap() - oracle.apgr().unwrap()).abs() < 1e-12);
}

#[test]
fn random_scores_are_reproducible_per_seed() {
    assert_eq!(random_scores(5, 1), random_scores(5, 1));
    assert_ne!(random_scores(5, 1), random_scores(5, 2));
    assert!(random_scores(100, 3).iter().all(|s| (0.0..1.0).contains(s)));
}

#[test]
fn a_fitter_that_drops_a_model_is_reported() {
    #[derive(Debug)]
    struct Forgetful;
    impl Fitter for Forgetful {
        fn name(&self) -> String {
            "forgetful".into()
        }
        fn fit(
            &self,
            _: &[&BenchmarkRecord],
            _: &[String],
            _: &[f64],
        ) -> Result<Box<dyn QualityPredictor>, FitError> {
            Ok(Box::new(WordPredictor {
                models: vec!["weak".into()],
                hard_words: Vec::new(),
            }))
        }
    }
    let records = vec![record(0, "a", "x", 0.0, 1.0), record(1, "b", "y", 1.0, 1.0)];
    let models = vec!["weak".to_string(), "strong".to_string()];
    let err = cross_validated_predictions(
        &Forgetful,
        &records,
        &models,
        &[0.1, 1.0],
        2,
        None,
        2,
        &|_, _| {},
    );
    assert!(matches!(
        err,
        Err(CrossValidationError::MissingModel { .. })
    ));
}

fn pair_catalog() -> Catalog {
    use routewise_core::catalog::{Capability, ModelSpec};
    let spec = |name: &str, tier| ModelSpec {
        name: name.into(),
        provider: "p".into(),
        upstream_model: name.into(),
        tier,
        input_usd_per_mtok: 1.0,
        output_usd_per_mtok: 1.0,
        context_window: 100_000,
        capabilities: Capability::ALL.to_vec(),
    };
    Catalog::new(
        vec!["weak".into(), "strong".into()],
        vec![spec("weak", 0), spec("strong", 1)],
    )
    .unwrap()
}

#[test]
fn rules_score_by_target_tier_and_complexity_by_its_own_score() {
    use routewise_core::policy::{ComplexityPolicy, RulesPolicy};
    let catalog = pair_catalog();
    let extractor = SignalExtractor::new().unwrap();
    let prompts = [
        "Translate 'good morning' into French.",
        "Solve for x: 3x + 7 = 22, and show every step of the algebra.",
    ];
    let requests: Vec<ChatInput> = prompts.iter().map(|p| ChatInput::from_prompt(*p)).collect();
    let signals: Vec<_> = requests
        .iter()
        .map(|r| extractor.extract(r, &routewise_core::request::RequestContext::default()))
        .collect();
    let rules = policy_scores(
        &RulesPolicy::default_rules(&catalog),
        &catalog,
        &requests,
        &signals,
    );
    // Translation -> cheapest tier; maths -> the top tier.
    assert_eq!(rules, vec![0.0, 1.0]);
    let complexity = policy_scores(
        &ComplexityPolicy::default_for_tiers(2),
        &catalog,
        &requests,
        &signals,
    );
    assert!(complexity.iter().all(|s| (0.0..=1.0).contains(s)));
    assert!(complexity[1] > complexity[0], "{complexity:?}");
}

#[test]
fn random_routing_averages_to_the_straight_line() {
    // 60% weak, 80% strong quality, deterministic pattern; 30 fixed seeds.
    let outcomes: Vec<PairOutcome> = (0..2000)
        .map(|i| PairOutcome {
            weak_quality: f64::from(u8::from(i % 5 < 3)),
            strong_quality: f64::from(u8::from(i % 5 != 4)),
            weak_cost: 0.0,
            strong_cost: 1.0,
        })
        .collect();
    let runs: Vec<f64> = (0..30)
        .map(|seed| {
            DeferralCurve::new(&random_scores(outcomes.len(), seed), &outcomes)
                .unwrap()
                .apgr()
                .unwrap()
        })
        .collect();
    let mean = runs.iter().sum::<f64>() / runs.len() as f64;
    assert!((mean - 0.5).abs() < 0.02, "mean APGR {mean}");
    assert!(
        runs.iter().any(|&a| (a - mean).abs() > 1e-6),
        "seeds must differ"
    );
}
