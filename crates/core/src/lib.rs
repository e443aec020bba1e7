//! routewise-core: the pure heart of routewise.
//!
//! Everything here is a function of its inputs: no async runtime, no network, no filesystem,
//! no clock and no global randomness. A request is described by a [`request::ChatInput`]; the
//! [`signals::SignalExtractor`] turns it into [`signals::Signals`]; a [`router::Router`] applies
//! the hard constraints of the [`catalog::Catalog`] and then a [`policy`] to reach a
//! [`decision::Decision`] that carries its own explanation and cost estimate.
//!
//! This crate is the online half: what deciding one request needs. Offline work (benchmark
//! records, evaluation, training) lives in `routewise-learn`, which builds on this one.
//!
//! Keeping this crate pure is what makes policies property-testable, benchmarkable and replayable
//! offline over logged traffic; the compiler guards it, because this crate depends on no I/O crate.

pub mod alerts;
pub mod bandit;
pub mod catalog;
pub mod control;
pub mod dashboard;
pub mod decision;
pub mod experiment;
pub mod learn;
pub mod memory;
pub mod policy;
mod repeated;
pub mod request;
pub mod router;
pub mod signals;
pub mod tokens;

pub use catalog::{Capability, Catalog, CatalogError, ModelId, ModelSet, ModelSpec};
pub use decision::{Decision, ShadowDecision, StageNote};
pub use request::{ChatInput, Message, RequestContext, Role};
pub use router::{Analysis, RouteError, Routed, Router, Steering};
pub use signals::{SignalExtractor, Signals};
