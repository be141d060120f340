//! The HTTP API: routes, their request and response types, errors, auth, limits, metrics
//! and the OpenAPI document generated from all of it.

pub mod auth;
pub mod budget;
pub mod chat;
pub mod comparisons;
pub mod error;
pub mod extract;
pub mod leaderboard;
pub mod limits;
pub mod meta;
pub mod metrics;
pub mod observe;
pub mod openapi;
pub mod persist;
pub mod sessions;
pub mod usage;

/// Now, in Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
