//! The `complexity` policy kind: a weighted complexity score mapped onto the catalog's tiers.

use crate::compile::Errors;
use crate::raw::RawComplexity;
use routewise_core::catalog::Catalog;
use routewise_core::policy::{ComplexityPolicy, ComplexityWeights};

/// A complexity policy from its settings (defaults for what is absent); errors go under
/// `prefix` (`routing.complexity` or `policies.NAME`).
pub(crate) fn compile(
    prefix: &str,
    raw: Option<&RawComplexity>,
    catalog: &Catalog,
    errors: &mut Errors,
) -> ComplexityPolicy {
    let tiers = catalog.tiers().len();
    let defaults = ComplexityPolicy::default_for_tiers(tiers);
    let Some(raw) = raw else {
        return defaults;
    };
    let mut weights = ComplexityWeights::default();
    if let Some(w) = &raw.weights {
        let fields = [
            ("tokens", w.tokens, &mut weights.tokens),
            ("reasoning", w.reasoning, &mut weights.reasoning),
            ("task", w.task, &mut weights.task),
            ("domain", w.domain, &mut weights.domain),
            ("code", w.code, &mut weights.code),
            ("turns", w.turns, &mut weights.turns),
            ("track_record", w.track_record, &mut weights.track_record),
        ];
        for (name, value, slot) in fields {
            if let Some(value) = value {
                if !value.is_finite() || value < 0.0 {
                    errors.push(
                        format!("{prefix}.weights.{name}"),
                        format!("{value} must be a finite number >= 0"),
                    );
                }
                *slot = value;
            }
        }
        let total = weights.tokens
            + weights.reasoning
            + weights.task
            + weights.domain
            + weights.code
            + weights.turns
            + weights.track_record;
        if total.is_finite() && total <= 0.0 {
            errors.push(
                format!("{prefix}.weights"),
                "at least one weight must be above 0",
            );
        }
    }
    let thresholds = match &raw.thresholds {
        None => defaults.thresholds().to_vec(),
        Some(t) => {
            if t.len() != tiers - 1 {
                errors.push(
                    format!("{prefix}.thresholds"),
                    format!("expected {} threshold(s), one per tier but the last ({tiers} tiers), got {}", tiers - 1, t.len()),
                );
            }
            if t.iter().any(|v| !(0.0..=1.0).contains(v)) {
                errors.push(
                    format!("{prefix}.thresholds"),
                    "thresholds are complexity scores in [0, 1]",
                );
            }
            if t.windows(2).any(|w| w[0] > w[1]) {
                errors.push(
                    format!("{prefix}.thresholds"),
                    "thresholds must ascend, cheapest tier first",
                );
            }
            t.clone()
        }
    };
    let max_tokens = match &raw.max_tokens {
        None => defaults.max_tokens().to_vec(),
        Some(limits) => {
            if limits.len() != tiers - 1 {
                errors.push(
                    format!("{prefix}.max_tokens"),
                    format!(
                        "expected {} limit(s), one per tier but the last (0 = no limit), got {}",
                        tiers - 1,
                        limits.len()
                    ),
                );
            }
            limits.iter().map(|&n| (n > 0).then_some(n)).collect()
        }
    };
    ComplexityPolicy::new(weights, thresholds, max_tokens)
}
