//! The contextual bandit policy: learns online, from feedback, which model serves each kind of
//! request best for its price.
//!
//! Each catalog model is an arm with a model of the quality it delivers in a context
//! ([`context`]): a linear model of the request's signals with its confidence width (LinUCB,
//! [`linear`]) plus a sparse linear model of the query's hashed words learned by AdaGrad on
//! what the first leaves unexplained ([`text`]). A choice scores every eligible arm as
//! `predicted quality + optimism * uncertainty - lambda * expected cost` (LinUCB) and takes the
//! best, except for a bounded share of requests (`explore`) where it takes an eligible arm at
//! random; premium callers and explicit model requests are never explored. The probability of
//! the choice is its propensity, recorded with the decision.
//!
//! Only quality is learned: the cost of a request on each model is known before it is sent, so
//! `reward = quality - lambda * cost` is formed at decision time, and a controller (a
//! strong-share target, budget pacing) can lean on it without invalidating what was learned:
//! [`PolicyInput::bias`] adds `bias * tier / top tier` quality points to each arm, a bonus
//! for stronger tiers when positive and a penalty when negative. (Scaling lambda instead
//! was measured to steer badly: the share jumped as whole groups of requests crossed over
//! together, and a target was missed by up to 20 points; docs/ONLINE.md.) The expected cost includes
//! reliability: a model that has been failing costs its price plus its failure rate times the
//! price of the fallback that then serves.
//!
//! The cold start is the tier order: every arm's prior quality rises with its tier, so before
//! any feedback the bandit behaves like a cautious tiered router and the first feedback moves
//! it from there.

pub mod context;
pub mod linear;
pub mod text;

use crate::catalog::{Catalog, ModelId};
use crate::learn::LearnedModel;
use crate::policy::{
    Choice, LearnedState, Learner, Outcome, Policy, PolicyInput, StateError, Target,
};
use context::Context;
use linear::{ArmModel, ArmStats};
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use text::TextModel;

/// The bandit's settings (`[policies.NAME] kind = "bandit"`).
#[derive(Debug, Clone, PartialEq)]
pub struct BanditSettings {
    /// What one point of quality (a fully acceptable answer rather than a useless one) is worth
    /// in dollars: `lambda = 1 / quality_value_usd`.
    pub quality_value_usd: f64,
    /// Share of requests that explore, in [0, 0.5].
    pub explore: f64,
    /// Weight of the uncertainty bonus (LinUCB's alpha), >= 0.
    pub optimism: f64,
    /// Strength of the prior, in observations' worth (the ridge), > 0.
    pub prior_weight: f64,
    /// Hash buckets for the query's words and word pairs (0: the signals only).
    pub text_features: u32,
    /// AdaGrad's step size for the words' model, > 0.
    pub text_learning_rate: f64,
    /// Output tokens assumed for the cost when the caller sets no `max_tokens`.
    pub expected_output_tokens: u32,
    /// Caller tiers that are never explored.
    pub no_explore_tiers: Vec<String>,
}

impl Default for BanditSettings {
    fn default() -> Self {
        Self {
            quality_value_usd: 0.10,
            explore: 0.02,
            optimism: 0.3,
            prior_weight: 1.0,
            text_features: 1 << 14,
            text_learning_rate: 0.05,
            expected_output_tokens: 256,
            no_explore_tiers: vec!["premium".to_owned()],
        }
    }
}

/// The bandit over one catalog's models.
#[derive(Debug, Clone)]
pub struct BanditPolicy {
    settings: BanditSettings,
    /// Arm names in catalog order (a state learned over other arms does not fit).
    arms: Vec<String>,
    /// Prior quality of each arm, from its tier.
    prior: Vec<f64>,
    /// A warm start: a learned model file whose predicted quality for each arm it knows is
    /// that arm's prior for every request (the arm models learn corrections to it).
    prior_model: Option<PriorModel>,
}

#[derive(Debug, Clone)]
struct PriorModel {
    model: Arc<LearnedModel>,
    /// Per arm, the model's head for it.
    heads: Vec<Option<usize>>,
    id: u64,
}

/// The learned state: one model per arm, each part shared so that an update copies only the
/// arm it teaches.
#[derive(Debug, Clone)]
pub struct BanditState {
    buckets: u32,
    /// Which prior model the arms learned corrections to (a hash of it), if any.
    prior: Option<u64>,
    arms: Vec<Arm>,
}

#[derive(Debug, Clone)]
struct Arm {
    name: String,
    dense: Arc<ArmModel>,
    text: Arc<TextModel>,
}

impl Arm {
    /// Predicted quality in a context, and its confidence width (the dense model's and the
    /// words' together).
    /// `offset` is the arm's prior quality for this request (0 without a prior model).
    fn predict(&self, x: &Context, offset: f64) -> (f64, f64) {
        let (mean, width) = self.dense.predict(&x.dense);
        let words = self.text.width(&x.words);
        (
            offset + mean + self.text.predict(&x.words),
            (width * width + words * words).sqrt(),
        )
    }
}

impl BanditState {
    /// Observations folded into each arm, by name.
    pub fn observations(&self) -> Vec<(&str, u64)> {
        self.arms
            .iter()
            .map(|arm| (arm.name.as_str(), arm.dense.observations))
            .collect()
    }
}

/// How one arm scored for a request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArmScore {
    pub model: ModelId,
    pub quality: f64,
    pub uncertainty: f64,
    /// Expected cost, failures included.
    pub cost_usd: f64,
    /// `quality + optimism * uncertainty - lambda * cost + bias * tier / top tier`.
    pub value: f64,
}

/// The persisted form.
#[derive(Debug, Serialize, Deserialize)]
struct Encoded {
    format: String,
    version: u32,
    dense: usize,
    buckets: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    prior: Option<u64>,
    arms: Vec<EncodedArm>,
}

#[derive(Debug, Serialize, Deserialize)]
struct EncodedArm {
    model: String,
    #[serde(flatten)]
    stats: ArmStats,
    /// The words' model, its buckets that were ever touched.
    text: SparseText,
}

#[derive(Debug, Serialize, Deserialize)]
struct SparseText {
    buckets: Vec<u32>,
    weights: Vec<f32>,
    squares: Vec<f32>,
    seen: Vec<f32>,
}

impl SparseText {
    fn of(model: &TextModel) -> Self {
        let mut sparse = Self {
            buckets: Vec::new(),
            weights: Vec::new(),
            squares: Vec::new(),
            seen: Vec::new(),
        };
        for (i, ((&w, &s), &n)) in model
            .weights
            .iter()
            .zip(&model.squares)
            .zip(&model.seen)
            .enumerate()
        {
            if n != 0.0 {
                sparse.buckets.push(u32::try_from(i).unwrap_or(u32::MAX));
                sparse.weights.push(w);
                sparse.squares.push(s);
                sparse.seen.push(n);
            }
        }
        sparse
    }

    fn model(&self, buckets: u32) -> Option<TextModel> {
        let mut model = TextModel::new(buckets);
        let n = self.buckets.len();
        if self.weights.len() != n || self.squares.len() != n || self.seen.len() != n {
            return None;
        }
        let valid = |v: f32| v.is_finite() && v >= 0.0;
        for (((&b, &w), &s), &seen) in self
            .buckets
            .iter()
            .zip(&self.weights)
            .zip(&self.squares)
            .zip(&self.seen)
        {
            let i = b as usize;
            if i >= model.buckets() || !w.is_finite() || !valid(s) || !valid(seen) {
                return None;
            }
            model.weights[i] = w;
            model.squares[i] = s;
            model.seen[i] = seen;
        }
        Some(model)
    }
}

const STATE_FORMAT: &str = "routewise-bandit";
const STATE_VERSION: u32 = 2;

impl BanditPolicy {
    pub fn new(catalog: &Catalog, settings: BanditSettings) -> Self {
        let top = catalog.top_tier().max(1) as f64;
        let models = catalog.models();
        Self {
            arms: models.iter().map(|m| m.name.clone()).collect(),
            prior: models
                .iter()
                .map(|m| 0.5 + 0.3 * m.tier as f64 / top)
                .collect(),
            settings,
            prior_model: None,
        }
    }

    /// The same bandit, warm-started from a learned model file: arms the model predicts for
    /// start from its predicted quality, the others from their tier. `id` identifies the
    /// model (a state learned over another prior does not fit).
    pub fn with_prior_model(mut self, model: Arc<LearnedModel>, id: u64) -> Self {
        let heads = self
            .arms
            .iter()
            .map(|arm| model.models.iter().position(|h| h.name == *arm))
            .collect();
        self.prior_model = Some(PriorModel { model, heads, id });
        self
    }

    /// Each arm's prior quality for a request, from the prior model (empty without one).
    fn offsets(&self, input: &PolicyInput<'_>) -> Vec<f32> {
        let Some(prior) = &self.prior_model else {
            return Vec::new();
        };
        let predicted = prior.model.predict_quality(context::query(input.request));
        prior
            .heads
            .iter()
            .zip(&self.prior)
            .map(|(head, &tier_prior)| {
                head.and_then(|h| predicted.get(h).copied())
                    .unwrap_or(tier_prior) as f32
            })
            .collect()
    }

    pub fn settings(&self) -> &BanditSettings {
        &self.settings
    }

    fn prior_state(&self) -> BanditState {
        let text = Arc::new(TextModel::new(self.settings.text_features));
        let arms = self
            .arms
            .iter()
            .zip(&self.prior)
            .map(|(name, &q)| {
                let mut mean = vec![0.0; context::DENSE];
                // With a prior model the offsets carry the prior; the intercept starts at 0.
                mean[0] = if self.prior_model.is_some() { 0.0 } else { q };
                Arm {
                    name: name.clone(),
                    dense: Arc::new(ArmModel::prior(&mean, self.settings.prior_weight)),
                    text: Arc::clone(&text),
                }
            })
            .collect();
        BanditState {
            buckets: self.settings.text_features,
            prior: self.prior_model.as_ref().map(|p| p.id),
            arms,
        }
    }

    /// The context of a request, as this bandit sees it.
    pub fn context(&self, input: &PolicyInput<'_>) -> Context {
        Context::of(input.signals, input.request, self.settings.text_features)
            .with_offsets(self.offsets(input))
    }

    /// Quality points one dollar is worth: `1 / quality_value_usd`.
    pub fn lambda(&self) -> f64 {
        1.0 / self.settings.quality_value_usd
    }

    /// Every eligible arm's score for a request with context `x`, cheapest first.
    pub fn score(
        &self,
        input: &PolicyInput<'_>,
        state: &BanditState,
        x: &Context,
    ) -> Vec<ArmScore> {
        let catalog = input.catalog;
        let lambda = self.lambda();
        let bias = input.bias.clamp(-1.0, 1.0);
        let top = catalog.top_tier().max(1) as f64;
        let output = u64::from(
            input
                .signals
                .max_output_tokens
                .map_or(self.settings.expected_output_tokens, |cap| {
                    cap.min(self.settings.expected_output_tokens)
                }),
        );
        let prompt = u64::from(input.signals.prompt_tokens);
        let eligible: Vec<ModelId> = catalog
            .models_by_preference()
            .iter()
            .copied()
            .filter(|id| input.eligible.contains(*id))
            .collect();
        let price = |id: ModelId| catalog.get(id).map_or(0.0, |m| m.cost_usd(prompt, output));
        let tier = |id: ModelId| catalog.get(id).map_or(0, |m| m.tier);
        eligible
            .iter()
            .map(|&id| {
                let (quality, uncertainty) = state.arms.get(id.index()).map_or((0.0, 0.0), |arm| {
                    let offset = x.offsets.get(id.index()).copied().unwrap_or(0.0);
                    arm.predict(x, f64::from(offset))
                });
                let failure = input
                    .failure_rates
                    .get(id.index())
                    .copied()
                    .unwrap_or(0.0)
                    .clamp(0.0, 1.0);
                // A failed call is followed by the fallback: the cheapest eligible model of a
                // higher tier, or (at the top) a retry of the same.
                let fallback = eligible
                    .iter()
                    .copied()
                    .find(|&other| tier(other) > tier(id))
                    .map_or_else(|| price(id), price);
                let cost_usd = price(id) + failure * fallback;
                ArmScore {
                    model: id,
                    quality,
                    uncertainty,
                    cost_usd,
                    value: quality + self.settings.optimism * uncertainty - lambda * cost_usd
                        + bias * tier(id) as f64 / top,
                }
            })
            .collect()
    }

    /// The share of this request's choices that explore (0 for callers never explored).
    fn explore_share(&self, input: &PolicyInput<'_>, arms: usize) -> f64 {
        let protected = self
            .settings
            .no_explore_tiers
            .contains(&input.signals.user_tier);
        if protected || arms < 2 {
            0.0
        } else {
            self.settings.explore
        }
    }

    /// The probability of serving each scored arm: the best takes `1 - explore` plus its share
    /// of the exploration, every arm `explore / arms`. Sums to 1.
    pub fn distribution(&self, input: &PolicyInput<'_>, scores: &[ArmScore]) -> Vec<f64> {
        let explore = self.explore_share(input, scores.len());
        let best = best_arm(scores);
        let share = explore / scores.len().max(1) as f64;
        (0..scores.len())
            .map(|i| share + if Some(i) == best { 1.0 - explore } else { 0.0 })
            .collect()
    }

    fn state_of<'s>(&self, input: &PolicyInput<'s>) -> Option<&'s BanditState> {
        input
            .state
            .and_then(LearnedState::downcast::<BanditState>)
            .filter(|s| {
                s.buckets == self.settings.text_features
                    && s.arms.len() == self.arms.len()
                    && s.prior == self.prior_model.as_ref().map(|p| p.id)
            })
    }
}

/// The best arm: highest value, the cheaper among equals (scores come cheapest first).
fn best_arm(scores: &[ArmScore]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, score) in scores.iter().enumerate() {
        if best.is_none_or(|b| score.value > scores[b].value) {
            best = Some(i);
        }
    }
    best
}

impl Policy for BanditPolicy {
    fn name(&self) -> &str {
        "bandit"
    }

    fn choose(&self, input: &PolicyInput<'_>, rng: &mut dyn RngCore) -> Choice {
        let x = self.context(input);
        let prior;
        let state = match self.state_of(input) {
            Some(state) => state,
            None => {
                prior = self.prior_state();
                &prior
            }
        };
        let scores = self.score(input, state, &x);
        let probabilities = self.distribution(input, &scores);
        let explore = self.explore_share(input, scores.len());
        let (Some(best), false) = (best_arm(&scores), scores.is_empty()) else {
            return Choice::new(
                Target::Tier(input.catalog.top_tier()),
                "bandit:fallback",
                "bandit: no eligible arm, so the strongest tier",
            );
        };
        let exploring = explore > 0.0 && rng.random::<f64>() < explore;
        let pick = if exploring {
            rng.random_range(0..scores.len())
        } else {
            best
        };
        let chosen = scores[pick];
        let name = input
            .catalog
            .get(chosen.model)
            .map_or("?", |m| m.name.as_str());
        let lambda = self.lambda();
        let (reason, detail) = if exploring {
            (
                "bandit:explore",
                format!(
                    "bandit: exploring ({:.0}% of requests try an arm at random), `{name}` (predicted quality {:.2})",
                    explore * 100.0,
                    chosen.quality
                ),
            )
        } else {
            (
                "bandit:exploit",
                format!(
                    "bandit: `{name}` has the best expected value of {} arms: predicted quality {:.2} ± {:.2}, cost ${:.6} at {lambda:.1} quality/USD",
                    scores.len(),
                    chosen.quality,
                    chosen.uncertainty,
                    chosen.cost_usd
                ),
            )
        };
        let mut choice = Choice::new(Target::Model(chosen.model), reason, detail)
            .scored(Some(chosen.quality), None);
        choice.propensity = probabilities[pick];
        choice.features = x.encode();
        choice
    }

    fn steerable(&self) -> bool {
        true
    }

    fn learner(&self) -> Option<&dyn Learner> {
        Some(self)
    }
}

impl Learner for BanditPolicy {
    fn fresh(&self) -> LearnedState {
        LearnedState::new(self.prior_state())
    }

    fn fits(&self, state: &LearnedState) -> Result<(), StateError> {
        let state = state
            .downcast::<BanditState>()
            .ok_or_else(|| StateError::Mismatch("it is not a bandit's state".to_owned()))?;
        if state.buckets != self.settings.text_features {
            return Err(StateError::Mismatch(format!(
                "it hashed words into {} buckets and this bandit into {}",
                state.buckets, self.settings.text_features
            )));
        }
        let prior = self.prior_model.as_ref().map(|p| p.id);
        if state.prior != prior {
            return Err(StateError::Mismatch(
                "it learned corrections to another prior model (or to none)".to_owned(),
            ));
        }
        let names: Vec<&str> = state.arms.iter().map(|a| a.name.as_str()).collect();
        if names != self.arms.iter().map(String::as_str).collect::<Vec<_>>() {
            return Err(StateError::Mismatch(format!(
                "it learned arms {names:?} and the catalog has {:?}",
                self.arms
            )));
        }
        Ok(())
    }

    fn observe(&self, state: &LearnedState, outcome: &Outcome<'_>) -> LearnedState {
        let Some(current) = state.downcast::<BanditState>() else {
            return state.clone();
        };
        let arm = current.arms.iter().position(|a| a.name == outcome.model);
        let context = Context::decode(outcome.features, current.buckets)
            .filter(|x| x.dense.len() == context::DENSE);
        let (Some(arm), Some(x), true) = (arm, context, outcome.quality.is_finite()) else {
            // Features of another policy or an arm this bandit does not have: nothing to learn.
            return state.clone();
        };
        let offset = f64::from(x.offsets.get(arm).copied().unwrap_or(0.0));
        let quality = outcome.quality.clamp(0.0, 1.0) - offset;
        let mut next = current.clone();
        let old = &next.arms[arm];
        // The dense model first, on what the words do not explain; then the words, on what is
        // left. Neither step overshoots, so neither does the prediction.
        let text_part = old.text.predict(&x.words);
        let mut dense = ArmModel::clone(&old.dense);
        dense.observe(&x.dense, quality - text_part);
        let (dense_mean, _) = dense.predict(&x.dense);
        let mut text = TextModel::clone(&old.text);
        let rate = self.settings.text_learning_rate.min(1.0);
        text.step(&x.words, quality - dense_mean - text_part, rate);
        next.arms[arm].text = Arc::new(text);
        next.arms[arm].dense = Arc::new(dense);
        LearnedState::new(next)
    }

    fn merge(
        &self,
        base: &LearnedState,
        mine: &LearnedState,
        theirs: &LearnedState,
    ) -> Result<LearnedState, StateError> {
        for state in [base, mine, theirs] {
            self.fits(state)?;
        }
        let (Some(b), Some(m), Some(t)) = (
            base.downcast::<BanditState>(),
            mine.downcast::<BanditState>(),
            theirs.downcast::<BanditState>(),
        ) else {
            return Err(StateError::Mismatch(
                "it is not a bandit's state".to_owned(),
            ));
        };
        let mut merged = t.clone();
        for ((arm, base_arm), mine_arm) in merged.arms.iter_mut().zip(&b.arms).zip(&m.arms) {
            // An arm this replica did not touch is theirs as it is.
            if !Arc::ptr_eq(&base_arm.dense, &mine_arm.dense) {
                let dense = ArmModel::merged(&base_arm.dense, &mine_arm.dense, &arm.dense)
                    .ok_or_else(|| {
                        StateError::Corrupt(format!("arm `{}` does not add up", arm.name))
                    })?;
                arm.dense = Arc::new(dense);
            }
            if !Arc::ptr_eq(&base_arm.text, &mine_arm.text) {
                let text = TextModel::merged(&base_arm.text, &mine_arm.text, &arm.text)
                    .ok_or_else(|| {
                        StateError::Corrupt(format!("arm `{}` has other word buckets", arm.name))
                    })?;
                arm.text = Arc::new(text);
            }
        }
        Ok(LearnedState::new(merged))
    }

    fn encode(&self, state: &LearnedState) -> Result<Value, StateError> {
        let state = state
            .downcast::<BanditState>()
            .ok_or_else(|| StateError::Mismatch("it is not a bandit's state".to_owned()))?;
        let encoded = Encoded {
            format: STATE_FORMAT.to_owned(),
            version: STATE_VERSION,
            dense: context::DENSE,
            buckets: state.buckets,
            prior: state.prior,
            arms: state
                .arms
                .iter()
                .map(|arm| EncodedArm {
                    model: arm.name.clone(),
                    stats: arm.dense.stats(),
                    text: SparseText::of(&arm.text),
                })
                .collect(),
        };
        serde_json::to_value(encoded).map_err(|e| StateError::Corrupt(e.to_string()))
    }

    fn decode(&self, value: &Value) -> Result<LearnedState, StateError> {
        let encoded: Encoded = serde_json::from_value(value.clone())
            .map_err(|e| StateError::Corrupt(format!("not a bandit state: {e}")))?;
        if encoded.format != STATE_FORMAT || encoded.version != STATE_VERSION {
            return Err(StateError::Mismatch(format!(
                "format {} version {}, and this build reads {STATE_FORMAT} version {STATE_VERSION}",
                encoded.format, encoded.version
            )));
        }
        if encoded.dense != context::DENSE {
            return Err(StateError::Mismatch(format!(
                "it has {} signal features and this build {}",
                encoded.dense,
                context::DENSE
            )));
        }
        let arms = encoded
            .arms
            .iter()
            .map(|arm| {
                let dense = ArmModel::from_stats(encoded.dense, &arm.stats);
                let text = arm.text.model(encoded.buckets);
                dense
                    .zip(text)
                    .map(|(dense, text)| Arm {
                        name: arm.model.clone(),
                        dense: Arc::new(dense),
                        text: Arc::new(text),
                    })
                    .ok_or_else(|| {
                        StateError::Corrupt(format!(
                            "arm `{}` has statistics that are not a valid model",
                            arm.model
                        ))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let state = LearnedState::new(BanditState {
            buckets: encoded.buckets,
            prior: encoded.prior,
            arms,
        });
        self.fits(&state)?;
        Ok(state)
    }
}

#[cfg(test)]
mod tests;
