//! Controllers: what holds routing on a target as traffic changes. Each is a small state
//! machine whose output is the *bias* a steerable policy's threshold takes
//! ([`crate::policy::PolicyInput::bias`]: > 0 towards stronger models, < 0 towards cheaper).
//!
//! - [`TargetController`]: a strong-share target or a quality floor, held by stochastic
//!   approximation: every served request (or rated one, for the floor) moves the bias by a
//!   bounded step against its error, so the bias settles where the target is met and follows
//!   the traffic when it drifts. It integrates no lagged average, so it cannot oscillate the way
//!   a controller on a moving average does; its step bounds how fast it moves and how much it
//!   jitters.
//! - [`BudgetPacer`]: a spend budget per day or month, planned evenly or by an hourly profile;
//!   when spend runs ahead of the plan, the bias goes negative in proportion, smoothly, and
//!   comes back to zero once spend is back on plan. It never loosens a policy beyond its
//!   configuration.
//!
//! The state is a value the shell keeps; every function here is pure.

mod budget;
mod calendar;
mod target;

pub use budget::{BudgetPacer, BudgetPeriod, BudgetPlan, SpendState};
pub use calendar::{format_date, parse_date, period_bounds};
pub use target::{ControlTarget, TargetController, TargetState};
