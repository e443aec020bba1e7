//! The bandit's context: what it knows of a request when it chooses. Two parts:
//!
//! - *dense*: the request's signals (size, turns, reasoning, task, domain, code, modality)
//!   after an intercept, a short fixed vector the bandit keeps a full linear model of (and so
//!   a confidence width for exploration);
//! - *words*: the query's lower-cased words and word pairs, hashed into a large sparse vector,
//!   so that it can learn which kinds of request a cheap model answers well without a
//!   vocabulary fitted in advance.
//!
//! A decision records its context as one flat vector ([`Context::encode`]): the dense values,
//! then `(bucket, signed count)` pairs (whole numbers, short in the JSON record; the unit-length
//! values are recomputed from them), so that the feedback on it can be learned from later.

use crate::request::{ChatInput, Role};
use crate::signals::{Domain, Signals, TaskType};

/// Dense features: the intercept and the signals.
pub const DENSE: usize = 1 + 7 + CONTEXT_TASKS.len() + Domain::ALL.len();

/// The task types with a column of their own, fixed so that a learned state keeps its
/// dimension when signals gain task types; a newer type shares the column of the one it
/// refines ([`context_task`]).
const CONTEXT_TASKS: [TaskType; 9] = [
    TaskType::Classification,
    TaskType::Sentiment,
    TaskType::Extraction,
    TaskType::Translation,
    TaskType::Summarization,
    TaskType::CodeGeneration,
    TaskType::Math,
    TaskType::CreativeWriting,
    TaskType::OpenEnded,
];

/// The context column of a task type.
fn context_task(task: TaskType) -> TaskType {
    match task {
        TaskType::Design | TaskType::FactualQuestion => TaskType::OpenEnded,
        other => other,
    }
}

/// A request's context.
#[derive(Debug, Clone, PartialEq)]
pub struct Context {
    pub dense: Vec<f32>,
    /// Each arm's prior quality for this request, from a learned model file (empty without
    /// one): what the arm models learn corrections to.
    pub offsets: Vec<f32>,
    /// Hashed words: distinct buckets in increasing order, values of unit length overall.
    pub words: Vec<(u32, f32)>,
    /// The same buckets' signed counts, which the record keeps.
    counts: Vec<(u32, f32)>,
}

impl Context {
    pub fn of(signals: &Signals, request: &ChatInput, buckets: u32) -> Self {
        let counts = if buckets == 0 {
            Vec::new()
        } else {
            hash_words(query(request), buckets)
        };
        Self::from_parts(dense(signals), Vec::new(), counts)
    }

    /// The same context with each arm's prior quality.
    pub fn with_offsets(mut self, offsets: Vec<f32>) -> Self {
        self.offsets = offsets;
        self
    }

    fn from_parts(dense: Vec<f32>, offsets: Vec<f32>, counts: Vec<(u32, f32)>) -> Self {
        let norm = counts.iter().map(|(_, v)| v * v).sum::<f32>().sqrt();
        let words = counts
            .iter()
            .map(|&(b, v)| (b, if norm > 0.0 { v / norm } else { 0.0 }))
            .collect();
        Self {
            dense,
            offsets,
            words,
            counts,
        }
    }

    /// The flat form a decision records: dense values, the number of offsets, the offsets,
    /// then `(bucket, count)` pairs.
    pub fn encode(&self) -> Vec<f32> {
        let mut flat =
            Vec::with_capacity(self.dense.len() + 1 + self.offsets.len() + 2 * self.counts.len());
        flat.extend_from_slice(&self.dense);
        flat.push(self.offsets.len() as f32);
        flat.extend_from_slice(&self.offsets);
        for &(bucket, value) in &self.counts {
            // Buckets are below 2^24, which f32 holds exactly.
            flat.push(bucket as f32);
            flat.push(value);
        }
        flat
    }

    /// A recorded context, if `flat` is one of this shape (else it is another policy's).
    pub fn decode(flat: &[f32], buckets: u32) -> Option<Self> {
        if flat.len() <= DENSE {
            return None;
        }
        let (dense, rest) = flat.split_at(DENSE);
        let arms = rest[0];
        if !(arms >= 0.0 && arms.fract() == 0.0 && (arms as usize) < rest.len()) {
            return None;
        }
        let (offsets, pairs) = rest[1..].split_at(arms as usize);
        if !pairs.len().is_multiple_of(2) || !offsets.iter().all(|v| v.is_finite()) {
            return None;
        }
        let mut counts = Vec::with_capacity(pairs.len() / 2);
        for pair in pairs.chunks_exact(2) {
            let (bucket, value) = (pair[0], pair[1]);
            let whole = bucket >= 0.0 && bucket < buckets as f32 && bucket.fract() == 0.0;
            if !(whole && value.is_finite()) {
                return None;
            }
            counts.push((bucket as u32, value));
        }
        if !dense.iter().all(|v| v.is_finite()) {
            return None;
        }
        Some(Self::from_parts(dense.to_vec(), offsets.to_vec(), counts))
    }
}

fn dense(signals: &Signals) -> Vec<f32> {
    let mut x = Vec::with_capacity(DENSE);
    x.push(1.0);
    let log_scale = |n: u32| ((1.0 + f64::from(n)).ln() / 10.0) as f32;
    x.push(log_scale(signals.prompt_tokens));
    x.push(log_scale(signals.user_tokens));
    x.push(signals.turns.min(10) as f32 / 10.0);
    x.push(signals.reasoning_keywords.len().min(5) as f32 / 5.0);
    x.push(f32::from(u8::from(signals.has_code)));
    x.push(f32::from(u8::from(signals.image_parts > 0)));
    x.push(f32::from(u8::from(!signals.needs.is_empty())));
    x.extend(
        CONTEXT_TASKS
            .iter()
            .map(|t| f32::from(u8::from(context_task(signals.task_type) == *t))),
    );
    x.extend(
        Domain::ALL
            .iter()
            .map(|d| f32::from(u8::from(signals.has_domain(*d)))),
    );
    x
}

/// The user's query: the last user message (the last message when there is none).
pub fn query(request: &ChatInput) -> &str {
    request
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .or_else(|| request.messages.last())
        .map_or("", |m| m.text.as_str())
}

/// FNV-1a, fixed across builds (unlike std's hasher), so a saved state means the same after
/// an upgrade.
fn fnv(seed: u64, text: &str) -> u64 {
    text.bytes().fold(seed, |h, byte| {
        (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// Words of a query the context reads at most: the record keeps their counts, and a
/// megabyte-long prompt must not make a megabyte-long record (nor cost its hashing on every
/// decision). A query's first 2,000 words say what kind of request it is.
pub const MAX_WORDS: usize = 2_000;

/// Signed counts of lower-cased words and adjacent word pairs by hash (zeros dropped).
fn hash_words(text: &str, buckets: u32) -> Vec<(u32, f32)> {
    let mut counts: Vec<(u32, f32)> = Vec::new();
    let mut add = |hash: u64| {
        let bucket = u32::try_from(hash % u64::from(buckets)).unwrap_or(0);
        let sign = if (hash >> 63) == 1 { -1.0 } else { 1.0 };
        counts.push((bucket, sign));
    };
    let mut previous: Option<u64> = None;
    let mut lower = String::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(MAX_WORDS)
    {
        lower.clear();
        lower.extend(word.chars().flat_map(char::to_lowercase));
        let hash = fnv(FNV_OFFSET, &lower);
        add(hash);
        if let Some(before) = previous {
            add(fnv(before ^ 0x9e37_79b9_7f4a_7c15, &lower));
        }
        previous = Some(hash);
    }
    counts.sort_unstable_by_key(|&(bucket, _)| bucket);
    let mut merged: Vec<(u32, f32)> = Vec::with_capacity(counts.len());
    for (bucket, value) in counts {
        match merged.last_mut() {
            Some((last, total)) if *last == bucket => *total += value,
            _ => merged.push((bucket, value)),
        }
    }
    merged.retain(|&(_, v)| v != 0.0);
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::RequestContext;
    use crate::signals::SignalExtractor;
    use proptest::prelude::*;

    fn context(text: &str) -> Context {
        let request = ChatInput::from_prompt(text);
        let signals = SignalExtractor::new()
            .unwrap()
            .extract(&request, &RequestContext::default());
        Context::of(&signals, &request, 1 << 14)
    }

    #[test]
    fn the_context_has_an_intercept_and_unit_length_words() {
        let x = context("Translate 'good morning' into French.");
        assert_eq!(x.dense.len(), DENSE);
        assert_eq!(x.dense[0], 1.0);
        let norm: f32 = x.words.iter().map(|(_, v)| v * v).sum();
        assert!((norm - 1.0).abs() < 1e-5);
        assert!(x.words.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn case_does_not_change_the_words() {
        assert_eq!(
            context("What is the capital of France?").words,
            context("WHAT IS THE CAPITAL OF FRANCE?").words
        );
    }

    #[test]
    fn a_huge_query_is_read_only_so_far() {
        let huge = "lorem ipsum dolor sit amet ".repeat(100_000);
        let x = context(&huge);
        let counted: f32 = x.counts.iter().map(|(_, v)| v.abs()).sum();
        // At most MAX_WORDS words and as many pairs, whatever the collisions cancel.
        assert!(counted <= (2 * MAX_WORDS) as f32, "{counted}");
        assert!(x.encode().len() < 2 * (2 * MAX_WORDS) + DENSE + 2);
    }

    #[test]
    fn word_order_matters_through_pairs() {
        assert_ne!(
            context("dog bites man").words,
            context("man bites dog").words
        );
    }

    proptest! {
        #[test]
        fn contexts_round_trip_and_other_shapes_are_refused(text in "\\PC{0,200}") {
            let x = context(&text);
            prop_assert_eq!(Context::decode(&x.encode(), 1 << 14), Some(x.clone()));
            let mut odd = x.encode();
            odd.push(1.0);
            prop_assert_eq!(Context::decode(&odd, 1 << 14), None);
            prop_assert_eq!(Context::decode(&x.encode()[..DENSE - 1], 1 << 14), None);
            let with = x.clone().with_offsets(vec![0.25, 0.75]);
            prop_assert_eq!(Context::decode(&with.encode(), 1 << 14), Some(with));
        }
    }
}
