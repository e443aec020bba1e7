//! Per-key rate limits: requests and tokens per minute, behind [`RateLimiter`].
//!
//! The in-process implementation keeps one GCRA limiter (governor) per bucket. A bucket is a
//! key's limit of one kind at one rate, so a reload that changes a key's rate starts a fresh
//! limit for it while every unchanged key keeps what it has spent.

use futures::future::BoxFuture;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter as Governor};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    Requests,
    Tokens,
}

impl LimitKind {
    /// As the error message says it.
    pub fn describe(self) -> &'static str {
        match self {
            LimitKind::Requests => "requests per minute",
            LimitKind::Tokens => "tokens per minute",
        }
    }
}

/// One limit of one client key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bucket {
    /// The client key's configured name.
    pub key: String,
    pub kind: LimitKind,
    pub per_minute: NonZeroU32,
}

/// Why a limit refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// Spent for now; this much later it would pass.
    Wait(Duration),
    /// More than the bucket holds at all: no wait makes it pass.
    Never,
}

/// Rate limits, shared by every request of a gateway (and, implemented over a shared store,
/// by every replica).
pub trait RateLimiter: std::fmt::Debug + Send + Sync {
    /// Takes `n` units from `bucket`, or says when they would be available.
    fn acquire<'a>(
        &'a self,
        bucket: &'a Bucket,
        n: NonZeroU32,
    ) -> BoxFuture<'a, Result<(), Denied>>;

    /// Takes up to `n` units, as far as the bucket goes, for work already done (a delivered
    /// completion): an overdraft only delays the key's next requests. Nothing waits on it, so
    /// it does not block: an implementation over a shared store sends it in the background.
    fn spend(&self, bucket: &Bucket, n: u32);

    /// After a reload: buckets no configured key uses any more may be forgotten.
    fn retain(&self, _live: &[Bucket]) {}
}

/// Limits kept in this process.
#[derive(Debug, Default)]
pub struct LocalRateLimiter {
    buckets: RwLock<HashMap<Bucket, Arc<DefaultDirectRateLimiter>>>,
}

impl LocalRateLimiter {
    fn limiter(&self, bucket: &Bucket) -> Arc<DefaultDirectRateLimiter> {
        if let Some(limiter) = self
            .buckets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(bucket)
        {
            return Arc::clone(limiter);
        }
        let mut buckets = self.buckets.write().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(
            buckets.entry(bucket.clone()).or_insert_with(|| {
                Arc::new(Governor::direct(Quota::per_minute(bucket.per_minute)))
            }),
        )
    }

    fn take(&self, bucket: &Bucket, n: NonZeroU32) -> Result<(), Denied> {
        match self.limiter(bucket).check_n(n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(Denied::Wait(
                not_until.wait_time_from(DefaultClock::default().now()),
            )),
            Err(_) => Err(Denied::Never),
        }
    }

    fn take_up_to(&self, bucket: &Bucket, n: u32) {
        let limiter = self.limiter(bucket);
        // Spend in chunks, halving a chunk that does not fit, until all is spent or not even
        // one unit is left.
        let (mut left, mut chunk) = (n, n.min(bucket.per_minute.get()));
        while let (Some(size), true) = (NonZeroU32::new(chunk), left > 0) {
            match limiter.check_n(size) {
                Ok(Ok(())) => {
                    left -= chunk;
                    chunk = chunk.min(left);
                }
                _ if chunk > 1 => chunk /= 2,
                _ => return,
            }
        }
    }
}

impl RateLimiter for LocalRateLimiter {
    fn acquire<'a>(
        &'a self,
        bucket: &'a Bucket,
        n: NonZeroU32,
    ) -> BoxFuture<'a, Result<(), Denied>> {
        let result = self.take(bucket, n);
        Box::pin(std::future::ready(result))
    }

    fn spend(&self, bucket: &Bucket, n: u32) {
        self.take_up_to(bucket, n);
    }

    fn retain(&self, live: &[Bucket]) {
        self.buckets
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|bucket, _| live.contains(bucket));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(key: &str, kind: LimitKind, per_minute: u32) -> Bucket {
        Bucket {
            key: key.to_owned(),
            kind,
            per_minute: NonZeroU32::new(per_minute).unwrap(),
        }
    }

    fn one() -> NonZeroU32 {
        NonZeroU32::MIN
    }

    #[tokio::test]
    async fn a_bucket_refuses_when_spent_and_never_for_more_than_it_holds() {
        let limits = LocalRateLimiter::default();
        let requests = bucket("k", LimitKind::Requests, 2);
        assert_eq!(limits.acquire(&requests, one()).await, Ok(()));
        assert_eq!(limits.acquire(&requests, one()).await, Ok(()));
        assert!(matches!(
            limits.acquire(&requests, one()).await,
            Err(Denied::Wait(wait)) if wait > Duration::ZERO
        ));
        let tokens = bucket("k", LimitKind::Tokens, 100);
        let many = NonZeroU32::new(500).unwrap();
        assert_eq!(limits.acquire(&tokens, many).await, Err(Denied::Never));
    }

    #[tokio::test]
    async fn spending_overdraws_as_far_as_the_bucket_goes() {
        let limits = LocalRateLimiter::default();
        let tokens = bucket("k", LimitKind::Tokens, 100);
        limits.spend(&tokens, 1_000);
        assert!(matches!(
            limits.acquire(&tokens, one()).await,
            Err(Denied::Wait(_))
        ));
    }

    #[tokio::test]
    async fn keys_and_rates_have_their_own_buckets() {
        let limits = LocalRateLimiter::default();
        let a = bucket("a", LimitKind::Requests, 1);
        assert_eq!(limits.acquire(&a, one()).await, Ok(()));
        assert!(limits.acquire(&a, one()).await.is_err());
        assert_eq!(
            limits
                .acquire(&bucket("b", LimitKind::Requests, 1), one())
                .await,
            Ok(())
        );
        let raised = bucket("a", LimitKind::Requests, 5);
        assert_eq!(
            limits.acquire(&raised, one()).await,
            Ok(()),
            "a new rate starts afresh"
        );
        limits.retain(std::slice::from_ref(&raised));
        assert_eq!(limits.buckets.read().unwrap().len(), 1);
    }
}
