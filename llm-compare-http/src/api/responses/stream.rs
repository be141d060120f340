//! The streamed answer as OpenAI's Responses events: `response.created`,
//! `response.in_progress`, then per output item `response.output_item.added`, its deltas
//! (`response.reasoning_text.delta`, `response.output_text.delta` inside a content part,
//! `response.function_call_arguments.delta`, `response.custom_tool_call_input.delta`), their
//! `.done` events and `response.output_item.done`, then `response.completed` (or
//! `response.incomplete`) with usage — or `error` and `response.failed` when the model fails
//! mid-answer. Every event carries its `sequence_number`. A plain state machine over the
//! engine's events (which item is open), unit-tested below.

use std::io::Write as _;

use llm_compare_core::{Event, EventKind, ModelResult};
use serde::Serialize;
use serde_json::{Value, json};

use super::response::{Shape, custom_input, message_item, outcome, reasoning_item, status_of};

/// The kind of the open output item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Reasoning,
    Text,
}

/// How the stream ended: the final Response (when it is to be kept) and the model's result.
#[derive(Debug)]
pub(super) struct Ended {
    pub response: Value,
    pub result: ModelResult,
}

/// Writes the events of one streamed response. The frames are written straight into the
/// output (the Response's repeated part serialized once): a response's frames cost about
/// what a chat completion's do (`benches/load/instructions`, `REQUEST=responses`).
#[derive(Debug)]
pub(super) struct Frames {
    shape: Shape,
    /// What every Response of this answer repeats, serialized (`Shape::head`).
    head: Vec<u8>,
    /// The ids of the message and reasoning items (made once: every delta names its item).
    ids: [String; 2],
    /// Whether the end's Response is wanted as a value (to keep the thread).
    keep: bool,
    seq: u64,
    started: bool,
    /// The open item: its kind, output index, and text so far.
    open: Option<(Item, usize, String)>,
    /// Finished output items, in order, serialized.
    written: Vec<Vec<u8>>,
    /// The same as values, when the end's Response is kept.
    items: Vec<Value>,
}

/// `,"key":value`.
fn field(out: &mut Vec<u8>, key: &str, value: &impl Serialize) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    // Serializing these values cannot fail (no maps with non-string keys).
    let _ = serde_json::to_writer(&mut *out, value);
}

impl Frames {
    pub(super) fn new(shape: Shape, keep: bool) -> Self {
        Self {
            head: shape.head(),
            ids: [shape.item_id("msg", 0), shape.item_id("rs", 0)],
            keep,
            shape,
            seq: 0,
            started: false,
            open: None,
            written: Vec::new(),
            items: Vec::new(),
        }
    }

    /// A finished output item: written into `output_item.done` and kept for the end's
    /// Response (`build`: the item as a value, made only when it is kept).
    fn finished(
        &mut self,
        out: &mut Vec<u8>,
        index: usize,
        item: Vec<u8>,
        build: impl FnOnce() -> Value,
    ) -> u64 {
        self.begin(out, "response.output_item.done");
        let _ = write!(out, ",\"output_index\":{index},\"item\":");
        out.extend_from_slice(&item);
        self.written.push(item);
        if self.keep {
            self.items.push(build());
        }
        Self::end(out)
    }

    /// `event: <kind>` and the start of its data, through its sequence number.
    fn begin(&mut self, out: &mut Vec<u8>, kind: &str) {
        let _ = write!(
            out,
            "event: {kind}\ndata: {{\"type\":\"{kind}\",\"sequence_number\":{}",
            self.seq
        );
        self.seq += 1;
    }

    fn end(out: &mut Vec<u8>) -> u64 {
        out.extend_from_slice(b"}\n\n");
        1
    }

    /// A frame of `data` (an object with its `type`); returns 1.
    fn frame(&mut self, out: &mut Vec<u8>, data: Value) -> u64 {
        let Value::Object(data) = data else {
            return 0;
        };
        let kind = data.get("type").and_then(Value::as_str).unwrap_or_default();
        self.begin(out, kind);
        for (k, v) in data.iter().filter(|(k, _)| *k != "type") {
            field(out, k, v);
        }
        Self::end(out)
    }

    /// A frame carrying the Response with `status`, the finished items and `r`'s outcome.
    fn response_frame(
        &mut self,
        out: &mut Vec<u8>,
        kind: &str,
        status: &str,
        r: Option<&ModelResult>,
    ) -> u64 {
        self.begin(out, kind);
        out.extend_from_slice(b",\"response\":{");
        out.extend_from_slice(&self.head);
        field(out, "status", &status);
        out.extend_from_slice(b",\"output\":[");
        for (i, item) in self.written.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(item);
        }
        out.push(b']');
        let (error, incomplete, usage) = outcome(r);
        field(out, "error", &error);
        field(out, "incomplete_details", &incomplete);
        if let Some(usage) = usage {
            field(out, "usage", &usage);
        }
        out.push(b'}');
        Self::end(out)
    }

    /// The frames of a burst of events; returns how many were written, and the end when the
    /// burst held the model's result.
    pub(super) fn events(&mut self, out: &mut Vec<u8>, batch: Vec<Event>) -> (u64, Option<Ended>) {
        let mut n = 0;
        let mut ended = None;
        for e in batch {
            match e.kind {
                EventKind::ResponseChunk { delta, .. } => n += self.delta(out, Item::Text, &delta),
                EventKind::ReasoningChunk { delta, .. } => {
                    n += self.delta(out, Item::Reasoning, &delta);
                }
                EventKind::ModelResult(r) => {
                    let (k, end) = self.result(out, *r);
                    n += k;
                    ended = Some(end);
                }
                _ => {}
            }
        }
        (n, ended)
    }

    fn start(&mut self, out: &mut Vec<u8>) -> u64 {
        if self.started {
            return 0;
        }
        self.started = true;
        self.response_frame(out, "response.created", "in_progress", None)
            + self.response_frame(out, "response.in_progress", "in_progress", None)
    }

    fn item_id(&self, item: Item) -> &str {
        match item {
            Item::Text => &self.ids[0],
            Item::Reasoning => &self.ids[1],
        }
    }

    /// The text part of the message item (an `output_text` part).
    fn text_part(out: &mut Vec<u8>, text: &str) {
        out.extend_from_slice(b"{\"type\":\"output_text\",\"text\":");
        let _ = serde_json::to_writer(&mut *out, text);
        out.extend_from_slice(b",\"annotations\":[],\"logprobs\":[]}");
    }

    /// `,"item_id":…,"output_index":…,"content_index":0`.
    fn at(out: &mut Vec<u8>, id: &str, index: usize) {
        let _ = write!(
            out,
            ",\"item_id\":\"{id}\",\"output_index\":{index},\"content_index\":0"
        );
    }

    fn close(&mut self, out: &mut Vec<u8>) -> u64 {
        let Some((item, index, text)) = self.open.take() else {
            return 0;
        };
        let id = self.item_id(item).to_string();
        let mut n = 0;
        let mut done = Vec::with_capacity(text.len() + 160);
        match item {
            Item::Reasoning => {
                self.begin(out, "response.reasoning_text.done");
                Self::at(out, &id, index);
                field(out, "text", &text);
                n += Self::end(out);
                let _ = write!(
                    done,
                    "{{\"type\":\"reasoning\",\"id\":\"{id}\",\"summary\":[],\"content\":[{{\"type\":\"reasoning_text\",\"text\":"
                );
                let _ = serde_json::to_writer(&mut done, &text);
                done.extend_from_slice(b"}],\"status\":\"completed\"}");
                n + self.finished(out, index, done, || reasoning_item(id, &text, "completed"))
            }
            Item::Text => {
                self.begin(out, "response.output_text.done");
                Self::at(out, &id, index);
                field(out, "text", &text);
                out.extend_from_slice(b",\"logprobs\":[]");
                n += Self::end(out);
                self.begin(out, "response.content_part.done");
                Self::at(out, &id, index);
                out.extend_from_slice(b",\"part\":");
                Self::text_part(out, &text);
                n += Self::end(out);
                let _ = write!(
                    done,
                    "{{\"type\":\"message\",\"id\":\"{id}\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":["
                );
                Self::text_part(&mut done, &text);
                done.extend_from_slice(b"]}");
                n + self.finished(out, index, done, || {
                    message_item(id, vec![super::response::text_part(&text)], "completed")
                })
            }
        }
    }

    /// A piece of text or reasoning: in the open item of its kind, else a new one.
    fn delta(&mut self, out: &mut Vec<u8>, kind: Item, text: &str) -> u64 {
        let mut n = self.start(out);
        if !matches!(self.open, Some((open, ..)) if open == kind) {
            n += self.close(out);
            let index = self.written.len();
            let id = self.item_id(kind).to_string();
            self.begin(out, "response.output_item.added");
            let _ = write!(out, ",\"output_index\":{index},\"item\":");
            match kind {
                Item::Reasoning => {
                    let _ = write!(
                        out,
                        "{{\"type\":\"reasoning\",\"id\":\"{id}\",\"summary\":[],\"content\":[],\"status\":\"in_progress\"}}"
                    );
                }
                Item::Text => {
                    let _ = write!(
                        out,
                        "{{\"type\":\"message\",\"id\":\"{id}\",\"status\":\"in_progress\",\"role\":\"assistant\",\"content\":[]}}"
                    );
                }
            }
            n += Self::end(out);
            if kind == Item::Text {
                self.begin(out, "response.content_part.added");
                Self::at(out, &id, index);
                out.extend_from_slice(b",\"part\":");
                Self::text_part(out, "");
                n += Self::end(out);
            }
            self.open = Some((kind, index, String::new()));
        }
        let Some((_, index, so_far)) = self.open.as_mut() else {
            return n;
        };
        so_far.push_str(text);
        let index = *index;
        let (name, logprobs) = match kind {
            Item::Text => ("response.output_text.delta", ",\"logprobs\":[]"),
            Item::Reasoning => ("response.reasoning_text.delta", ""),
        };
        // The most frequent frame by far.
        let _ = write!(
            out,
            "event: {name}\ndata: {{\"type\":\"{name}\",\"item_id\":\"{}\",\"output_index\":{index},\"content_index\":0{logprobs},\"sequence_number\":{},\"delta\":",
            self.item_id(kind),
            self.seq
        );
        self.seq += 1;
        // Serializing a string cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
        out.extend_from_slice(b"}\n\n");
        n + 1
    }

    /// The model's end: its calls as items, then `response.completed` (or
    /// `response.incomplete`) — or its error as `error` and `response.failed`.
    fn result(&mut self, out: &mut Vec<u8>, r: ModelResult) -> (u64, Ended) {
        let mut n = self.start(out) + self.close(out);
        if let Some(e) = &r.error {
            let body = crate::api::openai::error::body_of(&crate::api::error::ApiError::from(
                llm_compare_core::Error::from(e),
            ));
            n += self.frame(
                out,
                json!({"type": "error", "code": body.error.code, "message": body.error.message,
                       "param": body.error.param}),
            );
        } else {
            if self.written.is_empty() && r.tool_calls.is_empty() {
                // An empty answer is one empty message, as OpenAI sends it.
                n += self.delta(out, Item::Text, "") + self.close(out);
            }
            for (k, call) in r.tool_calls.iter().enumerate() {
                let index = self.written.len();
                let added = self.shape.call_item(k, call, "in_progress");
                let id = added["id"].as_str().unwrap_or_default().to_string();
                let custom = added["type"] == "custom_tool_call";
                n += self.frame(
                    out,
                    json!({"type": "response.output_item.added", "output_index": index, "item": added}),
                );
                n += if custom {
                    let input = custom_input(call);
                    self.frame(
                        out,
                        json!({"type": "response.custom_tool_call_input.delta", "item_id": id,
                               "output_index": index, "delta": input}),
                    ) + self.frame(
                        out,
                        json!({"type": "response.custom_tool_call_input.done", "item_id": id,
                               "output_index": index, "input": input}),
                    )
                } else {
                    self.frame(
                        out,
                        json!({"type": "response.function_call_arguments.delta", "item_id": id,
                               "output_index": index, "delta": call.arguments}),
                    ) + self.frame(
                        out,
                        json!({"type": "response.function_call_arguments.done", "item_id": id,
                               "output_index": index, "name": call.name, "arguments": call.arguments}),
                    )
                };
                let done = self.shape.call_item(k, call, "completed");
                let bytes = serde_json::to_vec(&done).unwrap_or_default();
                n += self.finished(out, index, bytes, || done);
            }
        }
        let status = status_of(&r);
        let kind = match status {
            "failed" => "response.failed",
            "incomplete" => "response.incomplete",
            _ => "response.completed",
        };
        n += self.response_frame(out, kind, status, Some(&r));
        let response = if self.keep {
            self.shape
                .response(status, std::mem::take(&mut self.items), Some(&r))
        } else {
            Value::Null
        };
        (
            n,
            Ended {
                response,
                result: r,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use llm_compare_core::ToolCall;
    use serde_json::Map;

    use crate::api::door::frames_of as events;

    fn result(extra: Value) -> ModelResult {
        let mut v = json!({
            "model_index": 0, "model": "sim/echo", "text": "Hello", "finish_reason": "stop",
            "partial": false,
            "usage": {"input_tokens": 10, "output_tokens": 3, "cached_input_tokens": 4},
            "cost": {"priced": false, "source": "price_table"},
            "timing": {"ttft_ms": 1.0, "total_ms": 2.0}
        });
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        serde_json::from_value(v).unwrap()
    }

    fn frames(custom: &[&str]) -> Frames {
        frames_keeping(custom, true)
    }

    fn frames_keeping(custom: &[&str], keep: bool) -> Frames {
        Frames::new(
            Shape {
                id: "resp_1".into(),
                created_at: 1,
                model: "sim/echo".into(),
                echo: Map::new(),
                custom: custom.iter().map(|c| c.to_string()).collect(),
                namespaced: Vec::new(),
            },
            keep,
        )
    }

    #[test]
    fn what_is_written_does_not_depend_on_keeping_the_response() {
        let run = |keep: bool| {
            let mut f = frames_keeping(&[], keep);
            let mut out = Vec::new();
            f.delta(&mut out, Item::Reasoning, "hmm");
            f.delta(&mut out, Item::Text, "Hello");
            let mut r = result(json!({"finish_reason": "tool_calls"}));
            r.tool_calls.push(ToolCall {
                id: "call_1".into(),
                name: "add".into(),
                arguments: "{}".into(),
            });
            let (_, ended) = f.result(&mut out, r);
            (out, ended.response)
        };
        let (kept, response) = run(true);
        let (unkept, none) = run(false);
        assert_eq!(
            String::from_utf8_lossy(&kept),
            String::from_utf8_lossy(&unkept)
        );
        assert!(none.is_null());
        // The kept Response is the one the last event carries.
        let last = events(&kept).pop().unwrap().1;
        assert_eq!(last["response"], response);
    }

    #[test]
    fn items_open_and_close_in_order_and_the_end_carries_usage() {
        let mut f = frames(&["apply_patch"]);
        let mut out = Vec::new();
        f.delta(&mut out, Item::Reasoning, "hmm");
        f.delta(&mut out, Item::Text, "Hel");
        f.delta(&mut out, Item::Text, "lo \"you\"");
        let mut r = result(json!({"finish_reason": "tool_calls"}));
        r.tool_calls.push(ToolCall {
            id: "call_1".into(),
            name: "add".into(),
            arguments: r#"{"a":1}"#.into(),
        });
        r.tool_calls.push(ToolCall {
            id: "call_2".into(),
            name: "apply_patch".into(),
            arguments: r#"{"input":"*** Begin"}"#.into(),
        });
        let (_, ended) = f.result(&mut out, r);
        let got = events(&out);
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.reasoning_text.delta",
                "response.reasoning_text.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.custom_tool_call_input.delta",
                "response.custom_tool_call_input.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        let seqs: Vec<u64> = got
            .iter()
            .map(|(_, d)| d["sequence_number"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, (0..22).collect::<Vec<u64>>());
        assert_eq!(got[9].1["delta"], "lo \"you\"");
        assert_eq!(got[10].1["text"], "Hello \"you\"");
        assert_eq!(got[9].1["output_index"], 1);
        assert_eq!(got[15].1["arguments"], r#"{"a":1}"#);
        assert_eq!(got[19].1["input"], "*** Begin");
        let output = &ended.response["output"];
        let kinds: Vec<&str> = output
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            ["reasoning", "message", "function_call", "custom_tool_call"]
        );
        assert_eq!(
            ended.response["usage"]["input_tokens_details"]["cached_tokens"],
            4
        );
        assert_eq!(ended.response["status"], "completed");
    }

    #[test]
    fn a_failure_mid_answer_is_an_error_then_response_failed() {
        let mut f = frames(&[]);
        let mut out = Vec::new();
        f.delta(&mut out, Item::Text, "Hel");
        let r = result(
            json!({"error": {"code": "server", "message": "upstream broke", "retryable": true}}),
        );
        let (_, ended) = f.result(&mut out, r);
        let got = events(&out);
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(&names[names.len() - 2..], ["error", "response.failed"]);
        assert_eq!(ended.response["status"], "failed");
        assert_eq!(ended.response["error"]["code"], "server_error");
        let r = result(json!({"finish_reason": "length"}));
        let (_, ended) = frames(&[]).result(&mut Vec::new(), r);
        assert_eq!(ended.response["status"], "incomplete");
        assert_eq!(
            ended.response["incomplete_details"]["reason"],
            "max_output_tokens"
        );
    }
}
