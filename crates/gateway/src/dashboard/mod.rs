//! The dashboard: one page at `GET /dashboard` (its assets embedded in the binary, see
//! [`assets`]) and the JSON API under `/v1/dashboard` that it and scripts read ([`api`]):
//! a range's summary, recent decisions with paging, one decision by id.
//!
//! Off the request path: every figure comes from the store's rollups and records, queried one
//! at a time (a pool connection stays free for the record writer and feedback), one summary
//! at a time, and a summary is reused for [`SUMMARY_TTL`], so a dashboard left open, or many
//! of them, costs the gateway a few small queries a second at most.

pub mod api;
pub mod assets;
mod views;

use std::time::Duration;

/// How long a computed summary is served again before it is computed anew.
pub const SUMMARY_TTL: Duration = Duration::from_secs(2);
/// Requests whose latencies make the percentiles (the newest of the range).
pub const LATENCY_SAMPLE: usize = 20_000;
/// Decisions per page at most.
pub const MAX_PAGE: usize = 500;
