//! The server: options (file + env + flags), shared state, the router with its middleware
//! (auth, request logging, CORS, body limit), and serving with graceful shutdown.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use llm_compare_core::{Config, Engine, InMemoryRegistry, RegistryConfig, RequestRegistry};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::Instrument as _;

use crate::api::error::ApiError;
use crate::api::extract::Caller;
use crate::api::guard::BrowserGuard;
use crate::api::limits::RateLimiter;
use crate::api::metrics::{self, ModelMetrics};
use crate::api::{chat, comparisons, evals, keys, leaderboard, meta, sessions, usage};
use llm_compare_service::{BudgetSettings, Principal, RedisRegistry, Service, Store};

/// `[server]` in the configuration file (every key optional).
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// `ADDR:PORT` to listen on (default `127.0.0.1:8080`).
    pub bind: Option<String>,
    /// Where the server keeps its data.
    pub data_dir: Option<PathBuf>,
    /// Database URL (`sqlite://…` or `postgres://…`; default: SQLite in the data dir).
    pub database_url: Option<String>,
    /// API keys: `user = "KEY"`.
    #[serde(default)]
    pub api_keys: BTreeMap<String, String>,
    /// Most active comparisons per user (default 5).
    pub max_active_per_user: Option<usize>,
    /// Requests per minute per user (default 600; 0 = unlimited).
    pub requests_per_minute: Option<u32>,
    /// Requests a user may make at once before the per-minute rate applies (default 60).
    pub burst: Option<u32>,
    /// Seconds a finished comparison stays readable (default 300).
    pub retention_s: Option<u64>,
    /// The most memory finished comparisons may hold through their retention, in MiB
    /// (default 256; 0 = no cap): past it the oldest go early (read from the store).
    pub retained_max_mib: Option<u64>,
    /// Seconds a comparison whose stream is never opened lives before it is cancelled
    /// (default 300).
    pub unopened_ttl_s: Option<u64>,
    /// Seconds between SSE keep-alive comments (default 15).
    pub keepalive_s: Option<u64>,
    /// Origins allowed to call the API from a browser (`*` for any).
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// Largest request body in bytes (default 1 MiB).
    pub body_limit_bytes: Option<usize>,
    /// Seconds running comparisons get to finish on shutdown (default 10).
    pub shutdown_grace_s: Option<u64>,
    /// Log prompt text (default false).
    pub log_prompts: Option<bool>,
    /// This server's name in the database: on start-up only its own unfinished comparisons
    /// are marked interrupted (default: the host name).
    pub instance_id: Option<String>,
    /// Per-user spending budgets.
    pub budget: Option<BudgetSettings>,
    /// Keep request state in Redis (`redis://…`) so a cluster of servers shares it.
    pub registry_url: Option<String>,
    /// Serve the web UI at `/` (default true).
    pub ui: Option<bool>,
    /// Host names the server answers to besides the loopback names and the bound address
    /// (`*` for any; default: none, or any when bound to every interface).
    pub allowed_hosts: Option<Vec<String>>,
    /// Seconds a client gets to send a request's headers (default 10).
    pub header_read_timeout_s: Option<u64>,
    /// Open connections at once (default 10,000).
    pub max_connections: Option<usize>,
    /// Open connections at once from one client address (default 1,024; behind a proxy every
    /// client has the proxy's address: raise it).
    pub max_connections_per_client: Option<usize>,
    /// Failed authentications per minute from one client address (default 60; 0 = no
    /// limit): past it the address's requests are refused before any key is looked up.
    pub failed_auth_per_minute: Option<u32>,
    /// Filtered leaderboards (a window, a category, style control) computed per minute per
    /// user (default 30; 0 = no limit); kept ones are served without counting.
    pub leaderboards_per_minute: Option<u32>,
    /// Streams (SSE, WebSocket, streamed chat completions) one user may have open at once
    /// (default 100).
    pub max_streams_per_user: Option<usize>,
    /// Seconds a comparison's stream may go without an event (keep-alives aside) before it
    /// ends with a `timeout` notice the client resumes from (default 900).
    pub stream_idle_s: Option<u64>,
    /// What one request may ask for (`[server.limits]`).
    pub limits: Option<llm_compare_service::Limits>,
}

impl std::fmt::Debug for ServerSettings {
    // The static keys are secrets, and the database URL may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerSettings")
            .field("bind", &self.bind)
            .field("data_dir", &self.data_dir)
            .field("api_key_users", &self.api_keys.keys().collect::<Vec<_>>())
            .field("cors_origins", &self.cors_origins)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// Everything the server runs with, resolved.
#[derive(Clone)]
pub struct ServerOptions {
    /// Listen address.
    pub bind: SocketAddr,
    /// Serve without keys on a non-loopback address.
    pub insecure_open: bool,
    /// `(user, key)` pairs.
    pub api_keys: Vec<(String, String)>,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Database URL (`None`: `sqlite://<data_dir>/llm-compare.db`).
    pub database_url: Option<String>,
    /// Registry limits and TTLs.
    pub registry: RegistryConfig,
    /// Requests per minute per user.
    pub requests_per_minute: u32,
    /// Burst.
    pub burst: u32,
    /// SSE keep-alive period.
    pub keepalive: Duration,
    /// CORS origins.
    pub cors_origins: Vec<String>,
    /// Body limit.
    pub body_limit: usize,
    /// Shutdown grace period.
    pub shutdown_grace: Duration,
    /// Log prompts.
    pub log_prompts: bool,
    /// This server's name in the database.
    pub instance_id: String,
    /// Budgets (`None`: unlimited).
    pub budget: Option<BudgetSettings>,
    /// Redis URL of a shared registry (`None`: in memory).
    pub registry_url: Option<String>,
    /// Serve the web UI at `/`.
    pub ui: bool,
    /// Extra host names (`None`: the defaults of [`BrowserGuard::new`]).
    pub allowed_hosts: Option<Vec<String>>,
    /// Time a client gets to send a request's headers.
    pub header_read_timeout: Duration,
    /// Open connections at once.
    pub max_connections: usize,
    /// Open connections at once from one client address.
    pub max_connections_per_client: usize,
    /// Failed authentications per minute from one client address (0: no limit).
    pub failed_auth_per_minute: u32,
    /// Filtered leaderboards computed per minute per user (0: no limit).
    pub leaderboards_per_minute: u32,
    /// Streams one user may have open at once.
    pub max_streams_per_user: usize,
    /// How long a comparison's stream may go without an event.
    pub stream_idle: Duration,
    /// What one request may ask for.
    pub limits: llm_compare_service::Limits,
}

impl std::fmt::Debug for ServerOptions {
    // The static keys are secrets: their users only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("bind", &self.bind)
            .field("insecure_open", &self.insecure_open)
            .field(
                "api_key_users",
                &self.api_keys.iter().map(|(u, _)| u).collect::<Vec<_>>(),
            )
            .field("data_dir", &self.data_dir)
            .field("registry", &self.registry)
            .field("cors_origins", &self.cors_origins)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("instance_id", &self.instance_id)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// The host name (`HOSTNAME`, else `/etc/hostname`, else `local`): stable across restarts of
/// the same server, distinct between servers.
pub fn default_instance_id() -> String {
    llm_compare_service::service::host_name()
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            insecure_open: false,
            api_keys: Vec::new(),
            data_dir: PathBuf::from("."),
            database_url: None,
            registry: RegistryConfig::default(),
            requests_per_minute: 600,
            burst: 60,
            keepalive: Duration::from_secs(15),
            cors_origins: Vec::new(),
            // Room for one 20 MiB attachment as base64 (4/3) and the rest of a request.
            body_limit: 32 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(10),
            log_prompts: false,
            instance_id: default_instance_id(),
            budget: None,
            registry_url: None,
            ui: true,
            allowed_hosts: None,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            max_connections_per_client: 1024,
            failed_auth_per_minute: 60,
            leaderboards_per_minute: 30,
            max_streams_per_user: 100,
            stream_idle: Duration::from_secs(900),
            limits: llm_compare_service::Limits::default(),
        }
    }
}

impl ServerOptions {
    /// Options from the `[server]` table of `config`, then env (`LLM_COMPARE_BIND`,
    /// `LLM_COMPARE_DATA_DIR`, `LLM_COMPARE_API_KEYS`). Flags are applied by the caller.
    pub fn from_config(config: &Config) -> Result<Self, ApiError> {
        let s: ServerSettings = match &config.server {
            Some(table) => table.clone().try_into().map_err(|e| {
                ApiError::invalid("server", format!("invalid [server] configuration: {e}"))
            })?,
            None => ServerSettings::default(),
        };
        let mut o = Self::default();
        if let Some(b) = std::env::var("LLM_COMPARE_BIND").ok().or(s.bind) {
            o.bind = b
                .parse()
                .map_err(|_| ApiError::invalid("bind", format!("`{b}` is not ADDR:PORT")))?;
        }
        if let Some(d) = std::env::var("LLM_COMPARE_DATA_DIR")
            .ok()
            .map(PathBuf::from)
            .or(s.data_dir)
        {
            o.data_dir = d;
        }
        o.database_url = std::env::var("LLM_COMPARE_DATABASE_URL")
            .ok()
            .or(s.database_url);
        o.api_keys = s.api_keys.into_iter().collect();
        if let Ok(spec) = std::env::var("LLM_COMPARE_API_KEYS") {
            o.api_keys.extend(
                crate::api::auth::parse_static_keys(&spec)
                    .map_err(|m| ApiError::invalid("LLM_COMPARE_API_KEYS", m))?,
            );
        }
        if let Some(n) = s.max_active_per_user {
            o.registry.max_active_per_owner = n;
        }
        if let Some(n) = s.retention_s {
            o.registry.retention = Duration::from_secs(n);
        }
        if let Some(n) = s.retained_max_mib {
            o.registry.max_retained_bytes =
                (n > 0).then(|| usize::try_from(n.saturating_mul(1 << 20)).unwrap_or(usize::MAX));
        }
        if let Some(n) = s.unopened_ttl_s {
            o.registry.unopened_ttl = Duration::from_secs(n);
        }
        o.requests_per_minute = s.requests_per_minute.unwrap_or(o.requests_per_minute);
        o.burst = s.burst.unwrap_or(o.burst);
        o.keepalive = s.keepalive_s.map_or(o.keepalive, Duration::from_secs);
        o.cors_origins = s.cors_origins;
        o.body_limit = s.body_limit_bytes.unwrap_or(o.body_limit);
        o.shutdown_grace = s
            .shutdown_grace_s
            .map_or(o.shutdown_grace, Duration::from_secs);
        o.log_prompts = s.log_prompts.unwrap_or(false);
        if let Some(i) = s.instance_id {
            o.instance_id = i;
        }
        o.budget = s.budget;
        o.registry_url = std::env::var("LLM_COMPARE_REGISTRY_URL")
            .ok()
            .or(s.registry_url);
        o.ui = s.ui.unwrap_or(true);
        o.allowed_hosts = s.allowed_hosts;
        o.header_read_timeout = s
            .header_read_timeout_s
            .map_or(o.header_read_timeout, Duration::from_secs);
        o.max_connections = s.max_connections.unwrap_or(o.max_connections);
        o.max_connections_per_client = s
            .max_connections_per_client
            .unwrap_or(o.max_connections_per_client);
        o.failed_auth_per_minute = s.failed_auth_per_minute.unwrap_or(o.failed_auth_per_minute);
        o.leaderboards_per_minute = s
            .leaderboards_per_minute
            .unwrap_or(o.leaderboards_per_minute);
        o.max_streams_per_user = s.max_streams_per_user.unwrap_or(o.max_streams_per_user);
        o.stream_idle = s.stream_idle_s.map_or(o.stream_idle, Duration::from_secs);
        o.limits = s.limits.unwrap_or_default();
        Ok(o)
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}",
                self.data_dir.join("llm-compare.db").display()
            )
        })
    }

    /// Refuses to serve an open API (`open`: no key configured or stored) on anything but
    /// loopback unless told to.
    pub fn check_exposure(&self, open: bool) -> Result<(), String> {
        if open && !self.bind.ip().is_loopback() && !self.insecure_open {
            return Err(format!(
                "refusing to serve without API keys on {}: mint one (`llm-compare keys create --user U`), set \
                 LLM_COMPARE_API_KEYS (user:KEY,…) or [server.api_keys], bind to 127.0.0.1, or pass --insecure-open",
                self.bind
            ));
        }
        Ok(())
    }
}

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
                Err(e) if crate::api::openai_error::is_openai_route(&route) => {
                    crate::api::openai_error::OpenAiError::from(e).into_response()
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
        .route("/v1/chat/completions", post(chat::completions))
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
