//! The `learned` policy kind: a model file from `routewise train` at a calibrated threshold.

use crate::compile::Errors;
use crate::raw::RawLearned;
use routewise_core::catalog::Catalog;
use routewise_core::learn::{LearnedModel, LearnedPolicy};
use std::sync::Arc;

/// Reads the model file a config names; the error says why not.
pub type ModelLoader<'a> = &'a dyn Fn(&str) -> Result<LearnedModel, String>;

/// A learned router as configured: its model file, loaded and checked against the catalog
/// when the config was compiled, at the threshold calibrated for it.
#[derive(Debug, Clone)]
pub struct LearnedSettings {
    /// The model file as the config names it.
    pub model: String,
    pub threshold: f64,
    pub policy: Arc<LearnedPolicy>,
}

/// Loads the model file and checks that it can route over this catalog; errors go under
/// `prefix` (`routing.learned` or `policies.NAME`).
pub(crate) fn compile(
    prefix: &str,
    raw: &RawLearned,
    catalog: &Catalog,
    load_model: ModelLoader<'_>,
    errors: &mut Errors,
) -> Option<LearnedSettings> {
    if !(raw.threshold.is_finite() && raw.threshold >= 0.0) {
        errors.push(
            format!("{prefix}.threshold"),
            "must be a number >= 0 (find one with `routewise calibrate`)",
        );
    }
    let path = format!("{prefix}.model");
    if raw.model.trim().is_empty() {
        errors.push(&path, "must name a model file from `routewise train`");
        return None;
    }
    let model = match load_model(&raw.model) {
        Ok(model) => model,
        Err(why) => {
            errors.push(&path, why);
            return None;
        }
    };
    let names = model.model_names();
    if !names.iter().any(|name| catalog.model(name).is_some()) {
        errors.push(
            &path,
            format!(
                "the model file predicts for {}, none of which is in the catalog: train it on data labelled with your catalog's model names",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        return None;
    }
    Some(LearnedSettings {
        model: raw.model.clone(),
        threshold: raw.threshold,
        policy: Arc::new(LearnedPolicy::new(Arc::new(model), raw.threshold)),
    })
}
