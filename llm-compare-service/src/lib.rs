//! # llm-compare-service
//!
//! The application layer: what every front end shares. The HTTP server, the CLI and the
//! Python and Node bindings each parse their input, call one [`Service`] method and render
//! its answer — so a comparison, a chat completion, a session turn, a vote, a leaderboard or a
//! usage report is the same thing, with the same limits and budgets, whichever door it came
//! through.
//!
//! - [`service`]: [`Service`] (submit, compare, chat completion, subscribe/resume, snapshot,
//!   cancel, votes, leaderboard, sessions, listings, usage) and the body types front ends share;
//! - [`budget`]: budget periods and worst-case reservations;
//! - [`persist`]: the registry observer that writes what a comparison publishes;
//! - [`leaderboard`]: votes → ratings (Bradley-Terry with a bootstrap, Elo) and the vote cache;
//! - [`usage`]: the usage report (per model or day, with the budget);
//! - [`limits`]: the per-caller limits on units of work (`[server.limits]`), and their refusal;
//! - [`embed`]: what the bindings share: opening the engine from options, JSON event streams;
//! - [`keys`]: API keys as data (minting, the key routes' bodies, the cached authenticator);
//! - `redis_registry` (feature `redis`): the request registry of a cluster, in Redis.
//!
//! Storage is `llm-compare-store` (re-exported as [`store`]); the engine is
//! `llm-compare-core`.

pub mod backlog;
pub mod budget;
pub mod embed;
pub mod eval;
pub mod keys;
pub mod leaderboard;
pub mod limits;
pub mod persist;
pub mod recover;
#[cfg(feature = "redis")]
pub mod redis_registry;
pub mod service;
pub mod usage;

pub use budget::{BudgetSettings, Period};
pub use keys::Principal;
pub use limits::Limits;
pub use llm_compare_store as store;
// The stored types front ends see (summaries, votes, the store itself), under one name.
pub use llm_compare_store::*;
pub use persist::Persistence;
pub use recover::Recovered;
#[cfg(feature = "redis")]
pub use redis_registry::RedisRegistry;
pub use service::{
    ChatCall, CreateComparison, CreateSession, ModelSnapshot, Service, ServiceFeatures,
    SessionDetail, Snapshot, Submitted, Thread, ToolMode, ToolResults, ToolSpec, VoteBody,
};
