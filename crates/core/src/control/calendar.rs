//! UTC calendar arithmetic for budget periods. Hand-written (the well-known days-from-civil
//! conversion) because the pure core reads no clock and needs only period boundaries, which
//! is a dozen lines rather than a date-time dependency.

use super::BudgetPeriod;

const DAY_MS: u64 = 86_400_000;

/// The (start, end) in Unix milliseconds of the UTC day or month containing `now_unix_ms`.
pub fn period_bounds(now_unix_ms: u64, period: BudgetPeriod) -> (u64, u64) {
    let day = now_unix_ms / DAY_MS;
    match period {
        BudgetPeriod::Day => (day * DAY_MS, (day + 1) * DAY_MS),
        BudgetPeriod::Month => {
            let (year, month, _) = civil_from_days(day);
            let start = days_from_civil(year, month, 1);
            let (next_year, next_month) = if month == 12 {
                (year + 1, 1)
            } else {
                (year, month + 1)
            };
            let end = days_from_civil(next_year, next_month, 1);
            (start * DAY_MS, end * DAY_MS)
        }
    }
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a civil date (years from 1970 on).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let yoe = year - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn months_have_their_lengths() {
        // 2026-12-01T12:00Z.
        let now = 1_796_126_400_000;
        let (start, end) = period_bounds(now, BudgetPeriod::Month);
        assert_eq!(start, 1_796_083_200_000);
        assert_eq!((end - start) / DAY_MS, 31);
        // 2028-02-10: a leap February.
        let feb = days_from_civil(2028, 2, 10) * DAY_MS;
        let (start, end) = period_bounds(feb, BudgetPeriod::Month);
        assert_eq!((end - start) / DAY_MS, 29);
        assert_eq!(start / DAY_MS, days_from_civil(2028, 2, 1));
    }

    proptest! {
        #[test]
        fn dates_round_trip_and_periods_contain_now(now in 0u64..4_000_000_000_000) {
            let day = now / DAY_MS;
            let (y, m, d) = civil_from_days(day);
            prop_assert_eq!(days_from_civil(y, m, d), day);
            for period in [BudgetPeriod::Day, BudgetPeriod::Month] {
                let (start, end) = period_bounds(now, period);
                prop_assert!(start <= now && now < end);
            }
        }
    }
}
