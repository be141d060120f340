//! The Anthropic door: `POST /v1/messages` and `POST /v1/messages/count_tokens`, so the
//! clients that speak Anthropic's Messages API (its SDKs, Claude Code, LangChain's
//! `ChatAnthropic`, the Vercel AI SDK's Anthropic provider) can use any configured model —
//! a Gemini or OpenAI-compatible one answers in Anthropic's shapes too: the engine's event
//! stream is the bridge. One model, streaming or not; request fields honoured, ignored on
//! purpose or refused by name; responses and errors in the shapes of Anthropic's API
//! document (tests/it/anthropic_schema.rs). A sibling of `openai/`, on the same shared
//! parts (`api/door.rs`).

pub mod error;
mod handler;
mod request;
mod response;
mod stream;

pub use error::{AnthropicError, AnthropicErrorBody, is_anthropic_route};
pub use handler::{__path_count_tokens, __path_messages, TokenCount, count_tokens, messages};
pub use request::{InputMessage, MessagesRequest};
pub use response::{MessageBody, MessageUsage};
