//! Where a finished request goes besides the log line: its decision record, queued for the
//! store's writer (off the request path), and its summary in memory's recent decisions, so
//! that feedback on it can be acted on even before the record is written.

use crate::control::Served;
use crate::execute::Attempt;
use crate::memory::{Memory, RatedDecision};
use crate::{Gateway, Runtime};
use routewise_core::memory::Fingerprint;
use routewise_core::{Decision, ModelSpec};
use routewise_store::{DecisionRecord, RecordWriter};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The records' destination, cheap to clone into every request's ledger.
#[derive(Debug, Clone)]
pub struct RecordSink {
    /// `None` without a store: nothing is kept.
    pub writer: Option<RecordWriter>,
    pub memory: Arc<Memory>,
    /// Keep the query text in the record (`[store] log_prompts`).
    pub log_prompts: bool,
    pub accounting: Accounting,
}

/// What a finished request is counted against besides its record: the controllers (share
/// target, budgets) and each model's failure rate.
#[derive(Debug, Clone)]
pub struct Accounting {
    pub gateway: Gateway,
    pub runtime: Arc<Runtime>,
}

impl Accounting {
    fn count(&self, finished: &Finished<'_>, fallback: bool) {
        self.gateway.alerts().request(
            &self.runtime.config.alerts,
            self.gateway.now_unix_ms(),
            crate::alerts::sample(
                finished.cost_usd,
                finished.latency_ms,
                finished.status,
                finished.outcome,
                fallback,
            ),
        );
        let controllers = self.gateway.controllers();
        for attempt in finished.attempts {
            controllers.called(&attempt.model, attempt.outcome != "ok");
        }
        let config = &self.runtime.config;
        if config.control.target.is_none() && config.control.budget.is_none() {
            return;
        }
        let Some(model) = finished.model else {
            return;
        };
        let decision = finished.decision;
        let steerable = decision
            .and_then(|d| config.routing.policies.get(&d.policy))
            .is_some_and(|entry| entry.policy.steerable());
        let now = self.gateway.now_unix_ms();
        controllers.served(
            config,
            Served {
                key: finished.key,
                strong: model.tier >= config.catalog.top_tier(),
                steerable,
                cost_usd: finished.cost_usd,
                now_unix_ms: now,
            },
        );
        if let Some(budget) = &config.control.budget {
            let (start, _) = routewise_core::control::period_bounds(now, budget.period);
            self.gateway
                .spend_book()
                .add(start, finished.key, finished.cost_usd);
        }
        if config.control.target.is_some() {
            crate::persist::schedule_controller_save(&self.gateway);
        }
    }
}

/// What a record keeps of the query: its fingerprint and hash, and its text when the operator
/// opted in.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryFacts {
    pub fingerprint: Fingerprint,
    /// SHA-256 of the query text, hex.
    pub hash: String,
    pub text: Option<String>,
}

impl QueryFacts {
    pub fn of(text: &str, fingerprint: Fingerprint, log_prompts: bool) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let digest = Sha256::digest(text.as_bytes());
        let mut hash = String::with_capacity(64);
        for byte in digest {
            hash.push(char::from(HEX[usize::from(byte >> 4)]));
            hash.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        Self {
            fingerprint,
            hash,
            text: log_prompts.then(|| text.to_owned()),
        }
    }
}

/// A finished request, as the ledger knows it.
#[derive(Debug)]
pub struct Finished<'a> {
    pub request_id: &'a str,
    pub created_unix_ms: i64,
    pub key: Option<&'a str>,
    pub route: Option<&'a str>,
    pub decision: Option<&'a Decision>,
    pub model: Option<&'a ModelSpec>,
    pub outcome: &'a str,
    pub status: u16,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cost_usd: f64,
    pub baseline_cost_usd: f64,
    pub latency_ms: f64,
    pub overhead_ms: f64,
    pub query: Option<&'a QueryFacts>,
    pub attempts: &'a [Attempt],
    /// The request's log line, secrets masked.
    pub line: String,
}

impl Finished<'_> {
    /// Whether another model was called before the one that served.
    fn fell_back(&self) -> bool {
        self.attempts
            .iter()
            .any(|a| self.model.is_some_and(|m| a.model != m.name))
    }
}

impl RecordSink {
    /// Queues the record and notes the decision for feedback.
    pub fn keep(&self, finished: Finished<'_>) {
        let fallback = finished.fell_back();
        self.accounting.count(&finished, fallback);
        // Without a store there is nothing to keep, and feedback is refused anyway.
        let Some(writer) = &self.writer else {
            return;
        };
        let decision = finished.decision;
        self.memory.note_decision(RatedDecision {
            request_id: finished.request_id.to_owned(),
            key_name: finished.key.map(str::to_owned),
            model: finished.model.map(|m| m.name.clone()),
            tier: finished.model.map(|m| m.tier),
            fingerprint: finished.query.map(|q| q.fingerprint),
            upgraded_by: decision.and_then(|d| d.upgraded_by()).map(str::to_owned),
            policy: decision.map(|d| d.policy.clone()),
            policy_features: decision
                .map(|d| d.policy_features.clone())
                .unwrap_or_default(),
            cost_usd: finished.cost_usd,
        });
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        writer.push(DecisionRecord {
            request_id: finished.request_id.to_owned(),
            created_unix_ms: finished.created_unix_ms,
            key_name: finished.key.map(str::to_owned),
            route: finished.route.map(str::to_owned),
            policy: decision.map(|d| d.policy.clone()),
            reason: decision.map(|d| d.reason.clone()),
            experiment: decision.and_then(|d| d.experiment.clone()),
            arm: decision.and_then(|d| d.arm.clone()),
            model: finished.model.map(|m| m.name.clone()),
            tier: finished
                .model
                .map(|m| i64::try_from(m.tier).unwrap_or(i64::MAX)),
            propensity: decision.map_or(1.0, |d| d.propensity),
            outcome: finished.outcome.to_owned(),
            status: i64::from(finished.status),
            prompt_tokens: count(finished.prompt_tokens),
            completion_tokens: count(finished.completion_tokens),
            cost_usd: finished.cost_usd,
            baseline_cost_usd: finished.baseline_cost_usd,
            latency_ms: finished.latency_ms,
            overhead_ms: finished.overhead_ms,
            fingerprint: finished.query.map(|q| q.fingerprint.to_bytes()),
            prompt_hash: finished.query.map(|q| q.hash.clone()),
            prompt: finished.query.and_then(|q| q.text.clone()),
            upgraded_by: decision.and_then(|d| d.upgraded_by()).map(str::to_owned),
            fallback,
            body: finished.line,
        });
    }
}
