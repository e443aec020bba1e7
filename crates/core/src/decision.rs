//! A routing decision and its explanation: the contract shown to users in `routewise route`,
//! response headers, metrics and decision logs.

use crate::signals::Signals;
use serde::Serialize;

/// The outcome of routing one request. Serialises to the stable JSON object that
/// `routewise route --json` prints and decision logs record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The catalog model chosen.
    pub model: String,
    /// The policy that decided (`explicit` when the caller named a model).
    pub policy: String,
    /// Low-cardinality reason label, e.g. `rule:premium-tier`, `complexity:tier-0`.
    pub reason: String,
    /// A readable sentence explaining the decision, including any escalation.
    pub detail: String,
    /// The policy's score, when it has one.
    pub score: Option<f64>,
    /// The threshold the score was compared with.
    pub threshold: Option<f64>,
    /// Hard constraints and target adjustments applied, in order (e.g. `needs vision`).
    pub constraints: Vec<String>,
    pub signals: Signals,
    /// Output tokens assumed for the estimates.
    pub estimated_output_tokens: u32,
    /// Estimated cost of the request on the chosen model, at list price.
    pub estimated_cost_usd: f64,
    /// The always-large model that serves as the counterfactual.
    pub baseline_model: String,
    /// What the same request would cost on the baseline model.
    pub baseline_cost_usd: f64,
}

impl Decision {
    /// Estimated saving against the always-large baseline (negative if the choice costs more).
    pub fn estimated_saving_usd(&self) -> f64 {
        self.baseline_cost_usd - self.estimated_cost_usd
    }
}
