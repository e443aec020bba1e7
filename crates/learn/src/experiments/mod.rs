//! The maths of proving a policy on live traffic: means and intervals ([`stats`]), an
//! experiment's report and recommendation ([`report`]), and off-policy estimates of a
//! candidate on logged traffic ([`offpolicy`]).

pub mod offpolicy;
pub mod report;
pub mod stats;
