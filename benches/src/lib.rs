//! What the benchmarks share beyond their own targets: the mock OpenAI-compatible upstream
//! ([`mock_upstream`]), also used by tests that need a real HTTP provider on loopback.

pub mod mock_upstream;
