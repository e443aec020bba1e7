//! The contract every store must keep, run on SQLite (a temporary file) and on PostgreSQL
//! (`ROUTEWISE_TEST_POSTGRES`, default `postgres://postgres@127.0.0.1:5432/test`; each test in
//! a schema of its own, dropped afterwards). Without a reachable PostgreSQL the PostgreSQL half
//! is skipped with a note, unless `ROUTEWISE_REQUIRE_SERVICES=1` (CI sets it), which makes that
//! a failure.
#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test harness: a failure is a failed test"
)]

use routewise_store::{
    DecisionRecord, FeedbackRecord, FeedbackSource, RecentQuery, RecordQuery, RecordWriter,
    RollupRow, ScoredQuery, SqlStore, Store, StoreError, UpgradeRecord, WriterSettings,
};
use sqlx::Executor;
use std::sync::Arc;
use std::time::Duration;

/// A store under test, and how to clean up after it.
struct Backend {
    store: SqlStore,
    _dir: Option<tempfile::TempDir>,
    schema: Option<(String, String)>,
}

impl Backend {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        let store = SqlStore::open(&url).await.unwrap();
        Self {
            store,
            _dir: Some(dir),
            schema: None,
        }
    }

    /// A PostgreSQL store in a fresh schema, or `None` when no server answers (and services
    /// are not required).
    async fn postgres() -> Option<Self> {
        let base = std::env::var("ROUTEWISE_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let schema = format!("rw_test_{}", uuid::Uuid::now_v7().simple());
        sqlx::any::install_default_drivers();
        let admin = match sqlx::AnyPool::connect(&base).await {
            Ok(pool) => pool,
            Err(err) if std::env::var("ROUTEWISE_REQUIRE_SERVICES").as_deref() == Ok("1") => {
                panic!("PostgreSQL at {base} is required (ROUTEWISE_REQUIRE_SERVICES=1): {err}")
            }
            Err(err) => {
                eprintln!("skipping the PostgreSQL half: {base} does not answer ({err})");
                return None;
            }
        };
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .await
            .unwrap();
        admin.close().await;
        let separator = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
        let store = SqlStore::open(&url).await.unwrap();
        Some(Self {
            store,
            _dir: None,
            schema: Some((base, schema)),
        })
    }

    async fn finish(self) {
        self.store.close().await;
        if let Some((base, schema)) = self.schema {
            let admin = sqlx::AnyPool::connect(&base).await.unwrap();
            admin
                .execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .await
                .unwrap();
            admin.close().await;
        }
    }
}

/// Runs `check` on every backend available.
async fn on_every_backend<F, Fut>(check: F)
where
    F: Fn(SqlStore) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let sqlite = Backend::sqlite().await;
    check(sqlite.store.clone()).await;
    sqlite.finish().await;
    if let Some(postgres) = Backend::postgres().await {
        check(postgres.store.clone()).await;
        postgres.finish().await;
    }
}

fn record(id: &str, created: i64, model: &str) -> DecisionRecord {
    DecisionRecord {
        request_id: id.to_owned(),
        created_unix_ms: created,
        key_name: Some("team".to_owned()),
        route: Some("auto".to_owned()),
        policy: Some("rules".to_owned()),
        reason: Some("rule:simple-task".to_owned()),
        experiment: None,
        arm: None,
        model: Some(model.to_owned()),
        tier: Some(0),
        propensity: 1.0,
        outcome: "ok".to_owned(),
        status: 200,
        prompt_tokens: 12,
        completion_tokens: 34,
        cost_usd: 0.000_01,
        baseline_cost_usd: 0.000_4,
        latency_ms: 12.5,
        overhead_ms: 0.2,
        fingerprint: Some(vec![7; 256]),
        prompt_hash: Some("ab".repeat(32)),
        prompt: None,
        upgraded_by: None,
        fallback: false,
        body: format!("{{\"request_id\":\"{id}\"}}"),
    }
}

fn feedback(id: &str, request: &str, created: i64, score: f64) -> FeedbackRecord {
    FeedbackRecord {
        id: id.to_owned(),
        request_id: request.to_owned(),
        created_unix_ms: created,
        score,
        source: FeedbackSource::User,
        comment: Some("é ünïcode ✓".to_owned()),
        key_name: Some("team".to_owned()),
    }
}

#[tokio::test]
async fn records_round_trip_replace_and_page_newest_first() {
    on_every_backend(|store| async move {
        let records: Vec<DecisionRecord> = (0..95)
            .map(|i| record(&format!("r{i:03}"), 1_000 + i, "small"))
            .collect();
        store.write_records(&records).await.unwrap();
        assert_eq!(
            store.record("r005").await.unwrap().as_ref(),
            Some(&records[5])
        );
        assert_eq!(store.record("missing").await.unwrap(), None);

        let mut changed = records[5].clone();
        changed.outcome = "stream_error".to_owned();
        changed.prompt = Some("what is the capital of France?".to_owned());
        store
            .write_records(std::slice::from_ref(&changed))
            .await
            .unwrap();
        assert_eq!(store.record("r005").await.unwrap(), Some(changed));

        let page = store
            .records(&RecordQuery {
                limit: 10,
                ..RecordQuery::default()
            })
            .await
            .unwrap();
        let ids: Vec<&str> = page.iter().map(|r| r.request_id.as_str()).collect();
        assert_eq!(ids[0], "r094");
        assert_eq!(ids.len(), 10);
        let next = store
            .records(&RecordQuery {
                limit: 10,
                before_request: Some("r085".to_owned()),
                ..RecordQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(next[0].request_id, "r084");
        let window = store
            .records(&RecordQuery {
                since_unix_ms: Some(1_010),
                until_unix_ms: Some(1_020),
                limit: 100,
                ..RecordQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(window.len(), 10);
        store.check().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn feedback_keeps_its_history_and_the_latest_counts() {
    on_every_backend(|store| async move {
        let mut logged = record("a", 1, "small");
        logged.prompt = Some("Translate hello into French".to_owned());
        store
            .write_records(&[
                logged.clone(),
                record("b", 2, "large"),
                record("c", 3, "small"),
            ])
            .await
            .unwrap();
        // Feedback for a request whose record is not written yet is kept too.
        store
            .add_feedback(feedback("f0", "later", 5, 0.5))
            .await
            .unwrap();
        store
            .add_feedback(feedback("f1", "a", 10, 0.0))
            .await
            .unwrap();
        store
            .add_feedback(feedback("f2", "a", 20, 1.0))
            .await
            .unwrap();
        store
            .add_feedback(feedback("f3", "b", 15, 0.25))
            .await
            .unwrap();
        let history = store.feedback("a").await.unwrap();
        assert_eq!(
            history.iter().map(|f| f.score).collect::<Vec<_>>(),
            [0.0, 1.0]
        );
        assert_eq!(history[0].comment.as_deref(), Some("é ünïcode ✓"));

        let rated = store.rated(10).await.unwrap();
        let scores: Vec<(&str, &str, f64)> = rated
            .iter()
            .map(|r| (r.request_id.as_str(), r.model.as_str(), r.score))
            .collect();
        assert_eq!(scores, [("a", "small", 1.0), ("b", "large", 0.25)]);
        assert_eq!(rated[0].fingerprint, vec![7; 256]);
        assert_eq!(store.rated(1).await.unwrap().len(), 1);

        let exported = store.rated_with_prompts(0).await.unwrap();
        assert_eq!(exported.len(), 1, "only requests whose prompt was logged");
        assert_eq!(exported[0].0, logged);
        assert_eq!(exported[0].1.score, 1.0);
        assert!(store.rated_with_prompts(100).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn scored_records_page_oldest_first_by_experiment_with_the_latest_score() {
    on_every_backend(|store| async move {
        let records: Vec<DecisionRecord> = (0..25)
            .map(|i| {
                let mut r = record(&format!("s{i:02}"), 100 + i / 2, "small");
                r.experiment = (i % 5 != 0).then(|| "ab".to_owned());
                r.arm = Some(if i % 2 == 0 { "a" } else { "b" }.to_owned());
                r
            })
            .collect();
        store.write_records(&records).await.unwrap();
        store
            .add_feedback(feedback("g1", "s01", 10, 0.2))
            .await
            .unwrap();
        store
            .add_feedback(feedback("g2", "s01", 20, 0.9))
            .await
            .unwrap();
        store
            .add_feedback(feedback("g3", "s00", 20, 0.4))
            .await
            .unwrap();
        let mut query = ScoredQuery {
            experiment: Some("ab".to_owned()),
            limit: 7,
            ..ScoredQuery::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = store.scored_records(&query).await.unwrap();
            seen.extend(page.iter().map(|s| (s.record.request_id.clone(), s.score)));
            match page.last() {
                Some(last) if page.len() == 7 => {
                    query.after =
                        Some((last.record.created_unix_ms, last.record.request_id.clone()));
                }
                _ => break,
            }
        }
        // 20 of the experiment's, in time order, ties by id, each once.
        let ids: Vec<&str> = seen.iter().map(|(id, _)| id.as_str()).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(ids, sorted);
        assert_eq!(ids.len(), 20);
        assert!(!ids.contains(&"s00") && !ids.contains(&"s05"));
        assert_eq!(
            seen[0],
            ("s01".to_owned(), Some(0.9)),
            "the latest score counts"
        );
        assert!(seen[1..].iter().all(|(_, score)| score.is_none()));
        let all = store
            .scored_records(&ScoredQuery {
                since_unix_ms: Some(100),
                until_unix_ms: Some(101),
                limit: 100,
                ..ScoredQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].score, Some(0.4));
    })
    .await;
}

#[tokio::test]
async fn upgrades_are_replaced_released_and_expire() {
    on_every_backend(|store| async move {
        let upgrade = |request: &str, tier: i64, expires: i64| UpgradeRecord {
            rated_request: request.to_owned(),
            rated_model: "small".to_owned(),
            min_tier: tier,
            fingerprint: vec![1; 256],
            created_unix_ms: 0,
            expires_unix_ms: expires,
        };
        store.put_upgrade(upgrade("a", 1, 100)).await.unwrap();
        store.put_upgrade(upgrade("a", 2, 100)).await.unwrap();
        store.put_upgrade(upgrade("b", 1, 50)).await.unwrap();
        store.put_upgrade(upgrade("c", 1, 100)).await.unwrap();
        store.release_upgrade("c").await.unwrap();
        let live = store.live_upgrades(60).await.unwrap();
        assert_eq!(live, [upgrade("a", 2, 100)]);
        assert!(store.live_upgrades(100).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn policy_state_is_saved_and_replaced() {
    on_every_backend(|store| async move {
        assert_eq!(store.load_state("bandit").await.unwrap(), None);
        store.save_state("bandit", "{\"n\":1}", 1).await.unwrap();
        store.save_state("bandit", "{\"n\":2}", 2).await.unwrap();
        assert_eq!(
            store.load_state("bandit").await.unwrap().as_deref(),
            Some("{\"n\":2}")
        );
    })
    .await;
}

#[tokio::test]
async fn a_versioned_save_over_a_newer_version_is_refused() {
    on_every_backend(|store| async move {
        assert_eq!(store.state_version("bandit").await.unwrap(), None);
        // Two writers start from nothing: one inserts, the other is told to merge.
        assert_eq!(
            store.save_state_over("bandit", "a", None, 1).await.unwrap(),
            Some(1)
        );
        assert_eq!(
            store.save_state_over("bandit", "b", None, 1).await.unwrap(),
            None
        );
        // Both read version 1; the first save wins, the second (over 1) is refused.
        assert_eq!(
            store
                .save_state_over("bandit", "a2", Some(1), 2)
                .await
                .unwrap(),
            Some(2)
        );
        assert_eq!(
            store
                .save_state_over("bandit", "b2", Some(1), 2)
                .await
                .unwrap(),
            None
        );
        let saved = store.load_versioned_state("bandit").await.unwrap().unwrap();
        assert_eq!((saved.state.as_str(), saved.version), ("a2", 2));
        // An unconditional save raises the version too, so a writer that read before it merges.
        store.save_state("bandit", "c", 3).await.unwrap();
        assert_eq!(store.state_version("bandit").await.unwrap(), Some(3));
        assert_eq!(
            store
                .save_state_over("bandit", "d", Some(2), 4)
                .await
                .unwrap(),
            None
        );
    })
    .await;
}

#[tokio::test]
async fn concurrent_versioned_saves_never_both_win() {
    on_every_backend(|store| async move {
        store.save_state("counter", "0", 1).await.unwrap();
        // Eight writers add one each, reading and retrying on conflict: the total is exact.
        let writers = (0..8).map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                loop {
                    let saved = store
                        .load_versioned_state("counter")
                        .await
                        .unwrap()
                        .unwrap();
                    let next = (saved.state.parse::<u32>().unwrap() + 1).to_string();
                    if store
                        .save_state_over("counter", &next, Some(saved.version), 2)
                        .await
                        .unwrap()
                        .is_some()
                    {
                        return;
                    }
                }
            })
        });
        for writer in writers.collect::<Vec<_>>() {
            writer.await.unwrap();
        }
        assert_eq!(
            store.load_state("counter").await.unwrap().as_deref(),
            Some("8")
        );
    })
    .await;
}

#[tokio::test]
async fn spend_is_summed_by_key_from_a_time_on() {
    on_every_backend(|store| async move {
        let mut early = record("s1", 100, "small");
        early.key_name = Some("alice".into());
        let mut a = record("s2", 200, "small");
        a.key_name = Some("alice".into());
        a.cost_usd = 0.25;
        let mut b = record("s3", 300, "large");
        b.key_name = Some("alice".into());
        b.cost_usd = 0.5;
        let mut anonymous = record("s4", 300, "large");
        anonymous.key_name = None;
        anonymous.cost_usd = 2.0;
        store
            .write_records(&[early, a, b, anonymous])
            .await
            .unwrap();
        let mut spend = store.spend_since(200).await.unwrap();
        spend.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(spend, vec![(None, 2.0), (Some("alice".to_owned()), 0.75)]);
        assert!(store.spend_since(1_000).await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn the_writer_batches_flushes_and_counts_what_it_drops() {
    on_every_backend(|store| async move {
        let store: Arc<dyn Store> = Arc::new(store);
        let writer = RecordWriter::start(Arc::clone(&store), WriterSettings::default());
        for i in 0..2_500 {
            assert!(writer.push(record(&format!("w{i:05}"), i, "small")));
        }
        writer.flush().await;
        assert_eq!(
            writer
                .stats()
                .written
                .load(std::sync::atomic::Ordering::Relaxed),
            2_500
        );
        assert!(store.record("w02499").await.unwrap().is_some());

        let tiny = RecordWriter::start(
            Arc::clone(&store),
            WriterSettings {
                queue: 2,
                linger: Duration::from_secs(3_600),
                ..WriterSettings::default()
            },
        );
        let accepted = (0..50)
            .filter(|i| tiny.push(record(&format!("t{i}"), 0, "small")))
            .count();
        assert!(accepted < 50);
        assert_eq!(tiny.stats().dropped(), 50 - accepted as u64);
        tiny.close().await;
        writer.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_database_from_a_newer_routewise_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = SqlStore::open(&url).await.unwrap();
    store.close().await;
    // Reopening an up-to-date database applies nothing and works.
    let again = SqlStore::open(&url).await.unwrap();
    again.close().await;
    sqlx::any::install_default_drivers();
    let raw = sqlx::AnyPool::connect(&url).await.unwrap();
    raw.execute(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (99, 'future', TRUE, x'00', 0)",
    )
    .await
    .unwrap();
    raw.close().await;
    let refused = SqlStore::open(&url).await.unwrap_err();
    assert!(
        matches!(refused, StoreError::NewerSchema { found: 99, .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("newer routewise"), "{refused}");
}

#[tokio::test]
async fn bad_urls_and_unreachable_databases_are_clear_errors() {
    let err = SqlStore::open("mysql://nope").await.unwrap_err();
    assert!(matches!(err, StoreError::BadUrl { .. }), "{err}");
    let err = SqlStore::open("postgres://user:hunter2@127.0.0.1:1/db")
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let missing_dir = SqlStore::open("sqlite:///nonexistent-dir-for-routewise/x.db")
        .await
        .unwrap_err();
    assert!(
        missing_dir
            .to_string()
            .contains("nonexistent-dir-for-routewise"),
        "{missing_dir}"
    );
}

/// (requests, errors, fallbacks, cache hits, cost) of `rows` for one model.
fn tally_of(rows: &[RollupRow], model: &str) -> (i64, i64, i64, i64, f64) {
    rows.iter()
        .filter(|r| r.model == model)
        .fold((0, 0, 0, 0, 0.0), |t, r| {
            (
                t.0 + r.requests,
                t.1 + r.errors,
                t.2 + r.fallbacks,
                t.3 + r.cache_hits,
                t.4 + r.cost_usd,
            )
        })
}

#[tokio::test]
async fn rollups_follow_writes_and_rewrites() {
    on_every_backend(|store| async move {
        let minute = 60_000;
        let mut records = Vec::new();
        for i in 0..30 {
            let mut r = record(&format!("r{i:02}"), i64::from(i) * 20_000, "small");
            r.cost_usd = 0.5;
            if i % 10 == 0 {
                r.status = 502;
                r.outcome = "error".to_owned();
            }
            r.fallback = i % 7 == 0;
            if i == 3 {
                r.outcome = "cache_hit".to_owned();
            }
            records.push(r);
        }
        // Two batches, the second rewriting r05 onto another model.
        store.write_records(&records[..20]).await.unwrap();
        let mut moved = records[5].clone();
        moved.model = Some("large".to_owned());
        moved.cost_usd = 2.0;
        let mut second = records[20..].to_vec();
        second.push(moved);
        store.write_records(&second).await.unwrap();

        let minutes = store.rollups(minute, 0, 100 * minute).await.unwrap();
        assert!(
            minutes
                .iter()
                .all(|r| r.width_ms == minute && r.bucket_ms % minute == 0)
        );
        let (requests, errors, fallbacks, hits, cost) = tally_of(&minutes, "small");
        assert_eq!((requests, errors, fallbacks, hits), (29, 3, 5, 1));
        assert!((cost - 14.5).abs() < 1e-9, "{cost}");
        let (requests, _, _, _, cost) = tally_of(&minutes, "large");
        assert_eq!(requests, 1);
        assert!((cost - 2.0).abs() < 1e-9);
        // Three records a minute (every 20 s).
        assert_eq!(
            minutes
                .iter()
                .find(|r| r.bucket_ms == 0)
                .map(|r| r.requests),
            Some(3)
        );
        let hours = store.rollups(3_600_000, 0, 3_600_000).await.unwrap();
        assert_eq!(tally_of(&hours, "small").0, 29);
        assert_eq!(tally_of(&hours, "large").0, 1);
        // The range is on bucket starts.
        let later = store
            .rollups(minute, 5 * minute, 100 * minute)
            .await
            .unwrap();
        assert_eq!(tally_of(&later, "small").0, 15);
    })
    .await;
}

#[tokio::test]
async fn recent_pages_newest_first_with_the_latest_score() {
    on_every_backend(|store| async move {
        // Ids that do not sort by time, and ties on the time.
        let records = vec![
            record("zz", 1_000, "small"),
            record("aa", 3_000, "small"),
            record("mm", 3_000, "large"),
            record("bb", 2_000, "small"),
        ];
        store.write_records(&records).await.unwrap();
        store
            .add_feedback(feedback("f1", "mm", 4_000, 0.2))
            .await
            .unwrap();
        store
            .add_feedback(feedback("f2", "mm", 5_000, 0.9))
            .await
            .unwrap();
        let page = |before: Option<(i64, String)>| {
            let store = store.clone();
            async move {
                store
                    .recent(&RecentQuery {
                        since_unix_ms: Some(0),
                        until_unix_ms: Some(10_000),
                        before,
                        limit: 2,
                    })
                    .await
                    .unwrap()
            }
        };
        let first = page(None).await;
        let ids: Vec<&str> = first.iter().map(|r| r.record.request_id.as_str()).collect();
        assert_eq!(ids, ["mm", "aa"]);
        assert_eq!(first[0].score, Some(0.9));
        assert_eq!(first[1].score, None);
        let second = page(Some((3_000, "aa".to_owned()))).await;
        let ids: Vec<&str> = second
            .iter()
            .map(|r| r.record.request_id.as_str())
            .collect();
        assert_eq!(ids, ["bb", "zz"]);
        assert!(page(Some((1_000, "zz".to_owned()))).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn rollups_count_each_records_latest_score_and_latencies_are_the_newest() {
    on_every_backend(|store| async move {
        // Feedback on q5 arrives before its record is written.
        store
            .add_feedback(feedback("early", "q5", 500, 0.1))
            .await
            .unwrap();
        let mut records = Vec::new();
        for i in 0..6 {
            let mut r = record(
                &format!("q{i}"),
                1_000 + i,
                if i < 4 { "small" } else { "large" },
            );
            r.latency_ms = (i * 10) as f64;
            records.push(r);
        }
        store.write_records(&records).await.unwrap();
        for (id, request, at, score) in [
            ("a", "q0", 2_000, 0.0),
            ("b", "q0", 2_001, 1.0), // replaces a: q0 counts once, at 1.0
            ("c", "q1", 2_002, 0.5),
            ("d", "q4", 2_003, 0.75),
        ] {
            store
                .add_feedback(feedback(id, request, at, score))
                .await
                .unwrap();
        }
        // A rewrite of a rated record keeps its rating.
        store.write_records(&records[1..2]).await.unwrap();
        let rows = store.rollups(60_000, 0, 60_000).await.unwrap();
        let rated = |model: &str| {
            rows.iter()
                .filter(|r| r.model == model)
                .fold((0, 0.0, 0.0), |t, r| {
                    (t.0 + r.ratings, t.1 + r.score_sum, t.2 + r.score_sq_sum)
                })
        };
        let (n, sum, sq) = rated("small");
        assert_eq!(n, 2);
        assert!(
            (sum - 1.5).abs() < 1e-9 && (sq - 1.25).abs() < 1e-9,
            "{sum} {sq}"
        );
        let (n, sum, _) = rated("large");
        assert_eq!(n, 2);
        assert!((sum - 0.85).abs() < 1e-9, "{sum}");
        let hours = store.rollups(3_600_000, 0, 3_600_000).await.unwrap();
        assert_eq!(hours.iter().map(|r| r.ratings).sum::<i64>(), 4);

        let sample = store.latency_sample(0, 5_000, 3).await.unwrap();
        let latencies: Vec<f64> = sample.iter().map(|s| s.latency_ms).collect();
        assert_eq!(latencies, [50.0, 40.0, 30.0]);
    })
    .await;
}
