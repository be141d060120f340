//! Load test of `llm-compare serve` (release build), one machine, loopback:
//!
//! 1. `POST /v1/comparisons` latency at a fixed open-loop rate (default 1,000 req/s for 10 s;
//!    each request is its own task, so a slow answer never delays later sends), with
//!    4-model zero-delay sim comparisons running behind them; `GET /health` at the same
//!    rate gives the harness's own floor.
//! 2. N concurrent open SSE streams (default 1,000) of 4-model sim comparisons: the server's
//!    resident memory per open stream.
//!
//! `cargo build --release -p llm-compare-http && cargo run --release -p llm-compare-benches --bin server-load`
//! Env: `RATE`, `SECONDS`, `STREAMS`, `LLM_COMPARE_BIN` (default target/release/llm-compare).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::json;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(config: &str, sim: &[(&str, &str)]) -> Server {
    let bin =
        std::env::var("LLM_COMPARE_BIN").unwrap_or_else(|_| "target/release/llm-compare".into());
    let path = std::env::temp_dir().join(format!("llm-compare-load-{}.toml", std::process::id()));
    std::fs::write(&path, config).unwrap();
    let mut cmd = Command::new(&bin);
    cmd.args([
        "--config",
        path.to_str().unwrap(),
        "serve",
        "--bind",
        "127.0.0.1:0",
    ])
    .env("LLM_COMPARE_LOG", "warn")
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    for (k, v) in sim {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!("cannot start {bin}: {e} (build it: cargo build --release -p llm-compare-http)")
    });
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    Server { child, url }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

const CONFIG: &str =
    "[server]\nrequests_per_minute = 0\nmax_active_per_user = 1000000\nretention_s = 60\n";

/// Open-loop load: `total` requests at `rate`, latency from each scheduled time.
async fn open_loop(
    client: &reqwest::Client,
    req: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    rate: u64,
    seconds: u64,
    ok_status: u16,
) -> (Vec<Duration>, u64) {
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let scheduled = start + interval * i as u32;
        let r = req(client);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(scheduled).await;
            // Each request is its own task: sends never wait for earlier answers (open
            // loop), so timing from the send itself hides no server stall — and leaves out
            // the timer's 1 ms wake-up granularity, which is the harness's, not the server's.
            let sent = tokio::time::Instant::now();
            let r = r.send().await;
            let ok = matches!(&r, Ok(resp) if resp.status().as_u16() == ok_status);
            if let Ok(resp) = r {
                let _ = resp.bytes().await;
            }
            (tokio::time::Instant::now() - sent, ok)
        }));
    }
    let mut lat = Vec::with_capacity(total as usize);
    let mut errors = 0;
    for t in tasks {
        let (d, ok) = t.await.unwrap();
        lat.push(d);
        errors += u64::from(!ok);
    }
    lat.sort();
    (lat, errors)
}

fn row(name: &str, lat: &[Duration], errors: u64) {
    println!(
        "| {name} | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms | {:.3} ms | {errors} |",
        pct(lat, 0.5),
        pct(lat, 0.9),
        pct(lat, 0.99),
        pct(lat, 0.999),
        pct(lat, 1.0)
    );
}

async fn post_latency(rate: u64, seconds: u64) {
    let server = start(
        CONFIG,
        &[
            ("LLM_COMPARE_SIM_TTFT_MS", "0"),
            ("LLM_COMPARE_SIM_TOKENS_PER_S", "0"),
        ],
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(512)
        .build()
        .unwrap();
    let url = format!("{}/v1/comparisons", server.url);
    let body = json!({"prompt": "load test", "models": ["sim/echo", "sim/lorem", "sim/echo", "sim/lorem"], "params": {"max_tokens": 16}});
    // Warm up connections and the tokenizer.
    for _ in 0..200 {
        client.post(&url).json(&body).send().await.unwrap();
    }
    let health = format!("{}/health", server.url);
    let (base, base_err) = open_loop(&client, |c| c.get(&health), rate, seconds, 200).await;
    let (lat, errors) = open_loop(&client, |c| c.post(&url).json(&body), rate, seconds, 201).await;
    println!(
        "## Open-loop load at {rate} req/s for {seconds} s ({} requests each)",
        rate * seconds
    );
    println!("| request | p50 | p90 | p99 | p99.9 | max | errors |");
    println!("|---|---|---|---|---|---|---|");
    row("GET /health (harness floor)", &base, base_err);
    row(
        "POST /v1/comparisons (4 zero-delay sim models)",
        &lat,
        errors,
    );
}

async fn sse_memory(streams: usize) {
    // Slow enough that every stream stays open while memory is measured (~12 s each).
    let server = start(
        CONFIG,
        &[
            ("LLM_COMPARE_SIM_TTFT_MS", "1000"),
            ("LLM_COMPARE_SIM_TOKENS_PER_S", "2"),
        ],
    );
    let pid = server.child.id();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let body = json!({"prompt": "memory", "models": ["sim/lorem", "sim/lorem", "sim/lorem", "sim/lorem"], "params": {"max_tokens": 24}});
    // Warm up (tokenizer loaded, allocator settled) with one full comparison.
    let id = client
        .post(format!("{}/v1/comparisons", server.url))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut ev = client
        .get(format!("{}/v1/comparisons/{id}/stream", server.url))
        .send()
        .await
        .unwrap()
        .bytes_stream()
        .eventsource();
    while ev.next().await.is_some() {}
    tokio::time::sleep(Duration::from_millis(500)).await;
    let base = rss_kib(pid);

    let opened = Arc::new(tokio::sync::Semaphore::new(0));
    let mut tasks = Vec::new();
    let t0 = Instant::now();
    for _ in 0..streams {
        let (client, url, body, opened) = (
            client.clone(),
            server.url.clone(),
            body.clone(),
            opened.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let r: serde_json::Value = client
                .post(format!("{url}/v1/comparisons"))
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let id = r["request_id"].as_str().unwrap().to_string();
            let mut ev = client
                .get(format!("{url}/v1/comparisons/{id}/stream"))
                .send()
                .await
                .unwrap()
                .bytes_stream()
                .eventsource();
            let mut first = true;
            let mut n = 0usize;
            let mut complete = false;
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
        peak = peak.max(rss_kib(pid));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut complete = 0;
    let mut events = 0;
    for t in tasks {
        let (n, c) = t.await.unwrap();
        events += n;
        complete += usize::from(c);
    }
    let per_stream = (peak.saturating_sub(base)) as f64 / streams as f64;
    println!(
        "\n## {streams} concurrent SSE streams of 4-model sim comparisons (24 tokens each at 2 tok/s)"
    );
    println!(
        "| server RSS before | peak RSS with all open | per open stream | all open after | completed | events received |"
    );
    println!("|---|---|---|---|---|---|");
    println!(
        "| {:.1} MiB | {:.1} MiB | **{per_stream:.1} KiB** | {:.2} s | {complete}/{streams} | {events} |",
        base as f64 / 1024.0,
        peak as f64 / 1024.0,
        open_after.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let rate = env_num("RATE", 1000);
    let seconds = env_num("SECONDS", 10);
    let streams = env_num("STREAMS", 1000) as usize;
    post_latency(rate, seconds).await;
    sse_memory(streams).await;
}
