//! Circuit breakers, one per model, behind [`CircuitBreaker`]: after `threshold` consecutive
//! failed calls a model is routed around for `cooldown`; then a single probe call decides
//! whether it closes again.
//!
//! Every admitted call ends in exactly one [`Verdict`]. A probe that ends without one on the
//! upstream's health (the client hung up, the request itself was refused) must still be
//! resolved, or the circuit would stay half-open and reject its model until restart:
//! [`ProbeGuard`] resolves a dropped probe as [`Verdict::Abandoned`], which lets the next call
//! probe instead.
//!
//! State survives config reloads (it describes the upstream, not the config). The state machine
//! takes the clock as an argument, so it is tested without waiting.

use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// When a circuit opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitSettings {
    /// Consecutive failed calls that open the circuit.
    pub threshold: u32,
    pub cooldown: Duration,
}

/// Whether a model may be called now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// The circuit has cooled down and this call is its one probe: resolve it with a
    /// [`Verdict`] (a [`ProbeGuard`] does so even when the call is dropped).
    Probe,
    /// The circuit is open (or another call is probing); skip this model. It may be tried
    /// again in `retry_in`.
    Rejected {
        retry_in: Duration,
    },
}

/// How soon a half-open circuit's probe is expected to have decided.
const PROBE_WAIT: Duration = Duration::from_secs(1);

/// How an admitted call went, as far as the upstream's health is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The upstream answered (a 4xx for a bad request counts: the upstream is up).
    Success,
    /// Connection error, timeout, 429 or 5xx.
    Failure,
    /// The call ended without telling: the client went away mid-call.
    Abandoned,
}

/// Circuit breakers over every model of a gateway (and, implemented over a shared store, of
/// every replica).
pub trait CircuitBreaker: std::fmt::Debug + Send + Sync {
    fn admit<'a>(&'a self, model: &'a str) -> BoxFuture<'a, Admission>;

    fn record(&self, model: &str, verdict: Verdict, settings: CircuitSettings);

    /// Whether `model`'s circuit is open or probing.
    fn is_open(&self, model: &str) -> bool;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// Cooled down; one probe call is in flight and everyone else still routes around.
    HalfOpen,
}

/// Circuits kept in this process.
#[derive(Debug, Default)]
pub struct LocalCircuits {
    states: Mutex<HashMap<String, State>>,
}

impl LocalCircuits {
    /// Asks to call `model` at `now`; an open circuit whose cooldown has passed admits exactly
    /// one probe.
    pub fn admit_at(&self, model: &str, now: Instant) -> Admission {
        let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(state) = states.get_mut(model) else {
            return Admission::Allowed;
        };
        match *state {
            State::Closed { .. } => Admission::Allowed,
            State::Open { until } if now >= until => {
                *state = State::HalfOpen;
                Admission::Probe
            }
            State::Open { until } => Admission::Rejected {
                retry_in: until.saturating_duration_since(now),
            },
            State::HalfOpen => Admission::Rejected {
                retry_in: PROBE_WAIT,
            },
        }
    }

    /// Records how a call went at `now`; returns true when this opened the circuit.
    pub fn record_at(
        &self,
        model: &str,
        verdict: Verdict,
        settings: CircuitSettings,
        now: Instant,
    ) -> bool {
        let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        match verdict {
            Verdict::Success => {
                states.remove(model);
                false
            }
            Verdict::Abandoned => {
                // Only a probe can be left unresolved; let the next call probe again.
                if let Some(state @ State::HalfOpen) = states.get_mut(model) {
                    *state = State::Open { until: now };
                }
                false
            }
            Verdict::Failure => {
                let state = states
                    .entry(model.to_owned())
                    .or_insert(State::Closed { failures: 0 });
                let open = State::Open {
                    until: now + settings.cooldown,
                };
                match *state {
                    State::Closed { failures } if failures + 1 >= settings.threshold => {
                        *state = open;
                        true
                    }
                    State::Closed { failures } => {
                        *state = State::Closed {
                            failures: failures + 1,
                        };
                        false
                    }
                    State::HalfOpen => {
                        *state = open;
                        true
                    }
                    State::Open { .. } => false,
                }
            }
        }
    }
}

impl CircuitBreaker for LocalCircuits {
    fn admit<'a>(&'a self, model: &'a str) -> BoxFuture<'a, Admission> {
        let admission = self.admit_at(model, Instant::now());
        Box::pin(std::future::ready(admission))
    }

    fn record(&self, model: &str, verdict: Verdict, settings: CircuitSettings) {
        self.record_at(model, verdict, settings, Instant::now());
    }

    fn is_open(&self, model: &str) -> bool {
        let states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        matches!(
            states.get(model),
            Some(State::Open { .. } | State::HalfOpen)
        )
    }
}

/// One admitted call's obligation to record a verdict: resolved explicitly, or as
/// [`Verdict::Abandoned`] when dropped unresolved (the future that made the call was dropped).
#[derive(Debug)]
pub struct ProbeGuard {
    breaker: Arc<dyn CircuitBreaker>,
    model: String,
    settings: CircuitSettings,
    resolved: bool,
}

impl ProbeGuard {
    pub fn new(breaker: Arc<dyn CircuitBreaker>, model: &str, settings: CircuitSettings) -> Self {
        Self {
            breaker,
            model: model.to_owned(),
            settings,
            resolved: false,
        }
    }

    pub fn resolve(mut self, verdict: Verdict) {
        self.resolved = true;
        self.breaker.record(&self.model, verdict, self.settings);
    }
}

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        if !self.resolved {
            self.breaker
                .record(&self.model, Verdict::Abandoned, self.settings);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: CircuitSettings = CircuitSettings {
        threshold: 3,
        cooldown: Duration::from_secs(30),
    };
    const COOLDOWN: Duration = SETTINGS.cooldown;

    fn once(threshold: u32) -> CircuitSettings {
        CircuitSettings {
            threshold,
            ..SETTINGS
        }
    }

    #[test]
    fn opens_after_threshold_and_probes_once_after_cooldown() {
        let circuits = LocalCircuits::default();
        let t0 = Instant::now();
        assert!(!circuits.record_at("m", Verdict::Failure, SETTINGS, t0));
        assert!(!circuits.record_at("m", Verdict::Failure, SETTINGS, t0));
        assert_eq!(circuits.admit_at("m", t0), Admission::Allowed);
        assert!(circuits.record_at("m", Verdict::Failure, SETTINGS, t0));
        assert_eq!(
            circuits.admit_at("m", t0 + COOLDOWN / 2),
            Admission::Rejected {
                retry_in: COOLDOWN / 2
            }
        );
        assert_eq!(circuits.admit_at("other", t0), Admission::Allowed);
        let later = t0 + COOLDOWN;
        assert_eq!(circuits.admit_at("m", later), Admission::Probe, "the probe");
        assert_eq!(
            circuits.admit_at("m", later),
            Admission::Rejected {
                retry_in: PROBE_WAIT
            },
            "only one probe"
        );
        circuits.record_at("m", Verdict::Success, SETTINGS, later);
        assert_eq!(circuits.admit_at("m", later), Admission::Allowed);
        assert!(!circuits.is_open("m"));
    }

    #[test]
    fn a_failed_probe_reopens_and_success_resets_the_count() {
        let circuits = LocalCircuits::default();
        let t0 = Instant::now();
        assert!(circuits.record_at("m", Verdict::Failure, once(1), t0));
        let probe = t0 + COOLDOWN;
        assert_eq!(circuits.admit_at("m", probe), Admission::Probe);
        assert!(circuits.record_at("m", Verdict::Failure, once(1), probe));
        assert!(matches!(
            circuits.admit_at("m", probe + COOLDOWN / 2),
            Admission::Rejected { .. }
        ));

        circuits.record_at("n", Verdict::Failure, once(2), t0);
        circuits.record_at("n", Verdict::Success, once(2), t0);
        assert!(
            !circuits.record_at("n", Verdict::Failure, once(2), t0),
            "count restarted"
        );
    }

    /// Before the fix, a probe that ended in neither success nor failure (the request was
    /// refused as a client error, or the client hung up) left the circuit half-open, and the
    /// model was rejected until restart.
    #[test]
    fn an_abandoned_probe_lets_the_next_call_probe() {
        let circuits = LocalCircuits::default();
        let t0 = Instant::now();
        circuits.record_at("m", Verdict::Failure, once(1), t0);
        let probe = t0 + COOLDOWN;
        assert_eq!(circuits.admit_at("m", probe), Admission::Probe);
        circuits.record_at("m", Verdict::Abandoned, once(1), probe);
        assert_eq!(circuits.admit_at("m", probe), Admission::Probe);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_probe_guard_abandons_its_probe() {
        let circuits = Arc::new(LocalCircuits::default());
        circuits.record("m", Verdict::Failure, once(1));
        tokio::time::advance(COOLDOWN).await;
        assert_eq!(circuits.admit("m").await, Admission::Probe);
        let guard = ProbeGuard::new(circuits.clone(), "m", once(1));
        drop(guard);
        assert_eq!(circuits.admit("m").await, Admission::Probe, "released");
        let guard = ProbeGuard::new(circuits.clone(), "m", once(1));
        guard.resolve(Verdict::Success);
        assert!(!circuits.is_open("m"));
    }
}
