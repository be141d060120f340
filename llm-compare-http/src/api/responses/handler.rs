//! `POST /v1/responses` and `GET /v1/responses/{id}`: parse, put the stored thread (if
//! any) in front of the input, call the service, answer whole or streamed, and keep the
//! thread behind the answer (a follow-up waits for its write: `Service::keep_thread`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use llm_compare_core::{CompareRequest, Message};
use llm_compare_service::{Principal, Thread};
use serde_json::Value;

use super::request::ResponsesRequest;
use super::response::{Shape, answer_of, failed, output_of, status_of};
use super::stream::Frames;
use crate::api::door;
use crate::api::error::ApiError;
use crate::api::extract::{IdPath, JsonBody, Who};
use crate::api::metrics;
use crate::api::openai::{OpenAiError, OpenAiErrorBody};
use crate::server::AppState;

/// What is kept of an answer once it ends (`store`).
struct Keep {
    state: AppState,
    who: Principal,
    comparison_id: String,
    /// The conversation before the answer (instructions left out: they are not carried
    /// over).
    conversation: Vec<Message>,
    model: String,
}

impl Keep {
    /// Keeps the thread through the answer `r` (a failed answer is not continued), written
    /// behind the answer.
    fn save(self, response: Value, r: &llm_compare_core::ModelResult) {
        if r.error.is_some() {
            return;
        }
        let id = response["id"].as_str().unwrap_or_default().to_string();
        let mut messages = self.conversation;
        messages.push(answer_of(r));
        let thread = Thread {
            model: self.model,
            messages,
        };
        self.state
            .service()
            .keep_thread(&self.who, &id, &self.comparison_id, thread, response);
    }
}

/// OpenAI-compatible responses for one model (any configured provider).
#[utoipa::path(
    post, path = "/v1/responses", tag = "openai",
    request_body = ResponsesRequest,
    responses(
        (status = 200, description = "A Response, or (stream: true) its semantic events: response.created, output items and their deltas, response.completed"),
        (status = 400, description = "Bad body, a field that cannot be honoured, or an unknown model (OpenAI error shape, naming the field in `param`)", body = OpenAiErrorBody),
        (status = 401, description = "Missing or wrong API key (OpenAI error shape)", body = OpenAiErrorBody),
        (status = 402, description = "The caller's budget cannot cover the worst-case cost (`insufficient_quota`)", body = OpenAiErrorBody),
        (status = 403, description = "The API key may not use this model (`model_not_allowed`)", body = OpenAiErrorBody),
        (status = 404, description = "`previous_response_id` is unknown or another user's", body = OpenAiErrorBody),
        (status = 413, description = "Body too large", body = OpenAiErrorBody),
        (status = 415, description = "Body is not JSON", body = OpenAiErrorBody),
        (status = 429, description = "Too many requests per minute, or too many active ones", body = OpenAiErrorBody,
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 502, description = "The model failed", body = OpenAiErrorBody),
        (status = 503, description = "The model is overloaded, or the database or registry is unreachable", body = OpenAiErrorBody,
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 504, description = "The model timed out", body = OpenAiErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn create(
    State(state): State<AppState>,
    Who(who): Who,
    body: Result<JsonBody<ResponsesRequest>, ApiError>,
) -> Result<Response, OpenAiError> {
    state.check_rate(&who)?;
    let JsonBody(body) = body?;
    let p = body.parse()?;
    let service = state.service();
    let (model, mut conversation) = match &p.previous {
        Some(id) => {
            let adding = serde_json::to_vec(&p.input).map_or(0, |v| v.len());
            let thread = service.thread(&who, id, adding).await.map_err(|e| {
                let mut e = ApiError::from(e);
                e.field = Some("previous_response_id".into());
                OpenAiError(e)
            })?;
            (p.model.clone().unwrap_or(thread.model), thread.messages)
        }
        None => (
            p.model
                .clone()
                .ok_or_else(|| ApiError::invalid("model", "model is required"))?,
            Vec::new(),
        ),
    };
    conversation.extend(p.input);
    // Copied only when it is to be kept (the request takes it over).
    let kept = p.store.then(|| conversation.clone());
    let request = CompareRequest {
        models: vec![model],
        messages: door::instructions_first(p.instructions, conversation),
        system: None,
        params: p.params,
        tools: p.tools,
        tool_choice: p.tool_choice,
        response_format: p.response_format,
    };
    let call = service
        .response(&who, request)
        .await
        .map_err(|e| OpenAiError(door::one_model(e.into())))?;
    let header_id = HeaderValue::from_str(&call.id).ok();
    let shape = Shape {
        id: format!("resp_{}", call.id.replace('-', "")),
        created_at: u64::try_from(llm_compare_core::now_ms() / 1000).unwrap_or(0),
        model: call.model.clone(),
        echo: p.echo,
        custom: p.custom,
        namespaced: p.namespaced,
    };
    let keep = kept.map(|conversation| Keep {
        state: state.clone(),
        who: who.clone(),
        comparison_id: call.id.clone(),
        conversation,
        model: call.model.clone(),
    });
    if !p.stream {
        let r = door::whole(call.events).await?;
        if let Some(e) = &r.error {
            return Ok(door::with_id(failed(e), header_id));
        }
        let body = shape.response(status_of(&r), output_of(&shape, &r), Some(&r));
        if let Some(keep) = keep {
            keep.save(body.clone(), &r);
        }
        return Ok(door::with_id(Json(body).into_response(), header_id));
    }
    let batches = match door::open(call.events).await {
        door::Opened::Refused(e) => return Ok(door::with_id(failed(&e), header_id)),
        door::Opened::Streaming(batches) => batches,
    };
    let mut frames = Frames::new(shape, keep.is_some());
    let guard = metrics::stream_opened("responses");
    let mut keep = keep;
    let body = batches.map(move |batch| {
        let _held = &guard;
        let mut out = Vec::with_capacity(256 * (batch.len() + 1));
        let (n, ended) = frames.events(&mut out, batch);
        metrics::events_sent("responses", n);
        if let Some(end) = ended
            && let Some(keep) = keep.take()
        {
            keep.save(end.response, &end.result);
        }
        Bytes::from(out)
    });
    Ok(door::with_id(door::sse(body), header_id))
}

/// A stored response of yours (`store` was not false).
#[utoipa::path(
    get, path = "/v1/responses/{id}", tag = "openai",
    params(("id" = String, Path, description = "The response's id (`resp_…`)")),
    responses(
        (status = 200, description = "The Response, as it was answered"),
        (status = 401, description = "Missing or wrong API key (OpenAI error shape)", body = OpenAiErrorBody),
        (status = 404, description = "Unknown, not stored, or another user's", body = OpenAiErrorBody),
        (status = 503, description = "The database is unreachable", body = OpenAiErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn retrieve(
    State(state): State<AppState>,
    Who(who): Who,
    id: Result<IdPath, ApiError>,
) -> Result<Response, OpenAiError> {
    let IdPath(id) = id?;
    let body = state.service().stored_response(&who, &id).await?;
    Ok(Json(body).into_response())
}
