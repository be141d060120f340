//! `POST /v1/chat/completions`: parse, call the service, answer whole or streamed.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;

use super::error::{OpenAiError, OpenAiErrorBody};
use super::request::ChatCompletionRequest;
use super::response::{ChatCompletion, completion, failed};
use super::stream::Frames;
use crate::api::door;
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
        .map_err(|e| OpenAiError(door::one_model(e.into())))?;
    let header_id = HeaderValue::from_str(&call.id).ok();
    let id = format!("chatcmpl-{}", call.id);
    let created = u64::try_from(llm_compare_core::now_ms() / 1000).unwrap_or(0);
    if !stream {
        let r = door::whole(call.events).await?;
        if let Some(e) = &r.error {
            return Ok(door::with_id(failed(e), header_id));
        }
        let body = completion(id, created, call.model, &r);
        return Ok(door::with_id(Json(body).into_response(), header_id));
    }
    let batches = match door::open(call.events).await {
        door::Opened::Refused(e) => return Ok(door::with_id(failed(&e), header_id)),
        door::Opened::Streaming(batches) => batches,
    };
    let mut frames = Frames::new(id, call.model, created, include_usage);
    let guard = metrics::stream_opened("openai");
    let body = batches.map(move |batch| {
        let _held = &guard;
        let mut out = Vec::with_capacity(256 * (batch.len() + 1));
        let n = frames.events(&mut out, batch);
        metrics::events_sent("openai", n);
        Bytes::from(out)
    });
    Ok(door::with_id(door::sse(body), header_id))
}
