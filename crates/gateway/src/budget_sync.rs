//! Budgets paced by the spend of every replica: each second a replica reads the period's
//! totals from the shared [`crate::shared::SpendBook`] (its own requests' costs are added as
//! they are accounted) and takes them as its budgets' spend. Between two reads a replica knows
//! its own new spend at once and the others' up to a second late. Without shared state there
//! is nothing to read: the replica's own count is the total.

use crate::{Gateway, WeakGateway};
use std::time::Duration;

/// How often the totals are read.
pub const EVERY: Duration = Duration::from_secs(1);

/// Reads the totals every [`EVERY`] until the gateway is dropped.
pub async fn tick(gateway: WeakGateway) {
    let mut every = tokio::time::interval(EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(gateway) = gateway.upgrade() else {
            return;
        };
        sync_once(&gateway).await;
    }
}

/// One read of the totals.
pub async fn sync_once(gateway: &Gateway) {
    let book = gateway.spend_book();
    if !book.is_shared() {
        return;
    }
    let runtime = gateway.runtime();
    let config = &runtime.config;
    let Some(budget) = &config.control.budget else {
        return;
    };
    let now = gateway.now_unix_ms();
    let (start, _) = routewise_core::control::period_bounds(now, budget.period);
    // The first replica to count a period seeds it with what the store had at its start.
    let seed = gateway.controllers().spend_totals(config, now);
    if let Some(totals) = book.totals(start, &seed).await {
        gateway
            .controllers()
            .restore_spend(config, now, totals.global, &totals.keys);
    }
}
