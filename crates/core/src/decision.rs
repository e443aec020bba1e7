//! A routing decision and its explanation: the contract shown to users in `routewise route`,
//! response headers, metrics and decision records.

use crate::signals::Signals;
use serde::Serialize;

/// The outcome of routing one request. Serialises to the stable JSON object that
/// `routewise route --json` prints and decision records keep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// The catalog model chosen.
    pub model: String,
    /// The policy that decided, as configured (`explicit` when the caller named a model).
    pub policy: String,
    /// Low-cardinality reason label, e.g. `rule:premium-tier`, `complexity:tier-0`,
    /// `memory:upgrade`.
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
    /// The probability that the deciding policy serves this model for this request: 1 for a
    /// deterministic policy. Off-policy evaluation of logged traffic divides by it.
    pub propensity: f64,
    /// The policy's own features of the request, kept so its learner can learn from the
    /// outcome later; empty for policies that do not learn.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policy_features: Vec<f32>,
    /// Stages after the policy that changed the outcome, in order (memory, controllers, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<StageNote>,
    /// The experiment that assigned this request, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub experiment: Option<String>,
    /// The experiment arm whose policy decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arm: Option<String>,
    /// What shadow policies would have done; none of them acted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shadow: Vec<ShadowDecision>,
}

/// A stage that changed a decision, and how.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StageNote {
    /// The stage's name, e.g. `memory`.
    pub stage: String,
    /// Its reason label, e.g. `memory:upgrade`.
    pub reason: String,
    /// One sentence for humans.
    pub detail: String,
    /// What caused it, when that is a record (memory: the rated request whose upgrade applied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// A shadow policy's would-be decision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShadowDecision {
    pub policy: String,
    pub model: String,
    pub reason: String,
    pub estimated_cost_usd: f64,
    pub propensity: f64,
}

impl Decision {
    /// Estimated saving against the always-large baseline (negative if the choice costs more).
    pub fn estimated_saving_usd(&self) -> f64 {
        self.baseline_cost_usd - self.estimated_cost_usd
    }

    /// Records that a stage changed the outcome: its note joins the explanation, and its
    /// reason becomes the decision's.
    pub fn note_stage(&mut self, note: StageNote) {
        self.detail.push_str("; ");
        self.detail.push_str(&note.detail);
        self.reason.clone_from(&note.reason);
        self.stages.push(note);
    }

    /// Records a stage that moved the policy's input (a controller's bias): its note joins the
    /// explanation, and the reason stays the policy's.
    pub fn note_input(&mut self, note: StageNote) {
        self.detail.push_str("; ");
        self.detail.push_str(&note.detail);
        self.stages.push(note);
    }

    /// The request whose memory upgrade raised this decision, if one did.
    pub fn upgraded_by(&self) -> Option<&str> {
        self.stages
            .iter()
            .find(|n| n.stage == "memory")
            .and_then(|n| n.source.as_deref())
    }
}
