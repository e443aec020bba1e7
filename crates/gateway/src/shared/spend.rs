//! Budget spend that every replica counts towards, behind [`SpendBook`]: each replica adds
//! what its requests cost, and reads the period's totals back every second, so a global (or a
//! key's) budget paces and caps the sum over replicas, not each replica's share of it.
//!
//! In one process the controllers' own count is the total: [`LocalSpend`] keeps nothing.

use futures::future::BoxFuture;

/// A period's spend: over all traffic, and by client key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpendTotals {
    pub global: f64,
    pub keys: Vec<(String, f64)>,
}

/// Spend shared by replicas, by budget period (named by its start).
pub trait SpendBook: std::fmt::Debug + Send + Sync {
    /// Adds one request's cost (in the background; never blocks).
    fn add(&self, period_start_ms: u64, key: Option<&str>, usd: f64);

    /// The period's totals; a period nobody has counted yet is first seeded with `seed` (what
    /// this replica restored from the store at start). `None` when nothing is shared or the
    /// book is out of reach: the replica keeps its own count.
    fn totals<'a>(
        &'a self,
        period_start_ms: u64,
        seed: &'a SpendTotals,
    ) -> BoxFuture<'a, Option<SpendTotals>>;

    /// Whether the totals are worth reading (a shared book).
    fn is_shared(&self) -> bool;
}

/// No other replica: the controllers' count is the total.
#[derive(Debug, Default)]
pub struct LocalSpend;

impl SpendBook for LocalSpend {
    fn add(&self, _period_start_ms: u64, _key: Option<&str>, _usd: f64) {}

    fn totals<'a>(
        &'a self,
        _period_start_ms: u64,
        _seed: &'a SpendTotals,
    ) -> BoxFuture<'a, Option<SpendTotals>> {
        Box::pin(std::future::ready(None))
    }

    fn is_shared(&self) -> bool {
        false
    }
}
