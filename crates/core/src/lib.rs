//! routewise-core: the pure heart of routewise.
//!
//! Everything here is a function of its inputs: no async runtime, no network, no filesystem,
//! no clock and no global randomness.

pub mod bench;
pub mod eval;
