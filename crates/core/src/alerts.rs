//! Alert maths: observations of finished requests and feedback in time buckets, and the five
//! built-in conditions evaluated over a sliding window against the trailing baseline before it.
//!
//! | alert | fires when (window vs baseline) |
//! |---|---|
//! | `cost_per_request_up` | mean cost per request > baseline x (1 + `cost_increase`) |
//! | `small_quality_down` | mean feedback of requests a tier below the strongest served < baseline x (1 - `quality_drop`) |
//! | `fallback_rate_high` | share of requests served after a fallback > `fallback_rate` |
//! | `latency_p99_doubled` | p99 latency > `latency_factor` x baseline p99 |
//! | `error_rate_slo` | share answered without a server error < `success_slo` |
//!
//! A condition without enough data on either side (`min_requests`, `min_feedback`) keeps its
//! state: a quiet hour neither fires nor resolves an alert. Latency percentiles come from a
//! log-scale histogram with four bins an octave (a p99 within 19% of the exact one), so a bucket
//! costs a fixed 1 KB whatever the traffic.

use serde::Serialize;
use std::collections::VecDeque;

/// Thresholds and windows, all in the units the config gives.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings {
    pub window_ms: u64,
    pub baseline_ms: u64,
    pub min_requests: u64,
    pub min_feedback: u64,
    pub cost_increase: f64,
    pub quality_drop: f64,
    pub fallback_rate: f64,
    pub latency_factor: f64,
    pub success_slo: f64,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            window_ms: 300_000,
            baseline_ms: 3_600_000,
            min_requests: 50,
            min_feedback: 20,
            cost_increase: 0.20,
            quality_drop: 0.05,
            fallback_rate: 0.10,
            latency_factor: 2.0,
            success_slo: 0.999,
        }
    }
}

/// The built-in alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    CostPerRequestUp,
    SmallQualityDown,
    FallbackRateHigh,
    LatencyP99Doubled,
    ErrorRateSlo,
}

impl AlertKind {
    pub const ALL: [AlertKind; 5] = [
        AlertKind::CostPerRequestUp,
        AlertKind::SmallQualityDown,
        AlertKind::FallbackRateHigh,
        AlertKind::LatencyP99Doubled,
        AlertKind::ErrorRateSlo,
    ];

    /// The alert's name: its metric label and its section in `docs/RUNBOOK.md`.
    pub fn name(self) -> &'static str {
        match self {
            AlertKind::CostPerRequestUp => "cost_per_request_up",
            AlertKind::SmallQualityDown => "small_quality_down",
            AlertKind::FallbackRateHigh => "fallback_rate_high",
            AlertKind::LatencyP99Doubled => "latency_p99_doubled",
            AlertKind::ErrorRateSlo => "error_rate_slo",
        }
    }
}

/// One finished request, as alerts see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestSample {
    pub cost_usd: f64,
    pub latency_ms: f64,
    /// Served by a model after another failed.
    pub fallback: bool,
    /// Answered with a server-side error (5xx).
    pub server_error: bool,
    /// Refused for the client's own mistake (4xx): outside the success SLO.
    pub client_error: bool,
}

const LATENCY_BINS: usize = 112;
/// Bin 0 holds latencies under 0.1 ms; each further bin a quarter octave.
const LATENCY_FLOOR_MS: f64 = 0.1;

fn latency_bin(latency_ms: f64) -> usize {
    // NaN lands here too.
    if latency_ms.is_nan() || latency_ms <= LATENCY_FLOOR_MS {
        return 0;
    }
    let bin = ((latency_ms / LATENCY_FLOOR_MS).log2() * 4.0).floor() as usize + 1;
    bin.min(LATENCY_BINS - 1)
}

/// The upper edge of a bin, in ms: a percentile reads as "at most this".
fn bin_upper_ms(bin: usize) -> f64 {
    LATENCY_FLOOR_MS * 2f64.powf(bin as f64 / 4.0)
}

#[derive(Debug, Clone)]
struct Bucket {
    start_ms: u64,
    requests: u64,
    /// Requests that reached a model: cost and fallbacks count over these.
    served: u64,
    cost_usd: f64,
    fallbacks: u64,
    /// Requests the success SLO counts (not client errors), and their server errors.
    slo_requests: u64,
    server_errors: u64,
    latency: Box<[u32; LATENCY_BINS]>,
    small_rated: u64,
    small_score_sum: f64,
}

impl Bucket {
    fn new(start_ms: u64) -> Self {
        Bucket {
            start_ms,
            requests: 0,
            served: 0,
            cost_usd: 0.0,
            fallbacks: 0,
            slo_requests: 0,
            server_errors: 0,
            latency: Box::new([0; LATENCY_BINS]),
            small_rated: 0,
            small_score_sum: 0.0,
        }
    }

    fn add(&mut self, other: &Bucket) {
        self.requests += other.requests;
        self.served += other.served;
        self.cost_usd += other.cost_usd;
        self.fallbacks += other.fallbacks;
        self.slo_requests += other.slo_requests;
        self.server_errors += other.server_errors;
        for (a, b) in self.latency.iter_mut().zip(other.latency.iter()) {
            *a += b;
        }
        self.small_rated += other.small_rated;
        self.small_score_sum += other.small_score_sum;
    }

    fn p99_ms(&self) -> Option<f64> {
        let total: u64 = self.latency.iter().map(|&n| u64::from(n)).sum();
        if total == 0 {
            return None;
        }
        // The smallest bin by which 99% of requests have finished.
        let needed = (total as f64 * 0.99).ceil() as u64;
        let mut seen = 0;
        for (bin, &n) in self.latency.iter().enumerate() {
            seen += u64::from(n);
            if seen >= needed {
                return Some(bin_upper_ms(bin));
            }
        }
        Some(bin_upper_ms(LATENCY_BINS - 1))
    }
}

/// Observations over the window and its baseline, in buckets of a fixed width.
#[derive(Debug, Clone)]
pub struct Observations {
    bucket_ms: u64,
    span_ms: u64,
    buckets: VecDeque<Bucket>,
}

impl Observations {
    /// Keeps what `settings` looks at: the window and the baseline before it, in buckets a
    /// thirtieth of the window (at least one second) wide.
    pub fn new(settings: &AlertSettings) -> Self {
        Observations {
            bucket_ms: (settings.window_ms / 30).max(1000),
            span_ms: settings.window_ms + settings.baseline_ms,
            buckets: VecDeque::new(),
        }
    }

    /// Whether these observations were kept for `settings` (else start anew for new windows).
    pub fn fits(&self, settings: &AlertSettings) -> bool {
        let fresh = Observations::new(settings);
        fresh.bucket_ms == self.bucket_ms && fresh.span_ms == self.span_ms
    }

    fn bucket(&mut self, now_ms: u64) -> &mut Bucket {
        let start = now_ms - now_ms % self.bucket_ms;
        while self
            .buckets
            .front()
            .is_some_and(|b| b.start_ms + self.span_ms + self.bucket_ms <= start)
        {
            self.buckets.pop_front();
        }
        if self.buckets.back().is_none_or(|b| b.start_ms < start) {
            self.buckets.push_back(Bucket::new(start));
        }
        // Time never runs backwards here, but a clock set back by hand puts its samples in the
        // newest bucket rather than losing them.
        let last = self.buckets.len() - 1;
        &mut self.buckets[last]
    }

    pub fn request(&mut self, now_ms: u64, sample: RequestSample) {
        let bucket = self.bucket(now_ms);
        bucket.requests += 1;
        if !sample.client_error {
            bucket.slo_requests += 1;
            bucket.server_errors += u64::from(sample.server_error);
        }
        if !sample.server_error && !sample.client_error {
            bucket.served += 1;
            bucket.cost_usd += sample.cost_usd.max(0.0);
            bucket.fallbacks += u64::from(sample.fallback);
            bucket.latency[latency_bin(sample.latency_ms)] += 1;
        }
    }

    /// Feedback on a request served below the strongest tier (the quality alert's input).
    pub fn small_feedback(&mut self, now_ms: u64, score: f64) {
        let bucket = self.bucket(now_ms);
        bucket.small_rated += 1;
        bucket.small_score_sum += score.clamp(0.0, 1.0);
    }

    /// Sums of the buckets in `[from, to)`.
    fn sum(&self, from_ms: u64, to_ms: u64) -> Bucket {
        let mut total = Bucket::new(from_ms);
        for b in self
            .buckets
            .iter()
            .filter(|b| b.start_ms >= from_ms && b.start_ms < to_ms)
        {
            total.add(b);
        }
        total
    }
}

/// One alert's condition at one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reading {
    pub kind: AlertKind,
    /// Whether both sides had enough data to judge.
    pub judged: bool,
    pub breached: bool,
    pub value: Option<f64>,
    pub baseline: Option<f64>,
    /// The value past which it fires.
    pub threshold: Option<f64>,
    pub detail: String,
}

/// Every alert's condition at `now_ms`: the window `[now - window, now)` against the baseline
/// `[now - window - baseline, now - window)`. Partial buckets at the window's edges count where
/// they start.
pub fn evaluate(
    observations: &Observations,
    settings: &AlertSettings,
    now_ms: u64,
) -> Vec<Reading> {
    let window_start = now_ms.saturating_sub(settings.window_ms);
    let baseline_start = window_start.saturating_sub(settings.baseline_ms);
    let window = observations.sum(window_start, now_ms.saturating_add(1));
    let base = observations.sum(baseline_start, window_start);
    AlertKind::ALL
        .iter()
        .map(|&kind| reading(kind, &window, &base, settings))
        .collect()
}

fn ratio(numerator: f64, denominator: u64) -> Option<f64> {
    (denominator > 0).then(|| numerator / denominator as f64)
}

fn reading(kind: AlertKind, window: &Bucket, base: &Bucket, s: &AlertSettings) -> Reading {
    let enough = |w: u64, b: u64, min: u64| w >= min && b >= min;
    let (judged, value, baseline, threshold, breached, what) = match kind {
        AlertKind::CostPerRequestUp => {
            let value = ratio(window.cost_usd, window.served);
            let baseline = ratio(base.cost_usd, base.served);
            let threshold = baseline.map(|b| b * (1.0 + s.cost_increase));
            let judged = enough(window.served, base.served, s.min_requests)
                && baseline.is_some_and(|b| b > 0.0);
            let breached = matches!((value, threshold), (Some(v), Some(t)) if v > t);
            (
                judged,
                value,
                baseline,
                threshold,
                breached,
                "cost per request (USD)",
            )
        }
        AlertKind::SmallQualityDown => {
            let value = ratio(window.small_score_sum, window.small_rated);
            let baseline = ratio(base.small_score_sum, base.small_rated);
            let threshold = baseline.map(|b| b * (1.0 - s.quality_drop));
            let judged = enough(window.small_rated, base.small_rated, s.min_feedback);
            let breached = matches!((value, threshold), (Some(v), Some(t)) if v < t);
            (
                judged,
                value,
                baseline,
                threshold,
                breached,
                "mean feedback of requests served below the strongest tier",
            )
        }
        AlertKind::FallbackRateHigh => {
            let value = ratio(window.fallbacks as f64, window.served);
            let baseline = ratio(base.fallbacks as f64, base.served);
            let judged = window.served >= s.min_requests;
            let breached = value.is_some_and(|v| v > s.fallback_rate);
            (
                judged,
                value,
                baseline,
                Some(s.fallback_rate),
                breached,
                "share of requests served after a fallback",
            )
        }
        AlertKind::LatencyP99Doubled => {
            let value = window.p99_ms();
            let baseline = base.p99_ms();
            let threshold = baseline.map(|b| b * s.latency_factor);
            let judged = enough(window.served, base.served, s.min_requests);
            let breached = matches!((value, threshold), (Some(v), Some(t)) if v > t);
            (
                judged,
                value,
                baseline,
                threshold,
                breached,
                "p99 latency (ms)",
            )
        }
        AlertKind::ErrorRateSlo => {
            let success =
                |b: &Bucket| ratio((b.slo_requests - b.server_errors) as f64, b.slo_requests);
            let value = success(window);
            let judged = window.slo_requests >= s.min_requests;
            let breached = value.is_some_and(|v| v < s.success_slo);
            (
                judged,
                value,
                success(base),
                Some(s.success_slo),
                breached,
                "share answered without a server error",
            )
        }
    };
    let show = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.6}"));
    let detail = if judged {
        format!(
            "{what}: {} in the last window, {} in the baseline, threshold {}",
            show(value),
            show(baseline),
            show(threshold)
        )
    } else {
        format!(
            "{what}: not enough data yet to judge ({} in the last window)",
            show(value)
        )
    };
    Reading {
        kind,
        judged,
        breached: judged && breached,
        value,
        baseline,
        threshold,
        detail,
    }
}

/// Whether an alert is firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Ok,
    Firing,
}

/// An alert's state and since when it holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertStatus {
    pub kind: AlertKind,
    pub state: AlertState,
    pub since_unix_ms: u64,
    pub reading: Reading,
}

/// The states of every alert; [`AlertBook::update`] applies a new evaluation and says what
/// changed.
#[derive(Debug, Clone)]
pub struct AlertBook {
    statuses: Vec<AlertStatus>,
}

impl AlertBook {
    pub fn new(now_ms: u64) -> Self {
        AlertBook {
            statuses: AlertKind::ALL
                .iter()
                .map(|&kind| AlertStatus {
                    kind,
                    state: AlertState::Ok,
                    since_unix_ms: now_ms,
                    reading: Reading {
                        kind,
                        judged: false,
                        breached: false,
                        value: None,
                        baseline: None,
                        threshold: None,
                        detail: "not evaluated yet".to_owned(),
                    },
                })
                .collect(),
        }
    }

    pub fn statuses(&self) -> &[AlertStatus] {
        &self.statuses
    }

    /// Applies `readings`; returns the statuses that changed state. An unjudged reading keeps
    /// the state it finds.
    pub fn update(&mut self, readings: Vec<Reading>, now_ms: u64) -> Vec<AlertStatus> {
        let mut changed = Vec::new();
        for reading in readings {
            let Some(status) = self.statuses.iter_mut().find(|s| s.kind == reading.kind) else {
                continue;
            };
            let next = match (reading.judged, reading.breached) {
                (false, _) => status.state,
                (true, true) => AlertState::Firing,
                (true, false) => AlertState::Ok,
            };
            status.reading = reading;
            if next != status.state {
                status.state = next;
                status.since_unix_ms = now_ms;
                changed.push(status.clone());
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests;
