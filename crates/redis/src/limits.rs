//! Rate limits that hold across replicas: one GCRA bucket per key, kind and rate, kept in Redis
//! and updated by one Lua script, so a check-and-take is atomic however many replicas ask. The
//! script reads Redis's own clock: replicas' clocks may disagree, Redis's is one.
//!
//! Local first: under a generous limit a replica takes a lease of units ahead of need
//! ([`crate::lease`]) and admits from it without a round trip, refilling it in the background
//! before it runs out; Redis is asked in line only when the lease is short (a key near its
//! limit, or a limit under 200 per minute, is checked there on every request). Every admitted
//! unit was taken from Redis first, so the replicas together never exceed the limit.
//!
//! The quota matches the in-process limiter's: a key may spend its per-minute allowance at
//! once, and it refills evenly over the minute. While Redis is out of reach each replica
//! enforces the full limit on its own (a key may then get up to N times its limit across N
//! replicas, for as long as the outage lasts).

use crate::client::Redis;
use crate::lease::{self, Lease};
use futures::future::BoxFuture;
use routewise_gateway::shared::{Bucket, Denied, LimitKind, LocalRateLimiter, RateLimiter};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// KEYS[1]: the bucket. ARGV: per minute, units, mode (`all`: all or nothing; `some`: as many
/// as fit), and for `all` how many more to take if they fit (a lease). Returns {status, value}:
/// {1, taken}, {0, wait in ms}, or {-1, 0} for more than the bucket ever holds. The bucket
/// stores its theoretical arrival time in microseconds.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local per_minute = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local window = 60000000
local interval = window / per_minute
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local room = math.floor((now + window - tat) / interval)
if ARGV[3] == 'some' then
  if room > n then room = n end
  if room <= 0 then return {0, 0} end
  n = room
elseif n > per_minute then
  return {-1, 0}
end
local allowed_at = tat + n * interval - window
if allowed_at > now then
  return {0, math.ceil((allowed_at - now) / 1000)}
end
local extra = tonumber(ARGV[4] or '0')
if extra > room - n then extra = room - n end
if extra > 0 then n = n + extra end
local next_tat = tat + n * interval
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000) + 1)
return {1, n}
";

/// KEYS[1]: the bucket. ARGV: per minute, units a lease gives back. Returns 1.
const RELEASE: &str = r"
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat then return 1 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
tat = tat - tonumber(ARGV[2]) * (60000000 / tonumber(ARGV[1]))
if tat <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
end
return 1
";

/// Limits kept in Redis, with this replica's own as the fallback.
#[derive(Debug, Clone)]
pub struct RedisRateLimiter(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    redis: Arc<Redis>,
    script: redis::Script,
    release: redis::Script,
    local: LocalRateLimiter,
    leases: RwLock<HashMap<Bucket, Arc<Mutex<Lease>>>>,
}

impl RedisRateLimiter {
    pub fn new(redis: Arc<Redis>) -> Self {
        Self(Arc::new(Inner {
            redis,
            script: redis::Script::new(GCRA),
            release: redis::Script::new(RELEASE),
            local: LocalRateLimiter::default(),
            leases: RwLock::default(),
        }))
    }
}

/// Locks a lease; a panic elsewhere cannot leave its counts half-updated (each update is one
/// statement), so a poisoned lock is still sound.
fn lock(lease: &Mutex<Lease>) -> std::sync::MutexGuard<'_, Lease> {
    lease.lock().unwrap_or_else(PoisonError::into_inner)
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
    async fn run(&self, bucket: &Bucket, n: u32, mode: &str, extra: u32) -> Option<(i64, i64)> {
        let key = self.key(bucket);
        let script = &self.script;
        self.redis
            .call("rate_limit", |mut connection| async move {
                script
                    .key(key)
                    .arg(bucket.per_minute.get())
                    .arg(n)
                    .arg(mode)
                    .arg(extra)
                    .invoke_async::<(i64, i64)>(&mut connection)
                    .await
            })
            .await
    }

    /// This replica's lease on `bucket`, or `None` for a limit too small to lease.
    fn lease(&self, bucket: &Bucket) -> Option<Arc<Mutex<Lease>>> {
        let cap = lease::max_lease(bucket.per_minute.get());
        if cap < 2 {
            return None;
        }
        if let Some(lease) = self
            .leases
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(bucket)
        {
            return Some(Arc::clone(lease));
        }
        let mut leases = self.leases.write().unwrap_or_else(PoisonError::into_inner);
        let lease = leases
            .entry(bucket.clone())
            .or_insert_with(|| Arc::new(Mutex::new(Lease::new(cap, Instant::now()))));
        Some(Arc::clone(lease))
    }

    /// Gives units a lease no longer holds back to Redis, in the background.
    fn give_back(self: &Arc<Self>, bucket: &Bucket, units: u32) {
        if units == 0 || self.redis.is_degraded() {
            return;
        }
        let inner = Arc::clone(self);
        let bucket = bucket.clone();
        tokio::spawn(async move {
            let key = inner.key(&bucket);
            let script = &inner.release;
            inner
                .redis
                .call("rate_limit_release", |mut connection| async move {
                    script
                        .key(key)
                        .arg(bucket.per_minute.get())
                        .arg(units)
                        .invoke_async::<i64>(&mut connection)
                        .await
                })
                .await;
        });
    }

    /// Starts a background refill when the lease runs low.
    fn refill_if_due(self: &Arc<Self>, bucket: &Bucket, lease: &Arc<Mutex<Lease>>) {
        let Some(want) = lock(lease).refill_due(Instant::now()) else {
            return;
        };
        let inner = Arc::clone(self);
        let bucket = bucket.clone();
        let lease = Arc::clone(lease);
        tokio::spawn(async move {
            let granted = match inner.run(&bucket, want, "some", 0).await {
                Some((1, taken)) => u32::try_from(taken).unwrap_or(0),
                _ => 0,
            };
            lock(&lease).settle(want, granted, Instant::now());
        });
    }

    /// Takes `n` units: from the lease when it holds them, else from Redis in line (with a
    /// lease's worth more if they fit), else, while Redis is out of reach, locally.
    async fn acquire(self: &Arc<Self>, bucket: &Bucket, n: NonZeroU32) -> Result<(), Denied> {
        let lease = self.lease(bucket);
        let mut extra = 0;
        if let Some(lease) = &lease {
            let now = Instant::now();
            let (expired, taken) = {
                let mut held = lock(lease);
                let expired = held.expire(now);
                let taken = held.try_take(n.get(), now);
                if !taken && !self.redis.is_degraded() {
                    extra = held.extra_for_inline(now);
                }
                (expired, taken)
            };
            self.give_back(bucket, expired);
            if taken {
                self.refill_if_due(bucket, lease);
                return Ok(());
            }
        }
        let shared = self.run(bucket, n.get(), "all", extra).await;
        if let Some(lease) = &lease {
            let granted = match shared {
                Some((1, taken)) => u32::try_from(taken).unwrap_or(0).saturating_sub(n.get()),
                _ => 0,
            };
            let mut held = lock(lease);
            held.settle(extra, granted, Instant::now());
            if matches!(shared, Some((1, _))) {
                held.note_use(n.get(), Instant::now());
            }
        }
        match shared {
            Some((1, _)) => Ok(()),
            Some((-1, _)) => Err(Denied::Never),
            Some((_, wait_ms)) => Err(Denied::Wait(Duration::from_millis(
                u64::try_from(wait_ms).unwrap_or(0).max(1),
            ))),
            None => self.local.acquire(bucket, n).await,
        }
    }

    /// Spends `n` units of work already done: from the lease as far as it goes, the rest in
    /// Redis in the background (locally while Redis is out of reach).
    fn spend(self: &Arc<Self>, bucket: &Bucket, n: u32) {
        let mut rest = n;
        if let Some(lease) = self.lease(bucket) {
            rest -= lock(&lease).take_up_to(n, Instant::now());
            self.refill_if_due(bucket, &lease);
        }
        if rest == 0 {
            return;
        }
        if self.redis.is_degraded() {
            self.local.spend(bucket, rest);
            return;
        }
        let inner = Arc::clone(self);
        let bucket = bucket.clone();
        tokio::spawn(async move {
            if inner.run(&bucket, rest, "some", 0).await.is_none() {
                inner.local.spend(&bucket, rest);
            }
        });
    }

    /// Forgets the leases of buckets no key uses any more, giving their units back.
    fn retain(self: &Arc<Self>, live: &[Bucket]) {
        let dropped: Vec<(Bucket, u32)> = {
            let mut leases = self.leases.write().unwrap_or_else(PoisonError::into_inner);
            let gone: Vec<Bucket> = leases
                .keys()
                .filter(|bucket| !live.contains(bucket))
                .cloned()
                .collect();
            gone.into_iter()
                .filter_map(|bucket| {
                    let lease = leases.remove(&bucket)?;
                    let units = lock(&lease).units();
                    Some((bucket, units))
                })
                .collect()
        };
        for (bucket, units) in dropped {
            self.give_back(&bucket, units);
        }
        // Redis forgets a bucket by itself once it has refilled (its time to live).
        self.local.retain(live);
    }
}

impl RateLimiter for RedisRateLimiter {
    fn acquire<'a>(
        &'a self,
        bucket: &'a Bucket,
        n: NonZeroU32,
    ) -> BoxFuture<'a, Result<(), Denied>> {
        Box::pin(self.0.acquire(bucket, n))
    }

    fn spend(&self, bucket: &Bucket, n: u32) {
        if n > 0 {
            self.0.spend(bucket, n);
        }
    }

    fn retain(&self, live: &[Bucket]) {
        self.0.retain(live);
    }
}
