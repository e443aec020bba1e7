//! Rate limits that hold across replicas: one GCRA bucket per key, kind and rate, kept in Redis
//! and updated by one Lua script, so a check-and-take is atomic however many replicas ask. The
//! script reads Redis's own clock: replicas' clocks may disagree, Redis's is one.
//!
//! The quota matches the in-process limiter's: a key may spend its per-minute allowance at
//! once, and it refills evenly over the minute. While Redis is out of reach each replica
//! enforces the full limit on its own (a key may then get up to N times its limit across N
//! replicas, for as long as the outage lasts).

use crate::client::Redis;
use futures::future::BoxFuture;
use routewise_gateway::shared::{Bucket, Denied, LimitKind, LocalRateLimiter, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// KEYS[1]: the bucket. ARGV: per minute, units, mode (`all`: all or nothing; `some`: as many
/// as fit). Returns {status, value}: {1, taken}, {0, wait in ms}, or {-1, 0} for more than the
/// bucket ever holds. The bucket stores its theoretical arrival time in microseconds.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local per_minute = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local window = 60000000
local interval = window / per_minute
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if ARGV[3] == 'some' then
  local room = math.floor((now + window - tat) / interval)
  if room > n then room = n end
  if room <= 0 then return {0, 0} end
  n = room
elseif n > per_minute then
  return {-1, 0}
end
local next_tat = tat + n * interval
local allowed_at = next_tat - window
if allowed_at > now then
  return {0, math.ceil((allowed_at - now) / 1000)}
end
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1)
return {1, n}
";

/// Limits kept in Redis, with this replica's own as the fallback.
#[derive(Debug, Clone)]
pub struct RedisRateLimiter(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    redis: Arc<Redis>,
    script: redis::Script,
    local: LocalRateLimiter,
}

impl RedisRateLimiter {
    pub fn new(redis: Arc<Redis>) -> Self {
        Self(Arc::new(Inner {
            redis,
            script: redis::Script::new(GCRA),
            local: LocalRateLimiter::default(),
        }))
    }
}

impl Inner {
    fn key(&self, bucket: &Bucket) -> String {
        let kind = match bucket.kind {
            LimitKind::Requests => "rpm",
            LimitKind::Tokens => "tpm",
        };
        self.redis.key(&format!(
            "limit:{kind}:{}:{}",
            bucket.per_minute, bucket.key
        ))
    }

    /// Runs the script; `None` when Redis did not answer.
    async fn run(&self, bucket: &Bucket, n: u32, mode: &str) -> Option<(i64, i64)> {
        let key = self.key(bucket);
        let script = &self.script;
        self.redis
            .call("rate_limit", |mut connection| async move {
                script
                    .key(key)
                    .arg(bucket.per_minute.get())
                    .arg(n)
                    .arg(mode)
                    .invoke_async::<(i64, i64)>(&mut connection)
                    .await
            })
            .await
    }
}

impl RateLimiter for RedisRateLimiter {
    fn acquire<'a>(
        &'a self,
        bucket: &'a Bucket,
        n: NonZeroU32,
    ) -> BoxFuture<'a, Result<(), Denied>> {
        Box::pin(async move {
            match self.0.run(bucket, n.get(), "all").await {
                Some((1, _)) => Ok(()),
                Some((-1, _)) => Err(Denied::Never),
                Some((_, wait_ms)) => Err(Denied::Wait(Duration::from_millis(
                    u64::try_from(wait_ms).unwrap_or(0).max(1),
                ))),
                None => self.0.local.acquire(bucket, n).await,
            }
        })
    }

    fn spend(&self, bucket: &Bucket, n: u32) {
        if n == 0 {
            return;
        }
        if self.0.redis.is_degraded() {
            self.0.local.spend(bucket, n);
            return;
        }
        let inner = Arc::clone(&self.0);
        let bucket = bucket.clone();
        tokio::spawn(async move {
            if inner.run(&bucket, n, "some").await.is_none() {
                inner.local.spend(&bucket, n);
            }
        });
    }

    fn retain(&self, live: &[Bucket]) {
        // Redis forgets a bucket by itself once it has refilled (its time to live).
        self.0.local.retain(live);
    }
}
