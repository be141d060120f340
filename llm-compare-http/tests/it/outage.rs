//! Infrastructure outages under a running server: a PostgreSQL this test starts itself (its
//! own data directory and port — CI's shared database is never touched) is stopped while a
//! comparison streams. New requests answer 503 `unavailable` with `Retry-After` at once, the
//! running comparison streams on, `/ready` says not ready, and once the database is back its
//! results are written and new requests succeed, without a restart.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use eventsource_stream::Eventsource;
use futures::StreamExt;
use llm_compare_core::{RequestStatus, SimConfig};
use llm_compare_http::{AppState, ServerOptions};
use llm_compare_service::SqlStore;
use llm_compare_service::roles::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common;
use common::*;

const KEY: &str = "KEY-A";

/// The PostgreSQL server binaries (Debian's layout), if installed.
fn pg_bin() -> Option<PathBuf> {
    if let Ok(dir) = std::env::var("LLM_COMPARE_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("pg_ctl").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// A PostgreSQL of this test's own: `initdb` into a temporary directory, on a free port.
struct Throwaway {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl Throwaway {
    /// Runs a server binary, as the `postgres` user when this is root (PostgreSQL refuses
    /// to run as root).
    fn run(&self, tool: &str, args: &[&str]) {
        let exe = self.bin.join(tool);
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        let mut cmd = if root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{tool} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn new(bin: PathBuf) -> Self {
        let dir = std::env::temp_dir().join(format!("llm-compare-pg-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = Command::new("chown")
            .args(["postgres:postgres", dir.to_str().unwrap()])
            .status();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = Self { bin, dir, port };
        let data = pg.data();
        pg.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        );
        pg
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&self) {
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("log").display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-o", &opts, "-l", &log, "-w", "start"],
        );
    }

    /// Stops it the hard way (as a crash or a network cut would look to the server).
    fn stop(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }
}

impl Drop for Throwaway {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn options() -> ServerOptions {
    ServerOptions {
        api_keys: vec![("alice".into(), KEY.into())],
        ..ServerOptions::default()
    }
}

async fn post_comparison(s: &Server, body: &Value) -> reqwest::Response {
    client()
        .post(format!("{}/v1/comparisons", s.url))
        .bearer_auth(KEY)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// While the database or Redis is down: a POST is refused with 503 `unavailable` and
/// `Retry-After` within 2 s, and `/ready` says not ready. Returns how long the POST took.
async fn refused_while_down(s: &Server, body: &Value) -> Duration {
    let t = Instant::now();
    let r = post_comparison(s, body).await;
    let took = t.elapsed();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.headers().contains_key("retry-after"));
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "unavailable", "{e}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    let r = client()
        .get(format!("{}/ready", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    took
}

/// Once it is back: POSTs until one is accepted (503 until then), and `/ready` is ready.
/// Returns how long that took.
async fn accepted_again(s: &Server, body: &Value) -> Duration {
    let t = Instant::now();
    let took = loop {
        let r = post_comparison(s, body).await;
        if r.status() == StatusCode::CREATED {
            break t.elapsed();
        }
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(t.elapsed() < Duration::from_secs(20), "never recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let r = client()
        .get(format!("{}/ready", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    took
}

#[tokio::test]
async fn a_database_outage_is_503_running_comparisons_go_on_and_nothing_is_lost() {
    let Some(bin) = pg_bin() else {
        if std::env::var("LLM_COMPARE_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
            panic!(
                "PostgreSQL's server binaries are not installed but LLM_COMPARE_REQUIRE_SERVICES=1"
            );
        }
        eprintln!(
            "SKIPPED the database outage test: no PostgreSQL server binaries (apt-get install postgresql)"
        );
        return;
    };
    let pg = Throwaway::new(bin);
    pg.start();
    let store = SqlStore::open(&pg.url()).await.unwrap();
    // 20 tokens/s: a 40-token answer streams for 2 s, across the outage.
    let sim = SimConfig {
        ttft: Duration::from_millis(5),
        slow_ttft: Duration::from_secs(30),
        tokens_per_s: 20.0,
    };
    let (engine, sim) = sim_engine(sim);
    let state = AppState::with_store(engine, options(), Some(store.clone()));
    let s = start_state(state, sim).await;
    let body = json!({"prompt": "tell me", "models": ["sim/lorem", "sim/echo"], "params": {"max_tokens": 40}});

    // A comparison is streaming when the database goes away.
    let r = post_comparison(&s, &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let running = r.json::<Value>().await.unwrap()["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let resp = client()
        .get(format!("{}/v1/comparisons/{running}/stream", s.url))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    let mut events = resp.bytes_stream().eventsource();
    loop {
        let e = events.next().await.unwrap().unwrap();
        if e.event == "response_chunk" {
            break;
        }
    }
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(Ok(e)) = events.next().await {
            let data: Value = serde_json::from_str(&e.data).unwrap();
            seen.push((e.event, data));
        }
        seen
    });
    pg.stop();

    // New work: 503 `unavailable` with Retry-After, promptly (no hang, no 500).
    let detection = refused_while_down(&s, &body).await;
    eprintln!("database outage detected by POST in {detection:?}");
    // Reads that need the database say so too.
    let r = client()
        .get(format!("{}/v1/usage", s.url))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);

    // The running comparison streamed to its end regardless.
    let seen = reader.await.unwrap();
    let (last, complete) = seen.last().unwrap();
    assert_eq!(last, "complete");
    assert_eq!(complete["status"], "completed", "{complete}");
    assert!(seen.iter().all(|(t, _)| t != "error"), "{seen:?}");

    // The database comes back: new requests succeed without a restart.
    pg.start();
    let recovered = accepted_again(&s, &body).await;
    eprintln!("POST succeeded {recovered:?} after the database was back");

    // What the comparison wrote during the outage is in the database now.
    let t = Instant::now();
    let stored = loop {
        let c = store.comparison("alice", &running).await.unwrap().unwrap();
        if c.status == RequestStatus::Completed || t.elapsed() > Duration::from_secs(10) {
            break c;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!(
        "the outage's writes were on disk {:?} after recovery",
        t.elapsed()
    );
    assert_eq!(stored.status, RequestStatus::Completed);
    assert_eq!(stored.models.len(), 2);
    for m in &stored.models {
        let r = m.result.as_ref().expect("result written after the outage");
        assert!(r.error.is_none() && !m.text.is_empty(), "{m:?}");
    }
    assert!(stored.totals.is_some());
}

/// A Redis of this test's own, on a free port, that can be paused (SIGSTOP: it neither
/// answers nor refuses — the hard case, found only by timeouts) and resumed.
struct PausableRedis {
    child: std::process::Child,
    port: u16,
}

impl PausableRedis {
    async fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let r = Self { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(r);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }
}

impl Drop for PausableRedis {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SSE events of `id` after `after` (id, type, data) until the stream ends.
async fn sse(base: &str, id: &str, after: Option<u64>) -> Vec<(Option<u64>, String, Value)> {
    let mut r = client()
        .get(format!("{base}/v1/comparisons/{id}/stream"))
        .bearer_auth(KEY);
    if let Some(n) = after {
        r = r.header("last-event-id", n.to_string());
    }
    let resp = r.send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    llm_compare_testkit::sse::frames(resp, usize::MAX).await
}

#[tokio::test]
async fn a_redis_outage_is_503_streams_end_typed_and_resume_after_recovery() {
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        if std::env::var("LLM_COMPARE_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
            panic!("redis-server is not installed but LLM_COMPARE_REQUIRE_SERVICES=1");
        }
        eprintln!("SKIPPED the Redis outage test: no redis-server (apt-get install redis-server)");
        return;
    }
    let redis = PausableRedis::start().await.expect("redis-server starts");
    let options = options();
    let registry = llm_compare_service::RedisRegistry::connect(
        &redis.url(),
        "llm-compare-outage",
        options.registry,
    )
    .await
    .unwrap();
    let sim = SimConfig {
        ttft: Duration::from_millis(5),
        slow_ttft: Duration::from_secs(30),
        tokens_per_s: 20.0,
    };
    let (engine, sim) = sim_engine(sim);
    let state = AppState::with_backend(
        engine,
        options,
        None,
        llm_compare_http::Backend::Redis(registry),
    );
    let s = start_state(state, sim).await;
    let body = json!({"prompt": "tell me", "models": ["sim/lorem", "sim/echo"], "params": {"max_tokens": 40}});
    let r = post_comparison(&s, &body).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    // A reader is on the stream, and has had its first event, when Redis stops answering.
    let reader = {
        let resp = client()
            .get(format!("{}/v1/comparisons/{id}/stream", s.url))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let mut reader = llm_compare_testkit::sse::Reader::new(resp);
        let first = reader.next().await.expect("a first event");
        tokio::spawn(async move {
            let mut all = vec![first];
            all.extend(reader.rest().await);
            all
        })
    };
    redis.signal("-STOP");

    let detection = refused_while_down(&s, &body).await;
    eprintln!("Redis outage detected by POST in {detection:?}");

    // The open stream ends with a typed, retryable `unavailable` notice (no SSE id).
    let t = Instant::now();
    let first = reader.await.unwrap();
    eprintln!(
        "the open stream ended {:?} after the 503s (POST and /ready)",
        t.elapsed()
    );
    let (notice_id, kind, notice) = first.last().unwrap();
    assert_eq!(kind, "error", "{first:?}");
    assert_eq!(notice["code"], "unavailable");
    assert_eq!(notice["retryable"], true);
    // A notice has no id of its own: the client's Last-Event-ID stays the last real event's.
    let seen: Vec<u64> = first[..first.len() - 1]
        .iter()
        .filter_map(|e| e.0)
        .collect();
    let last_seen = *seen.last().unwrap();
    assert_eq!(
        *notice_id,
        Some(last_seen),
        "a notice is not part of the log"
    );

    // Redis is back: recovery is automatic, and the client resumes where it was.
    redis.signal("-CONT");
    let recovered = accepted_again(&s, &body).await;
    eprintln!("POST succeeded {recovered:?} after Redis was back");
    let rest = sse(&s.url, &id, Some(last_seen)).await;
    let (_, kind, complete) = rest.last().unwrap();
    assert_eq!(kind, "complete", "{rest:?}");
    assert_eq!(complete["status"], "completed", "{complete}");
    // Every event exactly once across the outage: 1, 2, … without gap or duplicate.
    let all: Vec<u64> = seen
        .iter()
        .copied()
        .chain(rest.iter().filter_map(|e| e.0))
        .collect();
    let expected: Vec<u64> = (1..=*all.last().unwrap()).collect();
    assert_eq!(all, expected);
}
