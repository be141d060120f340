//! The server's options: `[server]` and `[server.limits]` as written (`ServerSettings`), and
//! everything the server runs with, resolved from the file, the environment and the flags
//! (`ServerOptions`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use llm_compare_core::{Config, RegistryConfig};
use llm_compare_service::BudgetSettings;
use serde::Deserialize;

use crate::api::error::ApiError;

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
