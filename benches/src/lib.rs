//! What the benchmarks share beyond their own targets: the mock OpenAI-compatible upstream
//! ([`mock_upstream`]), also used by tests that need a real HTTP provider on loopback, and the
//! load harness's processes and load generator ([`harness`]) and its soak ([`soak`]).

pub mod harness;
pub mod mock_upstream;
pub mod soak;
