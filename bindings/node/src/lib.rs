//! # llm-compare-node
//!
//! The Node.js binding (`llm-compare`'s native addon, wrapped by `index.js`). Its modules
//! mirror the core's and the store's one to one and hold no logic: they convert between
//! JavaScript and Rust and run the engine's futures on napi's tokio runtime, so the event
//! loop never waits on Rust. Events cross as the JSON text of the shared event schema,
//! exactly what SSE carries; errors cross as JSON in the message, which `index.js` turns
//! into `Error` subclasses with a `code`.

pub mod comparison;
pub mod config;
pub mod content;
pub mod cost;
pub mod error;
pub mod eval;
pub mod keys;
pub mod registry;
pub mod service;
pub mod tools;
