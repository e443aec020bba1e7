use super::*;
use proptest::prelude::*;

fn settings() -> AlertSettings {
    AlertSettings {
        window_ms: 60_000,
        baseline_ms: 600_000,
        min_requests: 20,
        min_feedback: 10,
        ..AlertSettings::default()
    }
}

fn ok(cost_usd: f64, latency_ms: f64) -> RequestSample {
    RequestSample {
        cost_usd,
        latency_ms,
        fallback: false,
        server_error: false,
        client_error: false,
    }
}

/// `per_second` requests a second from `from_s` to `to_s` (seconds).
fn fill(o: &mut Observations, from_s: u64, to_s: u64, per_second: u64, sample: RequestSample) {
    for t in from_s..to_s {
        for i in 0..per_second {
            o.request(t * 1000 + i, sample);
        }
    }
}

fn reading(readings: &[Reading], kind: AlertKind) -> &Reading {
    readings
        .iter()
        .find(|r| r.kind == kind)
        .unwrap_or_else(|| &readings[0])
}

#[test]
fn steady_traffic_breaches_nothing() {
    let s = settings();
    let mut o = Observations::new(&s);
    for t in 0..660 {
        o.request(t * 1000, ok(0.001, 200.0));
        o.small_feedback(t * 1000, 0.8);
    }
    for r in evaluate(&o, &s, 660_000) {
        assert!(r.judged && !r.breached, "{r:?}");
    }
}

#[test]
fn each_condition_breaches_on_its_own_change() {
    let s = settings();
    let cases: [(AlertKind, RequestSample); 4] = [
        (AlertKind::CostPerRequestUp, ok(0.0013, 200.0)),
        (AlertKind::LatencyP99Doubled, ok(0.001, 500.0)),
        (
            AlertKind::FallbackRateHigh,
            RequestSample {
                fallback: true,
                ..ok(0.001, 200.0)
            },
        ),
        (
            AlertKind::ErrorRateSlo,
            RequestSample {
                server_error: true,
                ..ok(0.0, 200.0)
            },
        ),
    ];
    for (kind, changed) in cases {
        let mut o = Observations::new(&s);
        fill(&mut o, 0, 600, 1, ok(0.001, 200.0));
        fill(&mut o, 600, 660, 1, changed);
        let readings = evaluate(&o, &s, 660_000);
        for r in &readings {
            assert_eq!(r.breached, r.kind == kind, "{kind:?} changed, read {r:?}");
        }
    }
}

#[test]
fn a_cost_rise_under_the_threshold_does_not_fire() {
    let s = settings();
    let mut o = Observations::new(&s);
    fill(&mut o, 0, 600, 1, ok(0.001, 200.0));
    fill(&mut o, 600, 660, 1, ok(0.00119, 200.0));
    assert!(!reading(&evaluate(&o, &s, 660_000), AlertKind::CostPerRequestUp).breached);
}

#[test]
fn quality_of_small_requests_falls() {
    let s = settings();
    let mut o = Observations::new(&s);
    for t in 0..600 {
        o.small_feedback(t * 1000, 0.9);
    }
    for t in 600..660 {
        o.small_feedback(t * 1000, 0.8);
    }
    let r = evaluate(&o, &s, 660_000);
    let quality = reading(&r, AlertKind::SmallQualityDown);
    assert!(quality.judged && quality.breached, "{quality:?}");
}

#[test]
fn too_little_data_keeps_the_state_and_says_so() {
    let s = settings();
    let mut o = Observations::new(&s);
    fill(
        &mut o,
        600,
        610,
        1,
        RequestSample {
            server_error: true,
            ..ok(0.0, 1.0)
        },
    );
    let readings = evaluate(&o, &s, 660_000);
    let slo = reading(&readings, AlertKind::ErrorRateSlo);
    assert!(!slo.judged && !slo.breached);
    assert!(slo.detail.contains("not enough data"));
    let mut book = AlertBook::new(0);
    assert!(book.update(readings, 660_000).is_empty());
}

#[test]
fn the_book_fires_and_resolves_once_each() {
    let s = settings();
    let mut o = Observations::new(&s);
    let mut book = AlertBook::new(0);
    fill(&mut o, 0, 600, 1, ok(0.001, 200.0));
    fill(
        &mut o,
        600,
        660,
        1,
        RequestSample {
            server_error: true,
            ..ok(0.0, 1.0)
        },
    );
    let fired = book.update(evaluate(&o, &s, 660_000), 660_000);
    assert_eq!(fired.len(), 1);
    assert_eq!(
        (fired[0].kind, fired[0].state),
        (AlertKind::ErrorRateSlo, AlertState::Firing)
    );
    assert!(
        book.update(evaluate(&o, &s, 660_000), 661_000).is_empty(),
        "no repeat"
    );
    fill(&mut o, 660, 720, 1, ok(0.001, 200.0));
    let resolved = book.update(evaluate(&o, &s, 720_000), 720_000);
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].state, AlertState::Ok);
    assert_eq!(resolved[0].since_unix_ms, 720_000);
}

#[test]
fn old_buckets_are_dropped() {
    let s = settings();
    let mut o = Observations::new(&s);
    fill(&mut o, 0, 10, 1, ok(0.001, 200.0));
    o.request(10_000_000, ok(0.001, 200.0));
    assert_eq!(o.buckets.len(), 1);
}

proptest! {
    #[test]
    fn p99_bins_bound_the_exact_p99(latencies in prop::collection::vec(0.0f64..100_000.0, 1..300)) {
        let mut bucket = Bucket::new(0);
        for &l in &latencies {
            bucket.latency[latency_bin(l)] += 1;
        }
        let mut sorted = latencies.clone();
        sorted.sort_by(f64::total_cmp);
        let exact = sorted[((sorted.len() as f64 * 0.99).ceil() as usize).max(1) - 1];
        let estimate = bucket.p99_ms().unwrap_or(0.0);
        prop_assert!(estimate >= exact.min(bin_upper_ms(LATENCY_BINS - 1)) - 1e-9);
        prop_assert!(estimate <= (exact * 2f64.powf(0.25)).max(LATENCY_FLOOR_MS) + 1e-9);
    }

    #[test]
    fn readings_are_finite_whatever_the_samples(
        samples in prop::collection::vec((0.0f64..1.0, 0.0f64..10_000.0, any::<bool>(), any::<bool>(), any::<bool>()), 0..200)
    ) {
        let s = settings();
        let mut o = Observations::new(&s);
        for (i, (cost, latency, fallback, server_error, client_error)) in samples.iter().enumerate() {
            o.request(i as u64 * 3000, RequestSample {
                cost_usd: *cost, latency_ms: *latency, fallback: *fallback,
                server_error: *server_error, client_error: *client_error,
            });
        }
        for r in evaluate(&o, &s, samples.len() as u64 * 3000) {
            for v in [r.value, r.baseline, r.threshold].into_iter().flatten() {
                prop_assert!(v.is_finite());
            }
        }
    }
}
