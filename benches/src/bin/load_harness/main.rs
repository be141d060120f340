//! `load-harness`: llm-compare against a mock upstream and against LiteLLM's proxy, on one
//! machine, in one run (`benches/load/run` builds, installs the tools and calls it). Sections:
//!
//! - `overhead`: the same request (`POST /v1/chat/completions`, streamed, 20 chunks) sent by
//!   `oha` straight to the mock upstream and through `llm-compare serve`, at fixed rates with
//!   latency correction and flat out; the added latency is the difference of the percentiles.
//! - `litellm`: the same through LiteLLM's proxy (when given `--litellm`): its top rate, the
//!   highest fixed rate it sustains, and there the ratio of its added p99 to ours.
//! - `memory`: N concurrent SSE streams of 4-model sim comparisons; resident memory per stream.
//! - `cancel`: how long after a client disconnects from `/v1/chat/completions` the upstream
//!   request is cancelled (seen by the mock), mid-stream and while waiting for a first token.
//! - `post`: `POST /v1/comparisons` (2 zero-delay sim models each) at fixed rates and flat
//!   out, with `GET /health` as the floor; SQLite and (`--post-database-url`) PostgreSQL.
//! - `doors`: each vendor door's added latency beside the chat completions door's, at the
//!   fixed rates (`/v1/messages`, `/v1/responses` over the same upstream answer; `doors.rs`).
//! - `failover`: two servers of a cluster, one killed with SIGKILL mid-run and restarted;
//!   every stream resumed on the other, no event lost or duplicated (`failover.rs`).
//! - `soak`: mixed traffic for `--soak`, memory / descriptors / p99 sampled (`soak.rs`).
//!
//! Prints a summary table (Markdown) and writes `results.json` in `--out`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Parser;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use llm_compare_benches::harness::{self, CpuTimes, LoadRun, Oha, Proc, percentile_ms};
use llm_compare_benches::mock_upstream::{self, MockConfig, MockStats};
use serde_json::{Value, json};

mod agent;
mod attachment;
mod auth;
mod cancel;
mod cluster;
mod doors;
mod memory;
mod overhead;
mod post;
mod summary;

use agent::*;
use attachment::*;
use auth::*;
use cancel::*;
use cluster::*;
use doors::*;
use memory::*;
use overhead::*;
use post::*;
use summary::*;

#[derive(Debug, Parser)]
#[command(about = "Load harness: llm-compare vs a mock upstream and LiteLLM's proxy.")]
struct Args {
    /// Sections to run, in order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "overhead,litellm,memory,cancel,post,auth,attachment,agent,failover,soak"
    )]
    sections: Vec<String>,
    /// How long the soak section drives mixed traffic (`30m`, `600s`, `1h`; a bare number is
    /// seconds).
    #[arg(long, value_parser = parse_duration, default_value = "30m")]
    soak: Duration,
    /// Concurrent clients of the soak.
    #[arg(long, default_value_t = 24)]
    soak_clients: usize,
    /// The soak server's retention window (s): the warm-up, after which memory must stay flat.
    #[arg(long, default_value_t = 300)]
    soak_retention_s: u64,
    /// Fixed rates (requests/s) for the overhead section.
    #[arg(long, value_delimiter = ',', default_value = "500,1000,2000")]
    rates: Vec<u64>,
    /// Seconds per load-generator run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Connections the load generator keeps open.
    #[arg(long, default_value_t = 32)]
    connections: u32,
    /// Content chunks per streamed answer of the mock upstream.
    #[arg(long, default_value_t = 20)]
    chunks: u32,
    /// Concurrent SSE streams for the memory section.
    #[arg(long, default_value_t = 10_000)]
    streams: usize,
    /// Disconnects measured per case in the cancel section.
    #[arg(long, default_value_t = 30)]
    cancels: usize,
    /// Rates of the post section (0: flat out).
    #[arg(long, value_delimiter = ',', default_value = "1000,2000,3000,0")]
    post_rates: Vec<u64>,
    /// A PostgreSQL URL: the post section runs again with the server on it (an empty
    /// database of its own: the server migrates it and writes comparisons into it).
    #[arg(long)]
    post_database_url: Option<String>,
    /// Concurrent clients of the failover section.
    #[arg(long, default_value_t = 256)]
    failover_clients: usize,
    /// The database both servers of the failover section share (PostgreSQL, as a cluster's;
    /// default: one SQLite file both open).
    #[arg(long)]
    failover_database_url: Option<String>,
    /// Redis for the failover section's cluster registry.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// The `llm-compare` binary (release build).
    #[arg(long, default_value = "target/release/llm-compare")]
    bin: PathBuf,
    /// The `oha` binary.
    #[arg(long, default_value = "oha")]
    oha: PathBuf,
    /// LiteLLM's `litellm` executable (its proxy); without it the litellm section says why it
    /// did not run.
    #[arg(long)]
    litellm: Option<PathBuf>,
    /// Why LiteLLM is missing (from the run script, when it could not be installed).
    #[arg(long)]
    litellm_missing: Option<String>,
    /// Worker processes for LiteLLM (one per core here: its best on this machine).
    #[arg(long, default_value_t = 2)]
    litellm_workers: u32,
    /// Worker threads of the server's runtime (`TOKIO_WORKER_THREADS`; 0: one per core).
    #[arg(long, default_value_t = 0)]
    server_threads: usize,
    /// Where results.json goes.
    #[arg(long, default_value = "target/load")]
    out: PathBuf,
    /// Runs nothing: prints the summary table of an earlier run's results.json.
    #[arg(long)]
    summarize: Option<PathBuf>,
}

/// `30m`, `600s`, `1h`, or seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let (n, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{s}`: a duration is like 30m, 600s or 1h"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("`{s}`: the unit is s, m or h")),
    };
    Ok(Duration::from_secs(secs))
}

/// The server's configuration: no rate or concurrency limits, the mock upstreams as providers.
fn server_config(mocks: &[(&str, std::net::SocketAddr)]) -> String {
    let mut c = String::from(
        "[server]\nrequests_per_minute = 0\nmax_active_per_user = 1000000\nretention_s = 60\n\
         max_connections = 1000000\nmax_connections_per_client = 1000000\nmax_streams_per_user = 1000000\n\n\
         [defaults]\nretries = 0\n\n",
    );
    for (name, addr) in mocks {
        c.push_str(&format!(
            "[providers.{name}]\nkind = \"openai\"\nbase_url = \"http://{addr}/v1\"\n\
             include_usage = true\nmodels = [\"mock-1\"]\n\n"
        ));
    }
    c
}

/// The measured request: streamed, with OpenAI's usage chunk asked for (the same bytes come
/// back directly and through a proxy).
fn chat_body(model: &str) -> String {
    json!({"model": model, "stream": true, "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "Say hello"}]})
    .to_string()
}

/// Runs oha off the async runtime (the in-process mocks keep serving on it).
async fn load(
    oha: &Oha,
    url: String,
    body: Option<String>,
    rate: Option<u64>,
    seconds: u64,
) -> LoadRun {
    let oha = oha.clone();
    tokio::task::spawn_blocking(move || oha.run(&url, body.as_deref(), rate, seconds))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn fmt_rate(r: Option<u64>) -> String {
    r.map_or("max".into(), |r| r.to_string())
}

/// `(p50, p90, p99)` of `through` minus those of `direct`.
fn added(through: &LoadRun, direct: &LoadRun) -> [f64; 3] {
    [
        through.p50 - direct.p50,
        through.p90 - direct.p90,
        through.p99 - direct.p99,
    ]
}

fn run_json(r: &LoadRun) -> Value {
    json!({"target_rps": r.target_rps, "rps": r.rps, "ok": r.ok, "errors": r.errors,
        "p50": r.p50, "p90": r.p90, "p99": r.p99, "p999": r.p999, "max": r.max,
        "sustained": r.sustained(), "steal_pct": r.steal_pct})
}

struct Upstream {
    url: String,
    proxy: Proc,
    litellm: Option<Proc>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Some(path) = &args.summarize {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let out: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{}: not a results file: {e}", path.display()));
        summary(&out);
        return;
    }
    std::fs::create_dir_all(&args.out).unwrap();
    let oha = Oha {
        bin: args.oha.clone(),
        connections: args.connections,
        headers: Vec::new(),
    };
    let mut out = json!({"machine": machine(), "unix_time": std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())});
    let with_litellm = args.sections.iter().any(|s| s == "litellm");
    let mut did_overhead = false;
    // The host's share of the vCPUs, per section and over the run: two runs on different
    // boots of the same kind of VM are only comparable where it was alike.
    let start = CpuTimes::now();
    for section in &args.sections {
        let before = CpuTimes::now();
        match section.as_str() {
            "overhead" | "litellm" if !did_overhead => {
                did_overhead = true;
                overhead(&args, &oha, with_litellm, &mut out).await;
                out["steal_pct"]["overhead"] = json!(CpuTimes::now().steal_pct_since(&before));
                continue;
            }
            // Measured with the overhead section, under its name.
            "overhead" | "litellm" => continue,
            "memory" => memory(&args, &mut out).await,
            "cancel" => cancel(&args, &mut out).await,
            "post" => post(&args, &oha, &mut out).await,
            "doors" => doors(&args, &oha, &mut out).await,
            "auth" => auth(&args, &oha, &mut out).await,
            "attachment" => attachment(&args, &mut out).await,
            "agent" => agent(&args, &mut out).await,
            "soak" => soak(&args, &mut out).await,
            "failover" => failover(&args, &mut out).await,
            other => {
                panic!(
                    "unknown section `{other}` (overhead, litellm, memory, cancel, post, auth, attachment, agent, failover, soak)"
                )
            }
        }
        out["steal_pct"][section] = json!(CpuTimes::now().steal_pct_since(&before));
    }
    out["steal_pct"]["run"] = json!(CpuTimes::now().steal_pct_since(&start));
    std::fs::create_dir_all(&args.out).unwrap();
    let path = args.out.join("results.json");
    std::fs::write(&path, serde_json::to_string_pretty(&out).unwrap()).unwrap();
    summary(&out);
    println!("\nresults: {}", path.display());
}
