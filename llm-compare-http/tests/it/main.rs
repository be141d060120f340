//! The HTTP crate's integration tests: one test binary (linked once, not once per file),
//! a module per area. Shared helpers are in `common` (servers, clients, stores), `remote`
//! (a worker's remote runner) and `fake_kube` (an in-process Kubernetes API).
//!
//! Run one area with `cargo test -p llm-compare-http --test it server::`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod abuse;
mod anthropic_schema;
mod cli;
mod cluster;
mod common;
mod evals;
mod fake_kube;
mod keys;
mod kubernetes;
mod mcp;
mod mock_upstream;
mod openai_responses_schema;
mod openai_schema;
mod otel;
mod outage;
mod persistence;
mod remote;
mod serve_process;
mod server;
mod vendor;
mod versions;
mod worker;
