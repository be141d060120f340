//! The OpenAI door: `POST /v1/chat/completions` (and OpenAI's error shape for `/v1/models`),
//! so existing OpenAI clients can use any configured model (and fallbacks, retries, pricing)
//! through llm-compare — one model, streaming or not; request fields honoured, ignored on
//! purpose or refused by name; responses and errors in the shapes of OpenAI's OpenAPI
//! document (tests/it/openai_schema.rs). A client that disconnects cancels the upstream call:
//! the comparison is owned by the response stream.
//!
//! A file per part, so that the next protocol is a sibling folder: `request` (the body and
//! its translation), `response` (the whole answer), `stream` (chunk framing), `error`
//! (OpenAI's error shape), `handler` (the route).

pub mod error;
mod handler;
mod request;
mod response;
mod stream;

pub use error::{OpenAiError, OpenAiErrorBody, is_openai_route};
pub use handler::{__path_completions, completions};
pub use request::{ChatCompletionRequest, ChatMessage, StreamOptions};
pub use response::{ChatAnswer, ChatChoice, ChatCompletion, ChatUsage};
