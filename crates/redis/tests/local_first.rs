//! Local-first shared state: under a generous limit and a healthy upstream a replica decides
//! without a Redis round trip per request, and still never lets the replicas together exceed
//! a key's limit or miss a circuit another replica opened. Uses the machine's Redis (see
//! `support`), each test under its own key prefix.
#![expect(clippy::unwrap_used, reason = "tests: a failed setup is a failed test")]

mod support;

use routewise_gateway::shared::{
    Admission, Bucket, CircuitBreaker, CircuitSettings, LimitKind, RateLimiter, Verdict,
};
use routewise_redis::Redis;
use routewise_redis::circuits::RedisCircuits;
use routewise_redis::limits::RedisRateLimiter;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{Services, eventually, redis_base};

fn redis(services: &Services) -> Arc<Redis> {
    // Generous: a call that timed out would fall back to this replica's own limits and
    // circuits, which these tests are not about.
    Redis::open(&redis_base(), &services.prefix, Duration::from_secs(5)).unwrap()
}

fn requests(per_minute: u32) -> Bucket {
    Bucket {
        key: "team".into(),
        kind: LimitKind::Requests,
        per_minute: NonZeroU32::new(per_minute).unwrap(),
    }
}

#[tokio::test]
async fn a_generous_limit_admits_from_a_lease_not_a_call_per_request() {
    let Some(services) = Services::start().await else {
        return;
    };
    let redis = redis(&services);
    let limits = RedisRateLimiter::new(Arc::clone(&redis));
    let bucket = requests(60_000);
    for i in 0..500 {
        assert_eq!(
            limits.acquire(&bucket, NonZeroU32::MIN).await,
            Ok(()),
            "request {i}"
        );
    }
    let calls = redis.calls();
    assert!(
        calls < 100,
        "{calls} Redis calls for 500 requests: the lease is not used"
    );
    services.finish().await;
}

#[tokio::test]
async fn replicas_with_leases_never_admit_more_than_the_limit_together() {
    let Some(services) = Services::start().await else {
        return;
    };
    // 400 a minute: each replica's lease holds at most 4.
    let bucket = requests(400);
    let replicas = [redis(&services), redis(&services)].map(RedisRateLimiter::new);
    let started = Instant::now();
    let admitted = futures::future::join_all(replicas.iter().map(|limits| {
        let bucket = bucket.clone();
        async move {
            let mut admitted = 0u32;
            for _ in 0..300 {
                if limits.acquire(&bucket, NonZeroU32::MIN).await.is_ok() {
                    admitted += 1;
                }
            }
            admitted
        }
    }))
    .await;
    let total: u32 = admitted.iter().sum();
    // The bucket refills 400/60 a second while the test runs.
    let refilled = (started.elapsed().as_secs_f64() * 400.0 / 60.0).ceil() as u32;
    assert!(
        total <= 400 + refilled,
        "{total} admitted ({admitted:?}) against a limit of 400 (+{refilled} refilled)"
    );
    assert!(
        total >= 400 - 2 * 4,
        "{total} admitted ({admitted:?}): more than two leases' worth was stranded"
    );
    services.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_circuit_costs_no_call_per_request() {
    let Some(services) = Services::start().await else {
        return;
    };
    let redis = redis(&services);
    let circuits = RedisCircuits::new(Arc::clone(&redis));
    let settings = CircuitSettings {
        threshold: 2,
        cooldown: Duration::from_secs(30),
    };
    // Let the listener subscribe and read the (empty) set of open circuits first.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = redis.calls();
    for _ in 0..200 {
        assert_eq!(circuits.admit("small").await, Admission::Allowed);
        circuits.record("small", Verdict::Success, settings);
        // Over 200 ms, so that background resets (if any were sent per call) have run.
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let calls = redis.calls() - before;
    assert!(calls <= 10, "{calls} Redis calls for 200 healthy calls");
    services.finish().await;
}

#[tokio::test]
async fn an_opened_circuit_is_announced_to_every_replica_and_closes_for_all() {
    let Some(services) = Services::start().await else {
        return;
    };
    let a = RedisCircuits::new(redis(&services));
    let b = RedisCircuits::new(redis(&services));
    let settings = CircuitSettings {
        threshold: 2,
        cooldown: Duration::from_millis(300),
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Failures on A with a success between them stay under the threshold.
    a.record("small", Verdict::Failure, settings);
    tokio::time::sleep(Duration::from_millis(50)).await;
    a.record("small", Verdict::Success, settings);
    tokio::time::sleep(Duration::from_millis(50)).await;
    a.record("small", Verdict::Failure, settings);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !b.seen_open("small"),
        "one failure after a success opened it"
    );
    a.record("small", Verdict::Failure, settings);
    assert!(
        eventually(2, || async { b.seen_open("small") }).await,
        "B never heard that A opened the circuit"
    );
    assert!(matches!(b.admit("small").await, Admission::Rejected { .. }));
    tokio::time::sleep(settings.cooldown).await;
    // Cooled down: exactly one replica probes.
    let (first, second) = (b.admit("small").await, a.admit("small").await);
    assert_eq!(first, Admission::Probe);
    assert!(matches!(second, Admission::Rejected { .. }), "{second:?}");
    b.record("small", Verdict::Success, settings);
    assert!(
        eventually(2, || async { !a.seen_open("small") }).await,
        "A never heard that B's probe closed the circuit"
    );
    assert_eq!(a.admit("small").await, Admission::Allowed);
    services.finish().await;
}

#[tokio::test]
async fn a_reply_fetched_once_is_served_near_until_its_shared_copy_expires() {
    use routewise_config::server::CacheConfig;
    use routewise_gateway::shared::{CachedReply, ResponseCache};
    use routewise_redis::cache::RedisCache;
    let Some(services) = Services::start().await else {
        return;
    };
    let config = CacheConfig {
        ttl: Duration::from_millis(600),
        max_entries: 100,
    };
    let a = RedisCache::new(redis(&services), config);
    let b_redis = redis(&services);
    let b = RedisCache::new(Arc::clone(&b_redis), config);
    let reply = CachedReply {
        body: bytes::Bytes::from_static(br#"{"id":"x"}"#),
        model: "small".into(),
        policy: "rules".into(),
        reason: "rule:short".into(),
    };
    let key = [7u8; 32];
    a.insert(key, reply.clone()).await;
    // Half the time to live later, B fetches: its near copy must end with the shared one, not
    // a full time to live after the fetch.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = b_redis.calls();
    for _ in 0..5 {
        assert_eq!(b.get(&key).await.as_deref(), Some(&reply));
    }
    assert_eq!(b_redis.calls() - before, 1, "B asked Redis more than once");
    // The near copy ends with the shared one: no stale hit after the time to live.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(b.get(&key).await, None);
    assert_eq!(a.get(&key).await, None);
    services.finish().await;
}

#[tokio::test]
async fn spend_is_summed_locally_and_added_in_one_call() {
    use redis::AsyncCommands;
    use routewise_gateway::shared::SpendBook;
    use routewise_redis::spend::RedisSpend;
    let Some(services) = Services::start().await else {
        return;
    };
    let redis = redis(&services);
    let book = RedisSpend::new(Arc::clone(&redis));
    for i in 0..100 {
        book.add(7, (i % 2 == 0).then_some("team"), 0.01);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        redis.calls(),
        1,
        "100 requests' spend took more than one call"
    );
    let mut connection = support::redis_connection().await.unwrap();
    let hash = services.key("spend:7");
    let all: f64 = connection.hget(&hash, "all").await.unwrap();
    let team: f64 = connection.hget(&hash, "key:team").await.unwrap();
    assert!((all - 1.0).abs() < 1e-9, "all: {all}");
    assert!((team - 0.5).abs() < 1e-9, "team: {team}");
    services.finish().await;
}
