//! `POST /v1/chat/completions`: parse, call the service, answer whole or streamed.

use std::convert::Infallible;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use llm_compare_core::{EventKind, bursts};

use super::error::{OpenAiError, OpenAiErrorBody};
use super::request::ChatCompletionRequest;
use super::response::{
    ChatAnswer, ChatChoice, ChatCompletion, failed, finish_name, tool_calls_json, usage_of, with_id,
};
use super::stream::{Delta, Frames};
use crate::api::error::ApiError;
use crate::api::extract::{JsonBody, Who};
use crate::api::metrics;
use crate::server::AppState;

/// OpenAI-compatible chat completions for one model.
#[utoipa::path(
    post, path = "/v1/chat/completions", tag = "openai",
    request_body = ChatCompletionRequest,
    responses(
        (status = 200, description = "A completion, or (stream: true) chat.completion.chunk events then [DONE]",
         body = ChatCompletion),
        (status = 400, description = "Bad body, a field that cannot be honoured, or an unknown model (OpenAI error shape, naming the field in `param`)", body = OpenAiErrorBody),
        (status = 401, description = "Missing or wrong API key (OpenAI error shape)", body = OpenAiErrorBody),
        (status = 402, description = "The caller's budget cannot cover the worst-case cost (OpenAI error shape, `insufficient_quota`)"),
        (status = 403, description = "The API key may not use this model (OpenAI error shape, `model_not_allowed`)"),
        (status = 413, description = "Body too large (OpenAI error shape)", body = OpenAiErrorBody),
        (status = 415, description = "Body is not JSON (OpenAI error shape)", body = OpenAiErrorBody),
        (status = 429, description = "Too many requests per minute, or too many active ones (OpenAI error shape)",
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "The model failed (OpenAI error shape)"),
        (status = 503, description = "The model is overloaded, or the database or registry is unreachable (OpenAI error shape)",
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 504, description = "The model timed out (OpenAI error shape)"),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn completions(
    State(state): State<AppState>,
    Who(who): Who,
    body: Result<JsonBody<ChatCompletionRequest>, ApiError>,
) -> Result<Response, OpenAiError> {
    state.check_rate(&who)?;
    let JsonBody(body) = body?;
    let stream = body.stream;
    let include_usage = body
        .stream_options
        .as_ref()
        .and_then(|o| o.include_usage)
        .unwrap_or(false);
    let request = body.into_compare()?;
    let call = state
        .service()
        .chat_completion(&who, request)
        .await
        .map_err(|e| {
            let mut e = ApiError::from(e);
            // The engine names a comparison's `models`; this request has one `model`.
            if e.field
                .as_deref()
                .is_some_and(|f| f == "models" || f.starts_with("models["))
            {
                e.field = Some("model".into());
            }
            OpenAiError(e)
        })?;
    let header_id = HeaderValue::from_str(&call.id).ok();
    let id = format!("chatcmpl-{}", call.id);
    let model = call.model;
    let mut events = call.events;
    let created = u64::try_from(llm_compare_core::now_ms() / 1000).unwrap_or(0);

    if !stream {
        let mut result = None;
        while let Some(e) = events.next().await {
            if let EventKind::ModelResult(r) = e.kind {
                result = Some(*r);
            }
        }
        let Some(r) = result else {
            return Err(llm_compare_core::Error::Internal("no result".into()).into());
        };
        if let Some(e) = &r.error {
            return Ok(with_id(failed(e), header_id));
        }
        let tool_calls = (!r.tool_calls.is_empty()).then(|| tool_calls_json(&r));
        let body = ChatCompletion {
            id,
            object: "chat.completion".into(),
            created,
            model,
            choices: vec![ChatChoice {
                index: 0,
                message: ChatAnswer {
                    role: "assistant",
                    // As OpenAI: a message that only calls tools has null content.
                    content: (tool_calls.is_none() || !r.text.is_empty()).then(|| r.text.clone()),
                    refusal: None,
                    tool_calls,
                },
                logprobs: None,
                finish_reason: finish_name(&r),
            }],
            usage: usage_of(&r),
        };
        return Ok(with_id(Json(body).into_response(), header_id));
    }

    // The headers wait for the model's first output, for at most `HEADERS_WAIT`: a model
    // that fails before it says anything gets its own HTTP status, as OpenAI's API answers
    // (the SDKs raise their typed error from `create`), and the headers leave in the same
    // write as the first burst of chunks (one write, and one wake-up of the client, fewer).
    // What is ready leaves in one write: a token arriving alone is sent at once; a burst
    // (a fast upstream, a proxy that batches) costs one write, not one per token.
    let mut batches = bursts(events, 256);
    let mut opening: Vec<llm_compare_core::Event> = Vec::new();
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
        EventKind::ModelResult(r) if !said => r.error.as_ref().map(failed),
        _ => None,
    });
    if let Some(resp) = refused {
        // What follows the result (the comparison's end) is recorded as the stream ends.
        while batches.next().await.is_some() {}
        return Ok(with_id(resp, header_id));
    }
    let batches = futures::stream::iter((!opening.is_empty()).then_some(opening)).chain(batches);
    let frames = Frames::new(id, model, created, include_usage);
    let guard = metrics::stream_opened("openai");
    let mut first = true;
    let body = batches.map(move |batch| {
        let _held = &guard;
        let mut out = Vec::with_capacity(256 * (batch.len() + 1));
        let mut n = 0;
        for e in batch {
            // The role chunk goes with the first output (as OpenAI sends it): status and
            // stage events make no chunk, so they cost the client no write of their own.
            if first
                && matches!(
                    e.kind,
                    EventKind::ResponseChunk { .. }
                        | EventKind::ReasoningChunk { .. }
                        | EventKind::ModelResult(_)
                )
            {
                first = false;
                n += frames.chunk(&mut out, Delta::role(), None);
            }
            n += match e.kind {
                EventKind::ResponseChunk { delta, .. } => frames.content(&mut out, &delta),
                EventKind::ReasoningChunk { delta, .. } => {
                    frames.chunk(&mut out, Delta::reasoning(&delta), None)
                }
                EventKind::ModelResult(r) => frames.result(&mut out, &r),
                EventKind::Complete(_) => {
                    out.extend_from_slice(b"data: [DONE]\n\n");
                    1
                }
                _ => 0,
            };
        }
        metrics::events_sent("openai", n);
        Ok::<_, Infallible>(Bytes::from(out))
    });
    Ok(with_id(
        (
            [
                (header::CONTENT_TYPE, "text/event-stream"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            Body::from_stream(body),
        )
            .into_response(),
        header_id,
    ))
}

/// How long a streamed completion's headers wait for the model's first output: past it they
/// leave alone (a slow first token must not look like a dead server to the client).
pub(super) const HEADERS_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// An event that makes a chunk (or ends the stream): what the headers wait for.
pub(super) fn is_output(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::ResponseChunk { .. }
            | EventKind::ReasoningChunk { .. }
            | EventKind::ModelResult(_)
            | EventKind::Complete(_)
    )
}
