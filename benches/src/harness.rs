//! Pieces of the load harness (`load-harness`, run by `benches/load/run`): the processes it
//! starts (an `llm-compare serve`, a LiteLLM proxy) and stops, their resident memory, and the
//! load generator it drives (`oha`, at a fixed rate with latency correction, or flat out).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A child process (in a process group of its own, so its workers go with it), stopped on drop.
#[derive(Debug)]
pub struct Proc {
    child: Child,
    /// Where it listens (`http://127.0.0.1:PORT`).
    pub url: String,
    /// Its working directory, removed on drop.
    dir: Option<PathBuf>,
}

impl Proc {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its data directory (the SQLite database, its WAL).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Resident memory of the process and its descendants, in KiB.
    pub fn rss_kib(&self) -> u64 {
        tree_rss_kib(self.pid())
    }

    /// Kills it with SIGKILL (no shutdown of any kind) and returns its data directory, kept
    /// for a restart.
    pub fn kill_9(mut self) -> Option<PathBuf> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.dir.take()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // The whole group: LiteLLM's uvicorn workers are children of the command we started.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-s", "TERM", "--", &group])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A fresh directory under the system temp dir.
pub fn temp_dir(name: &str) -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!(
        "llm-compare-load-{name}-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Starts `llm-compare serve` (binary `bin`) with `config` as its configuration file, a data
/// directory of its own, logs at `warn` into `log` and `env` on top; returns once it prints
/// where it listens.
pub fn serve(bin: &Path, config: &str, env: &[(&str, &str)], log: &Path) -> Result<Proc, String> {
    serve_in(
        temp_dir("serve").map_err(|e| e.to_string())?,
        bin,
        config,
        env,
        log,
    )
}

/// Mints an API key in data directory `dir` as an operator does (`llm-compare keys create`);
/// returns the secret.
pub fn mint_key(bin: &Path, dir: &Path, user: &str) -> Result<String, String> {
    let out = Command::new(bin)
        .args(["keys", "--data-dir"])
        .arg(dir)
        .args(["create", "--user", user])
        .env_remove("LLM_COMPARE_DATABASE_URL")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "llm-compare keys create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// [`serve`] with data directory `dir` (keys minted into it are the server's).
pub fn serve_in(
    dir: PathBuf,
    bin: &Path,
    config: &str,
    env: &[(&str, &str)],
    log: &Path,
) -> Result<Proc, String> {
    let path = dir.join("llm-compare.toml");
    std::fs::write(&path, config).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(bin);
    cmd.arg("--config")
        .arg(&path)
        .args(["serve", "--bind", "127.0.0.1:0", "--no-ui"])
        .env("LLM_COMPARE_LOG", "warn")
        .env("LLM_COMPARE_DATA_DIR", &dir)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?)
        .process_group(0);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(|e| {
        format!(
            "cannot start {}: {e} (build it: cargo build --release -p llm-compare-http)",
            bin.display()
        )
    })?;
    let Some(out) = child.stdout.take() else {
        return Err("no stdout".into());
    };
    let mut line = String::new();
    let _ = BufReader::new(out).read_line(&mut line);
    let mut proc = Proc {
        child,
        url: String::new(),
        dir: Some(dir),
    };
    match line.trim().rsplit(' ').next() {
        Some(url) if url.starts_with("http://") => {
            proc.url = url.to_string();
            Ok(proc)
        }
        _ => Err(format!(
            "llm-compare serve did not start (printed {line:?})"
        )),
    }
}

/// Starts a LiteLLM proxy (`litellm`, the venv's executable) on `port` with one model,
/// `model`, served by the OpenAI-compatible `upstream` (`http://HOST:PORT/v1`), offline, and
/// waits until it answers (up to 3 minutes: it imports a lot).
pub fn litellm(
    bin: &Path,
    port: u16,
    model: &str,
    upstream: &str,
    workers: u32,
) -> Result<Proc, String> {
    // It runs in a directory of its own: a relative path would be resolved from there.
    let bin = std::fs::canonicalize(bin).map_err(|e| format!("{}: {e}", bin.display()))?;
    let dir = temp_dir("litellm").map_err(|e| e.to_string())?;
    let config = format!(
        "model_list:\n  - model_name: {model}\n    litellm_params:\n      model: openai/{model}\n      \
         api_base: {upstream}\n      api_key: sk-mock\n\
         litellm_settings:\n  telemetry: false\n  drop_params: true\n  set_verbose: false\n\
         general_settings:\n  disable_spend_logs: true\n  \
         dangerously_permit_weak_or_unset_master_key: true\n"
    );
    let path = dir.join("litellm.yaml");
    std::fs::write(&path, config).map_err(|e| e.to_string())?;
    let log = std::fs::File::create(dir.join("litellm.log")).map_err(|e| e.to_string())?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new(&bin)
        .arg("--config")
        .arg(&path)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--num_workers",
            &workers.to_string(),
            "--telemetry",
            "False",
        ])
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env("LITELLM_LOG", "ERROR")
        .env("NO_DOCS", "True")
        .current_dir(&dir)
        .stdout(log)
        .stderr(log2)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let proc = Proc {
        child,
        url: format!("http://127.0.0.1:{port}"),
        dir: Some(dir.clone()),
    };
    let deadline = Instant::now() + Duration::from_secs(180);
    let probe = format!("127.0.0.1:{port}");
    while Instant::now() < deadline {
        if http_get_ok(&probe, "/health/liveliness") {
            return Ok(proc);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let log = std::fs::read_to_string(dir.join("litellm.log")).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(15).collect();
    Err(format!(
        "LiteLLM did not answer within 3 minutes; its log ends:\n{}",
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    ))
}

/// A blocking `GET path` over plain HTTP/1.1: true on a 200.
fn http_get_ok(addr: &str, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// A free TCP port on loopback (bound, then released).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `VmRSS` of one process, in KiB (0 if it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}

/// `VmHWM` of one process — its peak resident memory so far — in KiB (0 if it is gone).
pub fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:")
}

fn status_kib(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// `VmRSS` of a process and all its descendants, in KiB.
pub fn tree_rss_kib(pid: u32) -> u64 {
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    rss_kib(pid)
        + children
            .split_whitespace()
            .filter_map(|c| c.parse().ok())
            .map(tree_rss_kib)
            .sum::<u64>()
}

/// One load-generator run: what was asked and what came back (latencies in ms).
#[derive(Debug, Clone)]
pub struct LoadRun {
    /// The fixed rate asked for (`None`: as fast as it goes).
    pub target_rps: Option<u64>,
    /// The rate achieved.
    pub rps: f64,
    /// Requests answered with a 2xx status.
    pub ok: u64,
    /// Requests that failed (other status, connection error, time-out).
    pub errors: u64,
    /// Latency percentiles, ms.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Slowest.
    pub max: f64,
    /// The share of the machine's CPU time the hypervisor gave to others while it ran (%):
    /// a number measured while it is high says more about the host than about the code.
    pub steal_pct: f64,
}

impl LoadRun {
    /// Whether the run held its target: ≥ 95 % of the rate asked for, and ≥ 99.9 % answered.
    pub fn sustained(&self) -> bool {
        let total = (self.ok + self.errors).max(1) as f64;
        let held = self.target_rps.is_none_or(|t| self.rps >= 0.95 * t as f64);
        held && self.ok as f64 / total >= 0.999
    }
}

/// The load generator: `oha` sending `body` (JSON) to `url` by POST (GET without a body).
#[derive(Debug, Clone)]
pub struct Oha {
    /// The `oha` executable.
    pub bin: PathBuf,
    /// Connections it keeps open.
    pub connections: u32,
    /// Headers sent with every request (`Authorization: Bearer …`).
    pub headers: Vec<String>,
}

impl Oha {
    /// Runs `oha` for `seconds`, at `rate` requests/s with latency correction (latency counted
    /// from when each request was due, so a stall is not hidden: no coordinated omission), or
    /// flat out when `rate` is `None`.
    pub fn run(
        &self,
        url: &str,
        body: Option<&str>,
        rate: Option<u64>,
        seconds: u64,
    ) -> Result<LoadRun, String> {
        let mut cmd = Command::new(&self.bin);
        // Keep-alive connections (oha's default), as a proxy's clients use them.
        cmd.args(["--no-tui", "--output-format", "json", "-w"])
            .args(["-z", &format!("{seconds}s")])
            .args(["-c", &self.connections.to_string()]);
        if let Some(r) = rate {
            cmd.args(["-q", &r.to_string(), "--latency-correction"]);
        }
        for h in &self.headers {
            cmd.args(["-H", h]);
        }
        if let Some(b) = body {
            cmd.args([
                "-m",
                "POST",
                "-H",
                "content-type: application/json",
                "-d",
                b,
            ]);
        }
        cmd.arg(url);
        let before = CpuTimes::now();
        let out = cmd
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.bin.display()))?;
        let steal_pct = CpuTimes::now().steal_pct_since(&before);
        if !out.status.success() {
            return Err(format!("oha failed: {}", out.status));
        }
        let v: Value = serde_json::from_slice(&out.stdout)
            .map_err(|e| format!("oha printed no JSON ({e})"))?;
        Ok(LoadRun {
            steal_pct,
            ..parse_oha(&v, rate)?
        })
    }
}

/// Reads `oha --output-format json`: the latency percentiles (seconds), the rate and the
/// status codes.
pub fn parse_oha(v: &Value, rate: Option<u64>) -> Result<LoadRun, String> {
    let ms = |key: &str| {
        v["latencyPercentiles"][key]
            .as_f64()
            .map_or(f64::NAN, |s| s * 1e3)
    };
    let (mut ok, mut other) = (0, 0);
    for (code, n) in v["statusCodeDistribution"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let n = n.as_u64().unwrap_or(0);
        if code.starts_with('2') {
            ok += n;
        } else {
            other += n;
        }
    }
    let failed: u64 = v["errorDistribution"]
        .as_object()
        .map(|m| m.values().filter_map(Value::as_u64).sum())
        .unwrap_or(0);
    let rps = v["summary"]["requestsPerSec"]
        .as_f64()
        .ok_or("oha's JSON has no summary.requestsPerSec")?;
    Ok(LoadRun {
        target_rps: rate,
        rps,
        ok,
        errors: other + failed,
        p50: ms("p50"),
        p90: ms("p90"),
        p99: ms("p99"),
        p999: ms("p99.9"),
        max: v["summary"]["slowest"]
            .as_f64()
            .map_or(f64::NAN, |s| s * 1e3),
        steal_pct: f64::NAN,
    })
}

/// The machine's CPU time so far, all CPUs together (`/proc/stat`'s `cpu` line, in ticks):
/// on a virtual machine, `steal` is the time its vCPUs were ready to run and the host ran
/// something else — other guests. Two boots of the "same" machine differ mostly in that.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    /// Every state's ticks (user … steal; guest time is already inside user and nice).
    pub total: u64,
    /// Ticks stolen by the hypervisor.
    pub steal: u64,
}

impl CpuTimes {
    /// Now (zero where `/proc/stat` cannot be read: steal then reads as NaN).
    pub fn now() -> Self {
        std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|s| Self::parse(&s))
            .unwrap_or_default()
    }

    /// Reads the `cpu` line of `/proc/stat`'s text.
    pub fn parse(stat: &str) -> Option<Self> {
        let line = stat.lines().find(|l| l.starts_with("cpu "))?;
        let ticks: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .take(8) // user nice system idle iowait irq softirq steal
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        Some(Self {
            total: ticks.iter().sum(),
            steal: *ticks.get(7)?,
        })
    }

    /// The share of the CPU time since `before` that was stolen, in % (NaN over no time).
    pub fn steal_pct_since(&self, before: &Self) -> f64 {
        let total = self.total.saturating_sub(before.total);
        if total == 0 {
            return f64::NAN;
        }
        self.steal.saturating_sub(before.steal) as f64 * 100.0 / total as f64
    }
}

/// The `q`-quantile (0..=1) of sorted durations, in ms.
pub fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_real_oha_report() {
        // `oha --output-format json` 1.16: 300 requests at 1,000 req/s to the mock upstream.
        let v: Value = serde_json::from_str(include_str!("../tests/data/oha-1.16.json")).unwrap();
        let r = parse_oha(&v, Some(1000)).unwrap();
        assert_eq!((r.ok, r.errors), (300, 0));
        assert!((r.rps - 999.055).abs() < 0.01, "{}", r.rps);
        assert!((r.p50 - 0.248677).abs() < 1e-6, "{}", r.p50);
        assert!((r.p99 - 0.635655).abs() < 1e-6, "{}", r.p99);
        assert!((r.max - 0.997942).abs() < 1e-6, "{}", r.max);
        assert!(r.sustained());
    }

    #[test]
    fn failures_and_a_missed_rate_are_not_sustained() {
        let v = json!({"summary": {"requestsPerSec": 990.0, "slowest": 0.5},
            "latencyPercentiles": {"p50": 0.001, "p90": 0.002, "p99": 0.003, "p99.9": 0.004},
            "statusCodeDistribution": {"200": 9000, "201": 900, "502": 100},
            "errorDistribution": {"connection closed": 5}});
        let r = parse_oha(&v, Some(1000)).unwrap();
        assert_eq!((r.ok, r.errors), (9900, 105));
        assert!(!r.sustained(), "1 % failed");
        let slow = json!({"summary": {"requestsPerSec": 900.0},
            "latencyPercentiles": {}, "statusCodeDistribution": {"200": 100}});
        let r = parse_oha(&slow, Some(1000)).unwrap();
        assert!(!r.sustained(), "90 % of the rate");
        assert!(r.p50.is_nan());
        assert!(parse_oha(&json!({}), None).is_err());
    }

    #[test]
    fn steal_is_the_stolen_share_of_all_cpu_time() {
        // Two reads of a 2-vCPU guest's /proc/stat, 5 s apart (100 ticks/s: 1,000 ticks).
        let a = CpuTimes::parse(
            "cpu  258568 0 35221 82354 1163 0 2517 5918 0 0\ncpu0 129000 0 17000 41000 500 0 1200 2900 0 0\n",
        )
        .unwrap();
        let b = CpuTimes::parse("cpu  258726 0 35384 82784 1165 0 2573 6164 0 0\n").unwrap();
        assert_eq!(a.steal, 5918);
        assert_eq!(b.total - a.total, 1055);
        let pct = b.steal_pct_since(&a);
        assert!((pct - 246.0 * 100.0 / 1055.0).abs() < 1e-9, "{pct}");
        assert!(a.steal_pct_since(&a).is_nan(), "no time passed");
        assert_eq!(CpuTimes::parse("intr 1 2 3\n"), None);
        assert_eq!(CpuTimes::parse("cpu  1 2 3\n"), None, "no steal column");
    }

    #[test]
    fn percentiles_of_sorted_durations() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&d, 0.5), 51.0);
        assert_eq!(percentile_ms(&d, 1.0), 100.0);
        assert!(percentile_ms(&[], 0.5).is_nan());
    }
}
