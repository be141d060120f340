//! `/v1/sessions`: multi-turn comparisons. A session fixes its models and system prompt; each
//! turn is a comparison created with `session_id`, in which every model sees its own earlier
//! answers (history trimmed oldest-first to its context window).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use llm_compare_core::{ChatRequest, InMemorySession, ModelId, Params, Session, Turn};
use llm_compare_store::{NewSession, SessionSummary, StoredComparison};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::comparisons::{Snapshot, stored_snapshot};
use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, IdPath, JsonBody, PageQuery, QueryParams};
use crate::server::AppState;

/// `POST /v1/sessions` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSession {
    /// Models, `provider/model`, 1–8, fixed for every turn.
    #[schema(example = json!(["sim/echo", "sim/lorem"]))]
    pub models: Vec<String>,
    /// A title (at most 200 characters).
    pub title: Option<String>,
    /// A system prompt for every turn.
    pub system: Option<String>,
}

/// A session with its turns.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDetail {
    /// The session.
    #[serde(flatten)]
    pub session: SessionSummary,
    /// Its turns, oldest first: the question (`prompt`), every model's answer and the vote.
    pub turns: Vec<Snapshot>,
}

/// A page of sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionPage {
    /// Newest first.
    pub sessions: Vec<SessionSummary>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn store_of(state: &AppState) -> Result<&llm_compare_store::SharedStore, ApiError> {
    state
        .store()
        .ok_or_else(|| ApiError::not_found("sessions need a server with a store"))
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
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "Too many requests per minute", body = ErrorBody,
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(user): Caller,
    body: Result<JsonBody<CreateSession>, ApiError>,
) -> Result<Response, ApiError> {
    state.check_rate(&user)?;
    let JsonBody(body) = body?;
    let store = store_of(&state)?;
    let engine = state.engine();
    if body.models.is_empty() {
        return Err(ApiError::invalid(
            "models",
            "at least one model is required",
        ));
    }
    if body.models.len() > engine.max_models() {
        return Err(ApiError::invalid(
            "models",
            format!("at most {} models per session", engine.max_models()),
        ));
    }
    if body.title.as_ref().is_some_and(|t| t.chars().count() > 200) {
        return Err(ApiError::invalid(
            "title",
            "the title is limited to 200 characters",
        ));
    }
    let models = body
        .models
        .iter()
        .map(|m| {
            engine
                .providers()
                .resolve(engine.policies().resolve_alias(m))
                .map(|(id, _)| id.to_string())
        })
        .collect::<llm_compare_core::Result<Vec<_>>>()?;
    let s = NewSession {
        id: uuid::Uuid::now_v7().to_string(),
        owner: user,
        title: body.title,
        models,
        system: body.system.filter(|s| !s.is_empty()),
        created_at_ms: super::now_ms(),
    };
    store.create_session(&s).await?;
    let location = format!("/v1/sessions/{}", s.id);
    let info = SessionSummary {
        id: s.id,
        title: s.title,
        models: s.models,
        system: s.system,
        created_at_ms: s.created_at_ms,
        turns: 0,
    };
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
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(user): Caller,
    QueryParams(q): QueryParams<PageQuery>,
) -> Result<Json<SessionPage>, ApiError> {
    let limit = q.limit()?;
    let store = store_of(&state)?;
    let page = store
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
        (status = 404, description = "Unknown or another caller's session", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn get_one(
    State(state): State<AppState>,
    Caller(user): Caller,
    IdPath(id): IdPath,
) -> Result<Json<SessionDetail>, ApiError> {
    let store = store_of(&state)?;
    let Some(s) = store.session(&user, &id).await? else {
        return Err(ApiError::not_found(format!(
            "no session `{id}` (unknown or not yours)"
        )));
    };
    Ok(Json(SessionDetail {
        session: s.summary,
        turns: s.turns.into_iter().map(stored_snapshot).collect(),
    }))
}

/// Deletes a session and its turns (running turns are cancelled first).
#[utoipa::path(
    delete, path = "/v1/sessions/{id}", tag = "sessions",
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Bad session id", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "Unknown or another caller's session", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn delete_one(
    State(state): State<AppState>,
    Caller(user): Caller,
    IdPath(id): IdPath,
) -> Result<StatusCode, ApiError> {
    let store = store_of(&state)?;
    if let Some(s) = store.session(&user, &id).await? {
        for t in s.turns.iter().filter(|t| !t.status.is_terminal()) {
            // Gone from the registry already is fine: nothing left to stop.
            let _ = state.registry().cancel(&user, &t.id).await;
        }
    }
    if !store.delete_session(&user, &id).await? {
        return Err(ApiError::not_found(format!(
            "no session `{id}` (unknown or not yours)"
        )));
    }
    // Its votes leave the leaderboard.
    state.votes().invalidate().await;
    Ok(StatusCode::NO_CONTENT)
}

fn turn_of(c: &StoredComparison) -> Option<Turn> {
    let user = c.prompt.clone()?;
    // A cancelled or interrupted turn was never seen through: left out, as in memory.
    if !matches!(
        c.status,
        llm_compare_core::RequestStatus::Completed | llm_compare_core::RequestStatus::Failed
    ) {
        return None;
    }
    Some(Turn {
        request_id: c.id.clone(),
        user,
        answers: c
            .models
            .iter()
            .map(|m| (!m.text.is_empty()).then(|| m.text.clone()))
            .collect(),
    })
}

/// The calls of the next turn of `session_id` for `prompt`: every model with its own history.
/// `models`, when given, must be the session's.
pub async fn next_turn(
    state: &AppState,
    user: &str,
    session_id: &str,
    prompt: &str,
    models: &[String],
    params: &Params,
) -> Result<Vec<ChatRequest>, ApiError> {
    let store = store_of(state)?;
    let Some(s) = store.session(user, session_id).await? else {
        return Err(ApiError::invalid(
            "session_id",
            format!("no session `{session_id}` (unknown or not yours)"),
        ));
    };
    if s.turns.iter().any(|t| !t.status.is_terminal()) {
        return Err(llm_compare_core::Error::Conflict(
            "the session's previous turn is still running: wait for its `complete`, or cancel it"
                .into(),
        )
        .into());
    }
    if !models.is_empty() && models != s.summary.models.as_slice() {
        return Err(ApiError::invalid(
            "models",
            format!(
                "a session's models are fixed: omit models or give {:?}",
                s.summary.models
            ),
        ));
    }
    // The stored turns are the history; the new turn is recorded as a comparison.
    let session = InMemorySession::restore(
        s.summary.id.clone(),
        s.summary
            .models
            .iter()
            .map(|m| ModelId::parse(m))
            .collect::<llm_compare_core::Result<_>>()?,
        s.summary.system.clone(),
        s.turns.iter().filter_map(turn_of).collect(),
    );
    Ok(session
        .calls_for(prompt, params, state.engine().prices())
        .await?)
}
