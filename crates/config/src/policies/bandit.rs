//! The `bandit` policy kind: a contextual bandit that learns from feedback
//! (`routewise_core::bandit`).

use super::ModelLoader;
use crate::compile::Errors;
use crate::raw::RawBandit;
use routewise_core::bandit::{BanditPolicy, BanditSettings};
use routewise_core::catalog::Catalog;
use std::sync::Arc;

/// Most hash buckets: each costs every arm eight bytes.
const MAX_TEXT_FEATURES: u32 = 1 << 22;

/// A bandit from its settings, and the files it is made of (its prior model, if any).
pub(crate) fn compile(
    prefix: &str,
    raw: Option<&RawBandit>,
    catalog: &Catalog,
    expected_output_tokens: u32,
    load_model: ModelLoader<'_>,
    errors: &mut Errors,
) -> (BanditPolicy, Vec<String>) {
    let policy = compile_settings(prefix, raw, catalog, expected_output_tokens, errors);
    let Some(path) = raw.and_then(|r| r.prior_model.as_ref()) else {
        return (policy, Vec::new());
    };
    let field = format!("{prefix}.prior_model");
    let model = match load_model(path) {
        Ok(model) => model,
        Err(why) => {
            errors.push(&field, why);
            return (policy, vec![path.clone()]);
        }
    };
    if !model
        .models
        .iter()
        .any(|h| catalog.model(&h.name).is_some())
    {
        errors.push(
            &field,
            format!(
                "the model file predicts for {}, none of which is in the catalog",
                model.model_names().join(", ")
            ),
        );
        return (policy, vec![path.clone()]);
    }
    // The model's identity: a state learned over another prior no longer fits.
    let id = model.to_json().map_or(0, |json| {
        json.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    });
    (
        policy.with_prior_model(Arc::new(model), id),
        vec![path.clone()],
    )
}

fn compile_settings(
    prefix: &str,
    raw: Option<&RawBandit>,
    catalog: &Catalog,
    expected_output_tokens: u32,
    errors: &mut Errors,
) -> BanditPolicy {
    let mut settings = BanditSettings {
        expected_output_tokens,
        ..BanditSettings::default()
    };
    let Some(raw) = raw else {
        return BanditPolicy::new(catalog, settings);
    };
    let mut check = |field: &str, value: Option<f64>, ok: fn(f64) -> bool, rule: &str| {
        if let Some(v) = value
            && !(v.is_finite() && ok(v))
        {
            errors.push(format!("{prefix}.{field}"), format!("{v} {rule}"));
        }
        value
    };
    if let Some(v) = check(
        "quality_value_usd",
        raw.quality_value_usd,
        |v| v > 0.0,
        "must be above 0: the dollars one point of quality (a good answer rather than a useless one) is worth; lambda is its inverse and cannot be negative",
    ) {
        settings.quality_value_usd = v;
    }
    if let Some(v) = check(
        "explore",
        raw.explore,
        |v| (0.0..=0.5).contains(&v),
        "must be from 0 to 0.5: the share of requests that explore",
    ) {
        settings.explore = v;
    }
    if let Some(v) = check("optimism", raw.optimism, |v| v >= 0.0, "must be 0 or more") {
        settings.optimism = v;
    }
    if let Some(v) = check(
        "prior_weight",
        raw.prior_weight,
        |v| v > 0.0,
        "must be above 0",
    ) {
        settings.prior_weight = v;
    }
    if let Some(v) = check(
        "text_learning_rate",
        raw.text_learning_rate,
        |v| v > 0.0 && v <= 1.0,
        "must be above 0 and at most 1",
    ) {
        settings.text_learning_rate = v;
    }
    if let Some(n) = raw.text_features {
        if n > MAX_TEXT_FEATURES {
            errors.push(
                format!("{prefix}.text_features"),
                format!("{n} is more than {MAX_TEXT_FEATURES}"),
            );
        }
        settings.text_features = n.min(MAX_TEXT_FEATURES);
    }
    if let Some(tiers) = &raw.no_explore_tiers {
        settings.no_explore_tiers.clone_from(tiers);
    }
    BanditPolicy::new(catalog, settings)
}
