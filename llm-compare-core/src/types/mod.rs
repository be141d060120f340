//! The data every layer shares and the wire carries: requests (what is asked), content parts,
//! events (the one schema of SSE, the CLI's `--json`, Python, Node and the UI), usage, money
//! and the one error type. A leaf: it imports no other module of the crate.

pub(crate) mod content;
pub(crate) mod error;
pub(crate) mod event;
pub(crate) mod money;
pub(crate) mod request;
pub(crate) mod usage;
