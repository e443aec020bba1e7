//! [`Store`] over SQL: SQLite or PostgreSQL through sqlx's `Any` driver, with portable SQL
//! (`$N` placeholders, `ON CONFLICT` upserts, `BIGINT` / `DOUBLE PRECISION` / `TEXT` /
//! `BYTEA`), so both backends run the same statements and pass the same contract suite.

use crate::migrations::{LATEST, migrator};
use crate::records::{
    DecisionRecord, FeedbackRecord, FeedbackSource, LatencySample, RatedRecord, RecentQuery,
    RecordQuery, ScoredQuery, ScoredRecord, UpgradeRecord,
};
use crate::rollups::{self, Contribution, RollupRow};
use crate::{Store, StoreError, StoreResult};
use futures::future::BoxFuture;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::MigrateError;
use sqlx::{AnyPool, AssertSqlSafe, Executor, Row};
use std::sync::Once;
use std::time::Duration;

/// Columns of `decisions`, in the order [`bind_record`] binds them.
const RECORD_COLUMNS: [&str; 25] = [
    "request_id",
    "created_ms",
    "key_name",
    "route",
    "policy",
    "reason",
    "experiment",
    "arm",
    "model",
    "tier",
    "propensity",
    "outcome",
    "status",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "baseline_cost_usd",
    "latency_ms",
    "overhead_ms",
    "fingerprint",
    "prompt_hash",
    "prompt",
    "upgraded_by",
    "fallback",
    "body",
];

/// Records per INSERT statement (25 x 100 = 2,500 parameters, far below either backend's
/// limit). Measured on SQLite with `?` placeholders (`cargo bench -p routewise-store --bench
/// writer`, records/s): 10 rows 43k, 50 rows 60k, 100 rows 71k, 200 rows 69k.
const ROWS_PER_INSERT: usize = 100;

/// Splits `records` into INSERTs of [`ROWS_PER_INSERT`] rows, then the remainder in powers of
/// two. Every distinct row count is its own SQL text, which the connection prepares and keeps
/// in its statement cache: a remainder of any size would put up to a hundred statements of up
/// to 2,400 parameters in each connection's cache (measured: +45 MB of RSS under load against
/// +8 MB without a store), where these sizes make eight.
fn insert_chunks<T>(records: &[T]) -> impl Iterator<Item = &[T]> {
    let mut rest = records;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let rows = if rest.len() >= ROWS_PER_INSERT {
            ROWS_PER_INSERT
        } else {
            1 << rest.len().ilog2()
        };
        let (chunk, tail) = rest.split_at(rows);
        rest = tail;
        Some(chunk)
    })
}

/// A store on SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: &'static str,
    /// The URL without its password, for messages.
    target: String,
}

impl SqlStore {
    /// Opens (creating an SQLite file if need be) and migrates the store at `url`:
    /// `sqlite://PATH`, `sqlite::memory:` (gone with the process) or `postgres://...`.
    pub async fn open(url: &str) -> StoreResult<Self> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let target = without_password(url);
        let (backend, url, options) = if url == "sqlite::memory:" {
            // Each connection to `:memory:` is its own database: exactly one, kept open.
            let options = AnyPoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
            ("sqlite", url.to_owned(), options)
        } else if url.starts_with("sqlite:") {
            let url = if url.contains("mode=") {
                url.to_owned()
            } else if url.contains('?') {
                format!("{url}&mode=rwc")
            } else {
                format!("{url}?mode=rwc")
            };
            (
                "sqlite",
                url,
                AnyPoolOptions::new()
                    .max_connections(2)
                    .test_before_acquire(false),
            )
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (
                "postgres",
                url.to_owned(),
                AnyPoolOptions::new().max_connections(8),
            )
        } else {
            return Err(StoreError::BadUrl { url: target });
        };
        let pool = options
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if backend == "sqlite" {
                        // WAL: readers do not block the writer, and a committed transaction
                        // survives the process being killed. NORMAL is durable in WAL mode
                        // against process crashes (not power loss, which FULL would cover at a
                        // cost on every commit).
                        for pragma in [
                            "PRAGMA journal_mode = WAL",
                            "PRAGMA synchronous = NORMAL",
                            "PRAGMA busy_timeout = 5000",
                            "PRAGMA foreign_keys = ON",
                        ] {
                            connection.execute(pragma).await?;
                        }
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await
            .map_err(|source| StoreError::Open {
                target: target.clone(),
                source,
            })?;
        migrate(&pool, &target).await?;
        Ok(Self {
            pool,
            backend,
            target,
        })
    }

    /// The store's URL without its password.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Closes the pool; pending writes finish first.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

async fn migrate(pool: &AnyPool, target: &str) -> StoreResult<()> {
    match migrator().run(pool).await {
        Ok(()) => Ok(()),
        Err(MigrateError::VersionMissing(found)) => Err(StoreError::NewerSchema {
            target: target.to_owned(),
            found,
            known: LATEST,
        }),
        Err(err) => Err(StoreError::Migrate {
            target: target.to_owned(),
            detail: err.to_string(),
        }),
    }
}

/// `postgres://user:secret@host/db` -> `postgres://user@host/db`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or("");
            format!("{scheme}://{user}@{host}")
        }
        None => url.to_owned(),
    }
}

/// The INSERT of `rows` records. SQLite gets anonymous `?` placeholders: its driver looks a
/// numbered one's name up for every bound value, which cost as much as the insert itself.
fn insert_sql(rows: usize, numbered: bool) -> String {
    let columns = RECORD_COLUMNS.join(", ");
    let width = RECORD_COLUMNS.len();
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let placeholders: Vec<String> = (1..=width)
                .map(|col| {
                    if numbered {
                        format!("${}", row * width + col)
                    } else {
                        "?".to_owned()
                    }
                })
                .collect();
            format!("({})", placeholders.join(", "))
        })
        .collect();
    let updates: Vec<String> = RECORD_COLUMNS[1..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    format!(
        "INSERT INTO decisions ({columns}) VALUES {} ON CONFLICT (request_id) DO UPDATE SET {}",
        values.join(", "),
        updates.join(", ")
    )
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

fn bind_record<'q>(query: AnyQuery<'q>, r: &'q DecisionRecord) -> AnyQuery<'q> {
    query
        .bind(r.request_id.as_str())
        .bind(r.created_unix_ms)
        .bind(r.key_name.as_deref())
        .bind(r.route.as_deref())
        .bind(r.policy.as_deref())
        .bind(r.reason.as_deref())
        .bind(r.experiment.as_deref())
        .bind(r.arm.as_deref())
        .bind(r.model.as_deref())
        .bind(r.tier)
        .bind(r.propensity)
        .bind(r.outcome.as_str())
        .bind(r.status)
        .bind(r.prompt_tokens)
        .bind(r.completion_tokens)
        .bind(r.cost_usd)
        .bind(r.baseline_cost_usd)
        .bind(r.latency_ms)
        .bind(r.overhead_ms)
        .bind(r.fingerprint.as_deref())
        .bind(r.prompt_hash.as_deref())
        .bind(r.prompt.as_deref())
        .bind(r.upgraded_by.as_deref())
        .bind(i64::from(r.fallback))
        .bind(r.body.as_str())
}

fn record_of(row: &AnyRow) -> StoreResult<DecisionRecord> {
    Ok(DecisionRecord {
        request_id: row.try_get("request_id")?,
        created_unix_ms: row.try_get("created_ms")?,
        key_name: row.try_get("key_name")?,
        route: row.try_get("route")?,
        policy: row.try_get("policy")?,
        reason: row.try_get("reason")?,
        experiment: row.try_get("experiment")?,
        arm: row.try_get("arm")?,
        model: row.try_get("model")?,
        tier: row.try_get("tier")?,
        propensity: row.try_get("propensity")?,
        outcome: row.try_get("outcome")?,
        status: row.try_get("status")?,
        prompt_tokens: row.try_get("prompt_tokens")?,
        completion_tokens: row.try_get("completion_tokens")?,
        cost_usd: row.try_get("cost_usd")?,
        baseline_cost_usd: row.try_get("baseline_cost_usd")?,
        latency_ms: row.try_get("latency_ms")?,
        overhead_ms: row.try_get("overhead_ms")?,
        fingerprint: row.try_get("fingerprint")?,
        prompt_hash: row.try_get("prompt_hash")?,
        prompt: row.try_get("prompt")?,
        upgraded_by: row.try_get("upgraded_by")?,
        fallback: row.try_get::<i64, _>("fallback")? != 0,
        body: row.try_get("body")?,
    })
}

/// Every record column (as `d.`), with the record's latest feedback score as `latest_score`.
fn select_scored() -> String {
    let columns: Vec<String> = RECORD_COLUMNS.iter().map(|c| format!("d.{c}")).collect();
    format!(
        "SELECT {}, (SELECT f.score FROM feedback f WHERE f.request_id = d.request_id AND {LATEST_FEEDBACK}) AS latest_score FROM decisions d",
        columns.join(", ")
    )
}

fn scored_of(row: &AnyRow) -> StoreResult<ScoredRecord> {
    Ok(ScoredRecord {
        record: record_of(row)?,
        score: row.try_get("latest_score")?,
    })
}

fn feedback_of(row: &AnyRow, prefix: &str) -> StoreResult<FeedbackRecord> {
    let column = |name: &str| format!("{prefix}{name}");
    let source: String = row.try_get(column("source").as_str())?;
    Ok(FeedbackRecord {
        id: row.try_get(column("id").as_str())?,
        request_id: row.try_get(column("request_id").as_str())?,
        created_unix_ms: row.try_get(column("created_ms").as_str())?,
        score: row.try_get(column("score").as_str())?,
        source: FeedbackSource::parse(&source)
            .ok_or_else(|| StoreError::Corrupt(format!("feedback source `{source}`")))?,
        comment: row.try_get(column("comment").as_str())?,
        key_name: row.try_get(column("key_name").as_str())?,
    })
}

type Transaction<'t> = sqlx::Transaction<'t, sqlx::Any>;

/// What the records of `chunk` already stored count for in the rollups (a rewrite replaces
/// them), read inside the writing transaction.
async fn stored_contributions(
    transaction: &mut Transaction<'_>,
    chunk: &[DecisionRecord],
    numbered: bool,
) -> StoreResult<Vec<Contribution>> {
    let sql = format!(
        "{} WHERE d.request_id IN ({})",
        select_contribution(),
        id_list(chunk.len(), numbered)
    );
    let rows = with_ids(&sql, chunk).fetch_all(&mut **transaction).await?;
    rows.iter().map(contribution_of).collect()
}

/// `count` placeholders for an `IN (...)`.
fn id_list(count: usize, numbered: bool) -> String {
    let placeholders: Vec<String> = (1..=count)
        .map(|n| {
            if numbered {
                format!("${n}")
            } else {
                "?".to_owned()
            }
        })
        .collect();
    placeholders.join(", ")
}

/// `sql` with the request ids of `chunk` bound, in order.
fn with_ids<'q>(sql: &str, chunk: &'q [DecisionRecord]) -> AnyQuery<'q> {
    chunk.iter().fold(
        sqlx::query(AssertSqlSafe(sql.to_owned())),
        |query, record| query.bind(record.request_id.as_str()),
    )
}

/// What stored records count for in the rollups, with their latest feedback score.
fn select_contribution() -> String {
    format!(
        "SELECT d.created_ms, d.model, d.reason, d.status, d.outcome, d.fallback, d.cost_usd, d.baseline_cost_usd, (SELECT f.score FROM feedback f WHERE f.request_id = d.request_id AND {LATEST_FEEDBACK}) AS latest_score FROM decisions d"
    )
}

fn contribution_of(row: &AnyRow) -> StoreResult<Contribution> {
    Ok(Contribution {
        created_ms: row.try_get("created_ms")?,
        model: row
            .try_get::<Option<String>, _>("model")?
            .unwrap_or_default(),
        reason: row
            .try_get::<Option<String>, _>("reason")?
            .unwrap_or_default(),
        status: row.try_get("status")?,
        outcome: row.try_get("outcome")?,
        fallback: row.try_get::<i64, _>("fallback")? != 0,
        cost_usd: row.try_get("cost_usd")?,
        baseline_cost_usd: row.try_get("baseline_cost_usd")?,
        score: row.try_get("latest_score")?,
    })
}

/// The latest feedback score of each of `chunk`'s requests that has one (feedback can arrive
/// before its record is written).
async fn latest_scores(
    transaction: &mut Transaction<'_>,
    chunk: &[DecisionRecord],
    numbered: bool,
) -> StoreResult<std::collections::HashMap<String, f64>> {
    let sql = format!(
        "SELECT f.request_id, f.score FROM feedback f WHERE f.request_id IN ({}) AND {LATEST_FEEDBACK}",
        id_list(chunk.len(), numbered)
    );
    let rows = with_ids(&sql, chunk).fetch_all(&mut **transaction).await?;
    rows.iter()
        .map(|row| Ok((row.try_get("request_id")?, row.try_get("score")?)))
        .collect()
}

/// The contributions `chunk` leaves behind, rated by `scores`: where a request id repeats, its
/// last record wins, as it does in the table.
fn last_of_each(
    chunk: &[DecisionRecord],
    scores: &std::collections::HashMap<String, f64>,
) -> Vec<Contribution> {
    let mut seen = std::collections::HashSet::new();
    let mut kept: Vec<Contribution> = chunk
        .iter()
        .rev()
        .filter(|r| seen.insert(r.request_id.as_str()))
        .map(|r| Contribution::of(r, scores.get(&r.request_id).copied()))
        .collect();
    kept.reverse();
    kept
}

async fn add_rollup(transaction: &mut Transaction<'_>, row: &RollupRow) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO decision_rollups (width_ms, bucket_ms, model, reason, requests, errors, fallbacks, cache_hits, cost_usd, baseline_cost_usd, ratings, score_sum, score_sq_sum) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (width_ms, bucket_ms, model, reason) DO UPDATE SET requests = decision_rollups.requests + excluded.requests, errors = decision_rollups.errors + excluded.errors, fallbacks = decision_rollups.fallbacks + excluded.fallbacks, cache_hits = decision_rollups.cache_hits + excluded.cache_hits, cost_usd = decision_rollups.cost_usd + excluded.cost_usd, baseline_cost_usd = decision_rollups.baseline_cost_usd + excluded.baseline_cost_usd, ratings = decision_rollups.ratings + excluded.ratings, score_sum = decision_rollups.score_sum + excluded.score_sum, score_sq_sum = decision_rollups.score_sq_sum + excluded.score_sq_sum",
    )
    .bind(row.width_ms)
    .bind(row.bucket_ms)
    .bind(row.model.as_str())
    .bind(row.reason.as_str())
    .bind(row.requests)
    .bind(row.errors)
    .bind(row.fallbacks)
    .bind(row.cache_hits)
    .bind(row.cost_usd)
    .bind(row.baseline_cost_usd)
    .bind(row.ratings)
    .bind(row.score_sum)
    .bind(row.score_sq_sum)
    .execute(&mut **transaction)
    .await?;
    Ok(())
}

fn rollup_of(row: &AnyRow) -> StoreResult<RollupRow> {
    Ok(RollupRow {
        width_ms: row.try_get("width_ms")?,
        bucket_ms: row.try_get("bucket_ms")?,
        model: row.try_get("model")?,
        reason: row.try_get("reason")?,
        requests: row.try_get("requests")?,
        errors: row.try_get("errors")?,
        fallbacks: row.try_get("fallbacks")?,
        cache_hits: row.try_get("cache_hits")?,
        cost_usd: row.try_get("cost_usd")?,
        baseline_cost_usd: row.try_get("baseline_cost_usd")?,
        ratings: row.try_get("ratings")?,
        score_sum: row.try_get("score_sum")?,
        score_sq_sum: row.try_get("score_sq_sum")?,
    })
}

const SELECT_RECORD: &str = "SELECT request_id, created_ms, key_name, route, policy, reason, experiment, arm, model, tier, propensity, outcome, status, prompt_tokens, completion_tokens, cost_usd, baseline_cost_usd, latency_ms, overhead_ms, fingerprint, prompt_hash, prompt, upgraded_by, fallback, body FROM decisions";

/// The latest feedback of each request: a feedback row `f` for which no later one exists.
const LATEST_FEEDBACK: &str = "NOT EXISTS (SELECT 1 FROM feedback g WHERE g.request_id = f.request_id AND (g.created_ms > f.created_ms OR (g.created_ms = f.created_ms AND g.id > f.id)))";

impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        self.backend
    }

    fn write_records<'a>(
        &'a self,
        records: &'a [DecisionRecord],
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            if records.is_empty() {
                return Ok(());
            }
            let numbered = self.backend == "postgres";
            // The transaction reads the records it replaces before writing: on SQLite it takes
            // the write lock first, or a feedback committed in between would fail it busy.
            let mut transaction = if numbered {
                self.pool.begin().await?
            } else {
                self.pool.begin_with("BEGIN IMMEDIATE").await?
            };
            for chunk in insert_chunks(records) {
                let replaced = stored_contributions(&mut transaction, chunk, numbered).await?;
                let sql = insert_sql(chunk.len(), numbered);
                let mut query = sqlx::query(AssertSqlSafe(sql));
                for record in chunk {
                    query = bind_record(query, record);
                }
                query.execute(&mut *transaction).await?;
                let scores = latest_scores(&mut transaction, chunk, numbered).await?;
                let added = last_of_each(chunk, &scores);
                for row in rollups::deltas(&replaced, &added) {
                    add_rollup(&mut transaction, &row).await?;
                }
            }
            transaction.commit().await?;
            Ok(())
        })
    }

    fn record<'a>(
        &'a self,
        request_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<DecisionRecord>>> {
        Box::pin(async move {
            let sql = format!("{SELECT_RECORD} WHERE request_id = $1");
            let row = sqlx::query(AssertSqlSafe(sql))
                .bind(request_id)
                .fetch_optional(&self.pool)
                .await?;
            row.as_ref().map(record_of).transpose()
        })
    }

    fn scored_records<'a>(
        &'a self,
        query: &'a ScoredQuery,
    ) -> BoxFuture<'a, StoreResult<Vec<ScoredRecord>>> {
        Box::pin(async move {
            let sql = format!(
                "{} WHERE d.created_ms >= $1 AND d.created_ms < $2 AND ($3 = '' OR d.experiment = $3) AND (d.created_ms > $4 OR (d.created_ms = $4 AND d.request_id > $5)) ORDER BY d.created_ms, d.request_id LIMIT $6",
                select_scored()
            );
            let (after_ms, after_id) = query.after.clone().unwrap_or((i64::MIN, String::new()));
            let rows = sqlx::query(AssertSqlSafe(sql))
                .bind(query.since_unix_ms.unwrap_or(i64::MIN))
                .bind(query.until_unix_ms.unwrap_or(i64::MAX))
                .bind(query.experiment.clone().unwrap_or_default())
                .bind(after_ms)
                .bind(after_id)
                .bind(i64::try_from(query.limit).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await?;
            rows.iter().map(scored_of).collect()
        })
    }

    fn records<'a>(
        &'a self,
        query: &'a RecordQuery,
    ) -> BoxFuture<'a, StoreResult<Vec<DecisionRecord>>> {
        Box::pin(async move {
            let sql = format!(
                "{SELECT_RECORD} WHERE created_ms >= $1 AND created_ms < $2 AND ($3 = '' OR request_id < $3) ORDER BY created_ms DESC, request_id DESC LIMIT $4"
            );
            let rows = sqlx::query(AssertSqlSafe(sql))
                .bind(query.since_unix_ms.unwrap_or(i64::MIN))
                .bind(query.until_unix_ms.unwrap_or(i64::MAX))
                .bind(query.before_request.clone().unwrap_or_default())
                .bind(i64::try_from(query.limit).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await?;
            rows.iter().map(record_of).collect()
        })
    }

    fn recent<'a>(
        &'a self,
        query: &'a RecentQuery,
    ) -> BoxFuture<'a, StoreResult<Vec<ScoredRecord>>> {
        Box::pin(async move {
            let sql = format!(
                "{} WHERE d.created_ms >= $1 AND d.created_ms < $2 AND (d.created_ms < $3 OR (d.created_ms = $3 AND d.request_id < $4)) ORDER BY d.created_ms DESC, d.request_id DESC LIMIT $5",
                select_scored()
            );
            let (before_ms, before_id) = query.before.clone().unwrap_or((i64::MAX, String::new()));
            let rows = sqlx::query(AssertSqlSafe(sql))
                .bind(query.since_unix_ms.unwrap_or(i64::MIN))
                .bind(query.until_unix_ms.unwrap_or(i64::MAX))
                .bind(before_ms)
                .bind(before_id)
                .bind(i64::try_from(query.limit).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await?;
            rows.iter().map(scored_of).collect()
        })
    }

    fn rollups(
        &self,
        width_ms: i64,
        since_unix_ms: i64,
        until_unix_ms: i64,
    ) -> BoxFuture<'_, StoreResult<Vec<RollupRow>>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT width_ms, bucket_ms, model, reason, requests, errors, fallbacks, cache_hits, cost_usd, baseline_cost_usd, ratings, score_sum, score_sq_sum FROM decision_rollups WHERE width_ms = $1 AND bucket_ms >= $2 AND bucket_ms < $3 ORDER BY bucket_ms, model, reason",
            )
            .bind(width_ms)
            .bind(since_unix_ms)
            .bind(until_unix_ms)
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(rollup_of).collect()
        })
    }

    fn latency_sample(
        &self,
        since_unix_ms: i64,
        until_unix_ms: i64,
        limit: usize,
    ) -> BoxFuture<'_, StoreResult<Vec<LatencySample>>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT latency_ms, overhead_ms FROM decisions WHERE created_ms >= $1 AND created_ms < $2 ORDER BY created_ms DESC LIMIT $3",
            )
            .bind(since_unix_ms)
            .bind(until_unix_ms)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok(LatencySample {
                        latency_ms: row.try_get("latency_ms")?,
                        overhead_ms: row.try_get("overhead_ms")?,
                    })
                })
                .collect()
        })
    }

    fn add_feedback(&self, feedback: FeedbackRecord) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            let numbered = self.backend == "postgres";
            let mut transaction = if numbered {
                self.pool.begin().await?
            } else {
                self.pool.begin_with("BEGIN IMMEDIATE").await?
            };
            if numbered {
                // Feedback on one request at once on two replicas: one after the other.
                sqlx::query("SELECT 1 FROM decisions WHERE request_id = $1 FOR UPDATE")
                    .bind(feedback.request_id.as_str())
                    .fetch_optional(&mut *transaction)
                    .await?;
            }
            // The record as the rollups count it now, rated or not; absent when the record is
            // not written yet (the writer counts the feedback then).
            let sql = format!("{} WHERE d.request_id = $1", select_contribution());
            let before = sqlx::query(AssertSqlSafe(sql))
                .bind(feedback.request_id.as_str())
                .fetch_optional(&mut *transaction)
                .await?
                .as_ref()
                .map(contribution_of)
                .transpose()?;
            sqlx::query(
                "INSERT INTO feedback (id, request_id, created_ms, score, source, comment, key_name) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(feedback.id.as_str())
            .bind(feedback.request_id.as_str())
            .bind(feedback.created_unix_ms)
            .bind(feedback.score)
            .bind(feedback.source.as_str())
            .bind(feedback.comment.as_deref())
            .bind(feedback.key_name.as_deref())
            .execute(&mut *transaction)
            .await?;
            if let Some(before) = before {
                let sql = format!(
                    "SELECT f.score FROM feedback f WHERE f.request_id = $1 AND {LATEST_FEEDBACK}"
                );
                let latest: Option<f64> = sqlx::query_scalar(AssertSqlSafe(sql))
                    .bind(feedback.request_id.as_str())
                    .fetch_optional(&mut *transaction)
                    .await?;
                let after = Contribution {
                    score: latest,
                    ..before.clone()
                };
                for row in rollups::deltas(&[before], &[after]) {
                    add_rollup(&mut transaction, &row).await?;
                }
            }
            transaction.commit().await?;
            Ok(())
        })
    }

    fn feedback<'a>(
        &'a self,
        request_id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Vec<FeedbackRecord>>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT id, request_id, created_ms, score, source, comment, key_name FROM feedback WHERE request_id = $1 ORDER BY created_ms, id",
            )
            .bind(request_id)
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(|row| feedback_of(row, "")).collect()
        })
    }

    fn rated(&self, limit: usize) -> BoxFuture<'_, StoreResult<Vec<RatedRecord>>> {
        Box::pin(async move {
            let sql = format!(
                "SELECT d.request_id, d.model, f.score, d.fingerprint FROM decisions d JOIN feedback f ON f.request_id = d.request_id WHERE d.fingerprint IS NOT NULL AND d.model IS NOT NULL AND {LATEST_FEEDBACK} ORDER BY f.created_ms DESC, f.id DESC LIMIT $1"
            );
            let rows = sqlx::query(AssertSqlSafe(sql))
                .bind(i64::try_from(limit).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await?;
            rows.iter()
                .map(|row| {
                    Ok(RatedRecord {
                        request_id: row.try_get("request_id")?,
                        model: row.try_get("model")?,
                        score: row.try_get("score")?,
                        fingerprint: row.try_get("fingerprint")?,
                    })
                })
                .collect()
        })
    }

    fn rated_with_prompts(
        &self,
        since_unix_ms: i64,
    ) -> BoxFuture<'_, StoreResult<Vec<(DecisionRecord, FeedbackRecord)>>> {
        Box::pin(async move {
            let columns: Vec<String> = RECORD_COLUMNS.iter().map(|c| format!("d.{c}")).collect();
            let sql = format!(
                "SELECT {}, f.id AS f_id, f.request_id AS f_request_id, f.created_ms AS f_created_ms, f.score AS f_score, f.source AS f_source, f.comment AS f_comment, f.key_name AS f_key_name FROM decisions d JOIN feedback f ON f.request_id = d.request_id WHERE d.prompt IS NOT NULL AND d.model IS NOT NULL AND d.created_ms >= $1 AND {LATEST_FEEDBACK} ORDER BY d.created_ms DESC, d.request_id DESC",
                columns.join(", ")
            );
            let rows = sqlx::query(AssertSqlSafe(sql))
                .bind(since_unix_ms)
                .fetch_all(&self.pool)
                .await?;
            rows.iter()
                .map(|row| Ok((record_of(row)?, feedback_of(row, "f_")?)))
                .collect()
        })
    }

    fn put_upgrade(&self, upgrade: UpgradeRecord) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO upgrades (rated_request, rated_model, min_tier, fingerprint, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (rated_request) DO UPDATE SET rated_model = excluded.rated_model, min_tier = excluded.min_tier, fingerprint = excluded.fingerprint, created_ms = excluded.created_ms, expires_ms = excluded.expires_ms",
            )
            .bind(upgrade.rated_request)
            .bind(upgrade.rated_model)
            .bind(upgrade.min_tier)
            .bind(upgrade.fingerprint)
            .bind(upgrade.created_unix_ms)
            .bind(upgrade.expires_unix_ms)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn release_upgrade<'a>(&'a self, rated_request: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            sqlx::query("DELETE FROM upgrades WHERE rated_request = $1")
                .bind(rated_request)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn live_upgrades(&self, now_unix_ms: i64) -> BoxFuture<'_, StoreResult<Vec<UpgradeRecord>>> {
        Box::pin(async move {
            sqlx::query("DELETE FROM upgrades WHERE expires_ms <= $1")
                .bind(now_unix_ms)
                .execute(&self.pool)
                .await?;
            let rows = sqlx::query(
                "SELECT rated_request, rated_model, min_tier, fingerprint, created_ms, expires_ms FROM upgrades ORDER BY created_ms, rated_request",
            )
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok(UpgradeRecord {
                        rated_request: row.try_get("rated_request")?,
                        rated_model: row.try_get("rated_model")?,
                        min_tier: row.try_get("min_tier")?,
                        fingerprint: row.try_get("fingerprint")?,
                        created_unix_ms: row.try_get("created_ms")?,
                        expires_unix_ms: row.try_get("expires_ms")?,
                    })
                })
                .collect()
        })
    }

    fn save_state<'a>(
        &'a self,
        policy: &'a str,
        state: &'a str,
        now_unix_ms: i64,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO policy_state (policy, updated_ms, state) VALUES ($1, $2, $3) ON CONFLICT (policy) DO UPDATE SET updated_ms = excluded.updated_ms, state = excluded.state, version = policy_state.version + 1",
            )
            .bind(policy)
            .bind(now_unix_ms)
            .bind(state)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn load_state<'a>(&'a self, policy: &'a str) -> BoxFuture<'a, StoreResult<Option<String>>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT state FROM policy_state WHERE policy = $1")
                .bind(policy)
                .fetch_optional(&self.pool)
                .await?;
            Ok(row.map(|r| r.try_get("state")).transpose()?)
        })
    }

    fn load_versioned_state<'a>(
        &'a self,
        policy: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<crate::VersionedState>>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT state, version FROM policy_state WHERE policy = $1")
                .bind(policy)
                .fetch_optional(&self.pool)
                .await?;
            row.map(|r| {
                Ok(crate::VersionedState {
                    state: r.try_get("state")?,
                    version: r.try_get("version")?,
                })
            })
            .transpose()
        })
    }

    fn state_version<'a>(&'a self, policy: &'a str) -> BoxFuture<'a, StoreResult<Option<i64>>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT version FROM policy_state WHERE policy = $1")
                .bind(policy)
                .fetch_optional(&self.pool)
                .await?;
            Ok(row.map(|r| r.try_get("version")).transpose()?)
        })
    }

    fn save_state_over<'a>(
        &'a self,
        policy: &'a str,
        state: &'a str,
        over: Option<i64>,
        now_unix_ms: i64,
    ) -> BoxFuture<'a, StoreResult<Option<i64>>> {
        Box::pin(async move {
            // One statement either way, so the check and the write are atomic on both backends.
            let written = match over {
                None => sqlx::query(
                    "INSERT INTO policy_state (policy, updated_ms, state, version) VALUES ($1, $2, $3, 1) ON CONFLICT (policy) DO NOTHING",
                )
                .bind(policy)
                .bind(now_unix_ms)
                .bind(state)
                .execute(&self.pool)
                .await?,
                Some(version) => sqlx::query(
                    "UPDATE policy_state SET updated_ms = $1, state = $2, version = version + 1 WHERE policy = $3 AND version = $4",
                )
                .bind(now_unix_ms)
                .bind(state)
                .bind(policy)
                .bind(version)
                .execute(&self.pool)
                .await?,
            };
            Ok((written.rows_affected() == 1).then(|| over.map_or(1, |v| v + 1)))
        })
    }

    fn spend_since(&self, since_unix_ms: i64) -> BoxFuture<'_, StoreResult<crate::SpendByKey>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT key_name, SUM(cost_usd) AS spent FROM decisions WHERE created_ms >= $1 GROUP BY key_name",
            )
            .bind(since_unix_ms)
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|row| Ok((row.try_get("key_name")?, row.try_get("spent")?)))
                .collect()
        })
    }

    fn check(&self) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            if self.backend == "sqlite" {
                let verdict: String = sqlx::query("PRAGMA integrity_check")
                    .fetch_one(&self.pool)
                    .await?
                    .try_get(0)?;
                if verdict != "ok" {
                    return Err(StoreError::Integrity(verdict));
                }
            } else {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_kept_out_of_messages() {
        assert_eq!(
            without_password("postgres://app:s3cret@db.internal:5432/routewise"),
            "postgres://app@db.internal:5432/routewise"
        );
        assert_eq!(
            without_password("sqlite:///var/lib/rw.db"),
            "sqlite:///var/lib/rw.db"
        );
    }

    proptest::proptest! {
        #[test]
        fn inserts_cover_every_record_once_in_few_distinct_sizes(len in 0usize..1000) {
            let records: Vec<usize> = (0..len).collect();
            let chunks: Vec<&[usize]> = insert_chunks(&records).collect();
            proptest::prop_assert_eq!(&chunks.concat(), &records);
            for chunk in &chunks {
                proptest::prop_assert!(
                    chunk.len() == ROWS_PER_INSERT || chunk.len().is_power_of_two(),
                    "a chunk of {} rows", chunk.len()
                );
            }
            // Full inserts, then at most one of each power of two below the full size.
            let partial = chunks.iter().filter(|c| c.len() < ROWS_PER_INSERT).count();
            proptest::prop_assert!(partial <= ROWS_PER_INSERT.ilog2() as usize + 1);
        }
    }

    #[test]
    fn the_insert_has_a_placeholder_per_column_and_row() {
        let sql = insert_sql(2, true);
        let last = 2 * RECORD_COLUMNS.len();
        assert_eq!(last, 50);
        assert!(
            sql.contains(&format!("${last})")) && !sql.contains(&format!("${}", last + 1)),
            "{sql}"
        );
        assert_eq!(insert_sql(2, false).matches('?').count(), last);
    }
}
