//! The server: shared state (its options are `options.rs`), the router with its middleware
//! (auth, request logging, CORS, body limit), and serving with graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use llm_compare_core::{Engine, InMemoryRegistry, RequestRegistry};
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::Instrument as _;

use crate::api::error::ApiError;
use crate::api::extract::Caller;
use crate::api::guard::BrowserGuard;
use crate::api::limits::RateLimiter;
use crate::api::metrics::{self, ModelMetrics};
use crate::api::{comparisons, evals, keys, leaderboard, meta, sessions, usage};
use llm_compare_service::{Principal, RedisRegistry, Service, Store};

pub use crate::options::{ServerOptions, ServerSettings, default_instance_id};

/// Where request state lives: this process's memory, or Redis shared by a cluster.
#[derive(Debug, Clone)]
pub enum Backend {
    /// In memory (one server).
    Memory(InMemoryRegistry),
    /// In Redis (a cluster of servers).
    Redis(RedisRegistry),
}

impl Backend {
    /// `memory` or `redis`.
    pub fn kind(&self) -> &'static str {
        match self {
            Backend::Memory(_) => "memory",
            Backend::Redis(_) => "redis",
        }
    }

    /// What finished requests hold in this process's memory (the in-memory registry).
    pub fn retained_bytes(&self) -> Option<usize> {
        match self {
            Backend::Memory(m) => Some(m.retained_bytes()),
            Backend::Redis(_) => None,
        }
    }

    /// Requests running on this server.
    pub fn active_total(&self) -> usize {
        match self {
            Backend::Memory(m) => m.active_total(),
            Backend::Redis(r) => r.active_total(),
        }
    }

    /// Cancels every request running on this server.
    pub fn cancel_all(&self) {
        match self {
            Backend::Memory(m) => m.cancel_all(),
            Backend::Redis(r) => r.cancel_all(),
        }
    }

    fn registry(&self) -> Arc<dyn RequestRegistry> {
        match self {
            Backend::Memory(m) => Arc::new(m.clone()),
            Backend::Redis(r) => Arc::new(r.clone()),
        }
    }
}

struct Inner {
    service: Service,
    guard: BrowserGuard,
    streams: crate::api::limits::OpenStreams,
    backend: Backend,
    limiter: RateLimiter,
    options: ServerOptions,
    shutdown: CancellationToken,
    started: Instant,
}

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("options", &self.0.options)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// State for `engine` under `options`, without persistence (everything in memory).
    /// Must be called inside a Tokio runtime.
    pub fn new(engine: Engine, options: ServerOptions) -> Self {
        Self::with_store(engine, options, None)
    }

    /// State with a store: comparisons, results and votes are persisted.
    pub fn with_store(
        engine: Engine,
        options: ServerOptions,
        store: Option<Arc<dyn Store>>,
    ) -> Self {
        let memory = InMemoryRegistry::new(options.registry);
        Self::with_backend(engine, options, store, Backend::Memory(memory))
    }

    /// State with a store and a registry backend (Redis for a cluster).
    pub fn with_backend(
        engine: Engine,
        options: ServerOptions,
        store: Option<Arc<dyn Store>>,
        backend: Backend,
    ) -> Self {
        // Persisted first (a result is on disk before it is counted or sent), then metrics.
        // Writes to an unreachable database wait as long as the comparison stays readable.
        let labels = Arc::new(metrics::ModelLabels::new(
            &engine,
            metrics::MAX_OTHER_MODELS,
        ));
        let service = Service::with_write_window(
            engine,
            backend.registry(),
            store,
            vec![Arc::new(ModelMetrics(labels))],
            options.registry.retention,
        )
        .with_budget(options.budget.clone())
        .with_instance(options.instance_id.clone())
        .with_limits(options.limits.clone())
        .with_static_keys(
            options
                .api_keys
                .iter()
                .map(|(u, k)| (u.as_str(), k.as_str())),
        );
        let guard = BrowserGuard::new(
            options.bind.ip(),
            options.allowed_hosts.as_deref(),
            &options.cors_origins,
        );
        Self(Arc::new(Inner {
            service,
            guard,
            streams: crate::api::limits::OpenStreams::default(),
            limiter: RateLimiter::new(),
            backend,
            options,
            shutdown: CancellationToken::new(),
            started: Instant::now(),
        }))
    }

    /// What the handlers call: comparisons, sessions, votes, the leaderboard.
    pub fn service(&self) -> &Service {
        &self.0.service
    }

    /// Which hosts and origins are served ([`BrowserGuard`]).
    pub fn guard(&self) -> &BrowserGuard {
        &self.0.guard
    }

    /// The registry backend (for gauges and shutdown).
    pub fn backend(&self) -> &Backend {
        &self.0.backend
    }
    /// Options.
    pub fn options(&self) -> &ServerOptions {
        &self.0.options
    }
    /// Fires when the shutdown grace period is over: open streams end with `shutting_down`.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.0.shutdown
    }
    /// Uptime.
    pub fn uptime(&self) -> Duration {
        self.0.started.elapsed()
    }
    /// Takes a request-rate token for the caller: its key's rate when the key has one (a
    /// burst of that many, then that rate), else the server's per-user rate.
    pub fn check_rate(&self, who: &Principal) -> Result<(), ApiError> {
        let (subject, per_minute, burst) = match who.rpm() {
            Some((key, rpm)) => (format!("key:{key}"), rpm, rpm),
            None => (
                format!("user:{}", who.user),
                self.0.options.requests_per_minute,
                self.0.options.burst,
            ),
        };
        self.0
            .limiter
            .check(&subject, per_minute, burst)
            .map_err(|wait| {
                let whose = if who.rpm().is_some() {
                    "for this API key"
                } else {
                    "per caller"
                };
                ApiError::rate_limited(
                    format!("too many requests: at most {per_minute} per minute {whose}"),
                    wait,
                )
            })
    }
}

impl AppState {
    /// Refuses a client address whose failed authentications used up their rate: an unknown
    /// secret from it is not looked up (each costs a database query).
    fn check_auth_failures(&self, client: Option<std::net::IpAddr>) -> Result<(), ApiError> {
        let (Some(ip), n) = (client, self.0.options.failed_auth_per_minute) else {
            return Ok(());
        };
        self.0
            .limiter
            .peek(&format!("auth-failures:{ip}"), n, n)
            .map_err(|wait| {
                ApiError::rate_limited(
                    format!(
                        "too many failed authentications from your address: at most {n} per minute \
                         (`failed_auth_per_minute` in [server] of the configuration file)"
                    ),
                    wait,
                )
            })
    }

    /// A place for one more open stream of `user`, or 429 naming the limit.
    pub fn open_stream(&self, user: &str) -> Result<crate::api::limits::StreamSlot, ApiError> {
        let max = self.0.options.max_streams_per_user;
        self.0.streams.open(user, max).map_err(|open| {
            let mut e = ApiError::rate_limited(
                format!(
                    "you have {open} streams open, as many as one user may: close one, or raise \
                     `max_streams_per_user` in [server] of the configuration file"
                ),
                Duration::from_secs(1),
            );
            e.limit = Some(Box::new(crate::api::error::LimitDetail {
                name: "max_streams_per_user".into(),
                value: u64::try_from(max).unwrap_or(u64::MAX),
                setting: "`max_streams_per_user` in [server] of the configuration file".into(),
            }));
            e
        })
    }

    /// Takes one of `user`'s filtered-leaderboard computations (a bootstrap over the votes
    /// read for it), or refuses with the limit.
    pub fn check_board_rate(&self, user: &str) -> llm_compare_core::Result<()> {
        let n = self.0.options.leaderboards_per_minute;
        self.0
            .limiter
            .check(&format!("leaderboard:{user}"), n, n)
            .map_err(|wait| llm_compare_core::Error::RateLimited {
                message: format!(
                    "filtered leaderboards are computed at most {n} times a minute per user \
                     (`leaderboards_per_minute` in [server] of the configuration file); boards \
                     already computed are served meanwhile"
                ),
                retry_after: Some(wait),
            })
    }

    /// Counts a failed authentication against the client's address.
    fn auth_failed(&self, client: Option<std::net::IpAddr>) {
        let (Some(ip), n) = (client, self.0.options.failed_auth_per_minute) else {
            return;
        };
        let _ = self.0.limiter.check(&format!("auth-failures:{ip}"), n, n);
    }
}

/// Routes that need no API key (the UI's files hold no data: the page asks for a key).
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/health" | "/ready" | "/metrics" | "/openapi.json" | "/"
    ) || path.starts_with("/ui/")
}

/// Authenticates (except public routes), then logs one line per request: method, route,
/// status, user, duration. No prompt text, no key.
async fn auth_and_log(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| req.uri().path().to_string(), |m| m.as_str().to_string());
    let http_id = uuid::Uuid::now_v7().to_string();
    let mut user = String::from("-");
    // Its span (exported as a trace when OTLP is on; else never made): the incoming
    // `traceparent` is its parent, the comparison a handler starts its child.
    let span = tracing::info_span!(
        target: llm_compare_core::trace::TARGET,
        "http_request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = %route,
        url.path = %path,
        http.response.status_code = tracing::field::Empty,
    );
    crate::telemetry::set_parent(&span, req.headers());
    let resp = async {
        if is_public(req.uri().path()) || method == Method::OPTIONS {
            next.run(req).await
        } else {
            let query_key = req
                .uri()
                .query()
                .filter(|_| req.uri().path().ends_with("/ws"))
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("api_key=")))
                .map(str::to_string);
            let secret = crate::api::auth::presented(req.headers(), query_key.as_deref())
                .map(str::to_string);
            let client = req
                .extensions()
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip());
            // A client that failed too often gets no more database look-ups of unknown
            // secrets for a while; keys this server knows still work.
            let authenticated = state
                .service()
                .authenticate_guarded(secret.as_deref(), || {
                    state.check_auth_failures(client).map_err(|e| {
                        llm_compare_core::Error::RateLimited {
                            message: e.message,
                            retry_after: e.retry_after,
                        }
                    })
                })
                .await;
            if let Err(llm_compare_core::Error::Unauthorized(_)) = &authenticated {
                state.auth_failed(client);
            }
            match authenticated {
                Ok(who) => {
                    user.clone_from(&who.user);
                    req.extensions_mut().insert(Caller(who.user.clone()));
                    req.extensions_mut().insert(who);
                    next.run(req).await
                }
                // The OpenAI-compatible routes answer in OpenAI's shape, this refusal included.
                Err(e) if crate::api::openai::is_openai_route(&route) => {
                    crate::api::openai::OpenAiError::from(e).into_response()
                }
                Err(e) if crate::api::anthropic::is_anthropic_route(&route) => {
                    crate::api::anthropic::AnthropicError::from(e).into_response()
                }
                Err(e) => ApiError::from(e).into_response(),
            }
        }
    }
    .instrument(span.clone());
    let resp = crate::api::error::REQUEST_ID
        .scope(http_id.clone(), resp)
        .await;
    span.record(
        "http.response.status_code",
        i64::from(resp.status().as_u16()),
    );
    if resp.status().is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    let mut resp = resp;
    // A handler that stored what it did (a chat completion) names that record instead.
    if !resp.headers().contains_key("x-request-id")
        && let Ok(v) = HeaderValue::from_str(&http_id)
    {
        resp.headers_mut().insert("x-request-id", v);
    }
    let status = resp.status().as_u16();
    let ms = start.elapsed().as_secs_f64() * 1e3;
    metrics::record_http(&method, &route, status, ms / 1e3);
    tracing::info!(
        target: "llm_compare::http",
        http_request_id = %http_id,
        method = %method,
        route = %route,
        path = %path,
        status,
        user = %user,
        duration_ms = (ms * 1000.0).round() / 1000.0,
        "request"
    );
    resp
}

/// The router with every route and layer.
pub fn router(state: AppState) -> Router {
    // The metrics recorder, before the first request: counted from the start, not from the
    // first scrape (any app that embeds the router, not only `serve`).
    let _ = crate::api::metrics::handle();
    let cors = {
        let o = &state.options().cors_origins;
        if o.is_empty() {
            None
        } else if o.iter().any(|x| x == "*") {
            Some(CorsLayer::permissive())
        } else {
            let origins: Vec<HeaderValue> = o
                .iter()
                .filter_map(|x| HeaderValue::from_str(x).ok())
                .collect();
            Some(
                CorsLayer::new()
                    .allow_origin(AllowOrigin::list(origins))
                    .allow_methods([Method::GET, Method::POST, Method::DELETE])
                    .allow_headers(tower_http::cors::Any)
                    .expose_headers([
                        axum::http::header::LOCATION,
                        axum::http::header::RETRY_AFTER,
                    ]),
            )
        }
    };
    let limit = state.options().body_limit;
    let app = Router::new()
        .route(
            "/v1/comparisons",
            post(comparisons::create).get(comparisons::list),
        )
        .route("/v1/comparisons/{id}", get(comparisons::snapshot))
        .route("/v1/comparisons/{id}", delete(comparisons::cancel))
        .route("/v1/comparisons/{id}/stream", get(comparisons::stream))
        .route("/v1/comparisons/{id}/ws", get(comparisons::websocket))
        .route("/v1/comparisons/{id}/preference", post(comparisons::vote))
        .route("/v1/comparisons/{id}/cassette", get(comparisons::cassette))
        .route(
            "/v1/comparisons/{id}/tool_results",
            post(comparisons::tool_results),
        )
        .route(
            "/v1/comparisons/{id}/attachments/{index}",
            get(comparisons::attachment),
        )
        .route("/v1/sessions", post(sessions::create).get(sessions::list))
        .route(
            "/v1/sessions/{id}",
            get(sessions::get_one).delete(sessions::delete_one),
        )
        .route("/v1/evals", post(evals::create).get(evals::list))
        .route("/v1/evals/{id}", get(evals::get).delete(evals::cancel))
        .route("/v1/evals/{id}/stream", get(evals::stream))
        .route("/v1/evals/{id}/report", get(evals::report))
        .route("/v1/leaderboard", get(leaderboard::get))
        .route("/v1/usage", get(usage::get))
        .route("/v1/keys", post(keys::create).get(keys::list))
        .route("/v1/keys/self", get(keys::own))
        .route(
            "/v1/keys/{id}",
            get(keys::get_one).patch(keys::update).delete(keys::revoke),
        )
        .route(
            "/v1/chat/completions",
            post(crate::api::openai::completions),
        )
        .route("/v1/responses", post(crate::api::responses::create))
        .route("/v1/responses/{id}", get(crate::api::responses::retrieve))
        .route("/v1/messages", post(crate::api::anthropic::messages))
        .route(
            "/v1/messages/count_tokens",
            post(crate::api::anthropic::count_tokens),
        )
        .route_service("/mcp", crate::mcp::http_service(state.clone()))
        .route("/v1/models", get(meta::models))
        .route("/v1/tools", get(meta::tools))
        .route("/health", get(meta::health))
        .route("/ready", get(meta::ready))
        .route("/metrics", get(meta::metrics))
        .route("/openapi.json", get(meta::openapi));
    let app = if state.options().ui {
        app.route("/", get(crate::ui::index))
            .route("/ui/{*file}", get(crate::ui::asset))
    } else {
        app
    };
    let mut app = app
        // After routing, so the log and metrics see the route template, not raw ids.
        .route_layer(middleware::from_fn_with_state(state.clone(), auth_and_log))
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this route",
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(limit))
        // Before everything but CORS's preflight answers: a refused host or origin runs
        // nothing.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::api::guard::guard,
        ));
    if let Some(cors) = cors {
        app = app.layer(cors);
    }
    app.with_state(state)
}

/// Serves until `stop` resolves, then shuts down gracefully: stops accepting, gives running
/// comparisons the grace period, then ends every open stream with `shutting_down`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state.clone());
    let grace = state.options().shutdown_grace;
    let shutdown = state.shutdown().clone();
    let memory = state.backend().clone();
    let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        stop.await;
        let _ = stopped_tx.send(());
    };
    let deadline = tokio::spawn(async move {
        if stopped_rx.await.is_ok() {
            tracing::info!(target: "llm_compare::http", grace_s = grace.as_secs_f64(), "shutting down: no new connections");
            // Let running comparisons finish, up to the grace period.
            let until = Instant::now() + grace;
            while memory.active_total() > 0 && Instant::now() < until {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // Streams end with `shutting_down` first, then the remaining upstream calls stop.
            shutdown.cancel();
            memory.cancel_all();
        }
    });
    let limits = crate::conn::ConnLimits {
        max_connections: state.options().max_connections,
        max_per_client: state.options().max_connections_per_client,
        header_read_timeout: state.options().header_read_timeout,
    };
    let served = crate::conn::serve(listener, app, limits, signal).await;
    deadline.abort();
    served
}
