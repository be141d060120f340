//! # llm-compare-testkit
//!
//! What the tests (and the benchmarks) of every crate share, so that none keeps its own copy:
//!
//! - [`mock_upstream`]: a mock OpenAI-compatible server on loopback (TTFT, pace, chunks, cancel
//!   counts) — the upstream of provider tests and of the load harness;
//! - [`sse`]: reading a `text/event-stream` response into `(id, event, data)` frames;
//! - [`TempDir`]: a fresh directory, removed when dropped;
//! - [`Process`]: a child process killed (and reaped) when dropped, and waiting for a line of
//!   its output (a server's "listening on");
//! - [`eventually`]: waiting on a condition with a deadline, instead of a fixed sleep;
//! - [`sim_engine`]: an engine with the simulated provider only, at the given pace.
//!
//! `publish = false`: a dev-dependency of the workspace's crates only.

pub mod mock_upstream;
mod process;
pub mod sse;
mod temp;
mod wait;

use std::sync::Arc;

use llm_compare_core::{Engine, ProviderRegistry, SimConfig, SimProvider};

pub use process::Process;
pub use temp::TempDir;
pub use wait::{eventually, eventually_async};

/// An engine with the simulated provider only (paced by `sim`), and that provider.
pub fn sim_engine(sim: SimConfig) -> (Engine, Arc<SimProvider>) {
    let sim = Arc::new(SimProvider::new(sim));
    let mut providers = ProviderRegistry::new();
    providers.register(sim.clone());
    (Engine::new(providers), sim)
}
