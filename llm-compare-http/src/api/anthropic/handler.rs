//! `POST /v1/messages` and `POST /v1/messages/count_tokens`: parse, call the service,
//! answer whole or streamed.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{AnthropicError, AnthropicErrorBody};
use super::request::MessagesRequest;
use super::response::{MessageBody, failed, message};
use super::stream::Frames;
use crate::api::door;
use crate::api::error::ApiError;
use crate::api::extract::{JsonBody, Who};
use crate::api::metrics;
use crate::server::AppState;

/// Anthropic-compatible messages for one model (any configured provider).
#[utoipa::path(
    post, path = "/v1/messages", tag = "anthropic",
    request_body = MessagesRequest,
    responses(
        (status = 200, description = "A Message, or (stream: true) Anthropic's events: message_start, content blocks, message_delta, message_stop",
         body = MessageBody),
        (status = 400, description = "Bad body, a field that cannot be honoured, or an unknown model (Anthropic's error shape; the message starts with the field)", body = AnthropicErrorBody),
        (status = 401, description = "Missing or wrong API key (`x-api-key` or a bearer token)", body = AnthropicErrorBody),
        (status = 402, description = "The caller's budget cannot cover the worst-case cost (`billing_error`)", body = AnthropicErrorBody),
        (status = 403, description = "The API key may not use this model (`permission_error`)", body = AnthropicErrorBody),
        (status = 413, description = "Body too large (`request_too_large`)", body = AnthropicErrorBody),
        (status = 415, description = "Body is not JSON", body = AnthropicErrorBody),
        (status = 429, description = "Too many requests per minute, or too many active ones (`rate_limit_error`)", body = AnthropicErrorBody,
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "The model failed (`api_error`)", body = AnthropicErrorBody),
        (status = 503, description = "The model is overloaded, or the database or registry is unreachable (`overloaded_error`)", body = AnthropicErrorBody,
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 504, description = "The model timed out (`timeout_error`)", body = AnthropicErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn messages(
    State(state): State<AppState>,
    Who(who): Who,
    body: Result<JsonBody<MessagesRequest>, ApiError>,
) -> Result<Response, AnthropicError> {
    state.check_rate(&who)?;
    let JsonBody(body) = body?;
    let stream = body.stream;
    let request = body.into_compare(false)?;
    let call = state
        .service()
        .message(&who, request)
        .await
        .map_err(|e| AnthropicError(door::one_model(e.into())))?;
    let header_id = HeaderValue::from_str(&call.id).ok();
    let id = format!("msg_{}", call.id.replace('-', ""));
    if !stream {
        let r = door::whole(call.events).await?;
        if let Some(e) = &r.error {
            return Ok(door::with_id(failed(e), header_id));
        }
        let body = message(id, call.model, &r);
        return Ok(door::with_id(Json(body).into_response(), header_id));
    }
    let batches = match door::open(call.events).await {
        door::Opened::Refused(e) => return Ok(door::with_id(failed(&e), header_id)),
        door::Opened::Streaming(batches) => batches,
    };
    let mut frames = Frames::new(id, call.model);
    let guard = metrics::stream_opened("anthropic");
    let body = batches.map(move |batch| {
        let _held = &guard;
        let mut out = Vec::with_capacity(256 * (batch.len() + 1));
        let n = frames.events(&mut out, batch);
        metrics::events_sent("anthropic", n);
        Bytes::from(out)
    });
    Ok(door::with_id(door::sse(body), header_id))
}

/// What `count_tokens` answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenCount {
    /// The request's input tokens: llm-compare's estimate (tiktoken), not the provider's
    /// count (`x-llm-compare-token-count: estimate`).
    pub input_tokens: u64,
}

/// Counts a Messages request's input tokens (an estimate: the header says so).
#[utoipa::path(
    post, path = "/v1/messages/count_tokens", tag = "anthropic",
    request_body = MessagesRequest,
    responses(
        (status = 200, description = "The input tokens, estimated", body = TokenCount,
         headers(("x-llm-compare-token-count" = String, description = "`estimate`: counted by llm-compare, not the provider"))),
        (status = 400, description = "Bad body or an unknown model", body = AnthropicErrorBody),
        (status = 401, description = "Missing or wrong API key", body = AnthropicErrorBody),
        (status = 403, description = "The API key may not use this model", body = AnthropicErrorBody),
        (status = 413, description = "Body too large", body = AnthropicErrorBody),
        (status = 415, description = "Body is not JSON", body = AnthropicErrorBody),
        (status = 429, description = "Too many requests per minute", body = AnthropicErrorBody,
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn count_tokens(
    State(state): State<AppState>,
    Who(who): Who,
    body: Result<JsonBody<MessagesRequest>, ApiError>,
) -> Result<Response, AnthropicError> {
    state.check_rate(&who)?;
    let JsonBody(body) = body?;
    let request = body.into_compare(true)?;
    let input_tokens = state
        .service()
        .count_tokens(&who, &request)
        .map_err(|e| AnthropicError(door::one_model(e.into())))?;
    Ok((
        [("x-llm-compare-token-count", "estimate")],
        Json(TokenCount { input_tokens }),
    )
        .into_response())
}
