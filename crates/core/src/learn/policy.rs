//! The learned router as a [`Policy`]: the cheapest catalog model whose acceptability for the
//! request's last user message clears the threshold.

use super::model::LearnedModel;
use crate::policy::{Choice, Policy, PolicyInput, Target};
use crate::request::{ChatInput, Role};
use std::sync::Arc;

/// A loaded model plus the threshold calibrated for it (`routewise calibrate`).
#[derive(Debug, Clone)]
pub struct LearnedPolicy {
    model: Arc<LearnedModel>,
    threshold: f64,
}

impl LearnedPolicy {
    pub fn new(model: Arc<LearnedModel>, threshold: f64) -> Self {
        Self { model, threshold }
    }

    pub fn model(&self) -> &LearnedModel {
        &self.model
    }

    /// The model, shared (to run it at another threshold).
    pub fn shared_model(&self) -> Arc<LearnedModel> {
        self.model.clone()
    }

    pub fn threshold(&self) -> f64 {
        self.threshold
    }
}

/// The text the model was trained on: the user's query, i.e. the last user message (or all
/// text when there is none).
fn query_text(request: &ChatInput) -> String {
    match request.messages.iter().rev().find(|m| m.role == Role::User) {
        Some(m) => m.text.clone(),
        None => request
            .messages
            .iter()
            .map(|m| m.text.as_str())
            .collect::<Vec<_>>()
            .join("\n\n"),
    }
}

impl Policy for LearnedPolicy {
    fn name(&self) -> &str {
        "learned"
    }

    fn choose(&self, input: PolicyInput<'_>) -> Choice {
        let acceptability = self.model.predict(&query_text(input.request));
        let heads = &self.model.models;
        // Candidates the catalog does not know are skipped; the scan stays cheapest first.
        let pick = heads
            .iter()
            .zip(&acceptability)
            .filter_map(|(h, &a)| input.catalog.index_of(&h.name).map(|i| (h, a, i)))
            .find(|&(_, a, _)| a >= self.threshold);
        let reference = heads.get(self.model.reference);
        let reference_in_catalog =
            reference.and_then(|h| input.catalog.index_of(&h.name).map(|i| (h, i)));
        match (pick, reference_in_catalog) {
            (Some((head, a, index)), _) => Choice {
                target: Target::Model(index),
                require: Vec::new(),
                reason: format!("learned:{}", head.name),
                detail: format!(
                    "learned router: `{}` is the cheapest model whose acceptability {a:.3} clears the threshold {:.3}",
                    head.name, self.threshold
                ),
                score: Some(a),
                threshold: Some(self.threshold),
            },
            // Nothing clears the threshold only above 1 (the reference's acceptability is 1)
            // or when the catalog lacks the reference. Above 1 means "always the reference",
            // as in `LearnedModel::decide` (what `eval` and `calibrate` measure), and the
            // strongest tier's cheapest model may be another one.
            (None, Some((head, index))) => Choice {
                target: Target::Model(index),
                require: Vec::new(),
                reason: format!("learned:{}", head.name),
                detail: format!(
                    "learned router: no cheaper model clears the threshold {:.3}, so the reference `{}` serves",
                    self.threshold, head.name
                ),
                score: Some(1.0),
                threshold: Some(self.threshold),
            },
            (None, None) => Choice {
                target: Target::Tier(input.catalog.top_tier()),
                require: Vec::new(),
                reason: "learned:fallback".to_owned(),
                detail: format!(
                    "learned router: no candidate in the catalog clears the threshold {:.3} (reference `{}`); using the strongest tier",
                    self.threshold,
                    reference.map_or("?", |h| h.name.as_str())
                ),
                score: None,
                threshold: Some(self.threshold),
            },
        }
    }
}
