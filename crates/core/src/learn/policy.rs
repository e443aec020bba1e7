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
        match pick {
            Some((head, a, index)) => Choice {
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
            None => Choice {
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
