//! Rate limits that hold across replicas: one GCRA bucket per key, kind and rate, kept in Redis
//! and updated by one Lua script, so a check-and-take is atomic however many replicas ask. The
//! script reads Redis's own clock: replicas' clocks may disagree, Redis's is one.
//!
//! Local first: under a generous limit a replica takes a lease of units ahead of need
//! ([`crate::lease`]) and admits from it without a round trip, refilling it in the background
//! before it runs out; Redis is asked in line only when the lease is short (a key near its
//! limit, or a limit under 200 per minute, is checked there on every request). Every admitted
//! unit was counted by Redis first, at most a second before, so the replicas together exceed
//! the limit by at most one small lease each (see [`crate::lease`]).
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

/// Limits kept in Redis, with this replica's own as the fallback.
#[derive(Debug, Clone)]
pub struct RedisRateLimiter(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    redis: Arc<Redis>,
    script: redis::Script,
    local: LocalRateLimiter,
    leases: RwLock<HashMap<Bucket, Arc<Mutex<Lease>>>>,
}

impl RedisRateLimiter {
    pub fn new(redis: Arc<Redis>) -> Self {
        Self(Arc::new(Inner {
            redis,
            script: redis::Script::new(GCRA),
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
        let mut extra = None;
        if let Some(lease) = &lease {
            let now = Instant::now();
            let taken = {
                let mut held = lock(lease);
                held.expire(now);
                let taken = held.try_take(n.get(), now);
                if !taken && !self.redis.is_degraded() {
                    extra = Some(InFlight::new(lease, held.extra_for_inline(now)));
                }
                taken
            };
            if taken {
                self.refill_if_due(bucket, lease);
                return Ok(());
            }
        }
        let asked = extra.as_ref().map_or(0, |extra| extra.asked);
        let shared = self.run(bucket, n.get(), "all", asked).await;
        if let Some(extra) = extra {
            let granted = match shared {
                Some((1, taken)) => u32::try_from(taken).unwrap_or(0).saturating_sub(n.get()),
                _ => 0,
            };
            extra.settle(
                granted,
                shared
                    .is_some_and(|(status, _)| status == 1)
                    .then_some(n.get()),
            );
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
            let now = Instant::now();
            let mut held = lock(&lease);
            held.expire(now);
            rest -= held.take_up_to(n, now);
            drop(held);
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

    /// Forgets the leases of buckets no key uses any more.
    fn retain(&self, live: &[Bucket]) {
        self.leases
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|bucket, _| live.contains(bucket));
        // Redis forgets a bucket by itself once it has refilled (its time to live).
        self.local.retain(live);
    }
}

/// Units a request asked of Redis for its lease, beyond its own, while the call is in flight:
/// settled when the answer comes, and as granted nothing if the request is dropped first (a
/// client that hangs up), so the lease never waits for an answer that will not come.
struct InFlight {
    lease: Arc<Mutex<Lease>>,
    asked: u32,
    settled: bool,
}

impl InFlight {
    fn new(lease: &Arc<Mutex<Lease>>, asked: u32) -> Self {
        Self {
            lease: Arc::clone(lease),
            asked,
            settled: false,
        }
    }

    /// Redis granted `granted` units for the lease, and `used` for the request itself.
    fn settle(mut self, granted: u32, used: Option<u32>) {
        let now = Instant::now();
        let mut held = lock(&self.lease);
        held.settle(self.asked, granted, now);
        if let Some(used) = used {
            held.note_use(used, now);
        }
        self.settled = true;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if !self.settled {
            lock(&self.lease).settle(self.asked, 0, Instant::now());
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_request_leaves_no_extra_pending() {
        let lease = Arc::new(Mutex::new(Lease::new(100, Instant::now())));
        let asked = lock(&lease).extra_for_inline(Instant::now());
        assert!(asked > 0);
        assert_eq!(
            lock(&lease).refill_due(Instant::now()),
            None,
            "an answer is on its way"
        );
        // The client hung up before Redis answered: the request's future, and this, dropped.
        drop(InFlight::new(&lease, asked));
        assert!(
            lock(&lease).refill_due(Instant::now()).is_some(),
            "the lease still waits for the dropped request's answer"
        );
    }
}
