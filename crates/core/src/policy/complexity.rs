//! The complexity-tiers policy: a weighted 0..1 complexity score from the signals, mapped onto
//! the catalog's N tiers by ascending thresholds, with per-tier token limits.
//!
//! Tier `i` is chosen when the score is below `thresholds[i]` and the prompt fits
//! `max_tokens[i]`; a request that fits no lower tier goes to the top tier.

use super::{Choice, Policy, PolicyInput, Target};
use crate::signals::{Signals, TaskType};
use rand::RngCore;

/// How much each signal contributes. Only ratios matter: the score divides by the sum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ComplexityWeights {
    pub tokens: f64,
    pub reasoning: f64,
    pub task: f64,
    pub domain: f64,
    pub code: f64,
    pub turns: f64,
    /// How badly similar rated requests went (1 - their mean score), when memory has at least
    /// [`TRACK_RECORD_MIN_COUNT`] of them; off (0) by default.
    pub track_record: f64,
}

impl Default for ComplexityWeights {
    /// Chosen under leave-one-benchmark-out (docs/EVALUATION.md, "Routing that transfers"):
    /// the task weighs most, because a request's kind is what carries over to traffic of a new
    /// kind; these weights are at least as good as the earlier hand-set ones (task 0.45,
    /// reasoning 0.25, domain 0.10) on every held-out benchmark.
    fn default() -> Self {
        Self {
            tokens: 0.10,
            reasoning: 0.15,
            task: 0.65,
            domain: 0.05,
            code: 0.05,
            turns: 0.05,
            track_record: 0.0,
        }
    }
}

/// Similar rated requests the track-record term needs before it counts.
pub const TRACK_RECORD_MIN_COUNT: u32 = 3;

/// Prompt length at which the token component saturates at 1.
const TOKENS_SATURATION: f64 = 8192.0;
/// Number of reasoning keywords at which that component saturates.
const REASONING_SATURATION: f64 = 3.0;
/// Extra turns at which the conversation-length component saturates.
const TURNS_SATURATION: f64 = 5.0;

/// How demanding each task type is, 0..1.
pub fn task_prior(task: TaskType) -> f64 {
    match task {
        TaskType::Classification | TaskType::Sentiment => 0.10,
        TaskType::FactualQuestion => 0.20,
        TaskType::Extraction => 0.20,
        TaskType::Translation => 0.25,
        TaskType::Summarization => 0.30,
        TaskType::OpenEnded | TaskType::CreativeWriting => 0.45,
        TaskType::CodeGeneration => 0.80,
        TaskType::Math => 0.85,
        TaskType::Design => 1.0,
    }
}

impl ComplexityWeights {
    /// The complexity score of a request, in [0, 1]. All-zero weights give 0.
    pub fn score(&self, s: &Signals) -> f64 {
        let tokens = ((1.0 + f64::from(s.prompt_tokens)).ln() / (1.0 + TOKENS_SATURATION).ln())
            .clamp(0.0, 1.0);
        let reasoning = (s.reasoning_keywords.len() as f64 / REASONING_SATURATION).min(1.0);
        let task = task_prior(s.task_type);
        let domain = if s.domains.is_empty() { 0.0 } else { 1.0 };
        let code = if s.has_code { 1.0 } else { 0.0 };
        let turns = (f64::from(s.turns.saturating_sub(1)) / TURNS_SATURATION).min(1.0);
        let parts = [
            (self.tokens, tokens),
            (self.reasoning, reasoning),
            (self.task, task),
            (self.domain, domain),
            (self.code, code),
            (self.turns, turns),
            (self.track_record, bad_track_record(s)),
        ];
        let total: f64 = parts.iter().map(|(w, _)| w.max(0.0)).sum();
        if total <= 0.0 {
            return 0.0;
        }
        let weighted: f64 = parts.iter().map(|(w, v)| w.max(0.0) * v).sum();
        (weighted / total).clamp(0.0, 1.0)
    }
}

/// 1 - the mean score of similar rated requests over every model (weighted by count), or 0
/// when there are fewer than [`TRACK_RECORD_MIN_COUNT`].
fn bad_track_record(s: &Signals) -> f64 {
    let (sum, count) = s.track_record.iter().fold((0.0, 0u32), |(sum, count), r| {
        (sum + r.mean_score * f64::from(r.count), count + r.count)
    });
    if count < TRACK_RECORD_MIN_COUNT {
        return 0.0;
    }
    (1.0 - sum / f64::from(count)).clamp(0.0, 1.0)
}

/// The complexity policy. Invariant (checked by the config compiler): `thresholds` and
/// `max_tokens` have one entry per tier but the last, and thresholds ascend.
#[derive(Debug, Clone, PartialEq)]
pub struct ComplexityPolicy {
    weights: ComplexityWeights,
    thresholds: Vec<f64>,
    max_tokens: Vec<Option<u32>>,
}

impl ComplexityPolicy {
    pub fn new(
        weights: ComplexityWeights,
        thresholds: Vec<f64>,
        max_tokens: Vec<Option<u32>>,
    ) -> Self {
        Self {
            weights,
            thresholds,
            max_tokens,
        }
    }

    /// Defaults for a catalog of `tiers` tiers: thresholds spread over 0.18..0.60 (see
    /// [`Self::default_thresholds`]), and the cheapest tier limited to prompts of 1,000 tokens.
    pub fn default_for_tiers(tiers: usize) -> Self {
        Self::new(
            ComplexityWeights::default(),
            Self::default_thresholds(tiers),
            (0..tiers.saturating_sub(1))
                .map(|tier| (tier == 0).then_some(1_000))
                .collect(),
        )
    }

    /// `tiers - 1` ascending thresholds spread over 0.18..=0.60; with two tiers, 0.35. With
    /// the default weights a short factual question scores about 0.15 and a short summary
    /// request about 0.22, an ordinary question about 0.31, code or maths without reasoning
    /// cues about 0.55, and design work or maths with reasoning cues 0.60 and more: so three
    /// tiers take them cheapest, middle, middle, middle and top.
    pub fn default_thresholds(tiers: usize) -> Vec<f64> {
        let n = tiers.saturating_sub(1);
        match n {
            0 => Vec::new(),
            1 => vec![0.35],
            _ => (0..n)
                .map(|i| 0.18 + 0.42 * i as f64 / (n - 1) as f64)
                .collect(),
        }
    }

    pub fn weights(&self) -> &ComplexityWeights {
        &self.weights
    }

    pub fn thresholds(&self) -> &[f64] {
        &self.thresholds
    }

    /// Token limit per tier but the last; `None` is no limit.
    pub fn max_tokens(&self) -> &[Option<u32>] {
        &self.max_tokens
    }
}

impl Policy for ComplexityPolicy {
    fn name(&self) -> &str {
        "complexity"
    }

    /// A bias `b` lowers every threshold by `b` (more requests reach stronger tiers when
    /// `b > 0`), clamped to [0, 1].
    fn choose(&self, input: &PolicyInput<'_>, _rng: &mut dyn RngCore) -> Choice {
        let score = self.weights.score(input.signals);
        let tokens = input.signals.prompt_tokens;
        let top = input.catalog.top_tier();
        let shifted = |t: f64| (t - input.bias).clamp(0.0, 1.0);
        for (tier, threshold) in self.thresholds.iter().enumerate().take(top) {
            let threshold = shifted(*threshold);
            let fits = self
                .max_tokens
                .get(tier)
                .copied()
                .flatten()
                .is_none_or(|limit| tokens <= limit);
            if score < threshold && fits {
                return Choice::new(
                    Target::Tier(tier),
                    format!("complexity:tier-{tier}"),
                    format!(
                        "complexity {score:.2} is below {threshold:.2} and {tokens} tokens fit, so tier `{}`",
                        input.catalog.tiers()[tier]
                    ),
                )
                .scored(Some(score), Some(threshold));
            }
        }
        let threshold = self.thresholds.last().copied().map(shifted);
        Choice::new(
            Target::Tier(top),
            format!("complexity:tier-{top}"),
            format!(
                "complexity {score:.2} (with {tokens} tokens) fits no lower tier, so tier `{}`",
                input.catalog.tiers()[top]
            ),
        )
        .scored(Some(score), threshold)
    }

    fn steerable(&self) -> bool {
        !self.thresholds.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::TrackRecord;
    use crate::request::{ChatInput, RequestContext};
    use crate::signals::SignalExtractor;

    #[test]
    fn a_bad_track_record_raises_the_score_only_when_weighted_and_well_attested() {
        let extractor = SignalExtractor::new().unwrap();
        let mut s = extractor.extract(
            &ChatInput::from_prompt("What is the capital of France?"),
            &RequestContext::default(),
        );
        let plain = ComplexityWeights::default();
        let weighted = ComplexityWeights {
            track_record: 0.5,
            ..plain
        };
        let before = weighted.score(&s);
        s.track_record = vec![TrackRecord {
            model: "small".into(),
            mean_score: 0.0,
            count: 2,
        }];
        assert_eq!(weighted.score(&s), before, "two ratings are not enough");
        s.track_record[0].count = 5;
        assert!(weighted.score(&s) > before, "a bad record raises the score");
        let mut without = s.clone();
        without.track_record.clear();
        assert_eq!(
            plain.score(&s),
            plain.score(&without),
            "unweighted, it changes nothing"
        );
    }
}
