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
use llm_compare_core::{
    CompareRequest, ErrorCode, Event, EventKind, Message, ModelResult, NewRequest, Params,
    RequestStatus, Stage, Tool, ToolChoice, Totals,
};
use llm_compare_store::NewComparison;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ErrorBody};
use super::extract::{Caller, IdPath, JsonBody, PageQuery, QueryParams};
use super::metrics;
use crate::server::AppState;

/// `POST /v1/comparisons` body: a prompt (or messages) and the models to compare.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateComparison {
    /// The prompt (or give `messages`).
    pub prompt: Option<String>,
    /// The conversation, ending with the user's message (or give `prompt`).
    pub messages: Option<Vec<Message>>,
    /// Models, `provider/model`, 1–8 (e.g. `sim/echo`, `openai/gpt-4o-mini`). May be
    /// omitted with `session_id` (the session's models).
    #[schema(example = json!(["sim/echo", "sim/lorem"]))]
    #[serde(default)]
    pub models: Vec<String>,
    /// A system prompt for every model.
    pub system: Option<String>,
    /// Generation parameters.
    pub params: Option<Params>,
    /// Tools the models may call (OpenAI function format).
    pub tools: Option<Vec<Tool>>,
    /// Whether and which tool the models must call.
    pub tool_choice: Option<ToolChoice>,
    /// Continue a session: give `prompt`; every model sees its own earlier answers.
    pub session_id: Option<String>,
    /// Hide model names ("Model A", "Model B", … in shuffled order) until the vote.
    pub blind: Option<bool>,
    /// Your own data, returned in snapshots.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

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

/// What a valid body turns into.
struct Prepared {
    calls: Vec<llm_compare_core::ChatRequest>,
    metadata: Option<serde_json::Value>,
    session_id: Option<String>,
    prompt: Option<String>,
    blind: bool,
}

impl CreateComparison {
    /// Checks the body and plans one call per model (a session's next turn with
    /// `session_id`).
    async fn prepare(self, state: &AppState, user: &str) -> Result<Prepared, ApiError> {
        let blind = self.blind == Some(true);
        if (blind || self.session_id.is_some()) && state.store().is_none() {
            let field = if blind { "blind" } else { "session_id" };
            return Err(ApiError::invalid(
                field,
                "sessions and blind comparisons need a server with a store",
            ));
        }
        let Some(session_id) = self.session_id.clone() else {
            let (request, metadata) = self.into_request()?;
            return Ok(Prepared {
                calls: state.engine().plan(&request)?,
                metadata,
                session_id: None,
                prompt: request.messages.last().map(|m| m.content.clone()),
                blind,
            });
        };
        if self.messages.is_some() {
            return Err(ApiError::invalid(
                "messages",
                "a session turn takes a prompt; the session holds the history",
            ));
        }
        if self.system.is_some() {
            return Err(ApiError::invalid(
                "system",
                "a session's system prompt is set when the session is created",
            ));
        }
        let Some(prompt) = self.prompt.clone() else {
            return Err(ApiError::invalid(
                "prompt",
                "prompt is required to continue a session",
            ));
        };
        let params = self.params.clone().unwrap_or_default();
        params.validate()?;
        check_metadata(self.metadata.as_ref())?;
        let mut calls =
            super::sessions::next_turn(state, user, &session_id, &prompt, &self.models, &params)
                .await?;
        for c in &mut calls {
            c.tools = self.tools.clone().unwrap_or_default();
            c.tool_choice = self.tool_choice.clone();
        }
        Ok(Prepared {
            calls,
            metadata: self.metadata,
            session_id: Some(session_id),
            prompt: Some(prompt),
            blind,
        })
    }

    fn into_request(self) -> Result<(CompareRequest, Option<serde_json::Value>), ApiError> {
        let messages = match (self.prompt, self.messages) {
            (Some(p), None) => vec![Message::user(p)],
            (None, Some(m)) => m,
            (Some(_), Some(_)) => {
                return Err(ApiError::invalid(
                    "prompt",
                    "give either prompt or messages, not both",
                ));
            }
            (None, None) => {
                return Err(ApiError::invalid(
                    "prompt",
                    "prompt or messages is required",
                ));
            }
        };
        check_metadata(self.metadata.as_ref())?;
        Ok((
            CompareRequest {
                models: self.models,
                messages,
                system: self.system,
                params: self.params.unwrap_or_default(),
                tools: self.tools.unwrap_or_default(),
                tool_choice: self.tool_choice,
            },
            self.metadata,
        ))
    }
}

fn check_metadata(metadata: Option<&serde_json::Value>) -> Result<(), ApiError> {
    if metadata.is_some_and(|m| m.to_string().len() > 16 * 1024) {
        return Err(ApiError::invalid(
            "metadata",
            "metadata is limited to 16 KiB of JSON",
        ));
    }
    Ok(())
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
        (status = 402, description = "The caller's budget cannot cover the worst-case cost", body = ErrorBody),
        (status = 409, description = "The session's previous turn is still running", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Body is not JSON", body = ErrorBody),
        (status = 429, description = "Too many active requests, or too many requests per minute",
         body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn create(
    State(state): State<AppState>,
    Caller(user): Caller,
    body: Result<JsonBody<CreateComparison>, ApiError>,
) -> Result<Response, ApiError> {
    state.check_rate(&user)?;
    let JsonBody(body) = body?;
    let Prepared {
        mut calls,
        metadata,
        session_id,
        prompt,
        blind,
    } = body.prepare(&state, &user).await?;
    if blind {
        // Position must not give the models away either.
        fastrand::shuffle(&mut calls);
    }
    let history_trimmed = session_id
        .is_some()
        .then(|| calls.iter().map(|c| c.history_trimmed).collect());
    let models: Vec<String> = calls.iter().map(|c| c.model.to_string()).collect();
    let mut new = NewRequest::new(&user, models.clone()).metadata(metadata.clone());
    new.blind = blind;
    if let Some(store) = state.store() {
        let reservation = match &state.options().budget {
            Some(b) => b.reservation(&user, state.engine(), &calls)?,
            None => None,
        };
        // Recorded (and its worst case held against the budget) before any upstream call.
        store
            .create_comparison(&NewComparison {
                id: new.id.clone(),
                owner: user.clone(),
                models: models.clone(),
                metadata,
                created_at_ms: super::now_ms(),
                session_id,
                prompt: prompt.clone(),
                blind,
                instance: state.options().instance_id.clone(),
                reservation,
            })
            .await?;
    }
    let pending_id = new.id.clone();
    let id = match state
        .engine()
        .submit_calls(state.registry().clone(), new, calls)
        .await
    {
        Ok(id) => id,
        Err(e) => {
            if let Some(store) = state.store() {
                // Never ran: release its hold, leave no record.
                let _ = store.discard_comparison(&pending_id).await;
            }
            return Err(e.into());
        }
    };
    if state.options().log_prompts {
        tracing::info!(target: "llm_compare::prompts", request_id = %id, user = %user, prompt = ?prompt, "prompt");
    }
    let models = if blind {
        (0..models.len())
            .map(llm_compare_core::blind_label)
            .collect()
    } else {
        models
    };
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
    pub comparisons: Vec<llm_compare_store::ComparisonSummary>,
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
        (status = 404, description = "The server has no store", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn list(
    State(state): State<AppState>,
    Caller(user): Caller,
    QueryParams(q): QueryParams<PageQuery>,
) -> Result<Json<ComparisonPage>, ApiError> {
    let limit = q.limit()?;
    let store = state
        .store()
        .ok_or_else(|| ApiError::not_found("listing comparisons needs a server with a store"))?;
    let page = store
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
    match headers.get("last-event-id") {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .ok_or_else(|| {
                ApiError::invalid(
                    "Last-Event-ID",
                    "Last-Event-ID must be an event seq (a whole number)",
                )
            }),
        None => Ok(query.last_event_id.unwrap_or(0)),
    }
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

/// Whether readers of comparison `id` must see "Model A", … instead of model ids: it is
/// blind and has no vote yet.
async fn hides_models(state: &AppState, user: &str, id: &str) -> Result<bool, ApiError> {
    if !state.registry().status(user, id).await?.blind {
        return Ok(false);
    }
    Ok(match state.store() {
        Some(store) => store
            .comparison(user, id)
            .await?
            .is_none_or(|c| c.preference.is_none()),
        None => true,
    })
}

/// A snapshot as a blind comparison shows it before the vote.
fn blind_snapshot(snap: &mut Snapshot) {
    for m in &mut snap.models {
        m.model = llm_compare_core::blind_label(m.model_index);
        if let Some(r) = &mut m.result {
            r.blind();
        }
    }
}

/// A request's events after `after`, ending after `complete`, or with `shutting_down`
/// when the server stops first.
async fn events_until_shutdown(
    state: &AppState,
    user: &str,
    id: &str,
    after: u64,
) -> Result<impl Stream<Item = (Event, bool)> + use<>, ApiError> {
    let mut events = state.registry().subscribe(user, id, after).await?;
    let hide = hides_models(state, user, id).await?;
    let shutdown = state.shutdown().clone();
    Ok(async_stream::stream! {
        let mut last = after;
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
                        yield (if hide { e.blinded() } else { e }, true);
                    }
                    None => break,
                },
            }
        }
    })
}

/// The comparison's events as server-sent events: `id: <seq>`, `event: <type>`,
/// `data: <json>`; ends after `complete`. Resume with `Last-Event-ID`.
#[utoipa::path(
    get, path = "/v1/comparisons/{id}/stream", tag = "comparisons",
    params(("id" = String, Path, description = "Request id"), ResumeQuery,
           ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this seq")),
    responses(
        (status = 200, description = "The event stream", content_type = "text/event-stream", body = String),
        (status = 400, description = "Bad Last-Event-ID", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
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
    let events = events_until_shutdown(&state, &user, &id, after).await?;
    let guard = metrics::stream_opened("sse");
    let sse = events.map(move |(e, logged)| {
        let _held = &guard;
        metrics::events_sent("sse", 1);
        let mut out = SseEvent::default().event(e.type_name()).data(e.to_json());
        // The shutdown notice is not part of the log: no id, so a resume starts after the
        // last real event.
        if logged {
            out = out.id(e.seq.to_string());
        }
        Ok::<_, Infallible>(out)
    });
    let mut resp = Sse::new(sse)
        .keep_alive(KeepAlive::new().interval(state.options().keepalive))
        .into_response();
    // Proxies must not buffer the stream.
    resp.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

/// The same events over WebSocket: one JSON text message each; closes after `complete`.
#[utoipa::path(
    get, path = "/v1/comparisons/{id}/ws", tag = "comparisons",
    params(("id" = String, Path, description = "Request id"), ResumeQuery),
    responses(
        (status = 101, description = "Switching to WebSocket"),
        (status = 400, description = "Not a WebSocket upgrade", body = ErrorBody),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
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
    let events = events_until_shutdown(&state, &user, &id, after).await?;
    let ws = ws.map_err(|e| {
        ApiError::invalid("upgrade", format!("a WebSocket upgrade is required: {e}"))
    })?;
    Ok(ws.on_upgrade(move |socket| send_ws(socket, events)))
}

async fn send_ws(mut socket: WebSocket, events: impl Stream<Item = (Event, bool)>) {
    let _guard = metrics::stream_opened("ws");
    let mut events = std::pin::pin!(events);
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

/// One model's state in a snapshot.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelSnapshot {
    /// Its position.
    pub model_index: usize,
    /// Its id.
    pub model: String,
    /// Its stage.
    #[schema(value_type = String)]
    pub stage: Stage,
    /// The text streamed so far.
    pub text: String,
    /// Its result, once it finished.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<ModelResult>,
}

/// `GET /v1/comparisons/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Snapshot {
    /// The id.
    pub request_id: String,
    /// Its status.
    pub status: RequestStatus,
    /// Unix milliseconds of its creation.
    pub created_at_ms: u64,
    /// The last event's seq.
    pub last_seq: u64,
    /// Each model, by `model_index`.
    pub models: Vec<ModelSnapshot>,
    /// Totals, once complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totals: Option<Totals>,
    /// Duration, once complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// The metadata given at creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// The vote, once cast.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preference: Option<VoteBody>,
    /// The user's message (session turns, and comparisons of a server with a store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// The session this comparison is a turn of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Blind: model names are "Model A", … until the vote.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub blind: bool,
}

/// `POST /v1/comparisons/{id}/preference` body (also the vote in snapshots).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoteBody {
    /// The winning `model_index`, or `"tie"`, or `"all_bad"`.
    #[schema(value_type = Object, example = json!(0))]
    pub winner: llm_compare_store::Winner,
    /// Free-text feedback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
}

impl From<llm_compare_store::Vote> for VoteBody {
    fn from(v: llm_compare_store::Vote) -> Self {
        Self {
            winner: v.winner,
            feedback: v.feedback,
        }
    }
}

/// A snapshot from the store: after a restart, once the registry has let it go, or as a
/// session turn.
pub fn stored_snapshot(c: llm_compare_store::StoredComparison) -> Snapshot {
    let models = c
        .models
        .into_iter()
        .map(|m| ModelSnapshot {
            model_index: m.model_index,
            stage: match &m.result {
                Some(r) if r.error.is_some() => Stage::Failed,
                Some(_) => Stage::Done,
                None if c.status.is_terminal() => Stage::Cancelled,
                None => Stage::Streaming,
            },
            model: m.model,
            text: m.text,
            result: m.result,
        })
        .collect();
    let hide = c.blind && c.preference.is_none();
    let mut snap = Snapshot {
        request_id: c.id,
        status: c.status,
        created_at_ms: u64::try_from(c.created_at_ms).unwrap_or(0),
        last_seq: 0,
        models,
        totals: c.totals,
        duration_ms: c.duration_ms,
        metadata: c.metadata,
        preference: c.preference.map(Into::into),
        prompt: c.prompt,
        session_id: c.session_id,
        blind: c.blind,
    };
    if hide {
        blind_snapshot(&mut snap);
    }
    snap
}

/// The comparison now: status, each model's text so far and results.
#[utoipa::path(
    get, path = "/v1/comparisons/{id}", tag = "comparisons",
    params(("id" = String, Path, description = "Request id")),
    responses(
        (status = 200, description = "Snapshot", body = Snapshot),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
        (status = 404, description = "Unknown, expired or another caller's request", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn snapshot(
    State(state): State<AppState>,
    Caller(user): Caller,
    IdPath(id): IdPath,
) -> Result<Json<Snapshot>, ApiError> {
    let info = match state.registry().status(&user, &id).await {
        Ok(info) => info,
        Err(e) => {
            // Gone from memory (expired, or the server restarted): the store still has it.
            if let Some(store) = state.store()
                && let Some(c) = store.comparison(&user, &id).await?
            {
                return Ok(Json(stored_snapshot(c)));
            }
            return Err(e.into());
        }
    };
    let stored = match state.store() {
        Some(store) => store.comparison(&user, &id).await?,
        None => None,
    };
    let hide = info.blind && stored.as_ref().is_none_or(|c| c.preference.is_none());
    let (preference, prompt, session_id) = match stored {
        Some(c) => (c.preference.map(Into::into), c.prompt, c.session_id),
        None => (None, None, None),
    };
    let events = state.registry().events(&user, &id, 0).await?;
    let mut models: Vec<ModelSnapshot> = info
        .models
        .iter()
        .enumerate()
        .map(|(i, m)| ModelSnapshot {
            model_index: i,
            model: m.clone(),
            stage: Stage::Queued,
            text: String::new(),
            result: None,
        })
        .collect();
    let mut totals = None;
    let mut duration_ms = None;
    for e in events {
        match e.kind {
            EventKind::Stage {
                model_index, stage, ..
            } => {
                if let Some(m) = models.get_mut(model_index) {
                    m.stage = stage;
                }
            }
            EventKind::ResponseChunk {
                model_index, delta, ..
            } => {
                if let Some(m) = models.get_mut(model_index) {
                    m.text.push_str(&delta);
                }
            }
            EventKind::ModelResult(r) => {
                if let Some(m) = models.get_mut(r.model_index) {
                    m.text.clone_from(&r.text);
                    m.result = Some(*r);
                }
            }
            EventKind::Complete(c) => {
                totals = Some(c.totals);
                duration_ms = Some(c.duration_ms);
            }
            _ => {}
        }
    }
    let mut snap = Snapshot {
        request_id: info.id,
        status: info.status,
        created_at_ms: info.created_at_ms,
        last_seq: info.last_seq,
        models,
        totals,
        duration_ms,
        metadata: info.metadata,
        preference,
        prompt,
        session_id,
        blind: info.blind,
    };
    if hide {
        blind_snapshot(&mut snap);
    }
    Ok(Json(snap))
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
        (status = 404, description = "Unknown or another caller's comparison, or a server without a store", body = ErrorBody),
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
    let Some(store) = state.store() else {
        return Err(ApiError::not_found("votes need a server with a store"));
    };
    let vote = llm_compare_store::Vote {
        winner: body.winner.clone(),
        feedback: body.feedback.clone(),
    };
    store.vote(&user, &id, &vote).await?;
    Ok((StatusCode::CREATED, Json(body)))
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
        (status = 404, description = "Unknown, expired or another caller's request", body = ErrorBody),
    ),
    security(("bearer" = []), ("api_key" = []), ())
)]
pub async fn cancel(
    State(state): State<AppState>,
    Caller(user): Caller,
    IdPath(id): IdPath,
) -> Result<(StatusCode, Json<Cancelled>), ApiError> {
    state.registry().cancel(&user, &id).await?;
    // Cancellation is immediate upstream; give the driver a moment to record it.
    let mut status = state.registry().status(&user, &id).await?.status;
    for _ in 0..50 {
        if status.is_terminal() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        status = state.registry().status(&user, &id).await?.status;
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(Cancelled {
            request_id: id,
            status,
        }),
    ))
}
