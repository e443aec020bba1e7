//! The `[store]` and `[memory]` sections: where routewise remembers what it decided, and how
//! feedback on those decisions changes later ones.
//!
//! No `[store]` section in a config file means the embedded default: an SQLite file
//! `routewise.db` beside the config file, created on first start. `url = "none"` keeps no
//! store (no feedback, no memory).

use crate::error::FieldError;
use serde::Deserialize;
use std::time::Duration;

/// The default store of a config file, relative to its directory.
pub const DEFAULT_STORE: &str = "sqlite://routewise.db";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    /// `sqlite://PATH` (relative to the config file), `sqlite::memory:`, `postgres://...`, or
    /// `none`.
    pub url: Option<String>,
    /// Keep the user's query text with each decision record (off: a hash and a fingerprint).
    pub log_prompts: Option<bool>,
    /// Decision records waiting to be written at most; more are dropped and counted.
    pub queue: Option<usize>,
    /// Records per transaction at most.
    pub batch: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMemory {
    pub enabled: Option<bool>,
    /// Feedback below this makes similar requests go higher; default 0.5.
    pub bad_below: Option<f64>,
    /// How long an upgrade lasts, e.g. "14d", "12h"; default 14 days.
    pub ttl: Option<String>,
    /// How similar (estimated Jaccard of word 1-2 grams, 0..1) a request must be to a rated
    /// one for its upgrade to apply; default 0.6.
    pub similarity: Option<f64>,
    /// Upgrades remembered at most (oldest out first); default 100,000.
    pub max_entries: Option<usize>,
    /// Rated requests the track record averages over; default 20.
    pub track_record_k: Option<usize>,
    /// How similar a rated request must be to count in the track record; default 0.4.
    pub track_record_similarity: Option<f64>,
    /// Rated requests kept for the track record at most; default 100,000.
    pub track_record_entries: Option<usize>,
}

/// The compiled `[store]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// `None`: no store. A relative SQLite path is resolved against the config file when the
    /// config is loaded from one.
    pub url: Option<String>,
    pub log_prompts: bool,
    pub queue: usize,
    pub batch: usize,
}

/// The compiled `[memory]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryConfig {
    pub enabled: bool,
    pub bad_below: f64,
    pub ttl: Duration,
    pub similarity: f64,
    pub max_entries: usize,
    pub track_record_k: usize,
    pub track_record_similarity: f64,
    pub track_record_entries: usize,
}

/// `[store]`; `default_url` applies when the section gives none (a config file's default).
pub(crate) fn compile_store(
    raw: &RawStore,
    default_url: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> StoreConfig {
    let url = match raw.url.as_deref().map(str::trim) {
        Some("none") => None,
        Some(url) => {
            let known = ["sqlite:", "postgres://", "postgresql://"];
            if !known.iter().any(|p| url.starts_with(p)) {
                errors.push(FieldError::new(
                    "store.url",
                    format!("`{url}` is not a store URL: use sqlite://PATH, sqlite::memory:, postgres://USER@HOST/DB, or none"),
                ));
            }
            Some(url.to_owned())
        }
        None => default_url.map(str::to_owned),
    };
    let store = StoreConfig {
        url,
        log_prompts: raw.log_prompts.unwrap_or(false),
        queue: raw.queue.unwrap_or(20_000),
        batch: raw.batch.unwrap_or(100),
    };
    for (field, value) in [("queue", store.queue), ("batch", store.batch)] {
        if value == 0 {
            errors.push(FieldError::new(
                format!("store.{field}"),
                "must be at least 1",
            ));
        }
    }
    store
}

pub(crate) fn compile_memory(raw: &RawMemory, errors: &mut Vec<FieldError>) -> MemoryConfig {
    let mut fraction = |field: &str, value: Option<f64>, default: f64| {
        let value = value.unwrap_or(default);
        if !(0.0..=1.0).contains(&value) {
            errors.push(FieldError::new(
                format!("memory.{field}"),
                format!("{value} is outside 0..1"),
            ));
        }
        value
    };
    let bad_below = fraction("bad_below", raw.bad_below, 0.5);
    let similarity = fraction("similarity", raw.similarity, 0.6);
    let track_record_similarity =
        fraction("track_record_similarity", raw.track_record_similarity, 0.4);
    let ttl = match raw.ttl.as_deref() {
        None => Duration::from_secs(14 * 24 * 3600),
        Some(text) => match humantime::parse_duration(text) {
            Ok(ttl) if !ttl.is_zero() => ttl,
            Ok(_) => {
                errors.push(FieldError::new("memory.ttl", "must be longer than 0"));
                Duration::from_secs(1)
            }
            Err(err) => {
                errors.push(FieldError::new(
                    "memory.ttl",
                    format!("`{text}` is not a duration such as \"14d\" or \"12h\": {err}"),
                ));
                Duration::from_secs(1)
            }
        },
    };
    let memory = MemoryConfig {
        enabled: raw.enabled.unwrap_or(true),
        bad_below,
        ttl,
        similarity,
        max_entries: raw.max_entries.unwrap_or(100_000),
        track_record_k: raw.track_record_k.unwrap_or(20),
        track_record_similarity,
        track_record_entries: raw.track_record_entries.unwrap_or(100_000),
    };
    for (field, value) in [
        ("max_entries", memory.max_entries),
        ("track_record_k", memory.track_record_k),
        ("track_record_entries", memory.track_record_entries),
    ] {
        if value == 0 {
            errors.push(FieldError::new(
                format!("memory.{field}"),
                "must be at least 1",
            ));
        }
    }
    memory
}
