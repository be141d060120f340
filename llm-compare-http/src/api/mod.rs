//! The HTTP API: routes, their request and response types, errors, auth, limits, metrics
//! and the OpenAPI document generated from all of it.

pub mod anthropic;
pub mod auth;

pub mod comparisons;
pub(crate) mod door;
pub mod error;
pub mod evals;
pub mod extract;
pub mod guard;
pub mod keys;
pub mod leaderboard;
pub mod limits;
pub mod meta;
pub mod metrics;
pub mod openai;
pub mod openapi;
pub mod responses;
pub mod sessions;
pub mod usage;
