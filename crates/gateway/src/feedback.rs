//! `POST /v1/feedback`: how a request went, from its caller, a judge or an evaluation.
//!
//! `{"request_id", "score": 0..1 | "thumbs": "up" | "down", "comment"?, "source"?:
//! "user" | "judge" | "eval"}`. Authenticated like chat completions, and a client key rates only
//! its own requests (another key's request is a 404, as an unknown one is). The answer comes
//! only once the feedback is committed to the store, so acknowledged feedback is never lost;
//! then memory learns from it (an upgrade for similar requests, or the release of one) and the
//! metrics count it. Every error is OpenAI-shaped.

use crate::error::GatewayError;
use crate::layers::Admitted;
use crate::memory::{RatedDecision, Remembered};
use crate::shared::MemoryChange;
use crate::{Gateway, metrics};
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use routewise_core::memory::{self, Fingerprint};
use routewise_core::policy::Outcome;
use routewise_store::{FeedbackRecord, FeedbackSource, StoreError, UpgradeRecord};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Longest comment kept.
pub const MAX_COMMENT_CHARS: usize = 4096;
/// Longest body read.
const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedbackRequest {
    request_id: String,
    score: Option<f64>,
    thumbs: Option<String>,
    comment: Option<String>,
    source: Option<String>,
}

/// The answer to a committed feedback.
#[derive(Debug, Serialize)]
pub struct FeedbackAck {
    object: &'static str,
    id: String,
    request_id: String,
    score: f64,
    source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    created: u64,
}

/// Serves `POST /v1/feedback`.
pub async fn feedback(gateway: &Gateway, admitted: Admitted, body: Body) -> Response {
    match accept(gateway, &admitted, body).await {
        Ok(ack) => axum::Json(ack).into_response(),
        Err(err) => err.into_response(),
    }
}

async fn accept(
    gateway: &Gateway,
    admitted: &Admitted,
    body: Body,
) -> Result<FeedbackAck, GatewayError> {
    let request = parse(body).await?;
    let (score, source) = validate(&request)?;
    let rating = Rating {
        request_id: &request.request_id,
        score,
        source,
        comment: request.comment.clone(),
        key_name: admitted.caller.key_name.as_deref(),
        authenticated: admitted.runtime.keys.is_enabled(),
    };
    submit(gateway, rating).await
}

/// One validated rating, from a client or from `routewise simulate`.
#[derive(Debug, Clone)]
pub struct Rating<'a> {
    pub request_id: &'a str,
    pub score: f64,
    pub source: FeedbackSource,
    pub comment: Option<String>,
    /// The rating client's key: with keys enabled, it rates only its own requests.
    pub key_name: Option<&'a str>,
    pub authenticated: bool,
}

/// Commits a rating, then lets memory, the controllers and the deciding policy learn from it.
pub async fn submit(gateway: &Gateway, rating: Rating<'_>) -> Result<FeedbackAck, GatewayError> {
    let Some(store) = gateway.store() else {
        return Err(GatewayError::StoreUnavailable(
            "this gateway keeps no store ([store] url = \"none\"), so it cannot take feedback"
                .to_owned(),
        ));
    };
    let rated = find(gateway, &rating).await?;
    let now = gateway.now_unix_ms();
    let record = FeedbackRecord {
        id: uuid::Uuid::now_v7().to_string(),
        request_id: rated.request_id.clone(),
        created_unix_ms: i64::try_from(now).unwrap_or(i64::MAX),
        score: rating.score,
        source: rating.source,
        comment: rating.comment.clone(),
        key_name: rating.key_name.map(str::to_owned),
    };
    store
        .store
        .add_feedback(record.clone())
        .await
        .map_err(store_failed)?;
    learn(gateway, &rated, rating.score, rating.source, now, store).await;
    Ok(FeedbackAck {
        object: "feedback",
        id: record.id,
        request_id: record.request_id,
        score: rating.score,
        source: rating.source.as_str(),
        model: rated.model.clone(),
        created: now / 1000,
    })
}

async fn parse(body: Body) -> Result<FeedbackRequest, GatewayError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| GatewayError::BodyTooLarge {
            limit: MAX_BODY_BYTES,
        })?;
    serde_json::from_slice(&bytes).map_err(|err| GatewayError::BadRequest {
        param: None,
        message: format!(
            "the body is not a feedback object {{\"request_id\", \"score\" or \"thumbs\", \"comment\"?, \"source\"?}}: {err}"
        ),
    })
}

fn invalid(param: &'static str, message: impl Into<String>) -> GatewayError {
    GatewayError::InvalidField {
        param,
        message: message.into(),
    }
}

fn validate(request: &FeedbackRequest) -> Result<(f64, FeedbackSource), GatewayError> {
    if request.request_id.trim().is_empty() {
        return Err(invalid(
            "request_id",
            "`request_id` is empty: send the x-routewise-request-id of the answer you rate",
        ));
    }
    let score = match (request.score, request.thumbs.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(invalid("score", "send `score` or `thumbs`, not both"));
        }
        (None, None) => {
            return Err(invalid(
                "score",
                "send a `score` from 0 to 1, or `thumbs`: \"up\" or \"down\"",
            ));
        }
        (Some(score), None) if !(score.is_finite() && (0.0..=1.0).contains(&score)) => {
            return Err(invalid(
                "score",
                format!("`score` is {score}; it must be from 0 to 1"),
            ));
        }
        (Some(score), None) => score,
        (None, Some("up")) => 1.0,
        (None, Some("down")) => 0.0,
        (None, Some(other)) => {
            return Err(invalid(
                "thumbs",
                format!("`thumbs` is {other:?}; it must be \"up\" or \"down\""),
            ));
        }
    };
    if let Some(comment) = &request.comment
        && comment.chars().count() > MAX_COMMENT_CHARS
    {
        return Err(invalid(
            "comment",
            format!("`comment` is longer than {MAX_COMMENT_CHARS} characters"),
        ));
    }
    let source = match request.source.as_deref() {
        None => FeedbackSource::User,
        Some(name) => FeedbackSource::parse(name).ok_or_else(|| {
            invalid(
                "source",
                format!("`source` is {name:?}; it must be \"user\", \"judge\" or \"eval\""),
            )
        })?,
    };
    Ok((score, source))
}

/// The rated request: from the recent decisions, else from the store; another key's request
/// is reported as unknown.
async fn find(gateway: &Gateway, rating: &Rating<'_>) -> Result<Arc<RatedDecision>, GatewayError> {
    let request_id = rating.request_id;
    let recent = gateway.memory().recent(request_id);
    let rated = match recent {
        Some(rated) => Some(rated),
        None => match gateway.store() {
            Some(store) => stored_record(store, request_id)
                .await?
                .map(|record| Arc::new(rated_of(record))),
            None => None,
        },
    };
    match rated {
        Some(rated) if !rating.authenticated || rated.key_name.as_deref() == rating.key_name => {
            Ok(rated)
        }
        _ => Err(GatewayError::UnknownRequest {
            request_id: request_id.to_owned(),
        }),
    }
}

/// Pauses before looking again for a record another replica may not have written yet: behind
/// a load balancer, feedback can reach a replica other than the one that served the request
/// before that one's writer (which batches for 50 ms) has committed the record.
const ANOTHER_REPLICAS_RECORD: [Duration; 3] = [
    Duration::from_millis(100),
    Duration::from_millis(200),
    Duration::from_millis(400),
];

/// A request's record from the store; on a shared database, a missing one is looked for again
/// for up to [`ANOTHER_REPLICAS_RECORD`].
async fn stored_record(
    store: &crate::StoreHandle,
    request_id: &str,
) -> Result<Option<routewise_store::DecisionRecord>, GatewayError> {
    let pauses: &[Duration] = if store.store.backend() == "postgres" {
        &ANOTHER_REPLICAS_RECORD
    } else {
        &[]
    };
    let mut found = store.store.record(request_id).await.map_err(store_failed)?;
    for pause in pauses {
        if found.is_some() {
            break;
        }
        tokio::time::sleep(*pause).await;
        found = store.store.record(request_id).await.map_err(store_failed)?;
    }
    Ok(found)
}

fn rated_of(record: routewise_store::DecisionRecord) -> RatedDecision {
    let features = serde_json::from_str::<serde_json::Value>(&record.body)
        .ok()
        .and_then(|body| {
            serde_json::from_value::<Vec<f32>>(body["decision"]["policy_features"].clone()).ok()
        })
        .unwrap_or_default();
    RatedDecision {
        request_id: record.request_id,
        key_name: record.key_name,
        model: record.model,
        tier: record.tier.and_then(|t| usize::try_from(t).ok()),
        fingerprint: record
            .fingerprint
            .as_deref()
            .and_then(Fingerprint::from_bytes),
        upgraded_by: record.upgraded_by,
        policy: record.policy,
        policy_features: features,
        cost_usd: record.cost_usd,
    }
}

fn store_failed(err: StoreError) -> GatewayError {
    GatewayError::StoreUnavailable(err.to_string())
}

/// What committed feedback changes: metrics, memory (and its rows in the store).
async fn learn(
    gateway: &Gateway,
    rated: &RatedDecision,
    score: f64,
    source: FeedbackSource,
    now: u64,
    store: &crate::StoreHandle,
) {
    let runtime = gateway.runtime();
    let config = &runtime.config;
    metrics::feedback(
        rated.model.as_deref().unwrap_or("none"),
        source.as_str(),
        score,
    );
    gateway.controllers().rated(config, score);
    if rated
        .tier
        .is_some_and(|tier| tier < config.catalog.top_tier())
    {
        gateway.alerts().small_feedback(&config.alerts, now, score);
    }
    if config.control.target.is_some() {
        crate::persist::schedule_controller_save(gateway);
    }
    teach_policy(gateway, rated, score);
    let top_tier = config.catalog.top_tier();
    let remembered = gateway
        .memory()
        .learn(rated, score, top_tier, now, &config.memory);
    tell_replicas(gateway, rated, score, &remembered);
    // The upgrade is in force in this process already; persisting it lets it survive a
    // restart. A failure here is logged: the feedback itself is committed.
    let persisted = match remembered {
        Remembered::Upgrade(upgrade) => {
            let (upgrade, fingerprint) = *upgrade;
            metrics::memory("upgrade");
            let to_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            store
                .store
                .put_upgrade(UpgradeRecord {
                    rated_request: upgrade.rated_request,
                    rated_model: upgrade.rated_model,
                    min_tier: i64::try_from(upgrade.min_tier).unwrap_or(i64::MAX),
                    fingerprint: fingerprint.to_bytes(),
                    created_unix_ms: to_i64(upgrade.created_unix_ms),
                    expires_unix_ms: to_i64(upgrade.expires_unix_ms),
                })
                .await
        }
        Remembered::Released { rated_request } => {
            metrics::memory("release");
            store.store.release_upgrade(&rated_request).await
        }
        Remembered::Nothing => Ok(()),
    };
    if let Err(err) = persisted {
        tracing::warn!("memory changed but could not be saved: {err}");
    }
}

/// Carries what memory learned to the other replicas (nothing without shared state).
fn tell_replicas(gateway: &Gateway, rated: &RatedDecision, score: f64, remembered: &Remembered) {
    let bus = gateway.memory_bus();
    if let (Some(fingerprint), Some(model)) = (rated.fingerprint, rated.model.as_ref()) {
        bus.publish(MemoryChange::Rated {
            fingerprint,
            rating: memory::Rating {
                request: rated.request_id.clone(),
                model: model.clone(),
                score,
            },
        });
    }
    match remembered {
        Remembered::Upgrade(upgrade) => bus.publish(MemoryChange::Upgraded {
            fingerprint: upgrade.1,
            upgrade: upgrade.0.clone(),
        }),
        Remembered::Released { rated_request } => bus.publish(MemoryChange::Released {
            rated_request: rated_request.clone(),
        }),
        Remembered::Nothing => {}
    }
}

/// The deciding policy learns from the outcome, if it learns; its state is saved shortly.
fn teach_policy(gateway: &Gateway, rated: &RatedDecision, score: f64) {
    let runtime = gateway.runtime();
    let (Some(policy), Some(model)) = (rated.policy.as_deref(), rated.model.as_deref()) else {
        return;
    };
    let Some(learner) = runtime
        .config
        .routing
        .policies
        .get(policy)
        .and_then(|entry| entry.policy.learner())
    else {
        return;
    };
    let outcome = Outcome {
        model,
        features: &rated.policy_features,
        quality: score,
        cost_usd: rated.cost_usd,
    };
    gateway.learned().observe(policy, learner, &outcome);
    crate::persist::schedule_save(gateway, policy);
}
