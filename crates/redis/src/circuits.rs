//! Circuit breakers that every replica shares: a model's failures through any replica count
//! towards opening its circuit, an open circuit is routed around by all, and when it has
//! cooled down exactly one replica's call probes it (a lease in Redis, so a probing replica
//! that dies does not hold the circuit half-open for ever). Two Lua scripts keep each step
//! atomic; they read Redis's clock.
//!
//! Every verdict is also recorded in this replica's own circuits, so that while Redis is out
//! of reach the replica routes by what it has seen itself.

use crate::client::Redis;
use futures::future::BoxFuture;
use routewise_gateway::shared::{
    Admission, CircuitBreaker, CircuitSettings, LocalCircuits, Verdict,
};
use std::sync::Arc;
use std::time::Duration;

/// How long a probe may take before another replica may probe instead.
const PROBE_LEASE: Duration = Duration::from_secs(30);

/// How soon a replica that meets a probe in flight looks again (as in process).
const PROBE_WAIT_MS: i64 = 1000;

/// How long failures that did not open a circuit are remembered.
const FAILURES_KEPT_MS: u64 = 600_000;

/// KEYS[1]: the circuit. ARGV: probe lease (ms), how soon to look again while another replica
/// probes (ms). Returns {0, 0} allowed, {1, 0} probe,
/// {2, retry in ms} rejected.
const ADMIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
if open_until == 0 then return {0, 0} end
if now < open_until then return {2, open_until - now} end
local probe_until = tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0')
if now < probe_until then return {2, tonumber(ARGV[2])} end
redis.call('HSET', KEYS[1], 'probe_until', now + tonumber(ARGV[1]))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) + 60000)
return {1, 0}
";

/// KEYS[1]: the circuit. ARGV: verdict (`success`, `failure`, `abandoned`), threshold,
/// cooldown (ms), how long failures are kept (ms). Returns 1 when this opened the circuit.
const RECORD: &str = r"
local verdict = ARGV[1]
if verdict == 'success' then
  redis.call('DEL', KEYS[1])
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local open_until = tonumber(redis.call('HGET', KEYS[1], 'open_until') or '0')
local probe_until = tonumber(redis.call('HGET', KEYS[1], 'probe_until') or '0')
if verdict == 'abandoned' then
  if probe_until > 0 then redis.call('HSET', KEYS[1], 'probe_until', 0) end
  return 0
end
local cooldown = tonumber(ARGV[3])
if open_until > 0 and now < open_until then return 0 end
if open_until > 0 then
  redis.call('HSET', KEYS[1], 'open_until', now + cooldown, 'probe_until', 0, 'failures', 0)
  redis.call('PEXPIRE', KEYS[1], cooldown + tonumber(ARGV[4]))
  return 1
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if failures >= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], 'open_until', now + cooldown, 'failures', 0)
  redis.call('PEXPIRE', KEYS[1], cooldown + tonumber(ARGV[4]))
  return 1
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]))
return 0
";

/// Circuits kept in Redis, mirrored in this replica.
#[derive(Debug, Clone)]
pub struct RedisCircuits(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    redis: Arc<Redis>,
    admit: redis::Script,
    record: redis::Script,
    local: LocalCircuits,
}

impl RedisCircuits {
    pub fn new(redis: Arc<Redis>) -> Self {
        Self(Arc::new(Inner {
            redis,
            admit: redis::Script::new(ADMIT),
            record: redis::Script::new(RECORD),
            local: LocalCircuits::default(),
        }))
    }
}

impl Inner {
    fn key(&self, model: &str) -> String {
        self.redis.key(&format!("circuit:{model}"))
    }

    async fn record_shared(&self, model: &str, verdict: Verdict, settings: CircuitSettings) {
        let verdict = match verdict {
            Verdict::Success => "success",
            Verdict::Failure => "failure",
            Verdict::Abandoned => "abandoned",
        };
        let key = self.key(model);
        let cooldown_ms = u64::try_from(settings.cooldown.as_millis()).unwrap_or(u64::MAX);
        let script = &self.record;
        let opened = self
            .redis
            .call("circuit_record", |mut connection| async move {
                script
                    .key(key)
                    .arg(verdict)
                    .arg(settings.threshold)
                    .arg(cooldown_ms)
                    .arg(FAILURES_KEPT_MS)
                    .invoke_async::<i64>(&mut connection)
                    .await
            })
            .await;
        if opened == Some(1) {
            tracing::warn!(
                "circuit for `{model}` opened for every replica for {:?}",
                settings.cooldown
            );
        }
    }
}

impl CircuitBreaker for RedisCircuits {
    fn admit<'a>(&'a self, model: &'a str) -> BoxFuture<'a, Admission> {
        Box::pin(async move {
            let inner = &self.0;
            let key = inner.key(model);
            let lease_ms = u64::try_from(PROBE_LEASE.as_millis()).unwrap_or(u64::MAX);
            let script = &inner.admit;
            let shared = inner
                .redis
                .call("circuit_admit", |mut connection| async move {
                    script
                        .key(key)
                        .arg(lease_ms)
                        .arg(PROBE_WAIT_MS)
                        .invoke_async::<(i64, i64)>(&mut connection)
                        .await
                })
                .await;
            match shared {
                Some((0, _)) => Admission::Allowed,
                Some((1, _)) => Admission::Probe,
                Some((_, retry_ms)) => Admission::Rejected {
                    retry_in: Duration::from_millis(u64::try_from(retry_ms).unwrap_or(0)),
                },
                None => inner.local.admit(model).await,
            }
        })
    }

    fn record(&self, model: &str, verdict: Verdict, settings: CircuitSettings) {
        // The mirror learns every verdict except a probe's own (the probe was Redis's).
        self.0.local.record(model, verdict, settings);
        if self.0.redis.is_degraded() {
            return;
        }
        let inner = Arc::clone(&self.0);
        let model = model.to_owned();
        tokio::spawn(async move { inner.record_shared(&model, verdict, settings).await });
    }

    fn is_open(&self, model: &str) -> bool {
        self.0.local.is_open(model)
    }
}
