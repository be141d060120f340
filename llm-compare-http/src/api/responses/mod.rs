//! The Responses door: `POST /v1/responses` and `GET /v1/responses/{id}`, so the clients that
//! speak OpenAI's Responses API (Codex CLI, the OpenAI Agents SDK, new `openai` SDK code) can
//! use any configured model — the engine's event stream is the bridge. One model, streaming
//! or not; `store` and `previous_response_id` keep and continue a thread (the caller's own);
//! request fields honoured, ignored on purpose or refused by name; responses, events and
//! errors in the shapes of OpenAI's OpenAPI document (tests/it/openai_responses_schema.rs).
//! A sibling of `openai/` and `anthropic/`, on the same shared parts (`api/door.rs`).

mod handler;
mod request;
mod response;
mod stream;

pub use handler::{__path_create, __path_retrieve, create, retrieve};
pub use request::ResponsesRequest;
