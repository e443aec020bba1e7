//! How many decision records a second the writer commits to SQLite: 10,000 records pushed as
//! the gateway pushes them (one at a time, never waiting), then flushed.
#![expect(
    clippy::expect_used,
    reason = "a benchmark with a broken setup should abort loudly"
)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use routewise_store::{DecisionRecord, RecordWriter, SqlStore, Store, WriterSettings};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RECORDS: u64 = 10_000;

fn record(id: u64) -> DecisionRecord {
    DecisionRecord {
        request_id: format!("{id:020}"),
        created_unix_ms: 1_700_000_000_000 + id as i64,
        key_name: Some("team".into()),
        route: Some("auto".into()),
        policy: Some("rules".into()),
        reason: Some("rule:simple-task".into()),
        experiment: None,
        arm: None,
        model: Some("small".into()),
        tier: Some(0),
        propensity: 1.0,
        outcome: "ok".into(),
        status: 200,
        prompt_tokens: 312,
        completion_tokens: 96,
        cost_usd: 0.000_07,
        baseline_cost_usd: 0.001_7,
        latency_ms: 812.4,
        overhead_ms: 0.21,
        fingerprint: Some(vec![42; 256]),
        prompt_hash: Some("ab".repeat(32)),
        prompt: None,
        upgraded_by: None,
        fallback: false,
        // About the size of a real log line.
        body: format!(
            "{{\"request_id\":\"{id:020}\",\"decision\":{}}}",
            "x".repeat(1_200)
        ),
    }
}

fn bench_writer(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store: Arc<dyn Store> = Arc::new(
        runtime
            .block_on(SqlStore::open(&url))
            .expect("the store opens"),
    );
    let writer = runtime.block_on(async { RecordWriter::start(store, WriterSettings::default()) });
    let mut next = 0u64;
    let mut group = c.benchmark_group("writer");
    group.throughput(Throughput::Elements(RECORDS));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("sqlite/10k-records", |b| {
        b.iter_custom(|iterations| {
            let started = Instant::now();
            for _ in 0..iterations {
                runtime.block_on(async {
                    for _ in 0..RECORDS {
                        next += 1;
                        while !writer.push(record(next)) {
                            tokio::task::yield_now().await;
                        }
                    }
                    writer.flush().await;
                });
            }
            started.elapsed()
        })
    });
    group.finish();
    assert_eq!(
        writer
            .stats()
            .dropped_failed
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

criterion_group!(benches, bench_writer);
criterion_main!(benches);
