//! OpenAI's Response object: the request's settings echoed, the output items of a model's
//! result (`reasoning`, `message`, `function_call` / `custom_tool_call`), status, usage, and
//! a failed model as OpenAI's error.

use axum::response::{IntoResponse, Response};
use llm_compare_core::{Content, FinishReason, Message, ModelResult, ToolCall};
use serde_json::{Map, Value, json};

use crate::api::openai::OpenAiError;

/// What a Response is made of besides its output: its ids and the request's settings.
#[derive(Debug, Clone)]
pub(super) struct Shape {
    /// `resp_…`.
    pub id: String,
    /// Unix seconds.
    pub created_at: u64,
    pub model: String,
    /// The request's settings, echoed.
    pub echo: Map<String, Value>,
    /// Names of the custom tools.
    pub custom: Vec<String>,
    /// Tools of a namespace, by name.
    pub namespaced: Vec<(String, String)>,
}

impl Shape {
    /// The id of an output item of `kind` (`msg`, `rs`, `fc`), `n`th of its kind.
    pub(super) fn item_id(&self, kind: &str, n: usize) -> String {
        let tail = self.id.strip_prefix("resp_").unwrap_or(&self.id);
        if n == 0 {
            format!("{kind}_{tail}")
        } else {
            format!("{kind}_{tail}_{n}")
        }
    }

    /// The Response with `status`, `output` and (when finished) `usage`.
    pub(super) fn response(
        &self,
        status: &str,
        output: Vec<Value>,
        r: Option<&ModelResult>,
    ) -> Value {
        let mut v = self.echo.clone();
        v.insert("id".into(), json!(self.id));
        v.insert("object".into(), json!("response"));
        v.insert("created_at".into(), json!(self.created_at));
        v.insert("model".into(), json!(self.model));
        v.insert("status".into(), json!(status));
        v.insert("output".into(), Value::Array(output));
        let (error, incomplete, usage) = outcome(r);
        v.insert("error".into(), error);
        v.insert("incomplete_details".into(), incomplete);
        if let Some(usage) = usage {
            v.insert("usage".into(), usage);
        }
        Value::Object(v)
    }

    /// What every Response of this answer repeats — the request's settings echoed, the id,
    /// the model — serialized once: `"key":value` pairs without the braces.
    pub(super) fn head(&self) -> Vec<u8> {
        use std::io::Write as _;
        // Serializing a JSON map cannot fail.
        let mut out = serde_json::to_vec(&self.echo).unwrap_or_default();
        out.pop();
        if !out.is_empty() {
            out.remove(0);
        }
        let _ = write!(
            out,
            "{}\"id\":\"{}\",\"object\":\"response\",\"created_at\":{},\"model\":",
            if out.is_empty() { "" } else { "," },
            self.id,
            self.created_at
        );
        let _ = serde_json::to_writer(&mut out, &self.model);
        out
    }

    /// A function (or custom tool) call as its output item.
    pub(super) fn call_item(&self, n: usize, call: &ToolCall, status: &str) -> Value {
        if self.custom.iter().any(|c| c == &call.name) {
            json!({"type": "custom_tool_call", "id": self.item_id("ctc", n), "call_id": call.id,
                   "name": call.name, "input": custom_input(call), "status": status})
        } else {
            let mut item = json!({"type": "function_call", "id": self.item_id("fc", n),
                                  "call_id": call.id, "name": call.name,
                                  "arguments": call.arguments, "status": status});
            if let Some((_, ns)) = self.namespaced.iter().find(|(t, _)| t == &call.name) {
                item["namespace"] = json!(ns);
            }
            item
        }
    }
}

/// A custom tool call's free-text input (its one argument).
pub(super) fn custom_input(call: &ToolCall) -> String {
    serde_json::from_str::<Value>(&call.arguments)
        .ok()
        .and_then(|v| v.get("input").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| call.arguments.clone())
}

/// A Response's `error`, `incomplete_details` and (once finished) `usage`.
pub(super) fn outcome(r: Option<&ModelResult>) -> (Value, Value, Option<Value>) {
    let Some(r) = r else {
        return (Value::Null, Value::Null, None);
    };
    let error = r.error.as_ref().map_or(Value::Null, |e| {
        // The codes the Response object may carry: a rate limit, else a server error.
        let code = match e.code {
            llm_compare_core::ErrorCode::RateLimited => "rate_limit_exceeded",
            _ => "server_error",
        };
        json!({"code": code, "message": e.message})
    });
    let incomplete = incomplete_reason(r).map_or(Value::Null, |reason| json!({"reason": reason}));
    (error, incomplete, Some(usage_of(r)))
}

/// Why a result is incomplete (`None`: it is not).
pub(super) fn incomplete_reason(r: &ModelResult) -> Option<&'static str> {
    match r.finish_reason {
        _ if r.error.is_some() => None,
        Some(FinishReason::Length) => Some("max_output_tokens"),
        Some(FinishReason::ContentFilter) => Some("content_filter"),
        _ => None,
    }
}

/// The Response status of a finished result.
pub(super) fn status_of(r: &ModelResult) -> &'static str {
    if r.error.is_some() {
        "failed"
    } else if incomplete_reason(r).is_some() {
        "incomplete"
    } else {
        "completed"
    }
}

fn usage_of(r: &ModelResult) -> Value {
    let u = &r.usage;
    json!({
        "input_tokens": u.input_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_input_tokens, "cache_write_tokens": u.cache_write_tokens},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.input_tokens + u.output_tokens,
    })
}

pub(super) fn reasoning_item(id: String, text: &str, status: &str) -> Value {
    json!({"type": "reasoning", "id": id, "summary": [],
           "content": [{"type": "reasoning_text", "text": text}], "status": status})
}

pub(super) fn text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

pub(super) fn message_item(id: String, content: Vec<Value>, status: &str) -> Value {
    json!({"type": "message", "id": id, "status": status, "role": "assistant", "content": content})
}

/// The output items of a finished result: reasoning, the message, the calls.
pub(super) fn output_of(shape: &Shape, r: &ModelResult) -> Vec<Value> {
    let mut out = Vec::with_capacity(2 + r.tool_calls.len());
    if !r.reasoning.is_empty() {
        out.push(reasoning_item(
            shape.item_id("rs", 0),
            &r.reasoning,
            "completed",
        ));
    }
    if !r.text.is_empty() || r.tool_calls.is_empty() {
        out.push(message_item(
            shape.item_id("msg", 0),
            vec![text_part(&r.text)],
            "completed",
        ));
    }
    for (n, c) in r.tool_calls.iter().enumerate() {
        out.push(shape.call_item(n, c, "completed"));
    }
    out
}

/// The answer as the conversation's next message (what a follow-up sends back).
pub(super) fn answer_of(r: &ModelResult) -> Message {
    Message::assistant_tool_calls(Content::Text(r.text.clone()), r.tool_calls.clone())
}

/// A model's failure as OpenAI's error response.
pub(super) fn failed(e: &llm_compare_core::ErrorInfo) -> Response {
    OpenAiError::from(llm_compare_core::Error::from(e)).into_response()
}
