//! The streamed answer as Anthropic's event sequence: `message_start`, `ping`, then per
//! content block `content_block_start`, its deltas (`thinking_delta`, `text_delta`,
//! `input_json_delta`) and `content_block_stop`, then `message_delta` (stop reason, usage)
//! and `message_stop` — or an `error` event when the model fails mid-answer. A plain state
//! machine over the engine's events (which block is open), unit-tested below.

use std::io::Write as _;

use llm_compare_core::{Event, EventKind, ModelResult};
use serde::Serialize;
use serde_json::json;

use super::error::body_of;
use super::response::{input_of, stop_reason, usage_of};
use crate::api::error::ApiError;

/// The kind of the open content block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Thinking,
    Text,
}

/// Writes the events of one streamed message.
#[derive(Debug)]
pub(super) struct Frames {
    id: String,
    model: String,
    started: bool,
    /// The open block and its index.
    open: Option<(Block, usize)>,
    /// Blocks started so far (the next block's index).
    blocks: usize,
}

/// `event: <name>` and `data: <json>`, ending the SSE event; returns 1 (events written).
fn frame(out: &mut Vec<u8>, name: &str, data: &impl Serialize) -> u64 {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    // Serializing these values cannot fail (no maps with non-string keys).
    let _ = serde_json::to_writer(&mut *out, data);
    out.extend_from_slice(b"\n\n");
    1
}

impl Frames {
    pub(super) fn new(id: String, model: String) -> Self {
        Self {
            id,
            model,
            started: false,
            open: None,
            blocks: 0,
        }
    }

    /// The frames of a burst of events; returns how many were written.
    pub(super) fn events(&mut self, out: &mut Vec<u8>, batch: Vec<Event>) -> u64 {
        let mut n = 0;
        for e in batch {
            n += match e.kind {
                EventKind::ResponseChunk { delta, .. } => self.delta(out, Block::Text, &delta),
                EventKind::ReasoningChunk { delta, .. } => self.delta(out, Block::Thinking, &delta),
                EventKind::ModelResult(r) => self.result(out, &r),
                _ => 0,
            };
        }
        n
    }

    /// `message_start` (usage is known at the end: `message_delta` carries it) and a `ping`,
    /// once.
    fn start(&mut self, out: &mut Vec<u8>) -> u64 {
        if self.started {
            return 0;
        }
        self.started = true;
        let message = json!({
            "id": self.id, "type": "message", "role": "assistant", "model": self.model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 0, "output_tokens": 0,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
        });
        frame(
            out,
            "message_start",
            &json!({"type": "message_start", "message": message}),
        ) + frame(out, "ping", &json!({"type": "ping"}))
    }

    fn close(&mut self, out: &mut Vec<u8>) -> u64 {
        match self.open.take() {
            Some((_, index)) => frame(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            ),
            None => 0,
        }
    }

    /// A piece of text or thinking: in the open block of its kind, else a new one.
    fn delta(&mut self, out: &mut Vec<u8>, kind: Block, text: &str) -> u64 {
        let mut n = self.start(out);
        let index = match self.open {
            Some((open, index)) if open == kind => index,
            _ => {
                n += self.close(out);
                let index = self.blocks;
                self.blocks += 1;
                self.open = Some((kind, index));
                let block = match kind {
                    Block::Text => json!({"type": "text", "text": ""}),
                    Block::Thinking => json!({"type": "thinking", "thinking": "", "signature": ""}),
                };
                n += frame(
                    out,
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": index, "content_block": block}),
                );
                index
            }
        };
        // The most frequent frame by far: written without building a JSON value.
        let (kind, key) = match kind {
            Block::Text => ("text_delta", "text"),
            Block::Thinking => ("thinking_delta", "thinking"),
        };
        let _ = write!(
            out,
            "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":{index},\"delta\":{{\"type\":\"{kind}\",\"{key}\":"
        );
        // Serializing a string cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
        out.extend_from_slice(b"}}\n\n");
        n + 1
    }

    /// The model's end: its tool calls as `tool_use` blocks, then the stop reason and usage
    /// and `message_stop` — or its error as Anthropic's `error` event.
    fn result(&mut self, out: &mut Vec<u8>, r: &ModelResult) -> u64 {
        let mut n = self.start(out) + self.close(out);
        if let Some(e) = &r.error {
            return n + frame(
                out,
                "error",
                &body_of(&ApiError::from(llm_compare_core::Error::from(e))),
            );
        }
        if self.blocks == 0 && r.tool_calls.is_empty() {
            // An empty answer is one empty text block, as Anthropic sends it.
            n += self.delta(out, Block::Text, "") + self.close(out);
        }
        for call in &r.tool_calls {
            let index = self.blocks;
            self.blocks += 1;
            let block = json!({"type": "tool_use", "id": call.id, "name": call.name, "input": {}});
            let input = input_of(call).to_string();
            n += frame(
                out,
                "content_block_start",
                &json!({"type": "content_block_start", "index": index, "content_block": block}),
            ) + frame(
                out,
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": input}}),
            ) + frame(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            );
        }
        n + frame(
            out,
            "message_delta",
            &json!({"type": "message_delta",
                    "delta": {"stop_reason": stop_reason(r), "stop_sequence": null},
                    "usage": usage_of(r)}),
        ) + frame(out, "message_stop", &json!({"type": "message_stop"}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llm_compare_core::ToolCall;

    use crate::api::door::frames_of as events;

    #[test]
    fn blocks_open_and_close_in_order_and_the_end_carries_usage() {
        let mut f = Frames::new("msg_1".into(), "sim/echo".into());
        let mut out = Vec::new();
        f.delta(&mut out, Block::Thinking, "hmm");
        f.delta(&mut out, Block::Text, "Hel");
        f.delta(&mut out, Block::Text, "lo \"you\"");
        let mut r: ModelResult = serde_json::from_value(json!({
            "model_index": 0, "model": "sim/echo", "text": "Hello", "finish_reason": "tool_calls",
            "partial": false,
            "usage": {"input_tokens": 10, "output_tokens": 3, "cached_input_tokens": 4},
            "cost": {"priced": false, "source": "price_table"},
            "timing": {"ttft_ms": 1.0, "total_ms": 2.0}
        }))
        .unwrap();
        r.tool_calls.push(ToolCall {
            id: "toolu_1".into(),
            name: "add".into(),
            arguments: r#"{"a":1}"#.into(),
        });
        f.result(&mut out, &r);
        let got = events(&out);
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ]
        );
        assert_eq!(
            got[3].1["delta"],
            json!({"type": "thinking_delta", "thinking": "hmm"})
        );
        assert_eq!(got[7].1["delta"]["text"], "lo \"you\"");
        assert_eq!(got[7].1["index"], 1);
        assert_eq!(got[9].1["content_block"]["type"], "tool_use");
        assert_eq!(got[10].1["delta"]["partial_json"], r#"{"a":1}"#);
        assert_eq!(got[12].1["delta"]["stop_reason"], "tool_use");
        assert_eq!(got[12].1["usage"]["input_tokens"], 6);
        assert_eq!(got[12].1["usage"]["cache_read_input_tokens"], 4);
    }
}
