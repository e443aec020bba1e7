//! The learned router as a [`Policy`]: the cheapest catalog model whose acceptability for the
//! request's last user message clears the threshold.

use super::model::LearnedModel;
use crate::policy::{Choice, Policy, PolicyInput, Target};
use crate::request::{ChatInput, Role};
use rand::RngCore;
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

    /// A bias `b` raises the threshold by `b` (a stronger model when `b > 0`), never below 0.
    fn choose(&self, input: &PolicyInput<'_>, _rng: &mut dyn RngCore) -> Choice {
        let threshold = (self.threshold + input.bias).max(0.0);
        let acceptability = self.model.predict(&query_text(input.request));
        let heads = &self.model.models;
        // Candidates the catalog does not know are skipped; the scan stays cheapest first.
        let pick = heads
            .iter()
            .zip(&acceptability)
            .filter_map(|(h, &a)| input.catalog.id_of(&h.name).map(|id| (h, a, id)))
            .find(|&(_, a, _)| a >= threshold);
        let reference = heads.get(self.model.reference);
        let reference_in_catalog =
            reference.and_then(|h| input.catalog.id_of(&h.name).map(|id| (h, id)));
        match (pick, reference_in_catalog) {
            (Some((head, a, id)), _) => Choice::new(
                Target::Model(id),
                format!("learned:{}", head.name),
                format!(
                    "learned router: `{}` is the cheapest model whose acceptability {a:.3} clears the threshold {threshold:.3}",
                    head.name
                ),
            )
            .scored(Some(a), Some(threshold)),
            // Nothing clears the threshold only above 1 (the reference's acceptability is 1)
            // or when the catalog lacks the reference. Above 1 means "always the reference",
            // as in `LearnedModel::decide` (what `eval` and `calibrate` measure), and the
            // strongest tier's cheapest model may be another one.
            (None, Some((head, id))) => Choice::new(
                Target::Model(id),
                format!("learned:{}", head.name),
                format!(
                    "learned router: no cheaper model clears the threshold {threshold:.3}, so the reference `{}` serves",
                    head.name
                ),
            )
            .scored(Some(1.0), Some(threshold)),
            (None, None) => Choice::new(
                Target::Tier(input.catalog.top_tier()),
                "learned:fallback",
                format!(
                    "learned router: no candidate in the catalog clears the threshold {threshold:.3} (reference `{}`); using the strongest tier",
                    reference.map_or("?", |h| h.name.as_str())
                ),
            )
            .scored(None, Some(threshold)),
        }
    }

    fn steerable(&self) -> bool {
        true
    }
}
