//! The streamed answer: `chat.completion.chunk` frames over SSE, then `[DONE]` (content
//! chunks written without a serializer on the hot path, byte for byte as the typed ones).

use llm_compare_core::{Event, EventKind, ModelResult};
use serde::Serialize;
use serde_json::{Value, json};

use super::error::{self as openai_error};
use super::response::{ChatUsage, finish_name, tool_calls_json, usage_of};
use crate::api::error::ApiError;

/// The `delta` of a `chat.completion.chunk`.
#[derive(Debug, Default, Serialize)]
pub(super) struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) role: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tool_calls: Option<Vec<Value>>,
}

impl<'a> Delta<'a> {
    pub(super) fn role() -> Self {
        Self {
            role: Some("assistant"),
            content: Some(""),
            ..Self::default()
        }
    }
    pub(super) fn content(text: &'a str) -> Self {
        Self {
            content: Some(text),
            ..Self::default()
        }
    }
    pub(super) fn reasoning(text: &'a str) -> Self {
        Self {
            reasoning_content: Some(text),
            ..Self::default()
        }
    }
}

#[derive(Debug, Serialize)]
pub(super) struct ChunkChoice<'a> {
    pub(super) index: u32,
    pub(super) delta: Delta<'a>,
    // Null until the last chunk, as the API sends it: OpenAI's OpenAPI document types it a
    // string (with OpenAPI 3.0's `nullable`), and its SDKs read null. Always present.
    pub(super) finish_reason: Option<&'a str>,
}

/// One `chat.completion.chunk` (typed, serialized straight into the frame buffer).
#[derive(Debug, Serialize)]
pub(super) struct Chunk<'a> {
    pub(super) id: &'a str,
    pub(super) object: &'static str,
    pub(super) created: u64,
    pub(super) model: &'a str,
    pub(super) choices: &'a [ChunkChoice<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) usage: Option<&'a ChatUsage>,
}

/// `data: <json>` and the blank line that ends an SSE event; returns 1 (events written).
pub(super) fn sse_data(out: &mut Vec<u8>, data: &impl Serialize) -> u64 {
    out.extend_from_slice(b"data: ");
    // Serializing these types cannot fail (no maps with non-string keys).
    let _ = serde_json::to_writer(&mut *out, data);
    out.extend_from_slice(b"\n\n");
    1
}

/// Writes the chunks of one streamed completion.
#[derive(Debug)]
pub(super) struct Frames {
    pub(super) id: String,
    pub(super) model: String,
    pub(super) created: u64,
    /// `stream_options.include_usage`: a last chunk with the usage and no choices.
    pub(super) include_usage: bool,
    /// A content chunk's frame around its text, rendered once (see [`Frames::content`]).
    pub(super) content_frame: (Vec<u8>, Vec<u8>),
    /// Whether the role chunk was sent.
    pub(super) started: bool,
}

impl Frames {
    pub(super) fn new(id: String, model: String, created: u64, include_usage: bool) -> Self {
        let mut frames = Self {
            id,
            model,
            created,
            include_usage,
            content_frame: (Vec::new(), Vec::new()),
            started: false,
        };
        let mut head = Vec::new();
        frames.chunk(&mut head, Delta::content(""), None);
        // The empty text is the frame's last `""`: what follows it (`},"finish_reason":null}]}`)
        // holds none, while an id or a model name ending in `"` ends in `\""` before it.
        let at = head
            .windows(2)
            .rposition(|w| w == b"\"\"")
            .unwrap_or(head.len());
        let tail = head.split_off(at);
        let tail = tail.get(2..).unwrap_or_default().to_vec();
        frames.content_frame = (head, tail);
        frames
    }

    /// The frames of a burst of events; returns how many were written.
    pub(super) fn events(&mut self, out: &mut Vec<u8>, batch: Vec<Event>) -> u64 {
        let mut n = 0;
        for e in batch {
            // The role chunk goes with the first output (as OpenAI sends it): status and
            // stage events make no chunk, so they cost the client no write of their own.
            if !self.started
                && matches!(
                    e.kind,
                    EventKind::ResponseChunk { .. }
                        | EventKind::ReasoningChunk { .. }
                        | EventKind::ModelResult(_)
                )
            {
                self.started = true;
                n += self.chunk(out, Delta::role(), None);
            }
            n += match e.kind {
                EventKind::ResponseChunk { delta, .. } => self.content(out, &delta),
                EventKind::ReasoningChunk { delta, .. } => {
                    self.chunk(out, Delta::reasoning(&delta), None)
                }
                EventKind::ModelResult(r) => self.result(out, &r),
                EventKind::Complete(_) => {
                    out.extend_from_slice(b"data: [DONE]\n\n");
                    1
                }
                _ => 0,
            };
        }
        n
    }

    /// A content chunk — the most frequent frame by far — as its fixed frame around the
    /// text serialized as a JSON string: the same bytes as [`Frames::chunk`] with
    /// [`Delta::content`] (a test holds them equal), without escaping the id and the model
    /// name again for every token.
    pub(super) fn content(&self, out: &mut Vec<u8>, text: &str) -> u64 {
        let (head, tail) = &self.content_frame;
        out.extend_from_slice(head);
        // Serializing a string cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
        out.extend_from_slice(tail);
        1
    }

    pub(super) fn write(
        &self,
        out: &mut Vec<u8>,
        choices: &[ChunkChoice<'_>],
        usage: Option<&ChatUsage>,
    ) -> u64 {
        sse_data(
            out,
            &Chunk {
                id: &self.id,
                object: "chat.completion.chunk",
                created: self.created,
                model: &self.model,
                choices,
                usage,
            },
        )
    }

    pub(super) fn chunk(&self, out: &mut Vec<u8>, delta: Delta<'_>, finish: Option<&str>) -> u64 {
        let choice = ChunkChoice {
            index: 0,
            delta,
            finish_reason: finish,
        };
        self.write(out, std::slice::from_ref(&choice), None)
    }

    /// The model's end: its tool calls and finish reason (or its error, as OpenAI's
    /// `ErrorResponse`, which its SDKs raise mid-stream), then the usage when asked for.
    pub(super) fn result(&self, out: &mut Vec<u8>, r: &ModelResult) -> u64 {
        let mut n = 0;
        if let Some(err) = &r.error {
            let e = ApiError::from(llm_compare_core::Error::from(err));
            n += sse_data(out, &openai_error::body_of(&e));
        } else {
            if !r.tool_calls.is_empty() {
                let calls: Vec<Value> = tool_calls_json(r)
                    .into_iter()
                    .enumerate()
                    .map(|(i, mut c)| {
                        c["index"] = json!(i);
                        c
                    })
                    .collect();
                let delta = Delta {
                    tool_calls: Some(calls),
                    ..Delta::default()
                };
                n += self.chunk(out, delta, None);
            }
            n += self.chunk(out, Delta::default(), Some(finish_name(r)));
        }
        if self.include_usage {
            n += self.write(out, &[], Some(&usage_of(r)));
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn a_content_chunk_is_the_typed_chunk_byte_for_byte() {
        for (id, model) in [
            ("chatcmpl-1", "mock/mock-1"),
            ("chatcmpl-\"\"", "a \"\" model \\ é \u{1}"),
            ("chatcmpl-ends-in-a-quote\"", "ends in a quote\""),
            ("", ""),
        ] {
            let frames = Frames::new(id.into(), model.into(), 1_700_000_000, true);
            for text in [
                "",
                "Hello",
                "\"\"",
                "a \"quote\" \\ \n\t\u{0} é 😀",
                "\"\"\"\"",
            ] {
                let (mut fast, mut typed) = (Vec::new(), Vec::new());
                assert_eq!(frames.content(&mut fast, text), 1);
                frames.chunk(&mut typed, Delta::content(text), None);
                assert_eq!(
                    String::from_utf8(fast).unwrap(),
                    String::from_utf8(typed).unwrap(),
                    "{id:?} {model:?} {text:?}"
                );
            }
        }
    }
}
