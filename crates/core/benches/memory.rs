//! Memory's costs on the request path: a query's fingerprint, an upgrade lookup and a
//! track-record lookup against 100,000 remembered queries.
#![expect(
    clippy::expect_used,
    reason = "a benchmark with a broken setup should abort loudly"
)]

use criterion::{Criterion, criterion_group, criterion_main};
use routewise_core::memory::{Fingerprint, RatedQueries, Rating, Upgrade, UpgradeMemory};
use std::hint::black_box;

const ENTRIES: usize = 100_000;

/// Deterministic pseudo-words, so that the remembered queries look like varied traffic.
fn query(seed: u64) -> String {
    const WORDS: [&str; 48] = [
        "what",
        "is",
        "the",
        "how",
        "do",
        "i",
        "convert",
        "explain",
        "best",
        "way",
        "to",
        "write",
        "python",
        "rust",
        "sql",
        "query",
        "error",
        "file",
        "json",
        "csv",
        "summarise",
        "report",
        "email",
        "customer",
        "refund",
        "policy",
        "capital",
        "france",
        "river",
        "planet",
        "moon",
        "recipe",
        "chicken",
        "budget",
        "trip",
        "kyoto",
        "contract",
        "clause",
        "tax",
        "invoice",
        "compare",
        "these",
        "two",
        "options",
        "for",
        "a",
        "small",
        "team",
    ];
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let len = 6 + (next() % 14) as usize;
    (0..len)
        .map(|_| WORDS[(next() % WORDS.len() as u64) as usize])
        .collect::<Vec<_>>()
        .join(" ")
}

fn bench_memory(c: &mut Criterion) {
    let prompt = "Our team runs a service that ingests sensor readings from ten thousand devices, stores them in a time-series database and raises alerts when a reading drifts from its baseline. ".repeat(6);
    c.bench_function("memory/fingerprint/300-tokens", |b| {
        b.iter(|| Fingerprint::of(black_box(&prompt)))
    });

    let mut upgrades = UpgradeMemory::new(ENTRIES);
    let mut rated = RatedQueries::new(ENTRIES);
    for i in 0..ENTRIES as u64 {
        let fingerprint = Fingerprint::of(&query(i));
        upgrades.remember(
            fingerprint,
            Upgrade {
                rated_request: format!("r{i}"),
                rated_model: "small".into(),
                min_tier: 1,
                created_unix_ms: 0,
                expires_unix_ms: u64::MAX,
            },
        );
        rated.rate(
            fingerprint,
            Rating {
                request: format!("r{i}"),
                model: if i % 2 == 0 { "small" } else { "large" }.into(),
                score: (i % 5) as f64 / 4.0,
            },
        );
    }
    assert_eq!(upgrades.len(), ENTRIES);
    let probe = Fingerprint::of(&query(1_000_003));
    let seen = Fingerprint::of(&query(42));
    c.bench_function("memory/upgrade-lookup/100k", |b| {
        b.iter(|| upgrades.floor(black_box(&probe), 1, 0.6))
    });
    c.bench_function("memory/upgrade-lookup-hit/100k", |b| {
        b.iter(|| {
            upgrades
                .floor(black_box(&seen), 1, 0.6)
                .expect("remembered")
        })
    });
    c.bench_function("memory/track-record/100k", |b| {
        b.iter(|| rated.track_record(black_box(&probe), 20, 0.4))
    });
}

criterion_group!(benches, bench_memory);
criterion_main!(benches);
