//! What the benchmarks share beyond their own targets: the mock OpenAI-compatible upstream
//! ([`mock_upstream`]), also used by tests that need a real HTTP provider on loopback, and the
//! load harness's processes and load generator ([`harness`]), its soak ([`soak`]) and its
//! failover run ([`failover`]).

pub mod failover;
pub mod harness;
pub mod mock_upstream;
pub mod soak;
