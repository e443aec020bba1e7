//! End-to-end tests of the learned router on synthetic labelled prompts whose difficulty is
//! carried by words that appear in every category, so it must transfer to unseen categories.

use super::threshold::operating_point;
use super::*;
use routewise_core::learn::{
    FORMAT_VERSION, LearnError, LearnedModel, LearnedPolicy, MODEL_FORMAT, tfidf,
};

/// A small deterministic generator (xorshift64*), so the tests need no randomness crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<'a>(&mut self, words: &[&'a str]) -> &'a str {
        words[((self.next() * words.len() as f64) as usize).min(words.len() - 1)]
    }
}

struct Row {
    prompt: String,
    category: String,
    scores: Vec<f64>,
    hard: bool,
}

const HARD: [&str; 4] = ["integral", "prove", "derive", "theorem"];
const EASY: [&str; 4] = ["name", "capital", "colour", "define"];

/// Prompts of `categories`; a hard prompt defeats the cheap model far more often than the
/// strong one. Each prompt carries one solved few-shot example that must be stripped.
fn rows(categories: std::ops::Range<usize>, per_category: usize, seed: u64) -> Vec<Row> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    for c in categories {
        let topic = [
            format!("topic{c}a"),
            format!("topic{c}b"),
            format!("topic{c}c"),
        ];
        for _ in 0..per_category {
            let hard = rng.next() < 0.4;
            let cue = if hard {
                rng.pick(&HARD)
            } else {
                rng.pick(&EASY)
            };
            let t = &topic[(rng.next() * 3.0) as usize % 3];
            let prompt = format!(
                "Example question about things?\nAnswer: yes\n\nPlease {cue} the {t} {} {}",
                rng.pick(&["quickly", "now", "please", "carefully"]),
                rng.pick(&["again", "here", "today"])
            );
            let (p_weak, p_strong) = if hard { (0.2, 0.85) } else { (0.85, 0.9) };
            let weak = f64::from(u8::from(rng.next() < p_weak));
            let strong = f64::from(u8::from(rng.next() < p_strong));
            out.push(Row {
                prompt,
                category: format!("category{c}"),
                scores: vec![strong, weak],
                hard,
            });
        }
    }
    out
}

fn candidates() -> Vec<Candidate> {
    // Deliberately listed strong first: training must reorder cheapest first.
    vec![
        Candidate {
            name: "strong".into(),
            mean_cost_usd: 0.01,
        },
        Candidate {
            name: "weak".into(),
            mean_cost_usd: 0.001,
        },
    ]
}

fn examples_of(rows: &[Row]) -> Vec<Example<'_>> {
    rows.iter()
        .map(|r| Example {
            prompt: &r.prompt,
            category: &r.category,
            scores: &r.scores,
        })
        .collect()
}

fn fit(rows: &[Row]) -> LearnedModel {
    fit_with(rows, false)
}

fn fit_with(rows: &[Row], platt: bool) -> LearnedModel {
    let examples = examples_of(rows);
    let config = TrainConfig {
        tfidf: tfidf::TfidfConfig {
            min_df: 1,
            ..Default::default()
        },
        platt,
        ..TrainConfig::default()
    };
    let mut steps = Vec::new();
    let model = train(&examples, &candidates(), &config, &mut |p| steps.push(p)).unwrap();
    assert_eq!(steps.last().map(|p| (p.done, p.total)), Some((8, 8)));
    model
}

#[test]
fn training_orders_candidates_and_describes_itself() {
    let model = fit(&rows(0..4, 60, 7));
    assert_eq!(model.model_names(), ["weak", "strong"]);
    assert_eq!(model.reference, 1);
    assert_eq!(model.format, MODEL_FORMAT);
    assert_eq!(model.training.examples, 240);
    assert_eq!(model.training.categories, 4);
    assert_eq!(model.training.calibration_split, "category");
    assert_eq!(model.training.data_sha256.len(), 64);
    let weak = &model.training.metrics[0];
    assert!(
        weak.brier < weak.brier_baseline,
        "held-out predictions beat the base rate: {weak:?}"
    );
    assert!(
        model
            .features
            .vectorizer
            .term(0)
            .is_some_and(|t| !t.contains("example")),
        "few-shot examples were stripped before fitting the vocabulary"
    );
}

#[test]
fn difficulty_transfers_to_categories_never_seen() {
    for platt in [false, true] {
        difficulty_transfers(platt);
    }
}

fn difficulty_transfers(platt: bool) {
    let model = fit_with(&rows(0..4, 60, 11), platt);
    assert_eq!(model.training.platt, platt);
    assert_eq!(model.models[0].platt.is_some(), platt);
    let unseen = rows(10..12, 50, 12);
    let mean_weak = |hard: bool| {
        let picked: Vec<f64> = unseen
            .iter()
            .filter(|r| r.hard == hard)
            .map(|r| model.predict(&r.prompt)[0])
            .collect();
        picked.iter().sum::<f64>() / picked.len() as f64
    };
    let (easy, hard) = (mean_weak(false), mean_weak(true));
    assert!(
        easy - hard > 0.3,
        "weak acceptability easy {easy} vs hard {hard}"
    );
    for r in &unseen {
        let p = model.predict(&r.prompt);
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(p[1], 1.0, "the reference is always acceptable");
    }
}

#[test]
fn training_without_folds_fits_once_per_head_and_platt_needs_folds() {
    let rows = rows(0..3, 30, 5);
    let examples = examples_of(&rows);
    let config = TrainConfig {
        calibration_folds: 0,
        ..TrainConfig::default()
    };
    let mut steps = 0;
    let model = train(&examples, &candidates(), &config, &mut |p| steps = p.total).unwrap();
    assert_eq!(steps, 2);
    assert_eq!(model.training.calibration_split, "none");
    assert!(model.training.metrics.is_empty());
    let platt = TrainConfig {
        platt: true,
        ..config
    };
    assert!(matches!(
        train(&examples, &candidates(), &platt, &mut |_| {}),
        Err(LearnError::Config(_))
    ));
}

#[test]
fn model_file_round_trips_and_rejects_other_versions() {
    let model = fit(&rows(0..3, 40, 3));
    let json = model.to_json().unwrap();
    let back = LearnedModel::from_json(&json).unwrap();
    assert_eq!(back, model);
    let prompt = "Please prove the topic1a theorem carefully";
    assert_eq!(back.predict(prompt), model.predict(prompt));

    let mut newer: serde_json::Value = serde_json::from_str(&json).unwrap();
    newer["version"] = serde_json::json!(FORMAT_VERSION + 1);
    assert!(matches!(
        LearnedModel::from_json(&newer.to_string()),
        Err(LearnError::UnsupportedVersion { .. })
    ));
    // Files of other versions differ in shape too: the version, not the shape, is the reason.
    for version in [2, FORMAT_VERSION + 1] {
        let mut other: serde_json::Value = serde_json::from_str(&json).unwrap();
        other["version"] = serde_json::json!(version);
        other["training"]["field_of_another_version"] = serde_json::json!(1);
        assert_eq!(
            LearnedModel::from_json(&other.to_string()),
            Err(LearnError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION
            })
        );
    }
    let mut truncated: serde_json::Value = serde_json::from_str(&json).unwrap();
    truncated["models"][0]["weights"] = serde_json::json!([0.5]);
    assert!(matches!(
        LearnedModel::from_json(&truncated.to_string()),
        Err(LearnError::Corrupt(_))
    ));
    assert!(matches!(
        LearnedModel::from_json("{\"format\": 1}"),
        Err(LearnError::Corrupt(_))
    ));
}

#[test]
fn calibrated_threshold_hits_its_target_on_held_out_data() {
    let model = fit(&rows(0..4, 60, 21));
    let points = |rows: &[Row]| -> Vec<CalibrationPoint> {
        rows.iter()
            .map(|r| CalibrationPoint {
                acceptability: model.predict(&r.prompt),
                // Model order is cheapest first: weak, strong.
                scores: vec![r.scores[1], r.scores[0]],
                costs: vec![0.001, 0.01],
            })
            .collect()
    };
    let calibration = points(&rows(20..24, 300, 22));
    let held_out = points(&rows(30..34, 300, 23));

    let op = calibrate(
        &calibration,
        model.reference,
        CalibrationTarget::StrongShare(0.3),
    )
    .unwrap();
    assert!(op.strong_share <= 0.3);
    let check = operating_point(&held_out, model.reference, op.threshold);
    assert!(
        (check.strong_share - 0.3).abs() < 0.08,
        "held-out strong share {} for target 0.3",
        check.strong_share
    );

    let floor = calibrate(
        &calibration,
        model.reference,
        CalibrationTarget::QualityFloor(0.95),
    )
    .unwrap();
    let check = operating_point(&held_out, model.reference, floor.threshold);
    assert!(
        check.relative_quality > 0.95 - 0.05,
        "held-out relative quality {} for floor 0.95 (calibration: {floor:?})",
        check.relative_quality
    );
    assert!(
        check.strong_share < 0.8,
        "the floor is met without sending everything up"
    );
}

#[test]
fn training_on_several_threads_gives_the_same_model() {
    let records = rows(0..4, 40, 11);
    let examples = examples_of(&records);
    let config = TrainConfig {
        tfidf: tfidf::TfidfConfig {
            min_df: 1,
            ..Default::default()
        },
        ..TrainConfig::default()
    };
    let one = train(&examples, &candidates(), &config, &mut |_| {}).unwrap();
    for workers in [2, 3, 8] {
        let mut last = None;
        let many = train_parallel(&examples, &candidates(), &config, workers, &mut |p| {
            last = Some((p.done, p.total));
        })
        .unwrap();
        assert_eq!(
            many.to_json().unwrap(),
            one.to_json().unwrap(),
            "{workers} workers"
        );
        assert_eq!(last, Some((8, 8)));
    }
}

#[test]
fn category_balance_keeps_a_big_category_from_outvoting_a_small_one() {
    // The same question in a big category where the cheap model is right and a small one
    // where it is wrong.
    let big: Vec<Row> = (0..90)
        .map(|_| Row {
            prompt: "explain the alpha beta step".to_owned(),
            category: "big".to_owned(),
            scores: vec![1.0, 1.0],
            hard: false,
        })
        .collect();
    let small = (0..10).map(|_| Row {
        prompt: "explain the alpha beta step".to_owned(),
        category: "small".to_owned(),
        scores: vec![1.0, 0.0],
        hard: true,
    });
    let rows: Vec<Row> = big.into_iter().chain(small).collect();
    let examples = examples_of(&rows);
    let cheap_right = |balance: f64| {
        let config = TrainConfig {
            tfidf: tfidf::TfidfConfig {
                min_df: 1,
                ..Default::default()
            },
            calibration_folds: 0,
            category_balance: balance,
            ..TrainConfig::default()
        };
        let model = train(&examples, &candidates(), &config, &mut |_| {}).unwrap();
        let weak = model
            .model_names()
            .iter()
            .position(|m| m == "weak")
            .unwrap();
        model.predict_quality("explain the alpha beta step")[weak]
    };
    let by_prompt = cheap_right(0.0);
    let by_category = cheap_right(1.0);
    assert!(by_prompt > 0.8, "prompts counted: {by_prompt}");
    assert!(
        (by_category - 0.5).abs() < 0.1,
        "categories counted equally: {by_category}"
    );
    let halfway = cheap_right(0.5);
    assert!(by_category < halfway && halfway < by_prompt);
    let bad = TrainConfig {
        category_balance: -1.0,
        ..TrainConfig::default()
    };
    assert!(matches!(
        train(&examples, &candidates(), &bad, &mut |_| {}),
        Err(LearnError::Config(_))
    ));
    let mut no_min_df = TrainConfig::default();
    no_min_df.tfidf.min_df = 0;
    assert!(matches!(
        train(&examples, &candidates(), &no_min_df, &mut |_| {}),
        Err(LearnError::Config(message)) if message.contains("min_df")
    ));
}

#[test]
fn above_one_the_reference_serves_even_beside_a_cheaper_model_of_its_tier() {
    use routewise_core::catalog::{Catalog, ModelSpec};
    use routewise_core::request::{ChatInput, RequestContext};
    use routewise_core::router::{Router, RouterOptions};
    use std::sync::Arc;
    let spec = |name: &str, tier: usize, price: f64| ModelSpec {
        name: name.into(),
        provider: "p".into(),
        upstream_model: name.into(),
        tier,
        input_usd_per_mtok: price,
        output_usd_per_mtok: price,
        context_window: 100_000,
        capabilities: Vec::new(),
    };
    // `lite` shares the reference's tier and is cheaper: the strongest tier's pick, not the
    // reference that `decide` (and so `calibrate`) uses above 1.
    let catalog = Catalog::new(
        vec!["economy".into(), "frontier".into()],
        vec![
            spec("weak", 0, 0.1),
            spec("lite", 1, 0.5),
            spec("strong", 1, 5.0),
        ],
    )
    .unwrap();
    let model = Arc::new(fit(&rows(0..4, 40, 7)));
    let reference = model.models[model.reference].name.clone();
    assert_eq!(reference, "strong");
    let prompt = "Please name the capital of France";
    assert_eq!(model.decide(prompt, 1.5).model, model.reference);
    let policy = Arc::new(LearnedPolicy::new(model, 1.5));
    let router = Router::new(Arc::new(catalog), policy, RouterOptions::default()).unwrap();
    let context = RequestContext {
        user_tier: "standard".into(),
        hour_of_day: 9,
    };
    let decision = router
        .decide(&ChatInput::from_prompt(prompt), &context)
        .unwrap();
    assert_eq!(decision.model, "strong", "{}", decision.detail);
}
