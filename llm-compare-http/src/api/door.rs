//! What every vendor door (`openai/`, `anthropic/`) shares once the service has started the
//! one model's call: the whole answer for a request that does not stream, and for one that
//! does, the wait for the model's first output before the headers leave — so that a model
//! that fails before saying anything gets its own HTTP status, as the vendors' APIs answer —
//! then its events in bursts, and the SSE response around the door's frames.

use std::convert::Infallible;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use futures::stream::BoxStream;
use llm_compare_core::{Content, ErrorInfo, Event, EventKind, Message, ModelResult, Role, bursts};

/// How long a streamed answer's headers wait for the model's first output: past it they
/// leave alone (a slow first token must not look like a dead server to the client).
pub(crate) const HEADERS_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The most events sent in one write.
const BURST: usize = 256;

/// An event that makes a frame (or ends the stream): what the headers wait for.
pub(crate) fn is_output(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::ResponseChunk { .. }
            | EventKind::ReasoningChunk { .. }
            | EventKind::ModelResult(_)
            | EventKind::Complete(_)
    )
}

/// The model's result, once its call has ended (the events before it are not needed).
pub(crate) async fn whole(
    mut events: BoxStream<'static, Event>,
) -> Result<ModelResult, llm_compare_core::Error> {
    let mut result = None;
    while let Some(e) = events.next().await {
        if let EventKind::ModelResult(r) = e.kind {
            result = Some(*r);
        }
    }
    result.ok_or_else(|| llm_compare_core::Error::Internal("no result".into()))
}

/// A streamed call after the wait for its first output.
pub(crate) enum Opened {
    /// The model failed before it said anything: answer with this error's status.
    Refused(ErrorInfo),
    /// Its events in bursts (what is ready leaves in one write: a token arriving alone is
    /// sent at once; a burst from a fast upstream costs one write, not one per token).
    Streaming(BoxStream<'static, Vec<Event>>),
}

/// Waits (at most [`HEADERS_WAIT`]) for the call's first output.
pub(crate) async fn open(events: BoxStream<'static, Event>) -> Opened {
    let mut batches = bursts(events, BURST);
    let mut opening: Vec<Event> = Vec::new();
    let _ = tokio::time::timeout(HEADERS_WAIT, async {
        while let Some(batch) = batches.next().await {
            let output = batch.iter().any(|e| is_output(&e.kind));
            opening.extend(batch);
            if output {
                break;
            }
        }
    })
    .await;
    let said = opening.iter().any(|e| {
        matches!(
            e.kind,
            EventKind::ResponseChunk { .. } | EventKind::ReasoningChunk { .. }
        )
    });
    let refused = opening.iter().find_map(|e| match &e.kind {
        EventKind::ModelResult(r) if !said => r.error.clone(),
        _ => None,
    });
    if let Some(error) = refused {
        // What follows the result (the comparison's end) is recorded as the stream ends.
        while batches.next().await.is_some() {}
        return Opened::Refused(error);
    }
    let first = futures::stream::iter((!opening.is_empty()).then_some(opening));
    Opened::Streaming(first.chain(batches).boxed())
}

/// An SSE response of `frames` (each item one write).
pub(crate) fn sse(frames: impl futures::Stream<Item = Bytes> + Send + 'static) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(frames.map(Ok::<_, Infallible>)),
    )
        .into_response()
}

/// The response with `x-request-id` set to the call's stored id.
pub(crate) fn with_id(mut resp: Response, id: Option<HeaderValue>) -> Response {
    if let Some(id) = id {
        resp.headers_mut().insert("x-request-id", id);
    }
    resp
}

/// The engine names a comparison's `models`; a door's request has one `model`.
pub(crate) fn one_model(mut e: crate::api::error::ApiError) -> crate::api::error::ApiError {
    if e.field
        .as_deref()
        .is_some_and(|f| f == "models" || f.starts_with("models["))
    {
        e.field = Some("model".into());
    }
    e
}

/// The engine's messages for a door's `system` prompt and conversation: instructions sent
/// among the messages (Claude Code's environment notes, Codex's developer messages) join the
/// system prompt, since every provider takes instructions first and a conversation ends with
/// the user's turn.
pub(crate) fn instructions_first(system: Option<String>, said: Vec<Message>) -> Vec<Message> {
    let (extra, said): (Vec<Message>, Vec<Message>) =
        said.into_iter().partition(|m| m.role == Role::System);
    let texts: Vec<String> = system
        .into_iter()
        .chain(extra.iter().map(|m| m.content.text().into_owned()))
        .filter(|t| !t.is_empty())
        .collect();
    let mut messages = Vec::with_capacity(said.len() + 1);
    if !texts.is_empty() {
        messages.push(Message::system(Content::Text(texts.join("\n\n"))));
    }
    messages.extend(said);
    messages
}

/// The frames of an SSE body a door wrote: (event name, data), the name matching the data's
/// `type` each time.
#[cfg(test)]
pub(crate) fn frames_of(out: &[u8]) -> Vec<(String, serde_json::Value)> {
    String::from_utf8_lossy(out)
        .split("\n\n")
        .filter(|f| !f.is_empty())
        .map(|f| {
            let (name, data) = f.split_once('\n').unwrap_or_default();
            let name = name.strip_prefix("event: ").unwrap_or_default().to_string();
            let data: serde_json::Value =
                serde_json::from_str(data.strip_prefix("data: ").unwrap_or_default())
                    .unwrap_or_default();
            assert_eq!(data["type"], name.as_str(), "{f}");
            (name, data)
        })
        .collect()
}
