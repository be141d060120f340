//! The fan-out engine: a comparison's model calls (each resilient, each optionally a tool
//! loop), where they run ([`Runner`](crate::Runner)), their merge into one ordered event
//! stream, and the ways to drive it (bursts, a driven task, multi-turn sessions).

pub(crate) mod agent;
pub(crate) mod burst;
pub(crate) mod call;
pub(crate) mod comparison;
pub(crate) mod driven;
pub(crate) mod merge;
pub(crate) mod policy;
pub(crate) mod runner;
pub(crate) mod session;
