//! Circuit breakers, one per model: after `threshold` consecutive failed calls a model is
//! routed around for `cooldown`; then a single probe call decides whether it closes again.
//!
//! State survives config reloads (it describes the upstream, not the config). The clock is
//! passed in, so the state machine is tested without waiting.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

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

/// Whether a model may be called now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// The circuit is open (or probing); skip this model.
    Rejected,
}

/// The breakers of all models.
#[derive(Debug, Default)]
pub struct Circuits {
    states: Mutex<HashMap<String, State>>,
}

impl Circuits {
    /// Asks to call `model` at `now`; an open circuit whose cooldown has passed admits exactly
    /// one probe.
    pub fn admit(&self, model: &str, now: Instant) -> Admission {
        let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(state) = states.get_mut(model) else {
            return Admission::Allowed;
        };
        match *state {
            State::Closed { .. } => Admission::Allowed,
            State::Open { until } if now >= until => {
                *state = State::HalfOpen;
                Admission::Allowed
            }
            State::Open { .. } | State::HalfOpen => Admission::Rejected,
        }
    }

    /// Records a successful call: the circuit closes.
    pub fn record_success(&self, model: &str) {
        let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        states.remove(model);
    }

    /// Records a failed call; returns true when this failure opened the circuit.
    pub fn record_failure(
        &self,
        model: &str,
        now: Instant,
        threshold: u32,
        cooldown: Duration,
    ) -> bool {
        let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        let state = states
            .entry(model.to_owned())
            .or_insert(State::Closed { failures: 0 });
        let open = State::Open {
            until: now + cooldown,
        };
        match *state {
            State::Closed { failures } if failures + 1 >= threshold => {
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

    /// Whether `model`'s circuit is open or probing (for `/readyz` and metrics).
    pub fn is_open(&self, model: &str) -> bool {
        let states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        matches!(
            states.get(model),
            Some(State::Open { .. } | State::HalfOpen)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWN: Duration = Duration::from_secs(30);

    #[test]
    fn opens_after_threshold_and_probes_once_after_cooldown() {
        let circuits = Circuits::default();
        let t0 = Instant::now();
        assert!(!circuits.record_failure("m", t0, 3, COOLDOWN));
        assert!(!circuits.record_failure("m", t0, 3, COOLDOWN));
        assert_eq!(circuits.admit("m", t0), Admission::Allowed);
        assert!(circuits.record_failure("m", t0, 3, COOLDOWN));
        assert_eq!(circuits.admit("m", t0 + COOLDOWN / 2), Admission::Rejected);
        assert_eq!(circuits.admit("other", t0), Admission::Allowed);
        let later = t0 + COOLDOWN;
        assert_eq!(circuits.admit("m", later), Admission::Allowed, "the probe");
        assert_eq!(
            circuits.admit("m", later),
            Admission::Rejected,
            "only one probe"
        );
        circuits.record_success("m");
        assert_eq!(circuits.admit("m", later), Admission::Allowed);
        assert!(!circuits.is_open("m"));
    }

    #[test]
    fn a_failed_probe_reopens_and_success_resets_the_count() {
        let circuits = Circuits::default();
        let t0 = Instant::now();
        assert!(circuits.record_failure("m", t0, 1, COOLDOWN));
        let probe = t0 + COOLDOWN;
        assert_eq!(circuits.admit("m", probe), Admission::Allowed);
        assert!(circuits.record_failure("m", probe, 1, COOLDOWN));
        assert_eq!(
            circuits.admit("m", probe + COOLDOWN / 2),
            Admission::Rejected
        );

        circuits.record_failure("n", t0, 2, COOLDOWN);
        circuits.record_success("n");
        assert!(
            !circuits.record_failure("n", t0, 2, COOLDOWN),
            "count restarted"
        );
    }
}
