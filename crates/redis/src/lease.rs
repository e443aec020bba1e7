//! A replica's lease on a shared rate limit: units taken from the key's Redis bucket ahead of
//! need and spent here without a round trip, so that a request under a generous limit waits
//! on no Redis call at all.
//!
//! Every unit a replica admits was counted by Redis first, at most [`LEASE_TTL`] before: units a
//! lease has held that long are dropped, never used. So over any span the replicas together
//! admit at most what Redis's bucket allowed over that span and the second before it: at most
//! one lease per replica (1/[`LEASE_DIVISOR`] of the limit each) beyond the limit. What a lease
//! holds unused is what the others cannot have, which is why a lease is sized to last
//! [`LEASE_SPAN`] at this replica's own pace and never holds more than 1/[`LEASE_DIVISOR`] of
//! the limit. A limit too small for a lease of two ([`max_lease`] < 2, under 200 per minute) is
//! checked in Redis on every request, exactly as without leases. Dropped units are not given
//! back: by the time they expire the bucket may have refilled past them, and returning them
//! would then create room Redis never had.
//!
//! This is the bookkeeping alone; the clock is an argument, so it is tested without waiting.

use std::time::{Duration, Instant};

/// A lease holds at most this fraction (1/N) of a limit's per-minute allowance.
pub(crate) const LEASE_DIVISOR: u32 = 100;

/// A lease is sized to last about this long at the pace this replica spends the bucket.
const LEASE_SPAN: Duration = Duration::from_millis(100);

/// Units a lease has held this long unused are dropped.
pub(crate) const LEASE_TTL: Duration = Duration::from_secs(1);

/// The pace is never measured over less than this, so that the first requests after a quiet
/// spell do not read as a flood.
const MIN_PACE_WINDOW: Duration = Duration::from_millis(50);

/// The largest lease on a limit of `per_minute`.
pub(crate) fn max_lease(per_minute: u32) -> u32 {
    per_minute / LEASE_DIVISOR
}

/// One bucket's lease on this replica.
#[derive(Debug)]
pub(crate) struct Lease {
    cap: u32,
    /// Units held here, taken from Redis and not yet spent.
    units: u32,
    /// When units were last granted: the lease's age for [`LEASE_TTL`].
    granted_at: Instant,
    /// Units asked of Redis by calls still in flight.
    pending: u32,
    /// Units spent since `since`, for the pace.
    used: u64,
    since: Instant,
    /// Units per second over the last full pace window.
    last_rate: f64,
}

impl Lease {
    pub(crate) fn new(cap: u32, now: Instant) -> Self {
        Self {
            cap,
            units: 0,
            granted_at: now,
            pending: 0,
            used: 0,
            since: now,
            last_rate: 0.0,
        }
    }

    /// Drops the units that have outlived [`LEASE_TTL`]; returns how many.
    pub(crate) fn expire(&mut self, now: Instant) -> u32 {
        if self.units > 0 && now.saturating_duration_since(self.granted_at) >= LEASE_TTL {
            std::mem::take(&mut self.units)
        } else {
            0
        }
    }

    /// Takes `n` units from the lease if it holds them.
    pub(crate) fn try_take(&mut self, n: u32, now: Instant) -> bool {
        if self.units < n {
            return false;
        }
        self.units -= n;
        self.note_use(n, now);
        true
    }

    /// Takes as many of `n` units as the lease holds; returns how many it took.
    pub(crate) fn take_up_to(&mut self, n: u32, now: Instant) -> u32 {
        let taken = n.min(self.units);
        self.units -= taken;
        self.note_use(taken, now);
        taken
    }

    /// Counts `n` units spent on this replica, whether from the lease or taken from Redis in
    /// line, so the pace sees all of them.
    pub(crate) fn note_use(&mut self, n: u32, now: Instant) {
        self.used = self.used.saturating_add(u64::from(n));
        let elapsed = now.saturating_duration_since(self.since);
        if elapsed >= LEASE_TTL {
            self.last_rate = self.used as f64 / elapsed.as_secs_f64();
            self.used = 0;
            self.since = now;
        }
    }

    /// The lease size this replica's pace calls for, in 1..=cap.
    fn wanted(&self, now: Instant) -> u32 {
        let window = now
            .saturating_duration_since(self.since)
            .max(MIN_PACE_WINDOW);
        let rate = (self.used as f64 / window.as_secs_f64()).max(self.last_rate);
        let units = (rate * LEASE_SPAN.as_secs_f64()).ceil();
        // Clamped before the cast: the cast saturates, and a huge pace is capped anyway.
        (units.clamp(1.0, f64::from(self.cap.max(1)))) as u32
    }

    /// Units to ask for beyond the `n` a request needs now, when the lease is short; counted as
    /// pending until [`Lease::settle`].
    pub(crate) fn extra_for_inline(&mut self, now: Instant) -> u32 {
        let extra = self
            .wanted(now)
            .saturating_sub(self.units.saturating_add(self.pending));
        self.pending = self.pending.saturating_add(extra);
        extra
    }

    /// Units to refill in the background, when the lease has fallen under half of what the
    /// pace calls for and no refill is in flight; counted as pending until [`Lease::settle`].
    pub(crate) fn refill_due(&mut self, now: Instant) -> Option<u32> {
        let wanted = self.wanted(now);
        if self.pending > 0 || self.units >= wanted.div_ceil(2) {
            return None;
        }
        let refill = wanted - self.units;
        self.pending = refill;
        Some(refill)
    }

    /// A call that asked for `asked` units (beyond any a request needed at once) got `granted`.
    pub(crate) fn settle(&mut self, asked: u32, granted: u32, now: Instant) {
        self.pending = self.pending.saturating_sub(asked);
        if granted > 0 {
            self.units = self.units.saturating_add(granted);
            self.granted_at = now;
        }
    }

    /// Units held now.
    #[cfg(test)]
    pub(crate) fn units(&self) -> u32 {
        self.units
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn small_limits_get_no_useful_lease() {
        assert_eq!(max_lease(3), 0);
        assert_eq!(max_lease(199), 1);
        assert_eq!(max_lease(200), 2);
        assert_eq!(max_lease(100_000_000), 1_000_000);
    }

    #[test]
    fn a_lease_grows_with_the_pace_and_stays_under_its_cap() {
        let start = Instant::now();
        let mut lease = Lease::new(50, start);
        // Nothing spent yet: ask for one more than needed.
        assert_eq!(lease.extra_for_inline(start), 1);
        lease.settle(1, 1, start);
        assert!(lease.try_take(1, start));
        // 100 units in 50 ms is 2,000 a second: 200 per 100 ms, capped at 50.
        for i in 0..100 {
            lease.note_use(1, start + ms(i / 2));
        }
        assert_eq!(lease.refill_due(start + ms(50)), Some(50));
        assert_eq!(
            lease.refill_due(start + ms(50)),
            None,
            "one refill at a time"
        );
        lease.settle(50, 50, start + ms(51));
        assert_eq!(lease.units(), 50);
    }

    #[test]
    fn a_refill_starts_only_under_half_of_the_wanted_size() {
        let start = Instant::now();
        let mut lease = Lease::new(1_000, start);
        // 20 units in the first 50 ms: 400 a second, 40 per 100 ms.
        lease.note_use(20, start + ms(50));
        lease.settle(0, 30, start + ms(50));
        assert_eq!(
            lease.refill_due(start + ms(50)),
            None,
            "30 is over half of 40"
        );
        assert!(lease.try_take(11, start + ms(50)));
        // 31 used in 50 ms: 62 per 100 ms; 19 held is under half.
        assert_eq!(lease.refill_due(start + ms(50)), Some(62 - 19));
    }

    #[test]
    fn units_left_unused_past_the_ttl_expire() {
        let start = Instant::now();
        let mut lease = Lease::new(10, start);
        lease.settle(0, 7, start);
        assert_eq!(lease.expire(start + LEASE_TTL - ms(1)), 0);
        assert!(lease.try_take(2, start + ms(10)));
        assert_eq!(lease.expire(start + LEASE_TTL), 5);
        assert_eq!(lease.units(), 0);
        assert!(!lease.try_take(1, start + LEASE_TTL));
    }

    #[test]
    fn concurrent_inline_calls_do_not_overfill_the_lease() {
        let start = Instant::now();
        let mut lease = Lease::new(100, start);
        lease.note_use(100, start + ms(50));
        let first = lease.extra_for_inline(start + ms(50));
        let second = lease.extra_for_inline(start + ms(50));
        assert_eq!(first, 100);
        assert_eq!(second, 0, "the first call's extra is already on its way");
        lease.settle(first, 0, start + ms(51));
        assert_eq!(lease.extra_for_inline(start + ms(51)), 100);
    }

    proptest! {
        /// Whatever happens, the lease never holds more than it was granted minus what it gave
        /// out, and never asks beyond its cap.
        #[test]
        fn the_lease_accounts_for_every_unit(
            steps in proptest::collection::vec((0u8..4, 1u32..40, 0u64..400), 1..200),
            cap in 1u32..200,
        ) {
            let start = Instant::now();
            let mut lease = Lease::new(cap, start);
            let (mut granted, mut spent, mut expired) = (0u64, 0u64, 0u64);
            let mut now = start;
            for (op, n, dt) in steps {
                now += ms(dt);
                match op {
                    0 => if lease.try_take(n, now) { spent += u64::from(n) },
                    1 => spent += u64::from(lease.take_up_to(n, now)),
                    2 => {
                        let asked = lease.refill_due(now).unwrap_or_else(|| lease.extra_for_inline(now));
                        prop_assert!(asked <= cap);
                        let got = asked.min(n);
                        lease.settle(asked, got, now);
                        granted += u64::from(got);
                    }
                    _ => expired += u64::from(lease.expire(now)),
                }
                prop_assert_eq!(u64::from(lease.units()), granted - spent - expired);
            }
        }
    }
}
