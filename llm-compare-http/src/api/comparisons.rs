//! `/v1/comparisons`: create (POST → 201 + request id), stream (SSE, resumable with
//! `Last-Event-ID`), WebSocket, snapshot, cancel.

use std::convert::Infallible;

use axum::Json;
use axum::extract::State;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use llm_compare_core::{ErrorCode, Event, EventKind, RequestStatus};
pub use llm_compare_service::service::{
    CreateComparison, ModelSnapshot, Snapshot, Submitted, VoteBody, stored_snapshot,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, ComparisonBody, IdPath, JsonBody, PageQuery, QueryParams, Who};
use super::metrics;
use crate::server::AppState;

/// The SSE `retry:` hint sent with a stream's first event.
const RECONNECT_HINT: std::time::Duration = std::time::Duration::from_millis(1000);

/// `201 Created`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    /// The comparison's id (UUIDv7).
    pub request_id: String,
    /// `pending`.
    pub status: RequestStatus,
    /// Where to stream its events (SSE).
    pub stream_url: String,
    /// Its models, by `model_index` ("Model A", … when blind).
    pub models: Vec<String>,
    /// Earlier session turns left out of each model's history to fit its context window,
    /// by `model_index` (sessions only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history_trimmed: Option<Vec<u32>>,
}

/// Starts a comparison; stream it from `stream_url`.
#[utoipa::path(
    post, path = "/v1/comparisons", tag = "comparisons",
    request_body = CreateComparison,
    responses(
        (status = 201, description = "Started", body = Created,
         headers(("Location" = String, description = "The comparison's URL"))),
        (status = 400, description = "Bad body (the field named) or unknown model", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 503, description = "The database or the registry is unreachable (`unavailable`): retry after `Retry-After`",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 402, description = "The caller's budget cannot cover the worst-case cost", body = ErrorBody),
        (status = 403, description = "The API key may not use a model (`model_not_allowed`)", body = ErrorBody),
        (status = 409, description = "The session's previous turn is still running", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is neither JSON nor a multipart form", body = ErrorBody),
        (status = 429, description = "Too many active requests, or too many requests per minute",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn create(
    State(state): State<AppState>,
    Who(who): Who,
    body: Result<ComparisonBody, ApiError>,
) -> Result<Response, ApiError> {
    state.check_rate(&who)?;
    let ComparisonBody(body) = body?;
    let Submitted {
        request_id: id,
        models,
        history_trimmed,
        prompt,
    } = state.service().submit(&who, body).await?;
    if state.options().log_prompts {
        tracing::info!(target: "llm_compare::prompts", request_id = %id, user = %who.user, prompt = ?prompt, "prompt");
    }
    let location = format!("/v1/comparisons/{id}");
    let body = Created {
        stream_url: format!("{location}/stream"),
        request_id: id,
        status: RequestStatus::Pending,
        models,
        history_trimmed,
    };
    let mut resp = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// `?last_event_id=` (WebSocket, or SSE clients that cannot set headers).
/// A page of comparisons.
#[derive(Debug, Serialize, ToSchema)]
pub struct ComparisonPage {
    /// Newest first.
    pub comparisons: Vec<llm_compare_service::ComparisonSummary>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// The caller's comparisons outside sessions (session turns are listed with their session),
/// newest first.
#[utoipa::path(
    get, path = "/v1/comparisons", tag = "comparisons",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of comparisons", body = ComparisonPage),
        (status = 400, description = "Bad limit", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 503, description = "The database or the registry is unreachable (`unavailable`): retry after `Retry-After`",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 501, description = "The server has no store (`not_configured`)", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(user): Caller,
    QueryParams(q): QueryParams<PageQuery>,
) -> Result<Json<ComparisonPage>, ApiError> {
    let limit = q.limit()?;
    let page = state
        .service()
        .comparisons(&user, limit + 1, q.cursor.as_deref())
        .await?;
    let (comparisons, next_cursor) = q.split(page, |c| &c.id);
    Ok(Json(ComparisonPage {
        comparisons,
        next_cursor,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ResumeQuery {
    /// Resume after this `seq` (the SSE `Last-Event-ID` header wins).
    pub last_event_id: Option<u64>,
    /// API key, for WebSocket clients that cannot set headers.
    pub api_key: Option<String>,
}

fn after_seq(headers: &HeaderMap, query: &ResumeQuery) -> Result<u64, ApiError> {
    resume_after(headers, query.last_event_id)
}

/// Where a stream resumes: after the `Last-Event-ID` header's event, else after `query`'s
/// (`?last_event_id=`), else from the start (0).
pub(crate) fn resume_after(headers: &HeaderMap, query: Option<u64>) -> Result<u64, ApiError> {
    match headers.get("last-event-id") {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                ApiError::invalid(
                    "Last-Event-ID",
                    "Last-Event-ID must be the id of an event (a whole number)",
                )
            }),
        None => Ok(query.unwrap_or(0)),
    }
}

/// `events` as a `text/event-stream` response with keep-alive comments every `keepalive`,
/// marked for proxies not to buffer and clients not to cache.
pub(crate) fn sse_response<S>(events: S, keepalive: std::time::Duration) -> Response
where
    S: Stream<Item = Result<SseEvent, Infallible>> + Send + 'static,
{
    let mut resp = Sse::new(events)
        .keep_alive(KeepAlive::new().interval(keepalive))
        .into_response();
    resp.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

/// The `error` event sent when the server stops before a stream ends.
fn shutting_down(last_seq: u64) -> Event {
    Event {
        seq: last_seq,
        kind: EventKind::Error {
            model_index: None,
            model: None,
            code: ErrorCode::ShuttingDown,
            message:
                "the server is shutting down; resume with Last-Event-ID on another server or later"
                    .into(),
            retryable: true,
        },
    }
}

/// The `error` event that ends a stream with no event for `idle`.
fn idle(last_seq: u64, idle: std::time::Duration) -> Event {
    Event {
        seq: last_seq,
        kind: EventKind::Error {
            model_index: None,
            model: None,
            code: ErrorCode::Timeout,
            message: format!(
                "no event for {idle:?}: this stream ends (`stream_idle_s`); resume with Last-Event-ID"
            ),
            retryable: true,
        },
    }
}

/// A request's events after `after`, ending after `complete`, with `shutting_down` when the
/// server stops first, or with a `timeout` notice after `stream_idle` without an event;
/// `None` when it is finished and `after` is its last event.
async fn events_until_shutdown(
    state: &AppState,
    user: &str,
    id: &str,
    after: u64,
) -> Result<Option<impl Stream<Item = (Event, bool)> + use<>>, ApiError> {
    let Some(mut events) = state.service().resume(user, id, after).await? else {
        return Ok(None);
    };
    let shutdown = state.shutdown().clone();
    let idle_after = state.options().stream_idle;
    Ok(Some(async_stream::stream! {
        let mut last = after;
        let quiet = tokio::time::sleep(idle_after);
        tokio::pin!(quiet);
        loop {
            tokio::select! {
                // Shutdown first: once the grace period is over, the notice wins over any
                // event still queued.
                biased;
                () = shutdown.cancelled() => {
                    yield (shutting_down(last), false);
                    break;
                }
                next = events.next() => match next {
                    Some(e) => {
                        last = e.seq;
                        let logged = !e.is_notice();
                        quiet.as_mut().reset(tokio::time::Instant::now() + idle_after);
                        yield (e, logged);
                    }
                    None => break,
                },
                () = &mut quiet => {
                    yield (idle(last, idle_after), false);
                    break;
                }
            }
        }
    }))
}

/// The comparison's events as server-sent events: `id: <seq>`, `event: <type>`,
/// `data: <json>`; ends after `complete`. Resume with `Last-Event-ID`.
#[utoipa::path(
    get, path = "/v1/comparisons/{id}/stream", tag = "comparisons",
    params(("id" = String, Path, description = "Request id"), ResumeQuery,
           ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this seq")),
    responses(
        (status = 200, description = "The event stream", content_type = "text/event-stream", body = super::openapi::SseMessage),
        (status = 204, description = "Finished, and Last-Event-ID is its last event: nothing more will come (stops an EventSource)"),
        (status = 400, description = "Bad Last-Event-ID", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 503, description = "The database or the registry is unreachable (`unavailable`): retry after `Retry-After`",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 404, description = "Unknown, expired or another caller's request", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn stream(
    State(state): State<AppState>,
    Caller(user): Caller,
    IdPath(id): IdPath,
    QueryParams(query): QueryParams<ResumeQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let after = after_seq(&headers, &query)?;
    let slot = state.open_stream(&user)?;
    let Some(events) = events_until_shutdown(&state, &user, &id, after).await? else {
        // Finished, and the client has every event: 204 is how SSE says "stop reconnecting".
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let guard = (metrics::stream_opened("sse"), slot);
    let mut first = true;
    let sse = events.map(move |(e, logged)| {
        let _held = &guard;
        metrics::events_sent("sse", 1);
        let mut out = SseEvent::default().event(e.type_name()).data(e.to_json());
        if std::mem::take(&mut first) {
            // How soon a client whose connection dropped comes back (EventSource's default
            // is 3 s; a live comparison should not stall that long).
            out = out.retry(RECONNECT_HINT);
        }
        // The shutdown notice is not part of the log: no id, so a resume starts after the
        // last real event.
        if logged {
            out = out.id(e.seq.to_string());
        }
        Ok::<_, Infallible>(out)
    });
    Ok(sse_response(sse, state.options().keepalive))
}

/// The same events over WebSocket: one JSON text message each; closes after `complete`.
#[utoipa::path(
    get, path = "/v1/comparisons/{id}/ws", tag = "comparisons",
    params(("id" = String, Path, description = "Request id"), ResumeQuery),
    responses(
        (status = 101, description = "Switching to WebSocket"),
        (status = 400, description = "Not a WebSocket upgrade", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 503, description = "The database or the registry is unreachable (`unavailable`): retry after `Retry-After`",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 404, description = "Unknown, expired or another caller's request", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn websocket(
    State(state): State<AppState>,
    Caller(user): Caller,
    IdPath(id): IdPath,
    QueryParams(query): QueryParams<ResumeQuery>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let after = after_seq(&headers, &query)?;
    let slot = state.open_stream(&user)?;
    let events = events_until_shutdown(&state, &user, &id, after).await?;
    let ws = ws.map_err(|e| {
        ApiError::invalid("upgrade", format!("a WebSocket upgrade is required: {e}"))
    })?;
    Ok(ws.on_upgrade(move |socket| send_ws(socket, events, slot)))
}

async fn send_ws(
    mut socket: WebSocket,
    events: Option<impl Stream<Item = (Event, bool)>>,
    slot: crate::api::limits::StreamSlot,
) {
    let _guard = (metrics::stream_opened("ws"), slot);
    // Nothing left to send: close at once.
    let mut events = std::pin::pin!(futures::stream::iter(events).flatten());
    while let Some((e, _)) = events.next().await {
        if socket
            .send(WsMessage::Text(e.to_json().into()))
            .await
            .is_err()
        {
            return;
        }
        metrics::events_sent("ws", 1);
    }
    let _ = socket.send(WsMessage::Close(None)).await;
}

/// The comparison now: status, each model's text so far and results.
#[utoipa::path(
    get, path = "/v1/comparisons/{id}", tag = "comparisons",
    params(("id" = String, Path, description = "Request id")),
    responses(
        (status = 200, description = "Snapshot", body = Snapshot),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 503, description = "The database or the registry is unreachable (`unavailable`): retry after `Retry-After`",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 404, description = "Unknown, expired or another caller's request", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn snapshot(
    State(state): State<AppState>,
    Caller(user): Caller,
    IdPath(id): IdPath,
) -> Result<Json<Snapshot>, ApiError> {
    Ok(Json(state.service().snapshot(&user, &id).await?))
}

/// An agent comparison's tool calls with their results, one per (tool, arguments): a
/// cassette to replay in a later comparison (`cassette` in its body). Available while the
/// server keeps the comparison's events (its retention window).
#[utoipa::path(
    get, path = "/v1/comparisons/{id}/cassette", tag = "comparisons",
    params(("id" = String, Path, description = "Request id")),
    responses(
        (status = 200, description = "The recordings", body = Vec<llm_compare_core::tools::Recording>),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "Unknown, expired or another caller's request", body = ErrorBody),
        (status = 503, description = "The registry is unreachable (`unavailable`): retry after `Retry-After`",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn cassette(
    State(state): State<AppState>,
    Caller(user): Caller,
    IdPath(id): IdPath,
) -> Result<Json<Vec<llm_compare_core::tools::Recording>>, ApiError> {
    Ok(Json(state.service().cassette(&user, &id).await?))
}

/// An image or file of a stored comparison's prompt, by its position in `attachments`: its
/// bytes with their media type.
#[utoipa::path(
    get, path = "/v1/comparisons/{id}/attachments/{index}", tag = "comparisons",
    params(
        ("id" = String, Path, description = "Request id"),
        ("index" = u32, Path, description = "Position in the snapshot's `attachments`"),
    ),
    responses(
        (status = 200, description = "The bytes (`content-type`: the attachment's media type)",
         content((Vec<u8> = "image/png"), (Vec<u8> = "image/jpeg"), (Vec<u8> = "image/gif"),
                 (Vec<u8> = "image/webp"), (Vec<u8> = "application/pdf"), (Vec<u8> = "text/plain"))),
        (status = 400, description = "A bad index", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "Unknown comparison or attachment, or one given as a URL", body = ErrorBody),
        (status = 501, description = "No store", body = ErrorBody),
        (status = 503, description = "The database is unreachable (`unavailable`): retry after `Retry-After`",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn attachment(
    State(state): State<AppState>,
    Caller(user): Caller,
    path: Result<axum::extract::Path<(String, String)>, axum::extract::rejection::PathRejection>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let axum::extract::Path((id, index)) =
        path.map_err(|e| ApiError::invalid("id", format!("bad path: {e}")))?;
    let index: usize = index.parse().map_err(|_| {
        ApiError::invalid(
            "index",
            format!("`{index}` is not an attachment index (0, 1, …)"),
        )
    })?;
    let (media_type, bytes) = state.service().attachment(&user, &id, index).await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, media_type),
            // Content-addressed: the bytes under this URL never change.
            (
                axum::http::header::CACHE_CONTROL,
                "private, max-age=31536000, immutable".to_string(),
            ),
            (
                axum::http::header::X_CONTENT_TYPE_OPTIONS,
                "nosniff".to_string(),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// Votes for the best answer of a finished comparison: one vote per comparison, by its owner.
#[utoipa::path(
    post, path = "/v1/comparisons/{id}/preference", tag = "comparisons",
    params(("id" = String, Path, description = "Request id")),
    request_body = VoteBody,
    responses(
        (status = 201, description = "Recorded", body = VoteBody),
        (status = 400, description = "Bad body, or a winner that is not a model of this comparison", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 503, description = "The database or the registry is unreachable (`unavailable`): retry after `Retry-After`",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 404, description = "Unknown or another caller's comparison", body = ErrorBody),
        (status = 501, description = "The server has no store (`not_configured`)", body = ErrorBody),
        (status = 409, description = "Already voted, or not finished yet", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn vote(
    State(state): State<AppState>,
    Caller(user): Caller,
    IdPath(id): IdPath,
    body: Result<JsonBody<VoteBody>, ApiError>,
) -> Result<(StatusCode, Json<VoteBody>), ApiError> {
    let JsonBody(body) = body?;
    state.service().vote(&user, &id, &body).await?;
    Ok((StatusCode::CREATED, Json(body)))
}

/// `POST …/tool_results` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ToolResultsAccepted {
    /// How many results went to their calls.
    pub accepted: usize,
}

/// Sends the results of client-side tool calls (`action` events) back to the models waiting
/// for them: all the body's results, or none (409 naming the one whose call is not waiting).
#[utoipa::path(
    post, path = "/v1/comparisons/{id}/tool_results", tag = "comparisons",
    params(("id" = String, Path, description = "Request id")),
    request_body = llm_compare_service::ToolResults,
    responses(
        (status = 200, description = "Delivered", body = ToolResultsAccepted),
        (status = 400, description = "Bad body (`field` names the entry)", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "Unknown, expired or another caller's comparison", body = ErrorBody),
        (status = 409, description = "A result whose call is not waiting (answered, timed out, never made), or a comparison without client-side tools here", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 503, description = "The registry is unreachable (`unavailable`): retry after `Retry-After`",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn tool_results(
    State(state): State<AppState>,
    Caller(user): Caller,
    IdPath(id): IdPath,
    body: Result<JsonBody<llm_compare_service::ToolResults>, ApiError>,
) -> Result<Json<ToolResultsAccepted>, ApiError> {
    let JsonBody(body) = body?;
    let accepted = state
        .service()
        .tool_results(&user, &id, body.results)
        .await?;
    Ok(Json(ToolResultsAccepted { accepted }))
}

/// `DELETE` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Cancelled {
    /// The id.
    pub request_id: String,
    /// Its status right after the cancel (`cancelled` once the models stopped; a finished
    /// comparison keeps its status).
    pub status: RequestStatus,
}

/// Cancels: upstream calls stop; the stream ends with `status: cancelled`.
#[utoipa::path(
    delete, path = "/v1/comparisons/{id}", tag = "comparisons",
    params(("id" = String, Path, description = "Request id")),
    responses(
        (status = 202, description = "Cancelled (or already finished)", body = Cancelled),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 503, description = "The database or the registry is unreachable (`unavailable`): retry after `Retry-After`",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 404, description = "Unknown, expired or another caller's request", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn cancel(
    State(state): State<AppState>,
    Caller(user): Caller,
    IdPath(id): IdPath,
) -> Result<(StatusCode, Json<Cancelled>), ApiError> {
    let status = state.service().cancel(&user, &id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Cancelled {
            request_id: id,
            status,
        }),
    ))
}
