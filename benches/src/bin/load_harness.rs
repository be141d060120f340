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

/// The auth section: what checking a stored API key adds to a request. Two servers on the
/// same mock upstream — one open, one whose data directory holds a key (every request
/// authenticated from the key cache) — take the same streamed chat completion at each fixed
/// rate, in alternating runs (open, keyed, open, keyed) so drift hits both alike.
async fn auth(args: &Args, oha: &Oha, out: &mut Value) {
    let (mock_addr, _stats) = mock_upstream::spawn(
        "127.0.0.1:0".parse().unwrap(),
        MockConfig::instant(args.chunks),
    )
    .await
    .unwrap();
    let config = server_config(&[("mock", mock_addr)]);
    let open = harness::serve(
        &args.bin,
        &config,
        &[],
        &args.out.join("serve-auth-open.log"),
    )
    .unwrap();
    let dir = harness::temp_dir("serve-keyed").unwrap();
    let key = harness::mint_key(&args.bin, &dir, "bench").unwrap();
    let keyed = harness::serve_in(
        dir,
        &args.bin,
        &config,
        &[],
        &args.out.join("serve-auth-keyed.log"),
    )
    .unwrap();
    let mut with_key = oha.clone();
    with_key
        .headers
        .push(format!("Authorization: Bearer {key}"));
    let body = chat_body("mock/mock-1");
    let (open_url, keyed_url) = (
        format!("{}/v1/chat/completions", open.url),
        format!("{}/v1/chat/completions", keyed.url),
    );
    // The keyed server refuses a request without its key: the runs below measure checked
    // requests, not 401s.
    let refused = load(oha, keyed_url.clone(), Some(body.clone()), Some(50), 1).await;
    assert_eq!(refused.ok, 0, "the keyed server answered without a key");
    load(oha, open_url.clone(), Some(body.clone()), Some(200), 2).await;
    load(
        &with_key,
        keyed_url.clone(),
        Some(body.clone()),
        Some(200),
        2,
    )
    .await;
    let mut points = Vec::new();
    for &rate in &args.rates {
        let mut runs = (Vec::new(), Vec::new());
        for _ in 0..2 {
            runs.0.push(
                load(
                    oha,
                    open_url.clone(),
                    Some(body.clone()),
                    Some(rate),
                    args.seconds,
                )
                .await,
            );
            runs.1.push(
                load(
                    &with_key,
                    keyed_url.clone(),
                    Some(body.clone()),
                    Some(rate),
                    args.seconds,
                )
                .await,
            );
        }
        let mean = |rs: &[LoadRun], f: fn(&LoadRun) -> f64| {
            rs.iter().map(f).sum::<f64>() / rs.len() as f64
        };
        let (o50, o99) = (mean(&runs.0, |r| r.p50), mean(&runs.0, |r| r.p99));
        let (k50, k99) = (mean(&runs.1, |r| r.p50), mean(&runs.1, |r| r.p99));
        eprintln!(
            "auth at {rate} req/s: open p50 {o50:.3} p99 {o99:.3} | keyed p50 {k50:.3} p99 {k99:.3} ms"
        );
        points.push(json!({"rate": rate,
            "open": runs.0.iter().map(run_json).collect::<Vec<_>>(),
            "keyed": runs.1.iter().map(run_json).collect::<Vec<_>>(),
            "open_p50": o50, "open_p99": o99, "keyed_p50": k50, "keyed_p99": k99,
            "added_p50": k50 - o50, "added_p99": k99 - o99}));
    }
    out["auth"] = json!({"request": "POST /v1/chat/completions, stream: true", "runs_per_rate": 2,
        "seconds": args.seconds, "connections": args.connections, "points": points});
}

/// The attachment section: one comparison of 8 models (a mock upstream each) carrying one
/// image just under 20 MiB — what the server's resident memory peaks at over its level
/// before, against the 8 × 20 MiB a copy per model would cost.
async fn attachment(args: &Args, out: &mut Value) {
    let (mock_addr, stats) = mock_upstream::spawn(
        "127.0.0.1:0".parse().unwrap(),
        MockConfig::instant(args.chunks),
    )
    .await
    .unwrap();
    let server = harness::serve(
        &args.bin,
        &server_config(&[("mock", mock_addr)]),
        &[],
        &args.out.join("serve-attachment.log"),
    )
    .unwrap();
    let client = reqwest::Client::new();
    // Warm up: connections to the mock, the allocator.
    let warm = json!({"prompt": "warm", "models": vec!["mock/mock-1"; 8]});
    for _ in 0..5 {
        let id = post_comparison(&client, &server.url, &warm).await;
        let mut ev = open_stream(&client, &server.url, &id).await;
        while ev.next().await.is_some() {}
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = server.rss_kib();
    let peak_before = harness::peak_rss_kib(server.pid());
    // A PNG signature and then noise (it does not compress; only the signature is checked).
    let size = 20 * 1024 * 1024 - 1024;
    let mut bytes = vec![0u8; size];
    bytes[..8].copy_from_slice(b"\x89PNG\r\n\x1a\n");
    for (i, b) in bytes.iter_mut().enumerate().skip(8) {
        *b = (i.wrapping_mul(2_654_435_761) >> 13) as u8;
    }
    let body = json!({
        "prompt": "What is in this picture?",
        "attachments": [llm_compare_core::Part::from_bytes(&bytes, Some("noise.png")).unwrap()],
        "models": vec!["mock/mock-1"; 8],
    });
    drop(bytes);
    let started = stats.started.load(std::sync::atomic::Ordering::Relaxed);
    let id = post_comparison(&client, &server.url, &body).await;
    let mut ev = open_stream(&client, &server.url, &id).await;
    let mut complete = Value::Null;
    while let Some(Ok(e)) = ev.next().await {
        if e.event == "complete" {
            complete = serde_json::from_str(&e.data).unwrap_or_default();
        }
    }
    let calls = stats.started.load(std::sync::atomic::Ordering::Relaxed) - started;
    let peak = harness::peak_rss_kib(server.pid());
    // An upper bound: the peak over the level before (the peak may be the warm-up's).
    let added = peak.saturating_sub(before);
    let mib = |kib: u64| kib as f64 / 1024.0;
    eprintln!(
        "attachment: {:.1} MiB image to 8 models: RSS before {:.1} MiB, peak {:.1} MiB (+{:.1} MiB; a copy per model: +{:.0} MiB); {} upstream calls, status {}",
        mib(size as u64 / 1024),
        mib(before),
        mib(peak),
        mib(added),
        8.0 * mib(size as u64 / 1024),
        calls,
        complete["status"]
    );
    out["attachment"] = json!({"bytes": size, "models": 8, "rss_before_kib": before,
        "peak_before_kib": peak_before, "peak_after_kib": peak, "added_kib": added,
        "upstream_calls": calls, "status": complete["status"]});
}

/// The agent section: 1,000 concurrent agent comparisons in this process (`sim/agent`, zero
/// delay, `steps=4`: three tool calls to an in-process Rust tool, then the answer) — wall
/// time, loops and steps per second, and this process's added peak memory per loop.
async fn agent(_args: &Args, out: &mut Value) {
    use llm_compare_core::tools::Toolbox;
    use llm_compare_core::{
        CompareOptions, CompareRequest, Engine, EventKind, ProviderRegistry, SimConfig, SimProvider,
    };
    const LOOPS: usize = 1000;
    let mut providers = ProviderRegistry::new();
    providers.register(Arc::new(SimProvider::new(SimConfig::instant())));
    let engine = Arc::new(Engine::new(providers));
    let tools =
        Arc::new(Toolbox::new().function(
            "square",
            "Squares a number",
            json!({"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}),
            |a: Value| async move {
                Ok::<_, String>((a["x"].as_f64().unwrap_or(0.0).powi(2)).to_string())
            },
        ));
    let request: CompareRequest = serde_json::from_value(json!({
        "models": ["sim/agent"],
        "messages": [{"role": "user", "content": "square 7 steps=4"}],
    }))
    .unwrap();
    let run_one = {
        let (engine, tools, request) = (engine.clone(), tools.clone(), request.clone());
        move || {
            let (engine, tools, request) = (engine.clone(), tools.clone(), request.clone());
            async move {
                let calls = engine.plan(&request).unwrap();
                let mut c = engine
                    .compare_calls(
                        calls,
                        CompareOptions {
                            tools: Some(tools),
                            ..CompareOptions::default()
                        },
                    )
                    .unwrap();
                let mut steps = 0;
                while let Some(e) = c.next().await {
                    if let EventKind::Complete(done) = e.kind {
                        steps = done.results[0].steps;
                    }
                }
                steps
            }
        }
    };
    // Warm-up: the tokenizer, the allocator.
    for _ in 0..20 {
        assert_eq!(run_one().await, 4);
    }
    let me = std::process::id();
    let before = harness::rss_kib(me);
    let start = Instant::now();
    let handles: Vec<_> = (0..LOOPS).map(|_| tokio::spawn(run_one())).collect();
    let mut steps = 0u64;
    for h in handles {
        steps += u64::from(h.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    let peak = harness::peak_rss_kib(me);
    let added = peak.saturating_sub(before);
    eprintln!(
        "agent: {LOOPS} concurrent loops of 4 steps in {:.3} s: {:.0} loops/s, {:.0} steps/s; RSS before {:.1} MiB, peak {:.1} MiB (+{:.1} KiB per loop)",
        secs,
        LOOPS as f64 / secs,
        steps as f64 / secs,
        before as f64 / 1024.0,
        peak as f64 / 1024.0,
        added as f64 / LOOPS as f64
    );
    out["agent"] = json!({"loops": LOOPS, "steps": steps, "seconds": secs,
        "loops_per_s": LOOPS as f64 / secs, "steps_per_s": steps as f64 / secs,
        "rss_before_kib": before, "peak_kib": peak, "added_kib_per_loop": added as f64 / LOOPS as f64});
}

/// The soak: mixed traffic against one server for `--soak`, sampled every 10 s.
async fn soak(args: &Args, out: &mut Value) {
    let (mock_addr, _stats) = mock_upstream::spawn(
        "127.0.0.1:0".parse().unwrap(),
        MockConfig::instant(args.chunks),
    )
    .await
    .unwrap();
    // The server tool agent comparisons call.
    let tool = axum::Router::new().route(
        "/square",
        axum::routing::post(|axum::Json(v): axum::Json<Value>| async move {
            axum::Json(json!(v["x"].as_f64().unwrap_or(0.0).powi(2).to_string()))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tool_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, tool).await });
    let mut config = server_config(&[("mock", mock_addr)]).replace(
        "retention_s = 60",
        &format!("retention_s = {}", args.soak_retention_s),
    );
    config.push_str(&format!(
        "[tools.square]\nurl = \"http://{tool_addr}/square\"\ndescription = \"Squares a number\"\n\
         parameters = {{ type = \"object\", properties = {{ x = {{ type = \"number\" }} }}, required = [\"x\"] }}\n"
    ));
    let server = harness::serve(
        &args.bin,
        &config,
        &[
            ("LLM_COMPARE_SIM_TTFT_MS", "20"),
            ("LLM_COMPARE_SIM_TOKENS_PER_S", "200"),
            ("LLM_COMPARE_SIM_SLOW_TTFT_MS", "5000"),
        ],
        &args.out.join("serve-soak.log"),
    )
    .unwrap();
    let result = llm_compare_benches::soak::run(llm_compare_benches::soak::SoakConfig {
        url: server.url.clone(),
        pid: server.pid(),
        data_dir: server.dir().map(Path::to_path_buf),
        duration: args.soak,
        clients: args.soak_clients,
        warmup: Duration::from_secs(args.soak_retention_s).min(args.soak / 2),
        every: Duration::from_secs(10),
        chat_model: "mock/mock-1".into(),
        tool: "square".into(),
    })
    .await;
    eprintln!(
        "soak: {:.0} ops/s, {} 5xx, RSS {} → {} KiB after warm-up ({:+.1} %), fds {} → {}",
        result["ops_per_s"].as_f64().unwrap_or(0.0),
        result["server_errors"],
        result["rss_warm_kib"],
        result["rss_end_kib"],
        result["rss_growth"].as_f64().unwrap_or(f64::NAN) * 100.0,
        result["fd_warm"],
        result["fd_end"]
    );
    out["soak"] = result;
}

/// Two servers of a cluster (Redis registry, one database) under comparisons posted to one
/// and streamed from the other; server A is killed (SIGKILL) after 10 s and restarted 5 s
/// later under the same instance id. See `llm_compare_benches::failover`.
async fn failover(args: &Args, out: &mut Value) {
    use llm_compare_benches::failover::{Cluster, FailoverConfig, drive};
    let addr = args
        .redis_url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    if tokio::net::TcpStream::connect(&addr).await.is_err() {
        eprintln!("failover: skipped, no Redis at {}", args.redis_url);
        out["failover"] = json!({"skipped": format!("no Redis at {}", args.redis_url)});
        return;
    }
    let shared = harness::temp_dir("failover").unwrap();
    let db = args
        .failover_database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", shared.join("cluster.db").display()));
    let run = std::process::id();
    let instances = [format!("failover-a-{run}"), format!("failover-b-{run}")];
    let env = |i: usize| {
        vec![
            ("LLM_COMPARE_SIM_TTFT_MS", "20".to_string()),
            ("LLM_COMPARE_SIM_TOKENS_PER_S", "50".to_string()),
            ("LLM_COMPARE_DATABASE_URL", db.clone()),
            ("LLM_COMPARE_REGISTRY_URL", args.redis_url.clone()),
            ("LLM_COMPARE_INSTANCE_ID", instances[i].clone()),
        ]
    };
    let start = |i: usize, dir: Option<std::path::PathBuf>, log: &str| {
        let env = env(i);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let log = args.out.join(format!("serve-failover-{log}.log"));
        match dir {
            Some(dir) => harness::serve_in(dir, &args.bin, &server_config(&[]), &env, &log),
            None => harness::serve(&args.bin, &server_config(&[]), &env, &log),
        }
        .unwrap()
    };
    let a = start(0, None, "a");
    let b = start(1, None, "b");
    let cluster = Arc::new(Cluster::new(vec![a.url.clone(), b.url.clone()]));
    let (kill_at, down_for, duration) = (
        Duration::from_secs(10),
        Duration::from_secs(5),
        Duration::from_secs(30),
    );
    let driving = tokio::spawn(drive(
        cluster.clone(),
        FailoverConfig {
            clients: args.failover_clients,
            duration,
            body: json!({"prompt": "failover", "models": ["sim/echo", "sim/lorem"],
                "params": {"max_tokens": 60}}),
            deadline: Duration::from_secs(60),
        },
    ));
    tokio::time::sleep(kill_at).await;
    let active_a = active(&a.url).await;
    // The balancer stops sending to A as it dies.
    cluster.set(0, None);
    let dir = a.kill_9();
    let killed = Instant::now();
    tokio::time::sleep(down_for).await;
    let a = start(0, dir, "a-restarted");
    let back_after = killed.elapsed();
    cluster.set(0, Some(a.url.clone()));
    let mut result = driving.await.unwrap();
    // The store agrees with the streams: read back on B, every comparison that ended
    // `interrupted` is stored so.
    let http = reqwest::Client::new();
    let ids: Vec<String> = result["ids_interrupted"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut stored = 0;
    for id in &ids {
        let v: Value = http
            .get(format!("{}/v1/comparisons/{id}", b.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or(Value::Null);
        stored += usize::from(v["status"] == "interrupted");
    }
    result["ids_interrupted"] = json!(ids.len());
    result["stored_interrupted"] = json!(stored);
    result["verdicts"]["store_agrees"] = json!(stored == ids.len());
    result["running_on_a_at_kill"] = json!(active_a);
    result["clients"] = json!(args.failover_clients);
    result["seconds"] = json!(duration.as_secs());
    result["kill_at_s"] = json!(kill_at.as_secs());
    result["restarted_after_s"] = json!(back_after.as_secs_f64());
    result["database"] = json!(if args.failover_database_url.is_some() {
        "postgres"
    } else {
        "sqlite (shared file)"
    });
    eprintln!(
        "failover: {} comparisons, {} resumed, {} broken, A's: {} completed + {} interrupted, B's: {} completed, {} 5xx",
        result["comparisons"],
        result["resumed"],
        result["broken"],
        result["killed_server"]["completed"],
        result["killed_server"]["interrupted"],
        result["surviving_server"]["completed"],
        result["server_errors"]
    );
    drop((a, b));
    let _ = std::fs::remove_dir_all(&shared);
    out["failover"] = result;
}

/// The overhead and litellm sections, which share the upstream and the proxies.
async fn overhead(args: &Args, oha: &Oha, with_litellm: bool, out: &mut Value) {
    let (mock_addr, _stats) = mock_upstream::spawn(
        "127.0.0.1:0".parse().unwrap(),
        MockConfig::instant(args.chunks),
    )
    .await
    .unwrap();
    let threads = args.server_threads.to_string();
    let env: &[(&str, &str)] = if args.server_threads > 0 {
        &[("TOKIO_WORKER_THREADS", &threads)]
    } else {
        &[]
    };
    let proxy = harness::serve(
        &args.bin,
        &server_config(&[("mock", mock_addr)]),
        env,
        &args.out.join("serve-overhead.log"),
    )
    .unwrap();
    let mut litellm_note = args.litellm_missing.clone();
    let litellm = match (&args.litellm, with_litellm) {
        (Some(bin), true) => {
            let port = harness::free_port().unwrap();
            let upstream = format!("http://{mock_addr}/v1");
            match harness::litellm(bin, port, "mock-1", &upstream, args.litellm_workers) {
                Ok(p) => Some(p),
                Err(e) => {
                    litellm_note = Some(e);
                    None
                }
            }
        }
        (None, true) => {
            litellm_note.get_or_insert_with(|| "no --litellm given".into());
            None
        }
        _ => None,
    };
    let up = Upstream {
        url: format!("http://{mock_addr}/v1/chat/completions"),
        proxy,
        litellm,
    };
    let ours_url = format!("{}/v1/chat/completions", up.proxy.url);
    let direct_body = chat_body("mock-1");
    let ours_body = chat_body("mock/mock-1");
    let s = args.seconds;
    // Warm-up: connections, allocator, the first-request paths of each.
    load(oha, up.url.clone(), Some(direct_body.clone()), Some(200), 2).await;
    load(oha, ours_url.clone(), Some(ours_body.clone()), Some(200), 2).await;

    let lite_url = up
        .litellm
        .as_ref()
        .map(|p| format!("{}/v1/chat/completions", p.url));
    // LiteLLM's top rate first: it says which fixed rates it can be asked for.
    let mut lite_max = None;
    if let Some(url) = &lite_url {
        load(oha, url.clone(), Some(direct_body.clone()), Some(20), 3).await;
        let r = load(oha, url.clone(), Some(direct_body.clone()), None, s).await;
        eprintln!("litellm max: {:.0} req/s", r.rps);
        lite_max = Some(r);
    }

    let mut points = Vec::new();
    let mut rates: Vec<Option<u64>> = args.rates.iter().copied().map(Some).collect();
    rates.push(None);
    for rate in rates {
        let direct = load(oha, up.url.clone(), Some(direct_body.clone()), rate, s).await;
        let ours = load(oha, ours_url.clone(), Some(ours_body.clone()), rate, s).await;
        let lite = match (&lite_url, rate, &lite_max) {
            (Some(url), Some(r), Some(m)) if (r as f64) <= m.rps => {
                Some(load(oha, url.clone(), Some(direct_body.clone()), rate, s).await)
            }
            (Some(_), None, Some(m)) => Some(m.clone()),
            _ => None,
        };
        eprintln!(
            "rate {}: direct p50 {:.3} p99 {:.3} | llm-compare p50 {:.3} p99 {:.3} ({:.0} req/s){}",
            fmt_rate(rate),
            direct.p50,
            direct.p99,
            ours.p50,
            ours.p99,
            ours.rps,
            lite.as_ref()
                .map(|l| format!(" | litellm p50 {:.3} p99 {:.3}", l.p50, l.p99))
                .unwrap_or_default()
        );
        points.push((rate, direct, ours, lite));
    }

    // The highest fixed rate LiteLLM sustains: from 80 % of its top rate down in 20 % steps.
    let mut at_sustained = Value::Null;
    if let (Some(url), Some(m)) = (&lite_url, &lite_max) {
        let mut rate = ((m.rps * 0.8) as u64 / 10 * 10).max(10);
        for _ in 0..4 {
            let lite = load(oha, url.clone(), Some(direct_body.clone()), Some(rate), s).await;
            if lite.sustained() {
                let direct = load(
                    oha,
                    up.url.clone(),
                    Some(direct_body.clone()),
                    Some(rate),
                    s,
                )
                .await;
                let ours = load(
                    oha,
                    ours_url.clone(),
                    Some(ours_body.clone()),
                    Some(rate),
                    s,
                )
                .await;
                let (a_ours, a_lite) = (added(&ours, &direct), added(&lite, &direct));
                at_sustained = json!({"rate": rate, "direct": run_json(&direct),
                    "llm_compare": run_json(&ours), "litellm": run_json(&lite),
                    "added_llm_compare": a_ours, "added_litellm": a_lite,
                    "p99_ratio": a_lite[2] / a_ours[2].max(0.001)});
                break;
            }
            rate = (rate as f64 * 0.8) as u64 / 10 * 10;
        }
    }

    out["overhead"] = json!({
        "request": "POST /v1/chat/completions, stream: true",
        "chunks": args.chunks,
        "connections": args.connections,
        "server_threads": args.server_threads,
        "seconds": s,
        "points": points.iter().map(|(rate, d, o, l)| json!({
            "rate": rate,
            "direct": run_json(d),
            "llm_compare": run_json(o),
            "litellm": l.as_ref().map(run_json),
            "added_llm_compare": added(o, d),
            "added_litellm": l.as_ref().map(|l| added(l, d)),
        })).collect::<Vec<_>>(),
    });
    out["litellm"] = match (&lite_max, &litellm_note) {
        (Some(m), _) => json!({"workers": args.litellm_workers, "max": run_json(m),
            "at_sustained": at_sustained}),
        (None, Some(why)) if with_litellm => json!({"skipped": why}),
        _ => Value::Null,
    };
}

/// A server whose simulated models answer after `ttft_ms`, at `tokens_per_s` (0: no delay);
/// its log goes to `serve-<section>.log`.
fn sim_server(args: &Args, ttft_ms: &str, tokens_per_s: &str, section: &str) -> Proc {
    harness::serve(
        &args.bin,
        &server_config(&[]),
        &[
            ("LLM_COMPARE_SIM_TTFT_MS", ttft_ms),
            ("LLM_COMPARE_SIM_TOKENS_PER_S", tokens_per_s),
        ],
        &args.out.join(format!("serve-{section}.log")),
    )
    .unwrap()
}

/// N concurrent SSE streams of 4-model sim comparisons; server RSS per open stream.
async fn memory(args: &Args, out: &mut Value) {
    let streams = args.streams;
    // Every stream stays open ~40 s (first token after 1 s, then 1 token/s): long enough to
    // open all of them and read the server's memory while they are.
    let proxy = sim_server(args, "1000", "1", "memory");
    let client = reqwest::Client::new();
    let body = json!({"prompt": "memory", "models": ["sim/lorem", "sim/lorem", "sim/lorem", "sim/lorem"],
        "params": {"max_tokens": 40}});
    // Warm up (tokenizer loaded, allocator settled) with a few short comparisons.
    let short =
        json!({"prompt": "warm", "models": ["sim/echo", "sim/echo", "sim/echo", "sim/echo"]});
    for _ in 0..20 {
        let id = post_comparison(&client, &proxy.url, &short).await;
        let mut ev = open_stream(&client, &proxy.url, &id).await;
        while ev.next().await.is_some() {}
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let base = proxy.rss_kib();

    let opened = Arc::new(tokio::sync::Semaphore::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(streams);
    for _ in 0..streams {
        let (client, url, body, opened) = (
            client.clone(),
            proxy.url.clone(),
            body.clone(),
            opened.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let id = post_comparison(&client, &url, &body).await;
            let mut ev = open_stream(&client, &url, &id).await;
            let (mut first, mut n, mut complete) = (true, 0usize, false);
            while let Some(Ok(e)) = ev.next().await {
                if first {
                    opened.add_permits(1);
                    first = false;
                }
                n += 1;
                complete = e.event == "complete";
            }
            (n, complete)
        }));
    }
    let _ = opened.acquire_many(streams as u32).await.unwrap();
    let open_after = t0.elapsed();
    let mut peak = 0;
    for _ in 0..20 {
        peak = peak.max(proxy.rss_kib());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (mut complete, mut events) = (0, 0);
    for t in tasks {
        let (n, c) = t.await.unwrap();
        events += n;
        complete += usize::from(c);
    }
    let per_stream = peak.saturating_sub(base) as f64 / streams as f64;
    eprintln!(
        "memory: {streams} streams, base {base} KiB, peak {peak} KiB, {per_stream:.1} KiB/stream"
    );
    out["memory"] = json!({"streams": streams, "models_per_comparison": 4,
        "rss_before_kib": base, "rss_peak_kib": peak, "kib_per_stream": per_stream,
        "all_open_after_s": open_after.as_secs_f64(), "completed": complete, "events": events});
}

async fn post_comparison(client: &reqwest::Client, url: &str, body: &Value) -> String {
    let r: Value = client
        .post(format!("{url}/v1/comparisons"))
        .json(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["request_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no request_id in {r}"))
        .to_string()
}

async fn open_stream(
    client: &reqwest::Client,
    url: &str,
    id: &str,
) -> impl futures::Stream<
    Item = Result<eventsource_stream::Event, eventsource_stream::EventStreamError<reqwest::Error>>,
> {
    client
        .get(format!("{url}/v1/comparisons/{id}/stream"))
        .send()
        .await
        .unwrap()
        .bytes_stream()
        .eventsource()
}

/// Client disconnect → upstream cancel, through `/v1/chat/completions`.
async fn cancel(args: &Args, out: &mut Value) {
    // Mid-stream: 50 tokens/s (a gap of 20 ms, like a real model); waiting: no token for 60 s.
    let streaming = MockConfig {
        ttft: Duration::ZERO,
        tokens_per_s: 50.0,
        chunks: 100_000,
    };
    let waiting = MockConfig {
        ttft: Duration::from_secs(60),
        tokens_per_s: 0.0,
        chunks: 10,
    };
    let (a, streaming_stats) = mock_upstream::spawn("127.0.0.1:0".parse().unwrap(), streaming)
        .await
        .unwrap();
    let (b, waiting_stats) = mock_upstream::spawn("127.0.0.1:0".parse().unwrap(), waiting)
        .await
        .unwrap();
    let proxy = harness::serve(
        &args.bin,
        &server_config(&[("streaming", a), ("waiting", b)]),
        &[],
        &args.out.join("serve-cancel.log"),
    )
    .unwrap();
    let mut cases = serde_json::Map::new();
    for (case, model, stats, marker) in [
        ("mid_stream", "streaming/mock-1", &streaming_stats, "tok0"),
        // No chunk comes before the first token: the client goes once the headers are in.
        (
            "waiting_for_first_token",
            "waiting/mock-1",
            &waiting_stats,
            "",
        ),
    ] {
        let mut lat = Vec::new();
        let mut missed = 0;
        for _ in 0..args.cancels {
            match disconnect_once(&proxy.url, model, stats, marker).await {
                Some(d) => lat.push(d),
                None => missed += 1,
            }
        }
        lat.sort();
        eprintln!(
            "cancel {case}: p50 {:.2} ms, max {:.2} ms, missed {missed}",
            percentile_ms(&lat, 0.5),
            percentile_ms(&lat, 1.0)
        );
        cases.insert(
            case.into(),
            json!({"trials": args.cancels, "missed": missed,
                "p50_ms": percentile_ms(&lat, 0.5), "p90_ms": percentile_ms(&lat, 0.9),
                "max_ms": percentile_ms(&lat, 1.0)}),
        );
    }
    out["cancel"] = Value::Object(cases);
}

/// Streams one chat completion until `marker` arrives, disconnects, and returns how long the
/// upstream took to see its request cancelled (`None`: not within 5 s).
async fn disconnect_once(
    url: &str,
    model: &str,
    stats: &Arc<MockStats>,
    marker: &str,
) -> Option<Duration> {
    let before = stats.cancelled.load(Ordering::Relaxed);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let resp = client
        .post(format!("{url}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(chat_body(model))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{model}");
    let mut body = resp.bytes_stream();
    let mut seen = String::new();
    while !marker.is_empty()
        && let Some(Ok(b)) = body.next().await
    {
        seen.push_str(&String::from_utf8_lossy(&b));
        if seen.contains(marker) {
            break;
        }
    }
    // Let the upstream settle into its stream before the client goes.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let gone = Instant::now();
    drop(body);
    drop(client);
    let deadline = gone + Duration::from_secs(5);
    while stats.cancelled.load(Ordering::Relaxed) == before {
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    stats
        .last_cancel_at()
        .map(|t| t.saturating_duration_since(gone))
}

/// `POST /v1/comparisons` of 2-model zero-delay sim comparisons (each runs to its end and is
/// written: created, two results, finished) at each of `--post-rates`, `GET /health` at the
/// first rate as the floor; with SQLite and, given `--post-database-url`, PostgreSQL.
async fn post(args: &Args, oha: &Oha, out: &mut Value) {
    let mut backends = vec![("sqlite", None)];
    if let Some(url) = &args.post_database_url {
        backends.push(("postgres", Some(url.as_str())));
    }
    let body = json!({"prompt": "load test", "models": ["sim/echo", "sim/lorem"],
        "params": {"max_tokens": 16}})
    .to_string();
    let mut result = json!({});
    for (name, db) in backends {
        let mut env = vec![
            ("LLM_COMPARE_SIM_TTFT_MS", "0"),
            ("LLM_COMPARE_SIM_TOKENS_PER_S", "0"),
        ];
        if let Some(db) = db {
            env.push(("LLM_COMPARE_DATABASE_URL", db));
        }
        let proxy = harness::serve(
            &args.bin,
            &server_config(&[]),
            &env,
            &args.out.join(format!("serve-post-{name}.log")),
        )
        .unwrap();
        let url = format!("{}/v1/comparisons", proxy.url);
        load(oha, url.clone(), Some(body.clone()), Some(200), 2).await;
        let first = args.post_rates.first().copied().filter(|r| *r > 0);
        let health = load(
            oha,
            format!("{}/health", proxy.url),
            None,
            first.or(Some(1000)),
            args.seconds,
        )
        .await;
        let mut points = Vec::new();
        for &rate in &args.post_rates {
            let rate = (rate > 0).then_some(rate);
            let run = load(oha, url.clone(), Some(body.clone()), rate, args.seconds).await;
            eprintln!(
                "post ({name}) at {}: {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, {} errors",
                fmt_rate(rate),
                run.rps,
                run.p50,
                run.p99,
                run.errors
            );
            points.push(json!({"rate": rate, "run": run_json(&run)}));
        }
        // Every comparison must be written through: none still running once the load stops.
        let mut running = -1.0;
        for _ in 0..100 {
            running = active(&proxy.url).await;
            if running == 0.0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        result[name] = json!({"health": run_json(&health), "points": points,
            "active_after": running});
    }
    out["post"] = result;
}

/// `llm_compare_active_comparisons` of the server at `url`.
async fn active(url: &str) -> f64 {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("llm_compare_active_comparisons "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    json!({"cpu": cpu, "cores": cores, "memory_gib": (mem_kib as f64 / 1048576.0).round(),
        "kernel": kernel.trim()})
}

/// A percentage as the summary shows it (`–` where it was not measured).
fn pct(v: &Value) -> String {
    v.as_f64().map_or("–".into(), |x| format!("{x:.1} %"))
}

fn ms(v: &Value) -> String {
    v.as_f64().map_or("–".into(), |x| format!("{x:.3}"))
}

/// A verdict as the summary table shows it.
fn verdict(met: &Value) -> &'static str {
    if met.as_bool() == Some(true) {
        "**met**"
    } else {
        "**not met**"
    }
}

/// The summary table, in Markdown.
fn summary(out: &Value) {
    println!("\n# Load harness summary\n");
    if let Some(by_section) = out["steal_pct"].as_object() {
        // A VM's vCPUs given to other guests: the numbers below hold for this host as it was.
        let sections: Vec<String> = by_section
            .iter()
            .filter(|(k, _)| *k != "run")
            .map(|(k, v)| format!("{k} {}", pct(v)))
            .collect();
        println!(
            "CPU time stolen by the host: {} of the run ({})\n",
            pct(&out["steal_pct"]["run"]),
            sections.join(", ")
        );
    }
    if let Some(points) = out["overhead"]["points"].as_array() {
        println!("## Added latency, POST /v1/chat/completions (streamed) through each proxy, ms\n");
        println!(
            "| rate (req/s) | direct p50 / p99 | llm-compare p50 / p90 / p99 added | LiteLLM p50 / p90 / p99 added | achieved req/s (direct / llm-compare / LiteLLM) |"
        );
        println!("|---|---|---|---|---|");
        // Without a LiteLLM run its column says so; with one, a rate it was not asked for is
        // above its top rate.
        let lite_ran = !out["litellm"]["max"].is_null();
        for p in points {
            let a = &p["added_llm_compare"];
            let l = &p["added_litellm"];
            let lite = if !lite_ran {
                "not run".to_string()
            } else if l.is_null() {
                "not sustained".to_string()
            } else {
                format!("{} / {} / {}", ms(&l[0]), ms(&l[1]), ms(&l[2]))
            };
            println!(
                "| {} | {} / {} | {} / {} / {} | {lite} | {:.0} / {:.0} / {} |",
                p["rate"].as_u64().map_or("max".into(), |r| r.to_string()),
                ms(&p["direct"]["p50"]),
                ms(&p["direct"]["p99"]),
                ms(&a[0]),
                ms(&a[1]),
                ms(&a[2]),
                p["direct"]["rps"].as_f64().unwrap_or(0.0),
                p["llm_compare"]["rps"].as_f64().unwrap_or(0.0),
                p["litellm"]["rps"]
                    .as_f64()
                    .map_or("–".into(), |r| format!("{r:.0}")),
            );
        }
        if let Some(p) = points.iter().find(|p| p["rate"].as_u64() == Some(2000)) {
            let a = &p["added_llm_compare"];
            println!(
                "\nllm-compare at 2,000 req/s: added p50 ≤ 0.3 ms: {} ms {}; added p99 ≤ 1 ms: {} ms {} (CPU stolen by the host: {} direct, {} through llm-compare)",
                ms(&a[0]),
                verdict(&json!(a[0].as_f64().is_some_and(|v| v <= 0.3))),
                ms(&a[2]),
                verdict(&json!(a[2].as_f64().is_some_and(|v| v <= 1.0))),
                pct(&p["direct"]["steal_pct"]),
                pct(&p["llm_compare"]["steal_pct"]),
            );
        }
    }
    let lite = &out["litellm"];
    if let Some(why) = lite["skipped"].as_str() {
        println!("\nLiteLLM: not run ({why})");
    } else if !lite["at_sustained"].is_null() {
        let s = &lite["at_sustained"];
        let ratio = s["p99_ratio"].as_f64().unwrap_or(f64::NAN);
        println!(
            "\nLiteLLM top rate {:.0} req/s; at {} req/s (highest it sustains): added p99 LiteLLM {} ms vs llm-compare {} ms: {ratio:.0}× (≥ 50× lower: {})",
            lite["max"]["rps"].as_f64().unwrap_or(0.0),
            s["rate"],
            ms(&s["added_litellm"][2]),
            ms(&s["added_llm_compare"][2]),
            verdict(&json!(ratio >= 50.0))
        );
    }
    let m = &out["memory"];
    if !m.is_null() {
        println!(
            "\n## Memory: {} open 4-model SSE streams: {:.1} KiB per stream (RSS {:.1} → {:.1} MiB), all open after {:.2} s, {} completed\n",
            m["streams"],
            m["kib_per_stream"].as_f64().unwrap_or(0.0),
            m["rss_before_kib"].as_f64().unwrap_or(0.0) / 1024.0,
            m["rss_peak_kib"].as_f64().unwrap_or(0.0) / 1024.0,
            m["all_open_after_s"].as_f64().unwrap_or(0.0),
            m["completed"]
        );
    }
    if let Some(c) = out["cancel"].as_object() {
        println!("## Client disconnect → upstream cancelled, ms\n");
        println!("| case | p50 | p90 | max | missed |");
        println!("|---|---|---|---|---|");
        for (case, v) in c {
            println!(
                "| {case} | {} | {} | {} | {} |",
                ms(&v["p50_ms"]),
                ms(&v["p90_ms"]),
                ms(&v["max_ms"]),
                v["missed"]
            );
        }
    }
    if let Some(points) = out["auth"]["points"].as_array() {
        println!("\n## API key check: keyed vs open server (ms, mean of 2 runs each)\n");
        println!("| rate | open p50 | keyed p50 | added p50 | open p99 | keyed p99 | added p99 |");
        println!("|---|---|---|---|---|---|---|");
        for p in points {
            println!(
                "| {} | {} | {} | {} | {} | {} | {} |",
                p["rate"],
                ms(&p["open_p50"]),
                ms(&p["keyed_p50"]),
                ms(&p["added_p50"]),
                ms(&p["open_p99"]),
                ms(&p["keyed_p99"]),
                ms(&p["added_p99"])
            );
        }
    }
    let s = &out["soak"];
    if !s.is_null() {
        let v = &s["verdicts"];
        println!(
            "\n## Soak: {} clients for {:.0} s, {:.0} ops/s, p50 / p99 {} / {} ms\n",
            s["clients"],
            s["seconds"].as_f64().unwrap_or(0.0),
            s["ops_per_s"].as_f64().unwrap_or(0.0),
            ms(&s["p50_ms"]),
            ms(&s["p99_ms"])
        );
        println!("| target | measured | verdict |\n|---|---|---|");
        println!(
            "| zero 5xx | {} 5xx ({} other errors) | {} |",
            s["server_errors"],
            s["other_errors"],
            verdict(&v["no_5xx"])
        );
        println!(
            "| RSS growth after the warm-up ({:.0} s) < 5 % | {:.1} → {:.1} MiB ({:+.2} %, {:+.2} MiB/min) | {} |",
            s["warmup_s"].as_f64().unwrap_or(0.0),
            s["rss_warm_kib"].as_f64().unwrap_or(0.0) / 1024.0,
            s["rss_end_kib"].as_f64().unwrap_or(0.0) / 1024.0,
            s["rss_growth"].as_f64().unwrap_or(f64::NAN) * 100.0,
            s["rss_slope_mib_per_min"].as_f64().unwrap_or(f64::NAN),
            verdict(&v["rss_growth_under_5pct"])
        );
        println!(
            "| open file descriptors flat | {} → {} | {} |",
            s["fd_warm"],
            s["fd_end"],
            verdict(&v["fd_flat"])
        );
    }
    let f = &out["failover"];
    if f["verdicts"].is_object() {
        let v = &f["verdicts"];
        println!(
            "\n## Failover: 2 servers ({}, Redis registry), {} clients for {} s, A killed (SIGKILL) at {} s, back after {:.1} s\n",
            f["database"].as_str().unwrap_or("?"),
            f["clients"],
            f["seconds"],
            f["kill_at_s"],
            f["restarted_after_s"].as_f64().unwrap_or(f64::NAN)
        );
        println!("| target | measured | verdict |\n|---|---|---|");
        println!(
            "| every event once, in order, to `complete` | {} comparisons, {} broken ({} resumed on another server) | {} |",
            f["comparisons"],
            f["broken"],
            f["resumed"],
            verdict(&v["no_event_lost_or_duplicated"])
        );
        println!(
            "| every broken stream resumed | longest wait of a survivor's stream p50 / max {} / {} ms | {} |",
            ms(&f["resume_gap_ms_p50"]),
            ms(&f["resume_gap_ms_max"]),
            verdict(&v["every_stream_resumed"])
        );
        println!(
            "| the dead server's comparisons `interrupted` by its own restart, no other | A: {} completed, {} interrupted ({} running at the kill; {} stored so); B: {} completed, {} interrupted | {} |",
            f["killed_server"]["completed"],
            f["killed_server"]["interrupted"],
            f["running_on_a_at_kill"],
            f["stored_interrupted"],
            f["surviving_server"]["completed"],
            f["surviving_server"]["interrupted"],
            verdict(&json!(
                v["only_the_killed_servers_interrupted"] == true && v["store_agrees"] == true
            ))
        );
        println!(
            "| zero 5xx | {} 5xx ({} POSTs tried again on the other server) | {} |",
            f["server_errors"],
            f["post_retries"],
            verdict(&v["no_5xx"])
        );
    }
    if let Some(p) = out["post"].as_object() {
        println!("\n## POST /v1/comparisons, 2 zero-delay sim models each (written through)\n");
        println!("| backend | rate asked | achieved | p50 ms | p99 ms | errors |");
        println!("|---|---|---|---|---|---|");
        for (backend, b) in p {
            for pt in b["points"].as_array().into_iter().flatten() {
                let r = &pt["run"];
                println!(
                    "| {backend} | {} | {:.0} req/s{} | {} | {} | {} |",
                    pt["rate"].as_u64().map_or("max".into(), |r| r.to_string()),
                    r["rps"].as_f64().unwrap_or(0.0),
                    if r["sustained"].as_bool() == Some(false) {
                        " (not sustained)"
                    } else {
                        ""
                    },
                    ms(&r["p50"]),
                    ms(&r["p99"]),
                    r["errors"]
                );
            }
            println!(
                "| {backend} | GET /health (floor) | {:.0} req/s | {} | {} | {} |",
                b["health"]["rps"].as_f64().unwrap_or(0.0),
                ms(&b["health"]["p50"]),
                ms(&b["health"]["p99"]),
                b["health"]["errors"]
            );
        }
        let best = |backend: &str| {
            p.get(backend)
                .and_then(|b| b["points"].as_array())
                .into_iter()
                .flatten()
                .filter(|pt| pt["run"]["sustained"].as_bool() == Some(true))
                .map(|pt| pt["run"]["rps"].as_f64().unwrap_or(0.0))
                .fold(0.0, f64::max)
        };
        let at_2000 = p
            .get("sqlite")
            .and_then(|b| b["points"].as_array())
            .and_then(|pts| pts.iter().find(|pt| pt["rate"].as_u64() == Some(2000)))
            .map(|pt| &pt["run"]);
        let p99 = at_2000.and_then(|r| r["p99"].as_f64());
        println!(
            "\nSQLite: ≥ 3,000 comparisons/s sustained: {:.0}/s {}; p99 POST ≤ 10 ms at 2,000/s: {} {}{}",
            best("sqlite"),
            verdict(&json!(best("sqlite") >= 3000.0)),
            p99.map_or("not run".into(), |v| format!("{v:.2} ms")),
            verdict(&json!(p99.is_some_and(|v| v <= 10.0))),
            at_2000.map_or(String::new(), |r| format!(
                " (CPU stolen by the host: {})",
                pct(&r["steal_pct"])
            ))
        );
    }
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
