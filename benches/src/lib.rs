//! What the benchmarks share beyond their own targets: the mock OpenAI-compatible upstream
//! ([`mock_upstream`]), also used by tests that need a real HTTP provider on loopback, and the
//! load harness's processes and load generator ([`harness`]), its soak ([`soak`]) and its
//! failover run ([`failover`]).

pub mod failover;
pub mod harness;
/// The mock upstream lives in the test kit (tests use it too); re-exported for the harness.
pub use llm_compare_testkit::mock_upstream;
pub mod soak;
