//! The dashboard's arithmetic: which buckets a time range shows, the totals, series and mixes
//! of rolled-up request counts, latency percentiles, and a mean score's interval. Pure: the
//! gateway reads the store's rollups and passes them in as values.

use serde::Serialize;
use std::collections::BTreeMap;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;

/// The time ranges the dashboard shows, each with its bucket size and the rollup width it
/// reads (minute rollups up to a day, hour rollups beyond).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Hour,
    SixHours,
    Day,
    Week,
    Month,
}

impl Range {
    pub const ALL: [Range; 5] = [
        Range::Hour,
        Range::SixHours,
        Range::Day,
        Range::Week,
        Range::Month,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Range::Hour => "1h",
            Range::SixHours => "6h",
            Range::Day => "24h",
            Range::Week => "7d",
            Range::Month => "30d",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }

    /// (bucket size, number of buckets, rollup width read).
    fn plan(self) -> (i64, usize, i64) {
        match self {
            Range::Hour => (MINUTE_MS, 60, MINUTE_MS),
            Range::SixHours => (5 * MINUTE_MS, 72, MINUTE_MS),
            Range::Day => (15 * MINUTE_MS, 96, MINUTE_MS),
            Range::Week => (HOUR_MS, 168, HOUR_MS),
            Range::Month => (6 * HOUR_MS, 120, HOUR_MS),
        }
    }
}

/// The buckets a range covers at a moment: whole buckets ending with the one holding `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    pub name: &'static str,
    pub since_ms: i64,
    pub until_ms: i64,
    pub bucket_ms: i64,
    /// The rollup width to read.
    #[serde(skip)]
    pub width_ms: i64,
    #[serde(skip)]
    pub buckets: usize,
}

impl Window {
    pub fn of(range: Range, now_ms: i64) -> Self {
        let (bucket_ms, buckets, width_ms) = range.plan();
        let until_ms = now_ms.div_euclid(bucket_ms) * bucket_ms + bucket_ms;
        let span = bucket_ms.saturating_mul(i64::try_from(buckets).unwrap_or(i64::MAX));
        Window {
            name: range.name(),
            since_ms: until_ms.saturating_sub(span),
            until_ms,
            bucket_ms,
            width_ms,
            buckets,
        }
    }

    /// The bucket a time falls in, if the window holds it.
    fn index(&self, at_ms: i64) -> Option<usize> {
        if at_ms < self.since_ms || at_ms >= self.until_ms {
            return None;
        }
        usize::try_from((at_ms - self.since_ms) / self.bucket_ms).ok()
    }
}

/// Counts and spend of a set of requests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Tally {
    pub requests: i64,
    pub errors: i64,
    pub fallbacks: i64,
    pub cache_hits: i64,
    pub cost_usd: f64,
    pub baseline_cost_usd: f64,
    /// Rated requests, and the sums of their latest scores and of the squares.
    pub ratings: i64,
    pub score_sum: f64,
    pub score_sq_sum: f64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.fallbacks += other.fallbacks;
        self.cache_hits += other.cache_hits;
        self.cost_usd += other.cost_usd;
        self.baseline_cost_usd += other.baseline_cost_usd;
        self.ratings += other.ratings;
        self.score_sum += other.score_sum;
        self.score_sq_sum += other.score_sq_sum;
    }

    /// The mean latest score of the rated requests, with its interval; `None` if none was rated.
    pub fn quality(&self) -> Option<MeanInterval> {
        MeanInterval::of(self.ratings, self.score_sum, self.score_sq_sum)
    }

    /// `part / requests`, 0 without requests.
    pub fn per_request(&self, part: f64) -> f64 {
        if self.requests > 0 {
            part / self.requests as f64
        } else {
            0.0
        }
    }
}

/// One rollup row: a bucket's tally for one (model, reason).
#[derive(Debug, Clone, PartialEq)]
pub struct Cell<'a> {
    pub bucket_ms: i64,
    pub model: &'a str,
    pub reason: &'a str,
    pub tally: Tally,
}

/// One model's (or reason's) share of a window, with its requests per bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Mix {
    pub name: String,
    pub tally: Tally,
    pub series: Vec<i64>,
}

/// A window's totals, its tally per bucket, and the mixes by model and by reason (most
/// requests first).
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub totals: Tally,
    /// (bucket start, tally), every bucket of the window.
    pub series: Vec<(i64, Tally)>,
    pub models: Vec<Mix>,
    pub reasons: Vec<Mix>,
}

/// Sums `cells` into `window`'s buckets; cells outside the window are ignored.
pub fn summarize<'a>(window: &Window, cells: impl IntoIterator<Item = Cell<'a>>) -> Summary {
    let mut totals = Tally::default();
    let mut series: Vec<(i64, Tally)> = (0..window.buckets)
        .map(|i| {
            let offset = window.bucket_ms * i64::try_from(i).unwrap_or(i64::MAX);
            (window.since_ms + offset, Tally::default())
        })
        .collect();
    let mut models: BTreeMap<&str, Mix> = BTreeMap::new();
    let mut reasons: BTreeMap<&str, Mix> = BTreeMap::new();
    for cell in cells {
        let Some(index) = window.index(cell.bucket_ms) else {
            continue;
        };
        totals.add(&cell.tally);
        series[index].1.add(&cell.tally);
        for (map, name) in [(&mut models, cell.model), (&mut reasons, cell.reason)] {
            let mix = map.entry(name).or_insert_with(|| Mix {
                name: name.to_owned(),
                tally: Tally::default(),
                series: vec![0; window.buckets],
            });
            mix.tally.add(&cell.tally);
            mix.series[index] += cell.tally.requests;
        }
    }
    let ranked = |map: BTreeMap<&str, Mix>| {
        let mut mixes: Vec<Mix> = map.into_values().collect();
        mixes.sort_by_key(|m| std::cmp::Reverse(m.tally.requests));
        mixes
    };
    Summary {
        totals,
        series,
        models: ranked(models),
        reasons: ranked(reasons),
    }
}

/// p50, p95 and p99 of a sample (nearest rank).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

impl Percentiles {
    /// `None` for an empty sample. NaNs sort last.
    pub fn of(mut values: Vec<f64>) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(|a, b| a.total_cmp(b));
        let rank = |q: f64| {
            let n = values.len();
            let index = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
            values[index]
        };
        Some(Percentiles {
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
        })
    }
}

/// A mean score with its 95% interval, clamped to the scores' range [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MeanInterval {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

impl MeanInterval {
    /// From `n` scores in [0, 1] given as their sum and sum of squares: the normal
    /// approximation, with the sample variance floored at that of one disagreeing score in
    /// `n + 1` so that a handful of identical ratings does not claim certainty. `None` for none.
    pub fn of(n: i64, sum: f64, sq_sum: f64) -> Option<Self> {
        if n <= 0 {
            return None;
        }
        let count = n as f64;
        let mean = (sum / count).clamp(0.0, 1.0);
        let variance = if n > 1 {
            ((sq_sum - count * mean * mean) / (count - 1.0)).max(0.0)
        } else {
            0.25
        };
        let floor = count / ((count + 1.0) * (count + 1.0));
        let half = 1.96 * (variance.max(floor) / count).sqrt();
        Some(MeanInterval {
            mean,
            low: (mean - half).clamp(0.0, 1.0),
            high: (mean + half).clamp(0.0, 1.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tally(requests: i64, cost_usd: f64) -> Tally {
        Tally {
            requests,
            cost_usd,
            baseline_cost_usd: 2.0 * cost_usd,
            ..Tally::default()
        }
    }

    #[test]
    fn a_window_is_whole_buckets_ending_with_the_current_one() {
        let window = Window::of(Range::Day, 10 * HOUR_MS + 7 * MINUTE_MS);
        assert_eq!(window.bucket_ms, 15 * MINUTE_MS);
        assert_eq!(window.until_ms, 10 * HOUR_MS + 15 * MINUTE_MS);
        assert_eq!(window.until_ms - window.since_ms, 24 * HOUR_MS);
        assert_eq!(window.width_ms, MINUTE_MS);
        assert_eq!(Window::of(Range::Month, 0).width_ms, HOUR_MS);
        for range in Range::ALL {
            assert_eq!(Range::parse(range.name()), Some(range));
        }
        assert_eq!(Range::parse("2h"), None);
    }

    #[test]
    fn cells_sum_into_totals_buckets_and_mixes() {
        let window = Window::of(Range::Hour, 59 * MINUTE_MS);
        let cells = vec![
            Cell {
                bucket_ms: 0,
                model: "small",
                reason: "rule:a",
                tally: tally(3, 0.3),
            },
            Cell {
                bucket_ms: 0,
                model: "large",
                reason: "rule:b",
                tally: tally(1, 1.0),
            },
            Cell {
                bucket_ms: MINUTE_MS,
                model: "small",
                reason: "rule:b",
                tally: tally(2, 0.2),
            },
            // Outside the window: ignored.
            Cell {
                bucket_ms: 2 * HOUR_MS,
                model: "large",
                reason: "rule:a",
                tally: tally(9, 9.0),
            },
        ];
        let summary = summarize(&window, cells);
        assert_eq!(summary.totals.requests, 6);
        assert!((summary.totals.cost_usd - 1.5).abs() < 1e-12);
        assert_eq!(summary.series.len(), 60);
        assert_eq!(summary.series[0].1.requests, 4);
        assert_eq!(summary.series[1], (MINUTE_MS, tally(2, 0.2)));
        assert_eq!(summary.models[0].name, "small");
        assert_eq!(summary.models[0].tally.requests, 5);
        assert_eq!(&summary.models[0].series[..2], &[3, 2]);
        assert_eq!(summary.reasons[0].name, "rule:a");
        assert_eq!(summary.reasons[0].tally.requests, 3);
        assert_eq!(summary.reasons[1].tally.requests, 3);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Percentiles::of(values).unwrap();
        assert_eq!((p.p50, p.p95, p.p99), (50.0, 95.0, 99.0));
        assert_eq!(Percentiles::of(vec![]), None);
        assert_eq!(Percentiles::of(vec![7.0]).unwrap().p99, 7.0);
    }

    #[test]
    fn one_rating_is_not_certainty() {
        let one = MeanInterval::of(1, 1.0, 1.0).unwrap();
        assert_eq!(one.mean, 1.0);
        assert!(one.low < 0.5, "{one:?}");
        let many = MeanInterval::of(400, 320.0, 320.0).unwrap();
        assert!(many.high - many.low < 0.1, "{many:?}");
        assert_eq!(MeanInterval::of(0, 0.0, 0.0), None);
    }

    proptest! {
        #[test]
        fn the_interval_holds_the_mean_within_zero_and_one(
            scores in proptest::collection::vec(0.0f64..=1.0, 1..200),
        ) {
            let n = i64::try_from(scores.len()).unwrap();
            let sum: f64 = scores.iter().sum();
            let sq: f64 = scores.iter().map(|s| s * s).sum();
            let interval = MeanInterval::of(n, sum, sq).unwrap();
            prop_assert!(0.0 <= interval.low && interval.low <= interval.mean);
            prop_assert!(interval.mean <= interval.high && interval.high <= 1.0);
        }

        #[test]
        fn totals_are_the_sum_of_the_series_and_of_the_mixes(
            cells in proptest::collection::vec((0i64..120, 0usize..3, 0usize..2, 0i64..50), 0..60),
        ) {
            let window = Window::of(Range::Hour, 59 * MINUTE_MS);
            let models = ["a", "b", "c"];
            let reasons = ["r1", "r2"];
            let input = cells.iter().map(|&(minute, m, r, n)| Cell {
                bucket_ms: minute * MINUTE_MS,
                model: models[m],
                reason: reasons[r],
                tally: tally(n, 0.0),
            });
            let summary = summarize(&window, input);
            let by_series: i64 = summary.series.iter().map(|(_, t)| t.requests).sum();
            let by_model: i64 = summary.models.iter().map(|m| m.tally.requests).sum();
            let by_reason: i64 = summary.reasons.iter().flat_map(|m| m.series.iter()).sum();
            prop_assert_eq!(by_series, summary.totals.requests);
            prop_assert_eq!(by_model, summary.totals.requests);
            prop_assert_eq!(by_reason, summary.totals.requests);
        }
    }
}
