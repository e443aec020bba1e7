//! routewise-store: what routewise remembers. Decision records (one per request), feedback,
//! the upgrade memory's entries and the learning policies' state, behind the [`Store`] trait.
//!
//! [`SqlStore`] implements it over SQL, for SQLite (the embedded default: one file, WAL) and
//! PostgreSQL (several replicas), with the same portable SQL and one set of versioned
//! migrations applied at open ([`migrations`]). A database migrated by a newer routewise is
//! refused with a message that says so. Similarity, scoring and decisions are not here: they
//! are `routewise-core` functions that take what the store keeps as values.

mod error;
pub mod migrations;
mod records;
pub mod rollups;
mod sql;
pub mod writer;

pub use error::StoreError;
pub use records::{
    DecisionRecord, FeedbackRecord, FeedbackSource, LatencySample, RatedRecord, RecentQuery,
    RecordQuery, ScoredQuery, ScoredRecord, UpgradeRecord,
};
pub use rollups::RollupRow;
pub use sql::SqlStore;
pub use writer::{RecordWriter, WriterSettings, WriterStats};

use futures::future::BoxFuture;

/// What a store answers with.
pub type StoreResult<T> = Result<T, StoreError>;

/// A saved state and its version (raised by every save).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedState {
    pub state: String,
    pub version: i64,
}

/// Spend by client key (`None`: requests without one).
pub type SpendByKey = Vec<(Option<String>, f64)>;

/// The storage routewise uses. Every write is committed when its future resolves: an
/// acknowledged write survives a crash of the process.
pub trait Store: std::fmt::Debug + Send + Sync {
    /// Which backend, for logs and `/readyz` (`sqlite`, `postgres`).
    fn backend(&self) -> &'static str;

    /// Writes decision records in one transaction (a record already stored is replaced), and
    /// their rollups with them.
    fn write_records<'a>(&'a self, records: &'a [DecisionRecord])
    -> BoxFuture<'a, StoreResult<()>>;

    /// The record of one request.
    fn record<'a>(
        &'a self,
        request_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<DecisionRecord>>>;

    /// Records matching `query`, oldest first, each with its latest feedback score (for
    /// `routewise report` and `replay`, which page through them).
    fn scored_records<'a>(
        &'a self,
        query: &'a ScoredQuery,
    ) -> BoxFuture<'a, StoreResult<Vec<ScoredRecord>>>;

    /// Records matching `query`, newest first.
    fn records<'a>(
        &'a self,
        query: &'a RecordQuery,
    ) -> BoxFuture<'a, StoreResult<Vec<DecisionRecord>>>;

    /// A page of the records created in `query`'s range, newest first, each with its latest
    /// feedback score (the dashboard's recent decisions).
    fn recent<'a>(
        &'a self,
        query: &'a RecentQuery,
    ) -> BoxFuture<'a, StoreResult<Vec<ScoredRecord>>>;

    /// The rollup rows of one width (see [`rollups::WIDTHS_MS`]) whose buckets start in
    /// `[since_unix_ms, until_unix_ms)`.
    fn rollups(
        &self,
        width_ms: i64,
        since_unix_ms: i64,
        until_unix_ms: i64,
    ) -> BoxFuture<'_, StoreResult<Vec<RollupRow>>>;

    /// The latencies of the newest `limit` records created in `[since_unix_ms, until_unix_ms)`.
    fn latency_sample(
        &self,
        since_unix_ms: i64,
        until_unix_ms: i64,
        limit: usize,
    ) -> BoxFuture<'_, StoreResult<Vec<LatencySample>>>;

    /// Adds one feedback (the history of a request's feedback is kept; the latest counts, in
    /// the rollups too).
    fn add_feedback(&self, feedback: FeedbackRecord) -> BoxFuture<'_, StoreResult<()>>;

    /// Every feedback on one request, oldest first.
    fn feedback<'a>(
        &'a self,
        request_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Vec<FeedbackRecord>>>;

    /// The latest score of each rated request with a fingerprint, newest first, at most
    /// `limit` (to rebuild the track record at start).
    fn rated(&self, limit: usize) -> BoxFuture<'_, StoreResult<Vec<RatedRecord>>>;

    /// Rated requests whose prompt was logged, with their latest score per model, newest first
    /// (for `routewise export`).
    fn rated_with_prompts(
        &self,
        since_unix_ms: i64,
    ) -> BoxFuture<'_, StoreResult<Vec<(DecisionRecord, FeedbackRecord)>>>;

    /// Remembers an upgrade (replacing one for the same rated request).
    fn put_upgrade(&self, upgrade: UpgradeRecord) -> BoxFuture<'_, StoreResult<()>>;

    /// Forgets the upgrade a rated request caused.
    fn release_upgrade<'a>(&'a self, rated_request: &'a str) -> BoxFuture<'a, StoreResult<()>>;

    /// Upgrades still in force at `now_unix_ms`, oldest first; expired ones are deleted.
    fn live_upgrades(&self, now_unix_ms: i64) -> BoxFuture<'_, StoreResult<Vec<UpgradeRecord>>>;

    /// Saves a learning policy's state whatever is stored (a new version of it).
    fn save_state<'a>(
        &'a self,
        policy: &'a str,
        state: &'a str,
        now_unix_ms: i64,
    ) -> BoxFuture<'a, StoreResult<()>>;

    /// A learning policy's saved state.
    fn load_state<'a>(&'a self, policy: &'a str) -> BoxFuture<'a, StoreResult<Option<String>>>;

    /// A learning policy's saved state with its version (for [`Store::save_state_over`]).
    fn load_versioned_state<'a>(
        &'a self,
        policy: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<VersionedState>>>;

    /// The version of a policy's saved state, if one is saved (cheap: replicas poll it).
    fn state_version<'a>(&'a self, policy: &'a str) -> BoxFuture<'a, StoreResult<Option<i64>>>;

    /// Saves `state` only if the stored version is still `over` (`None`: nothing is stored):
    /// the new version, or `None` when another writer got there first (merge with what it
    /// saved and try again). So concurrent writers never overwrite each other's updates.
    fn save_state_over<'a>(
        &'a self,
        policy: &'a str,
        state: &'a str,
        over: Option<i64>,
        now_unix_ms: i64,
    ) -> BoxFuture<'a, StoreResult<Option<i64>>>;

    /// What requests since `since_unix_ms` cost, by client key (`None`: requests without
    /// one): budgets restore their period's spend from it at start.
    fn spend_since(&self, since_unix_ms: i64) -> BoxFuture<'_, StoreResult<SpendByKey>>;

    /// Checks the database is sound (SQLite's integrity check; PostgreSQL: a round trip).
    fn check(&self) -> BoxFuture<'_, StoreResult<()>>;
}
