//! The schema's versions, embedded in the binary: applied in order when a store opens, under
//! the database's lock on PostgreSQL (so two replicas starting at once do not race).

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use std::borrow::Cow;

/// Every migration, oldest first. Never edit a released one: add the next.
const MIGRATIONS: [(i64, &str, &str); 4] = [
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (
        2,
        "experiment index",
        include_str!("../migrations/0002_experiment_index.sql"),
    ),
    (
        3,
        "policy state version",
        include_str!("../migrations/0003_state_version.sql"),
    ),
    (
        4,
        "dashboard rollups",
        include_str!("../migrations/0004_rollups.sql"),
    ),
];

/// The newest schema version this build knows.
pub const LATEST: i64 = MIGRATIONS.len() as i64;

pub(crate) fn migrator() -> Migrator {
    migrator_of(&MIGRATIONS)
}

/// A migrator over `migrations`, oldest first.
fn migrator_of(migrations: &[(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        migrations
            .iter()
            .map(|(version, description, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    //! Upgrading a database that an older routewise made, on SQLite and on PostgreSQL (the
    //! same server and rules as the contract suite). Version 1 is the first release's schema, so
    //! the step to the next version is played by a test-only migration in the shape future ones
    //! take (a column and an index added): applied once, it keeps every row; reapplied, nothing.
    use super::*;
    use crate::{DecisionRecord, SqlStore, Store};
    use sqlx::{AnyPool, Executor, Row};

    const NEXT: (i64, &str, &str) = (
        LATEST + 1,
        "test-only next version",
        "ALTER TABLE decisions ADD COLUMN region TEXT; CREATE INDEX decisions_region ON decisions (region);",
    );

    fn record(id: &str) -> DecisionRecord {
        DecisionRecord {
            request_id: id.to_owned(),
            created_unix_ms: 1_700_000_000_000,
            key_name: None,
            route: None,
            policy: Some("rules".to_owned()),
            reason: None,
            experiment: None,
            arm: None,
            model: Some("small".to_owned()),
            tier: Some(0),
            propensity: 1.0,
            outcome: "ok".to_owned(),
            status: 200,
            prompt_tokens: 10,
            completion_tokens: 5,
            cost_usd: 0.001,
            baseline_cost_usd: 0.01,
            latency_ms: 12.0,
            overhead_ms: 0.2,
            fingerprint: Some(vec![7; 256]),
            prompt_hash: None,
            prompt: None,
            upgraded_by: None,
            fallback: false,
            body: "{}".to_owned(),
        }
    }

    /// Opens at this build's version with data in it, then upgrades with the next migration.
    async fn upgrade(url: &str) {
        let store = SqlStore::open(url).await.unwrap();
        store
            .write_records(&[record("a"), record("b")])
            .await
            .unwrap();
        store.close().await;

        let pool = AnyPool::connect(url).await.unwrap();
        let mut next: Vec<(i64, &str, &str)> = MIGRATIONS.to_vec();
        next.push(NEXT);
        migrator_of(&next).run(&pool).await.unwrap();
        // Run again (a second replica, a restart): nothing left to apply.
        migrator_of(&next).run(&pool).await.unwrap();
        let versions: Vec<i64> =
            sqlx::query("SELECT version FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&pool)
                .await
                .unwrap()
                .iter()
                .map(|row| row.get::<i64, _>(0))
                .collect();
        assert_eq!(versions, (1..=LATEST + 1).collect::<Vec<_>>());
        let kept: Vec<(String, Option<String>)> =
            sqlx::query("SELECT request_id, region FROM decisions ORDER BY request_id")
                .fetch_all(&pool)
                .await
                .unwrap()
                .iter()
                .map(|row| (row.get::<String, _>(0), row.get::<Option<String>, _>(1)))
                .collect();
        assert_eq!(kept, [("a".to_owned(), None), ("b".to_owned(), None)]);
        pool.close().await;

        // This build then refuses the upgraded database rather than misread it.
        let refused = SqlStore::open(url).await.err().map(|e| e.to_string());
        assert!(
            refused
                .as_deref()
                .is_some_and(|e| e.contains("newer routewise")),
            "{refused:?}"
        );
    }

    #[tokio::test]
    async fn a_database_upgrades_to_the_next_version_and_keeps_its_rows_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        upgrade(&format!(
            "sqlite://{}",
            dir.path().join("store.db").display()
        ))
        .await;
    }

    #[tokio::test]
    async fn a_database_upgrades_to_the_next_version_and_keeps_its_rows_on_postgres() {
        on_postgres(|url| async move { upgrade(&url).await }).await;
    }

    /// Runs `check` on a fresh PostgreSQL schema (dropped after), or skips without a server.
    async fn on_postgres<F, Fut>(check: F)
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let base = std::env::var("ROUTEWISE_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        sqlx::any::install_default_drivers();
        let admin = match AnyPool::connect(&base).await {
            Ok(pool) => pool,
            Err(err) if std::env::var("ROUTEWISE_REQUIRE_SERVICES").as_deref() == Ok("1") => {
                panic!("PostgreSQL at {base} is required (ROUTEWISE_REQUIRE_SERVICES=1): {err}")
            }
            Err(err) => {
                eprintln!("skipping: {base} does not answer ({err})");
                return;
            }
        };
        let schema = format!("rw_migrate_{}", uuid::Uuid::now_v7().simple());
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .await
            .unwrap();
        let separator = if base.contains('?') { '&' } else { '?' };
        check(format!(
            "{base}{separator}options=-c%20search_path%3D{schema}"
        ))
        .await;
        admin
            .execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .await
            .unwrap();
        admin.close().await;
    }

    /// A version-3 database with records and feedback, opened by this build: version 4 rolls
    /// up the records already there, each with its latest score.
    async fn backfill(url: &str) {
        sqlx::any::install_default_drivers();
        let pool = AnyPool::connect(url).await.unwrap();
        migrator_of(&MIGRATIONS[..3]).run(&pool).await.unwrap();
        for (id, created, model, status) in [
            ("a", 60_000, "small", 200),
            ("b", 61_000, "small", 502),
            ("c", 3_600_000, "large", 200),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO decisions (request_id, created_ms, model, reason, propensity, outcome, status, prompt_tokens, completion_tokens, cost_usd, baseline_cost_usd, latency_ms, overhead_ms, body) VALUES ('{id}', {created}, '{model}', 'rule:x', 1.0, 'ok', {status}, 1, 1, 0.5, 2.0, 10.0, 0.1, '{{}}')"
            )))
            .execute(&pool)
            .await
            .unwrap();
        }
        for (id, request, created, score) in [
            ("f1", "a", 1, 0.2),
            ("f2", "a", 2, 0.8),
            ("f3", "c", 3, 1.0),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO feedback (id, request_id, created_ms, score, source) VALUES ('{id}', '{request}', {created}, {score}, 'user')"
            )))
            .execute(&pool)
            .await
            .unwrap();
        }
        pool.close().await;
        let store = SqlStore::open(url).await.unwrap();
        let minutes = store.rollups(60_000, 0, i64::MAX).await.unwrap();
        let small: Vec<_> = minutes.iter().filter(|r| r.model == "small").collect();
        assert_eq!(small.len(), 1);
        assert_eq!(
            (small[0].requests, small[0].errors, small[0].ratings),
            (2, 1, 1)
        );
        assert!((small[0].score_sum - 0.8).abs() < 1e-9 && (small[0].cost_usd - 1.0).abs() < 1e-9);
        let hours = store.rollups(3_600_000, 0, i64::MAX).await.unwrap();
        assert_eq!(hours.iter().map(|r| r.requests).sum::<i64>(), 3);
        assert_eq!(hours.iter().map(|r| r.ratings).sum::<i64>(), 2);
        store.close().await;
    }

    #[tokio::test]
    async fn records_from_before_the_rollups_are_rolled_up_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        backfill(&format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("old.db").display()
        ))
        .await;
    }

    #[tokio::test]
    async fn records_from_before_the_rollups_are_rolled_up_on_postgres() {
        on_postgres(|url| async move { backfill(&url).await }).await;
    }
}
