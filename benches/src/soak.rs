//! The soak (`load-harness --sections soak --soak 30m`): clients drive a mix of everything a
//! server does for a long time — comparisons streamed to the end, votes, session turns, chat
//! completions (streamed and not), cancels, snapshots, leaderboard reads, agent comparisons
//! and evaluation runs — while a sampler reads the server's resident memory, open file
//! descriptors, threads, runtime tasks and the window's p99 latency every few seconds. The
//! verdicts: no 5xx, memory after the warm-up (the retention window) grows < 5 %, the file
//! descriptors stay flat.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{Value, json};

use crate::harness::{CpuTimes, percentile_ms, rss_kib};

/// What the soak runs against and for how long.
#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// The server (`http://127.0.0.1:PORT`).
    pub url: String,
    /// Its process id (memory, descriptors, threads are read from `/proc`).
    pub pid: u32,
    /// Its data directory: the size of its SQLite WAL is sampled too.
    pub data_dir: Option<std::path::PathBuf>,
    /// How long the clients run.
    pub duration: Duration,
    /// Concurrent clients, each running one operation at a time.
    pub clients: usize,
    /// Samples before this are the warm-up (the retention window: memory fills up to it).
    pub warmup: Duration,
    /// How often the sampler reads the server.
    pub every: Duration,
    /// The model chat completions go to (an OpenAI-compatible upstream behind the server).
    pub chat_model: String,
    /// A server tool agent comparisons run with.
    pub tool: String,
}

/// One reading of the server.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at_s: f64,
    rss_kib: u64,
    fds: u64,
    threads: u64,
    tasks: Option<u64>,
    /// The server's own accounts (`/metrics`): retained comparisons' estimate, and the
    /// allocator's allocated / resident bytes (jemalloc builds), in KiB.
    retained_kib: Option<u64>,
    allocated_kib: Option<u64>,
    resident_kib: Option<u64>,
    /// The SQLite WAL's size (KiB), when the server keeps its database in `data_dir`.
    wal_kib: Option<u64>,
    p99_ms: f64,
    /// The machine's CPU time the host gave to others in the window (%).
    steal_pct: f64,
    ops: u64,
    server_errors: u64,
}

/// What the clients saw, shared.
#[derive(Debug, Default)]
struct Seen {
    ops: AtomicU64,
    server_errors: AtomicU64,
    /// Requests the server refused (4xx) or that failed on the way: counted apart from 5xx.
    other_errors: AtomicU64,
    by_kind: parking_lot::Mutex<BTreeMap<&'static str, u64>>,
    /// Latencies (to the response's head) since the last sample.
    window: parking_lot::Mutex<Vec<Duration>>,
    all: parking_lot::Mutex<Vec<Duration>>,
    first_errors: parking_lot::Mutex<Vec<String>>,
}

impl Seen {
    fn error(&self, server: bool, what: String) {
        if server {
            self.server_errors.fetch_add(1, Ordering::Relaxed);
        } else {
            self.other_errors.fetch_add(1, Ordering::Relaxed);
        }
        let mut first = self.first_errors.lock();
        if first.len() < 20 {
            first.push(what);
        }
    }

    /// Sends `rb`, timing it to the response's head; a 5xx, a 4xx or a failure is counted.
    async fn send(
        &self,
        kind: &'static str,
        rb: reqwest::RequestBuilder,
    ) -> Option<reqwest::Response> {
        let start = Instant::now();
        let r = rb.send().await;
        let took = start.elapsed();
        self.window.lock().push(took);
        match r {
            Ok(r) if r.status().is_success() => Some(r),
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                self.error(
                    status.is_server_error(),
                    format!(
                        "{kind}: {status} {}",
                        body.chars().take(300).collect::<String>()
                    ),
                );
                None
            }
            Err(e) => {
                self.error(false, format!("{kind}: {e}"));
                None
            }
        }
    }

    fn done(&self, kind: &'static str) {
        self.ops.fetch_add(1, Ordering::Relaxed);
        *self.by_kind.lock().entry(kind).or_default() += 1;
    }
}

/// One client: picks an operation, runs it to its end, again until `until`.
async fn client(cfg: Arc<SoakConfig>, http: reqwest::Client, seen: Arc<Seen>, until: Instant) {
    let url = cfg.url.as_str();
    let mut finished: Option<String> = None;
    let mut session: Option<(String, u32)> = None;
    while Instant::now() < until {
        let pick = fastrand::u32(..100);
        let kind = match pick {
            0..=24 => {
                // A comparison streamed to its end; half of them voted on.
                let body = json!({"prompt": "soak", "models": ["sim/echo", "sim/lorem"],
                    "params": {"max_tokens": 24}});
                if let Some(id) = compare(&seen, &http, url, &body).await {
                    if pick < 12 {
                        let winner = match fastrand::u8(..3) {
                            0 => json!(0),
                            1 => json!(1),
                            _ => json!("tie"),
                        };
                        seen.send(
                            "vote",
                            http.post(format!("{url}/v1/comparisons/{id}/preference"))
                                .json(&json!({"winner": winner})),
                        )
                        .await;
                    }
                    finished = Some(id);
                }
                if pick < 12 { "compare+vote" } else { "compare" }
            }
            25..=34 => {
                // A session turn (four turns, then a new session).
                if session.as_ref().is_none_or(|(_, turns)| *turns >= 4) {
                    session = None;
                    if let Some(r) = seen
                        .send(
                            "session",
                            http.post(format!("{url}/v1/sessions"))
                                .json(&json!({"models": ["sim/echo", "sim/lorem"]})),
                        )
                        .await
                        && let Ok(v) = r.json::<Value>().await
                        && let Some(id) = v["id"].as_str()
                    {
                        session = Some((id.to_string(), 0));
                    }
                }
                if let Some((id, turns)) = &mut session {
                    let body = json!({"session_id": id, "prompt": format!("turn {turns}"),
                        "params": {"max_tokens": 16}});
                    *turns += 1;
                    compare(&seen, &http, url, &body).await;
                }
                "session_turn"
            }
            35..=49 => {
                let body = json!({"model": cfg.chat_model, "stream": true,
                    "messages": [{"role": "user", "content": "soak"}]});
                if let Some(r) = seen
                    .send(
                        "chat_stream",
                        http.post(format!("{url}/v1/chat/completions")).json(&body),
                    )
                    .await
                    && let Err(e) = r.bytes().await
                {
                    seen.error(false, format!("chat_stream body: {e}"));
                }
                "chat_stream"
            }
            50..=59 => {
                let body = json!({"model": cfg.chat_model,
                    "messages": [{"role": "user", "content": "soak"}]});
                if let Some(r) = seen
                    .send(
                        "chat",
                        http.post(format!("{url}/v1/chat/completions")).json(&body),
                    )
                    .await
                    && let Err(e) = r.bytes().await
                {
                    seen.error(false, format!("chat body: {e}"));
                }
                "chat"
            }
            60..=64 => {
                // A comparison cancelled while its slow model waits.
                let body = json!({"prompt": "cancel me", "models": ["sim/slow", "sim/echo"]});
                if let Some(id) = post(&seen, &http, url, &body).await {
                    seen.send("cancel", http.delete(format!("{url}/v1/comparisons/{id}")))
                        .await;
                }
                "cancel"
            }
            65..=74 => {
                if let Some(id) = &finished
                    && let Some(r) = seen
                        .send("snapshot", http.get(format!("{url}/v1/comparisons/{id}")))
                        .await
                {
                    let _ = r.bytes().await;
                }
                "snapshot"
            }
            75..=84 => {
                if let Some(r) = seen
                    .send("leaderboard", http.get(format!("{url}/v1/leaderboard")))
                    .await
                {
                    let _ = r.bytes().await;
                }
                "leaderboard"
            }
            85..=96 => {
                // An agent comparison: each model runs its own tool loop (a server tool).
                let body = json!({"prompt": "square 7 steps=3", "models": ["sim/agent", "sim/agent"],
                    "tools": [cfg.tool], "max_steps": 4});
                compare(&seen, &http, url, &body).await;
                "agent"
            }
            _ => {
                // An evaluation run of three rows, followed to its summary.
                let dataset = "{\"prompt\": \"say ok\", \"assert\": [{\"type\": \"contains\", \"value\": \"ok\"}]}\n\
                               {\"prompt\": \"two\"}\n{\"prompt\": \"three\"}\n";
                let body = json!({"dataset": {"name": "soak.jsonl", "content": dataset},
                    "models": ["sim/echo", "sim/lorem"]});
                if let Some(r) = seen
                    .send("eval", http.post(format!("{url}/v1/evals")).json(&body))
                    .await
                    && let Ok(v) = r.json::<Value>().await
                    && let Some(id) = v["run_id"].as_str()
                    && let Some(r) = seen
                        .send(
                            "eval_stream",
                            http.get(format!("{url}/v1/evals/{id}/stream")),
                        )
                        .await
                    && let Err(e) = r.bytes().await
                {
                    seen.error(false, format!("eval stream: {e}"));
                }
                "eval"
            }
        };
        seen.done(kind);
    }
}

/// `POST /v1/comparisons`: its id.
async fn post(seen: &Seen, http: &reqwest::Client, url: &str, body: &Value) -> Option<String> {
    let r = seen
        .send(
            "post",
            http.post(format!("{url}/v1/comparisons")).json(body),
        )
        .await?;
    let v: Value = r.json().await.ok()?;
    v["request_id"].as_str().map(str::to_string)
}

/// Posts a comparison and reads its stream to `complete`: its id once complete.
async fn compare(seen: &Seen, http: &reqwest::Client, url: &str, body: &Value) -> Option<String> {
    let id = post(seen, http, url, body).await?;
    let r = seen
        .send(
            "stream",
            http.get(format!("{url}/v1/comparisons/{id}/stream")),
        )
        .await?;
    let mut events = r.bytes_stream().eventsource();
    while let Some(e) = events.next().await {
        match e {
            Ok(e) if e.event == "complete" => return Some(id),
            Ok(_) => {}
            Err(e) => {
                seen.error(false, format!("stream {id}: {e}"));
                return None;
            }
        }
    }
    seen.error(false, format!("stream {id} ended before `complete`"));
    None
}

fn count_fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}

fn threads(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// What the server's `/metrics` says of itself.
#[derive(Debug, Default)]
struct Gauges {
    tasks: Option<u64>,
    retained_kib: Option<u64>,
    allocated_kib: Option<u64>,
    resident_kib: Option<u64>,
}

async fn gauges(http: &reqwest::Client, url: &str) -> Gauges {
    let Ok(r) = http.get(format!("{url}/metrics")).send().await else {
        return Gauges::default();
    };
    let text = r.text().await.unwrap_or_default();
    let read = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    let kib = |name: &str| read(name).map(|v| (v / 1024.0) as u64);
    Gauges {
        tasks: read("llm_compare_runtime_tasks").map(|v| v as u64),
        retained_kib: kib("llm_compare_registry_retained_bytes"),
        allocated_kib: kib("llm_compare_allocator_allocated_bytes"),
        resident_kib: kib("llm_compare_allocator_resident_bytes"),
    }
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("?".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

/// Least-squares slope of `ys` against `xs`.
fn slope(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let num: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let den: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    if den == 0.0 { 0.0 } else { num / den }
}

/// Runs the soak; returns its samples, counts and verdicts as JSON.
pub async fn run(cfg: SoakConfig) -> Value {
    let cfg = Arc::new(cfg);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_default();
    let seen = Arc::new(Seen::default());
    let start = Instant::now();
    let until = start + cfg.duration;
    let clients: Vec<_> = (0..cfg.clients)
        .map(|_| tokio::spawn(client(cfg.clone(), http.clone(), seen.clone(), until)))
        .collect();
    let mut samples: Vec<Sample> = Vec::new();
    let mut next = start;
    let mut cpu = CpuTimes::now();
    while Instant::now() < until {
        next += cfg.every;
        tokio::time::sleep_until(next.into()).await;
        let mut window = std::mem::take(&mut *seen.window.lock());
        window.sort_unstable();
        let g = gauges(&http, &cfg.url).await;
        let cpu_now = CpuTimes::now();
        let s = Sample {
            at_s: start.elapsed().as_secs_f64(),
            rss_kib: rss_kib(cfg.pid),
            fds: count_fds(cfg.pid),
            threads: threads(cfg.pid),
            tasks: g.tasks,
            retained_kib: g.retained_kib,
            allocated_kib: g.allocated_kib,
            resident_kib: g.resident_kib,
            wal_kib: cfg.data_dir.as_ref().and_then(|d| {
                std::fs::metadata(d.join("llm-compare.db-wal"))
                    .ok()
                    .map(|m| m.len() / 1024)
            }),
            p99_ms: percentile_ms(&window, 0.99),
            steal_pct: cpu_now.steal_pct_since(&cpu),
            ops: seen.ops.load(Ordering::Relaxed),
            server_errors: seen.server_errors.load(Ordering::Relaxed),
        };
        eprintln!(
            "soak {:>6.0} s: RSS {:.1} MiB (allocated {}, retained {}), WAL {}, {} fds, {} threads, {} tasks, p99 {:.2} ms, steal {:.1} %, {} ops, {} 5xx",
            s.at_s,
            s.rss_kib as f64 / 1024.0,
            mib(s.allocated_kib),
            mib(s.retained_kib),
            mib(s.wal_kib),
            s.fds,
            s.threads,
            s.tasks.map_or("?".into(), |t| t.to_string()),
            s.p99_ms,
            s.steal_pct,
            s.ops,
            s.server_errors
        );
        seen.all.lock().extend(window);
        samples.push(s);
        cpu = cpu_now;
    }
    for c in clients {
        let _ = c.await;
    }
    let secs = start.elapsed().as_secs_f64();
    let warm: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.at_s >= cfg.warmup.as_secs_f64())
        .collect();
    let head = |f: fn(&Sample) -> u64| median(warm.iter().take(3).map(|s| f(s)).collect());
    let tail = |f: fn(&Sample) -> u64| median(warm.iter().rev().take(3).map(|s| f(s)).collect());
    let (rss_base, rss_end) = (head(|s| s.rss_kib), tail(|s| s.rss_kib));
    let (fd_base, fd_end) = (head(|s| s.fds), tail(|s| s.fds));
    let growth = if rss_base == 0 {
        f64::NAN
    } else {
        rss_end as f64 / rss_base as f64 - 1.0
    };
    let xs: Vec<f64> = warm.iter().map(|s| s.at_s / 60.0).collect();
    let ys: Vec<f64> = warm.iter().map(|s| s.rss_kib as f64 / 1024.0).collect();
    let mut all = std::mem::take(&mut *seen.all.lock());
    all.sort_unstable();
    let ops = seen.ops.load(Ordering::Relaxed);
    let server_errors = seen.server_errors.load(Ordering::Relaxed);
    // Flat: connections come and go, so the end (median of the last three samples) may sit
    // a few above the most seen in the first half after the warm-up, not more.
    let first_half = warm.len().div_ceil(2);
    let fd_early_max = warm
        .iter()
        .take(first_half)
        .map(|s| s.fds)
        .max()
        .unwrap_or(0);
    let fd_flat = fd_end <= fd_early_max + 4;
    let enough = warm.len() >= 6;
    json!({
        "seconds": secs,
        "clients": cfg.clients,
        "warmup_s": cfg.warmup.as_secs_f64(),
        "ops": ops,
        "ops_per_s": ops as f64 / secs,
        "by_kind": *seen.by_kind.lock(),
        "server_errors": server_errors,
        "other_errors": seen.other_errors.load(Ordering::Relaxed),
        "first_errors": *seen.first_errors.lock(),
        "p50_ms": percentile_ms(&all, 0.5),
        "p99_ms": percentile_ms(&all, 0.99),
        "rss_start_kib": samples.first().map(|s| s.rss_kib),
        "rss_warm_kib": rss_base,
        "rss_end_kib": rss_end,
        "rss_growth": growth,
        "rss_slope_mib_per_min": slope(&xs, &ys),
        "fd_warm": fd_base,
        "fd_end": fd_end,
        "fd_early_max": fd_early_max,
        "wal_max_kib": samples.iter().filter_map(|s| s.wal_kib).max(),
        "verdicts": {
            "no_5xx": server_errors == 0,
            "rss_growth_under_5pct": enough && growth < 0.05,
            "fd_flat": enough && fd_flat,
        },
        "samples": samples.iter().map(|s| json!({"t_s": s.at_s, "rss_kib": s.rss_kib, "fds": s.fds,
            "threads": s.threads, "tasks": s.tasks,
            "retained_kib": s.retained_kib, "allocated_kib": s.allocated_kib, "resident_kib": s.resident_kib,
            "wal_kib": s.wal_kib, "p99_ms": s.p99_ms, "steal_pct": s.steal_pct, "ops": s.ops,
            "server_errors": s.server_errors})).collect::<Vec<_>>(),
    })
}
