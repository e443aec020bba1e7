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

/// The start (00:00 UTC, Unix milliseconds) of a `YYYY-MM-DD` date from 1970 on; `None` for
/// anything else, including dates that do not exist (2026-02-30).
pub fn parse_date(text: &str) -> Option<u64> {
    let mut parts = text.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return None;
    }
    let number = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse::<u64>().ok())?
    };
    let (year, month, day) = (number(year)?, number(month)?, number(day)?);
    if year < 1970 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    (civil_from_days(days) == (year, month, day)).then_some(days * DAY_MS)
}

/// The `YYYY-MM-DD` UTC date of a Unix time in milliseconds.
pub fn format_date(unix_ms: u64) -> String {
    let (year, month, day) = civil_from_days(unix_ms / DAY_MS);
    format!("{year:04}-{month:02}-{day:02}")
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

    #[test]
    fn dates_parse_and_refuse_what_does_not_exist() {
        assert_eq!(parse_date("1970-01-02"), Some(DAY_MS));
        assert_eq!(
            parse_date("2026-12-15").map(format_date).as_deref(),
            Some("2026-12-15")
        );
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "26-12-01",
            "2026-1-01",
            "1969-12-31",
            "2026-12-01x",
            "",
            "+026-12-01",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
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
