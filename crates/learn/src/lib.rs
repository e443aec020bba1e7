//! routewise-learn: the pure offline half of routewise: benchmark records ([`bench`]),
//! evaluation maths (deferral curves, APGR, CPT, frontiers, grouped folds, scorers: [`eval`]) and
//! training and calibrating the learned router ([`training`]).
//!
//! Split from `routewise-core` so that the gateway, which decides online, links neither the
//! optimiser nor the evaluation code; both crates are pure (no I/O), and this one builds on the
//! core's request model, signals, policies and learned-model format.

pub mod bench;
pub mod eval;
pub mod experiments;
pub mod training;
