//! A spend budget per period, paced: the plan says how much of the budget should be spent by
//! now (evenly, or by an hourly profile); spend ahead of it tightens routing in proportion.

use super::calendar::period_bounds;

/// How often the budget renews (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetPeriod {
    Day,
    Month,
}

impl BudgetPeriod {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "day" => Some(Self::Day),
            "month" => Some(Self::Month),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Month => "month",
        }
    }
}

/// A budget and how it should be spent over its period.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetPlan {
    pub usd: f64,
    pub period: BudgetPeriod,
    /// Relative spend of each UTC hour (every day alike); all equal for an even plan. A low
    /// weight off-peak makes routing cheaper then.
    pub hourly: [f64; 24],
}

/// Spend so far in the current period.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SpendState {
    pub period_start_unix_ms: u64,
    pub spent_usd: f64,
}

/// Paces one budget.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetPacer {
    pub plan: BudgetPlan,
    /// Bias per unit of overspend as a share of the budget: at the default, spend 2% of the
    /// budget ahead of plan routes everything as cheaply as the policy can.
    pub stiffness: f64,
}

const HOUR_MS: u64 = 3_600_000;

impl BudgetPacer {
    pub const STIFFNESS: f64 = 50.0;

    pub fn new(plan: BudgetPlan) -> Self {
        Self {
            plan,
            stiffness: Self::STIFFNESS,
        }
    }

    /// The state in the period containing `now` (spend restarts at zero in a new period).
    pub fn current(&self, state: SpendState, now_unix_ms: u64) -> SpendState {
        let (start, _) = period_bounds(now_unix_ms, self.plan.period);
        if state.period_start_unix_ms == start {
            state
        } else {
            SpendState {
                period_start_unix_ms: start,
                spent_usd: 0.0,
            }
        }
    }

    /// After spending `usd` at `now`.
    pub fn spend(&self, state: SpendState, now_unix_ms: u64, usd: f64) -> SpendState {
        let mut state = self.current(state, now_unix_ms);
        if usd.is_finite() && usd > 0.0 {
            state.spent_usd += usd;
        }
        state
    }

    /// The share of the period's budget the plan has spent by `now`, in [0, 1].
    pub fn planned_share(&self, now_unix_ms: u64) -> f64 {
        let (start, end) = period_bounds(now_unix_ms, self.plan.period);
        let weight = |from: u64, to: u64| -> f64 {
            // Whole and partial hours between two instants, by the hourly profile.
            let mut total = 0.0;
            let mut t = from;
            while t < to {
                let hour_end = (t / HOUR_MS + 1) * HOUR_MS;
                let until = hour_end.min(to);
                let hour = usize::try_from((t / HOUR_MS) % 24).unwrap_or(0);
                total += self.plan.hourly[hour] * (until - t) as f64 / HOUR_MS as f64;
                t = until;
            }
            total
        };
        let day_weight: f64 = self.plan.hourly.iter().sum();
        let days = (end - start) / (24 * HOUR_MS);
        let total = day_weight * days as f64;
        if total <= 0.0 {
            return 1.0;
        }
        let now = now_unix_ms.clamp(start, end);
        let whole_days = (now - start) / (24 * HOUR_MS);
        let day_start = start + whole_days * 24 * HOUR_MS;
        ((whole_days as f64 * day_weight + weight(day_start, now)) / total).clamp(0.0, 1.0)
    }

    /// Spend against plan: 1 is on plan, 2 twice as fast. Before anything is planned, spend
    /// counts against a plan of one cent.
    pub fn pace(&self, state: SpendState, now_unix_ms: u64) -> f64 {
        let state = self.current(state, now_unix_ms);
        let planned = (self.planned_share(now_unix_ms) * self.plan.usd).max(0.01);
        state.spent_usd / planned
    }

    /// The bias pacing puts on routing, in [-1, 0]: negative in proportion to the spend ahead
    /// of plan, zero on or behind plan.
    pub fn bias(&self, state: SpendState, now_unix_ms: u64) -> f64 {
        let state = self.current(state, now_unix_ms);
        let planned = self.planned_share(now_unix_ms) * self.plan.usd;
        let ahead = (state.spent_usd - planned) / self.plan.usd;
        -(self.stiffness * ahead).clamp(0.0, 1.0)
    }

    /// Whether the period's budget is spent.
    pub fn exhausted(&self, state: SpendState, now_unix_ms: u64) -> bool {
        self.current(state, now_unix_ms).spent_usd >= self.plan.usd
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: u64 = 24 * HOUR_MS;
    /// 2026-12-01T00:00Z.
    const START: u64 = 1_796_083_200_000;

    fn even(usd: f64) -> BudgetPacer {
        BudgetPacer::new(BudgetPlan {
            usd,
            period: BudgetPeriod::Day,
            hourly: [1.0; 24],
        })
    }

    #[test]
    fn the_plan_is_even_or_follows_the_hourly_profile() {
        let pacer = even(10.0);
        assert!((pacer.planned_share(START + DAY / 2) - 0.5).abs() < 1e-12);
        let mut hourly = [1.0; 24];
        hourly[..12].iter_mut().for_each(|w| *w = 0.0);
        let peak = BudgetPacer::new(BudgetPlan {
            hourly,
            ..pacer.plan.clone()
        });
        assert_eq!(peak.planned_share(START + DAY / 2), 0.0);
        assert!((peak.planned_share(START + 18 * HOUR_MS) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn spend_ahead_of_plan_tightens_and_a_new_period_starts_afresh() {
        let pacer = even(10.0);
        let noon = START + DAY / 2;
        let on_plan = pacer.spend(SpendState::default(), noon, 5.0);
        assert_eq!(pacer.bias(on_plan, noon), 0.0);
        assert!((pacer.pace(on_plan, noon) - 1.0).abs() < 1e-12);
        let ahead = pacer.spend(on_plan, noon, 0.1);
        assert!((pacer.bias(ahead, noon) + 0.5).abs() < 1e-9);
        let far_ahead = pacer.spend(on_plan, noon, 1.0);
        assert_eq!(pacer.bias(far_ahead, noon), -1.0);
        let tomorrow = noon + DAY;
        assert_eq!(pacer.current(far_ahead, tomorrow).spent_usd, 0.0);
        assert!(!pacer.exhausted(far_ahead, noon));
        assert!(pacer.exhausted(pacer.spend(far_ahead, noon, 4.0), noon));
    }

    proptest! {
        #[test]
        fn pacing_only_tightens_and_the_plan_only_grows(
            spends in prop::collection::vec((0u64..DAY, 0.0f64..1.0), 1..50),
        ) {
            let pacer = even(5.0);
            let mut state = SpendState::default();
            let mut times: Vec<u64> = spends.iter().map(|(t, _)| START + t).collect();
            times.sort_unstable();
            let mut planned = 0.0;
            for (t, (_, usd)) in times.iter().zip(&spends) {
                state = pacer.spend(state, *t, *usd);
                let bias = pacer.bias(state, *t);
                prop_assert!((-1.0..=0.0).contains(&bias));
                let share = pacer.planned_share(*t);
                prop_assert!(share >= planned && share <= 1.0);
                planned = share;
            }
        }
    }
}
