//! `/v1/sessions`: multi-turn comparisons. A session fixes its models and system prompt; each
//! turn is a comparison created with `session_id`, in which every model sees its own earlier
//! answers (history trimmed oldest-first to its context window).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use llm_compare_service::SessionSummary;
pub use llm_compare_service::service::{CreateSession, SessionDetail};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, IdPath, JsonBody, PageQuery, QueryParams, Who};
use crate::server::AppState;

/// A page of sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionPage {
    /// Newest first.
    pub sessions: Vec<SessionSummary>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Starts a session.
#[utoipa::path(
    post, path = "/v1/sessions", tag = "sessions",
    request_body = CreateSession,
    responses(
        (status = 201, description = "Created", body = SessionSummary,
         headers(("Location" = String, description = "The session's URL"))),
        (status = 400, description = "Bad body (the field named) or unknown model", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 403, description = "The API key may not use a model (`model_not_allowed`)", body = ErrorBody),
        (status = 503, description = "The database or the registry is unreachable (`unavailable`): retry after `Retry-After`",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 501, description = "The server has no store (`not_configured`)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "Too many requests per minute", body = ErrorBody,
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn create(
    State(state): State<AppState>,
    Who(who): Who,
    body: Result<JsonBody<CreateSession>, ApiError>,
) -> Result<Response, ApiError> {
    state.check_rate(&who)?;
    let JsonBody(body) = body?;
    let info = state.service().create_session(&who, body).await?;
    let location = format!("/v1/sessions/{}", info.id);
    let mut resp = (StatusCode::CREATED, Json(info)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// The caller's sessions, newest first.
#[utoipa::path(
    get, path = "/v1/sessions", tag = "sessions",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of sessions", body = SessionPage),
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
) -> Result<Json<SessionPage>, ApiError> {
    let limit = q.limit()?;
    let page = state
        .service()
        .sessions(&user, limit + 1, q.cursor.as_deref())
        .await?;
    let (sessions, next_cursor) = q.split(page, |s| &s.id);
    Ok(Json(SessionPage {
        sessions,
        next_cursor,
    }))
}

/// A session with every turn: the question, each model's answer and the vote.
#[utoipa::path(
    get, path = "/v1/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "The session", body = SessionDetail),
        (status = 400, description = "Bad session id", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 503, description = "The database or the registry is unreachable (`unavailable`): retry after `Retry-After`",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 501, description = "The server has no store (`not_configured`)", body = ErrorBody),
        (status = 404, description = "Unknown or another caller's session", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn get_one(
    State(state): State<AppState>,
    Caller(user): Caller,
    IdPath(id): IdPath,
) -> Result<Json<SessionDetail>, ApiError> {
    Ok(Json(state.service().session(&user, &id).await?))
}

/// Deletes a session and its turns (running turns are cancelled first).
#[utoipa::path(
    delete, path = "/v1/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Bad session id", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 503, description = "The database or the registry is unreachable (`unavailable`): retry after `Retry-After`",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 501, description = "The server has no store (`not_configured`)", body = ErrorBody),
        (status = 404, description = "Unknown or another caller's session", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn delete_one(
    State(state): State<AppState>,
    Caller(user): Caller,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    state.service().delete_session(&user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
