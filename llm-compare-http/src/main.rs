//! `llm-compare`: serve the comparison API, or compare LLMs side by side from the terminal.
//!
//! Exit codes (documented in the README):
//! - 0: every model answered;
//! - 1: at least one model failed (the others' answers are still printed);
//! - 2: bad usage (unknown flag or model, empty prompt, no or too many models);
//! - 3: an internal error;
//! - 130: interrupted (Ctrl-C): the comparison was cancelled.

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod cli;

// See `llm_compare_http::allocator` for why.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Exit code: every model answered.
pub const EXIT_OK: u8 = 0;
/// Exit code: at least one model failed.
pub const EXIT_MODEL_FAILED: u8 = 1;
/// Exit code: bad usage.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: internal error.
pub const EXIT_INTERNAL: u8 = 3;
/// Exit code: interrupted.
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, Parser)]
#[command(
    name = "llm-compare",
    version,
    about = "Compare LLMs side by side: one prompt, N models, live."
)]
struct Cli {
    /// Configuration file (TOML; default: ./llm-compare.toml when present). See docs/configuration.md.
    #[arg(long, global = true, env = "LLM_COMPARE_CONFIG", value_name = "PATH")]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (POST a comparison, stream it over SSE or WebSocket).
    Serve(Box<ServeArgs>),
    /// Send one prompt to several models at once and compare their answers.
    Run(RunArgs),
    /// List the models, their context windows and prices, and whether they can be used now.
    Models(ModelsArgs),
    /// Make exactly one model call (given as JSON) and write its events as JSON lines on
    /// stdout: what a remote runner (a Kubernetes Job) runs.
    Worker(WorkerArgs),
    /// Manage API keys in the server's database directly (no server needed): mint the
    /// first admin key, list keys, revoke one.
    Keys(KeysArgs),
    /// Evaluate models over a dataset (JSONL or CSV): each row compared across the models,
    /// answers checked against the row's assertions, optionally judged pairwise by a model.
    Eval(EvalArgs),
    /// Serve the engine to an agent as MCP tools over stdin and stdout (compare models on a
    /// prompt, list the models, run an evaluation, read the leaderboard); the server offers
    /// the same at `/mcp`.
    Mcp(McpArgs),
}

/// Arguments of `llm-compare eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The dataset: JSONL (`{"prompt" | "messages", "id"?, "category"?, "expected"?, "vars"?,
    /// "assert"?}` per line) or CSV (`.csv`: columns prompt, id, category, expected; others
    /// are template variables).
    #[arg(value_name = "DATASET")]
    pub dataset: std::path::PathBuf,
    /// A model to evaluate (repeat the flag).
    #[arg(short = 'm', long = "model", value_name = "MODEL", required = true)]
    pub models: Vec<String>,
    /// The judge: grades `llm_rubric` assertions and judges every pair of answers (both
    /// orders).
    #[arg(long, value_name = "MODEL")]
    pub judge: Option<String>,
    /// Let the judge judge rows that include its own model.
    #[arg(long)]
    pub allow_self_judge: bool,
    /// Rows run at once (default 4).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Runs of each row (default 1): reports pass^N and the variance across runs.
    #[arg(long, value_name = "N")]
    pub repeat: Option<u32>,
    /// The prompt of each row from its variables: `"Translate {{text}} to {{lang}}"`.
    #[arg(long, value_name = "TEMPLATE")]
    pub prompt_template: Option<String>,
    /// Resume run RUN_ID (printed when it started): only the rows it has not finished run,
    /// given the same dataset, models, judge and repeat.
    #[arg(long, value_name = "RUN_ID")]
    pub resume: Option<String>,
    /// A JSON line when the run starts (its `run_id`), one per finished row, then the summary.
    #[arg(long)]
    pub json: bool,
    /// Write the run's report here: one self-contained HTML file (pass rates, cost against
    /// quality, latencies, categories, the rows where the models disagree).
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<std::path::PathBuf>,
    /// Whose run it is: the owner of its comparisons, as a server's API key user (default:
    /// `anonymous`, whom a server without keys serves).
    #[arg(long, default_value = "anonymous", value_name = "USER")]
    pub owner: String,
    /// Where the server keeps its data (as `serve`).
    #[arg(long, env = "LLM_COMPARE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<std::path::PathBuf>,
    /// Database URL (as `serve`).
    #[arg(long, env = "LLM_COMPARE_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
}

/// Arguments of `llm-compare keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// Where the server keeps its data (as `serve`).
    #[arg(long, env = "LLM_COMPARE_DATA_DIR", value_name = "DIR", global = true)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Database URL (as `serve`).
    #[arg(
        long,
        env = "LLM_COMPARE_DATABASE_URL",
        value_name = "URL",
        global = true
    )]
    pub database_url: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: KeysCommand,
}

/// `llm-compare keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Mint a key: the secret alone on stdout (`KEY=$(llm-compare keys create …)`), its
    /// details on stderr.
    Create {
        /// The user it authenticates as.
        #[arg(long)]
        user: String,
        /// A label.
        #[arg(long)]
        name: Option<String>,
        /// May manage keys and see every user's usage.
        #[arg(long)]
        admin: bool,
        /// A glob pattern of models it may use (repeatable; default: every model).
        #[arg(long = "models", value_name = "GLOB")]
        models: Vec<String>,
        /// Requests per minute.
        #[arg(long)]
        rpm: Option<u32>,
        /// Comparisons running at once.
        #[arg(long)]
        max_active: Option<u32>,
        /// Spending limit per period, USD.
        #[arg(long)]
        budget_usd: Option<f64>,
        /// The budget's period: day, week or month.
        #[arg(long)]
        period: Option<String>,
        /// Lifetime: `30d`, `12h`, `90m`.
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
        /// A glob pattern of the server's tools it may run (repeatable; default: none, an
        /// admin key every tool).
        #[arg(long = "tools", value_name = "GLOB")]
        tools: Vec<String>,
    },
    /// List keys (never their secrets).
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: every server refuses it within a second.
    Revoke {
        /// The key's id.
        id: String,
    },
}

/// Arguments of `llm-compare worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The call as JSON (`{"request_id", "model_index", "request": {"model", "messages", …}}`);
    /// `@PATH` reads it from a file, `-` from standard input.
    #[arg(long, env = "LLM_COMPARE_CALL", value_name = "JSON")]
    pub call: String,
}

/// Arguments of `llm-compare run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A model to compare, `provider/model` (repeat: -m sim/echo -m sim/lorem).
    #[arg(short = 'm', long = "model", value_name = "PROVIDER/MODEL")]
    pub models: Vec<String>,
    /// The prompt; `-` reads it from standard input.
    #[arg(value_name = "PROMPT")]
    pub prompt: Option<String>,
    /// A system prompt for every model.
    #[arg(long)]
    pub system: Option<String>,
    /// Most tokens each model may generate.
    #[arg(long)]
    pub max_tokens: Option<u32>,
    /// Sampling temperature (0–2).
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Nucleus sampling (0–1].
    #[arg(long)]
    pub top_p: Option<f32>,
    /// Seed, for providers that support it.
    #[arg(long)]
    pub seed: Option<u64>,
    /// A stop sequence (repeatable).
    #[arg(long = "stop")]
    pub stop: Vec<String>,
    /// An image to send with the prompt: a file, or an `https://` or `data:` URL
    /// (repeatable).
    #[arg(long = "image", value_name = "PATH|URL")]
    pub images: Vec<String>,
    /// A file to send with the prompt: a PDF or a text file (repeatable).
    #[arg(long = "file", value_name = "PATH")]
    pub files: Vec<String>,
    /// A JSON schema file: the answers must be JSON valid against it, and each result says
    /// whether it is.
    #[arg(long, value_name = "FILE.json")]
    pub schema: Option<std::path::PathBuf>,
    /// A TOML file of executable tools (`[tools.<name>]`, as in the configuration): each
    /// model runs its own tool loop with all of them.
    #[arg(long, value_name = "FILE.toml")]
    pub tools: Option<std::path::PathBuf>,
    /// Most steps of each model's tool loop (with --tools; default 8).
    #[arg(long)]
    pub max_steps: Option<u32>,
    /// `shared`: each distinct tool call executed once and replayed to the other models.
    #[arg(long, value_name = "independent|shared")]
    pub tool_mode: Option<String>,
    /// Print one JSON event per line (the SSE event schema) instead of the live view.
    #[arg(long)]
    pub json: bool,
    /// Most models in one comparison (default: the configuration's, else 8).
    #[arg(long, env = "LLM_COMPARE_MAX_MODELS")]
    pub max_models: Option<usize>,
}

/// Arguments of `llm-compare serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "LLM_COMPARE_BIND", value_name = "ADDR:PORT")]
    pub bind: Option<std::net::SocketAddr>,
    /// Where the server keeps its data.
    #[arg(long, env = "LLM_COMPARE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<std::path::PathBuf>,
    /// Database URL: `sqlite://PATH` or `postgres://…` (default: SQLite in the data dir).
    #[arg(long, env = "LLM_COMPARE_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Serve without API keys on a non-loopback address (anyone who can reach it can use it).
    #[arg(long)]
    pub insecure_open: bool,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Most active comparisons per user.
    #[arg(long)]
    pub max_active: Option<usize>,
    /// Seconds running comparisons get to finish on SIGTERM/SIGINT.
    #[arg(long)]
    pub shutdown_grace: Option<u64>,
    /// A browser origin allowed to call the API (repeatable; `*` for any).
    #[arg(long = "cors-origin")]
    pub cors_origins: Vec<String>,
    /// Keep request state and events in Redis (`redis://HOST:PORT`), shared by a cluster of
    /// servers: POST on one, stream or resume on another.
    #[arg(
        long = "registry",
        env = "LLM_COMPARE_REGISTRY_URL",
        value_name = "URL"
    )]
    pub registry_url: Option<String>,
    /// This server's name in the database (default: the host name); on start-up only its
    /// own unfinished comparisons are marked interrupted.
    #[arg(long, env = "LLM_COMPARE_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// Do not serve the web UI at `/` (the API only).
    #[arg(long)]
    pub no_ui: bool,
    /// Export traces to this OpenTelemetry collector over OTLP/HTTP (protobuf), e.g.
    /// `http://127.0.0.1:4318`: spans go to its `/v1/traces`. Without it, the standard
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` turn tracing on.
    #[arg(long, value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// Where model calls run: in this process, or each in a Kubernetes Job of its own.
    #[arg(long, env = "LLM_COMPARE_RUNNER", value_enum, default_value_t = RunnerKind::InProcess)]
    pub runner: RunnerKind,
    #[command(flatten)]
    pub kubernetes: KubernetesArgs,
}

/// Where model calls run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RunnerKind {
    /// In the server's own process.
    InProcess,
    /// Each in a Kubernetes Job running `llm-compare worker` (see docs/kubernetes.md).
    Kubernetes,
}

/// The Kubernetes runner's settings (`serve --runner kubernetes`).
#[derive(Debug, Args)]
#[command(next_help_heading = "Kubernetes runner (--runner kubernetes)")]
pub struct KubernetesArgs {
    /// The namespace the Jobs run in (default: the in-cluster or kubeconfig namespace).
    #[arg(long, env = "LLM_COMPARE_K8S_NAMESPACE")]
    pub namespace: Option<String>,
    /// The worker image (it runs `llm-compare worker`).
    #[arg(long, env = "LLM_COMPARE_WORKER_IMAGE", default_value = concat!("ghcr.io/llm-compare/llm-compare:", env!("CARGO_PKG_VERSION")))]
    pub worker_image: String,
    /// The Secret holding the providers' API keys (one key per variable, e.g. OPENAI_API_KEY).
    #[arg(long, env = "LLM_COMPARE_WORKER_SECRET")]
    pub worker_secret: Option<String>,
    /// A ConfigMap holding `llm-compare.toml` for the workers.
    #[arg(long, env = "LLM_COMPARE_WORKER_CONFIG_MAP")]
    pub worker_config_map: Option<String>,
    /// The workers' service account.
    #[arg(long, env = "LLM_COMPARE_WORKER_SERVICE_ACCOUNT")]
    pub worker_service_account: Option<String>,
    /// The workers' memory limit (past it a worker is OOMKilled).
    #[arg(long, default_value = "128Mi")]
    pub worker_memory: String,
    /// The workers' CPU limit.
    #[arg(long, default_value = "500m")]
    pub worker_cpu: String,
    /// Seconds a worker may stay pending (scheduling, image pull) before its model fails as
    /// `unschedulable`.
    #[arg(long, default_value_t = 120)]
    pub worker_start_timeout: u64,
    /// Another environment variable for the workers, `KEY=VALUE` (repeatable).
    #[arg(long = "worker-env", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub worker_env: Vec<(String, String)>,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Arguments of `llm-compare mcp`.
#[derive(Debug, Args)]
pub struct McpArgs {
    /// Whose calls they are: the owner of the comparisons and runs the tools make, as a
    /// server's API key user (default: `anonymous`, whom a server without keys serves).
    #[arg(long, default_value = "anonymous", value_name = "USER")]
    pub owner: String,
    /// Where the server keeps its data (as `serve`): comparisons, runs and votes are shared.
    #[arg(long, env = "LLM_COMPARE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<std::path::PathBuf>,
    /// Database URL (as `serve`).
    #[arg(long, env = "LLM_COMPARE_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
}

/// Arguments of `llm-compare models`.
#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    #[cfg(feature = "jemalloc")]
    llm_compare_http::allocator::jemalloc_is_global();
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Serve(args) => cli::serve::run(cli.config.as_deref(), *args).await,
        Command::Run(args) => cli::run::run(cli.config.as_deref(), args).await,
        Command::Models(args) => cli::models::run(cli.config.as_deref(), args).await,
        Command::Worker(args) => cli::worker::run(cli.config.as_deref(), args).await,
        Command::Keys(args) => cli::keys::run(cli.config.as_deref(), args).await,
        Command::Eval(args) => cli::eval::run(cli.config.as_deref(), args).await,
        Command::Mcp(args) => cli::mcp::run(cli.config.as_deref(), args).await,
    };
    ExitCode::from(code)
}
