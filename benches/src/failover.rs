//! Failover under load (`load-harness --sections failover`): two servers of a cluster (one
//! Redis registry, one database), clients posting comparisons to one and streaming them
//! from the other; one server is killed with SIGKILL mid-run and restarted a few seconds
//! later. What a client does is what a load balancer's client would: a stream that breaks is
//! resumed on a live server with `Last-Event-ID`. Checked for every comparison: its events
//! arrive once each, in order, with no gap, ending in `complete`; those the killed server was
//! running end `interrupted` once it is back (by its own instance id), the others `completed`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use eventsource_stream::Eventsource;
use futures::StreamExt;
use parking_lot::{Mutex, RwLock};
use serde_json::{Value, json};

/// The servers as clients see them: a URL while a server is up, `None` while it is down
/// (what a load balancer's health check would tell).
#[derive(Debug)]
pub struct Cluster {
    urls: RwLock<Vec<Option<String>>>,
}

impl Cluster {
    /// Servers at `urls`, all up.
    pub fn new(urls: Vec<String>) -> Self {
        Self {
            urls: RwLock::new(urls.into_iter().map(Some).collect()),
        }
    }

    /// Server `i` is down (`None`) or up at `url`.
    pub fn set(&self, i: usize, url: Option<String>) {
        self.urls.write()[i] = url;
    }

    /// Server `i` if it is up, else the next one that is: `(index, url)`.
    fn pick(&self, i: usize) -> Option<(usize, String)> {
        let urls = self.urls.read();
        (0..urls.len())
            .map(|k| (i + k) % urls.len())
            .find_map(|j| urls[j].clone().map(|u| (j, u)))
    }
}

/// What happened to one comparison.
#[derive(Debug, Clone)]
struct Record {
    id: String,
    /// The server it was posted to (and runs on).
    posted_to: usize,
    /// Its events' seqs, as received (across resumes).
    seqs: Vec<u64>,
    /// The `complete` event's status, once seen.
    status: Option<String>,
    /// Streams opened after the first one broke.
    resumes: u32,
    /// From a stream breaking to the next event on another stream, the longest.
    longest_gap: Option<Duration>,
    /// Why it never completed, if it did not.
    error: Option<String>,
}

/// What the clients saw, shared.
#[derive(Debug, Default)]
struct Seen {
    records: Mutex<Vec<Record>>,
    server_errors: AtomicU64,
    /// POSTs that failed on the way (the killed server's connections): tried again elsewhere.
    post_retries: AtomicU64,
    first_errors: Mutex<Vec<String>>,
}

impl Seen {
    fn note(&self, what: String) {
        let mut first = self.first_errors.lock();
        if first.len() < 20 {
            first.push(what);
        }
    }
}

/// The run's shape.
#[derive(Debug, Clone)]
pub struct FailoverConfig {
    /// Concurrent clients, each one comparison at a time.
    pub clients: usize,
    /// How long clients start new comparisons.
    pub duration: Duration,
    /// The comparison each client posts.
    pub body: Value,
    /// How long a comparison may take to complete, resumes included, before it counts as
    /// stuck.
    pub deadline: Duration,
}

/// Posts to server `i` (or the next live one); a POST that fails on the way is tried on the
/// next server. `(server, id)`.
async fn post(
    cluster: &Cluster,
    http: &reqwest::Client,
    seen: &Seen,
    i: usize,
    body: &Value,
) -> Option<(usize, String)> {
    for attempt in 0..4 {
        let (j, url) = cluster.pick(i + attempt)?;
        match http
            .post(format!("{url}/v1/comparisons"))
            .json(body)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => {
                let v: Value = r.json().await.ok()?;
                return v["request_id"].as_str().map(|id| (j, id.to_string()));
            }
            Ok(r) => {
                if r.status().is_server_error() {
                    seen.server_errors.fetch_add(1, Ordering::Relaxed);
                }
                seen.note(format!("POST on {j}: {}", r.status()));
                return None;
            }
            Err(_) => {
                seen.post_retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    None
}

/// Follows comparison `id` to `complete` from server `i` (or the next live one), resuming
/// on a live server with `Last-Event-ID` whenever a stream breaks.
async fn follow(
    cluster: &Cluster,
    http: &reqwest::Client,
    seen: &Seen,
    i: usize,
    mut record: Record,
    deadline: Duration,
) -> Record {
    let start = Instant::now();
    let mut last = 0u64;
    let mut broke: Option<Instant> = None;
    let mut opened = 0u32;
    while start.elapsed() < deadline {
        let Some((_, url)) = cluster.pick(i) else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let r = match http
            .get(format!("{url}/v1/comparisons/{}/stream", record.id))
            .header("last-event-id", last.to_string())
            .send()
            .await
        {
            Ok(r) => r,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if r.status().is_server_error() {
            seen.server_errors.fetch_add(1, Ordering::Relaxed);
            seen.note(format!("stream {}: {}", record.id, r.status()));
        }
        if !r.status().is_success() || r.status() == reqwest::StatusCode::NO_CONTENT {
            record.error = Some(format!("stream answered {}", r.status()));
            break;
        }
        if opened > 0 {
            record.resumes += 1;
        }
        opened += 1;
        let mut events = r.bytes_stream().eventsource();
        // A stream that stays open without an end is a failure to report, not a wait
        // forever: past the deadline it counts as not resumed.
        let until = tokio::time::Instant::from_std(start + deadline);
        while let Ok(Some(Ok(e))) = tokio::time::timeout_at(until, events.next()).await {
            // Events without an id (a notice that the stream ends) are not part of the log.
            let Ok(seq) = e.id.parse::<u64>() else {
                continue;
            };
            if let Some(at) = broke.take() {
                let gap = at.elapsed();
                record.longest_gap = Some(record.longest_gap.map_or(gap, |g| g.max(gap)));
            }
            record.seqs.push(seq);
            last = seq;
            if e.event == "complete" {
                let v: Value = serde_json::from_str(&e.data).unwrap_or(Value::Null);
                record.status = v["status"].as_str().map(str::to_string);
                return record;
            }
        }
        broke.get_or_insert_with(Instant::now);
    }
    if record.error.is_none() {
        record.error = Some(format!("no `complete` within {deadline:?}"));
    }
    record
}

/// One client: comparisons posted to server `i` and followed from server `i + 1`, in turn,
/// until `until`.
async fn client(
    n: usize,
    cluster: Arc<Cluster>,
    http: reqwest::Client,
    seen: Arc<Seen>,
    cfg: Arc<FailoverConfig>,
    until: Instant,
) {
    let mut round = n;
    while Instant::now() < until {
        round += 1;
        let Some((posted_to, id)) = post(&cluster, &http, &seen, round, &cfg.body).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let record = Record {
            id,
            posted_to,
            seqs: Vec::new(),
            status: None,
            resumes: 0,
            longest_gap: None,
            error: None,
        };
        let record = follow(&cluster, &http, &seen, round + 1, record, cfg.deadline).await;
        seen.records.lock().push(record);
    }
}

/// Runs the clients for `cfg.duration`, then waits until every comparison they started has
/// ended (or passed its deadline). The results, as JSON.
pub async fn drive(cluster: Arc<Cluster>, cfg: FailoverConfig) -> Value {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(cfg.clients)
        .build()
        .unwrap_or_default();
    let seen = Arc::new(Seen::default());
    let until = Instant::now() + cfg.duration;
    let cfg = Arc::new(cfg);
    let tasks: Vec<_> = (0..cfg.clients)
        .map(|n| {
            tokio::spawn(client(
                n,
                cluster.clone(),
                http.clone(),
                seen.clone(),
                cfg.clone(),
                until,
            ))
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let records = std::mem::take(&mut *seen.records.lock());
    summarize(
        &records,
        seen.server_errors.load(Ordering::Relaxed),
        seen.post_retries.load(Ordering::Relaxed),
        seen.first_errors.lock().clone(),
    )
}

/// The verdicts over every comparison.
fn summarize(
    records: &[Record],
    server_errors: u64,
    post_retries: u64,
    first_errors: Vec<String>,
) -> Value {
    let in_order = |r: &Record| r.seqs.iter().copied().eq(1..=r.seqs.len() as u64);
    let broken: Vec<&Record> = records
        .iter()
        .filter(|r| r.status.is_none() || !in_order(r))
        .collect();
    let count = |server: usize, status: &str| {
        records
            .iter()
            .filter(|r| r.posted_to == server && r.status.as_deref() == Some(status))
            .count()
    };
    let resumed = records.iter().filter(|r| r.resumes > 0).count();
    let mut gaps: Vec<f64> = records
        .iter()
        .filter(|r| r.posted_to == 1)
        .filter_map(|r| r.longest_gap)
        .map(|g| g.as_secs_f64() * 1000.0)
        .collect();
    gaps.sort_by(f64::total_cmp);
    let examples: Vec<Value> = broken
        .iter()
        .take(5)
        .map(|r| {
            json!({"id": r.id, "posted_to": r.posted_to, "seqs": r.seqs.len(),
            "status": r.status, "error": r.error})
        })
        .collect();
    json!({
        "comparisons": records.len(),
        "resumed": resumed,
        "broken": broken.len(),
        "broken_examples": examples,
        "killed_server": {"completed": count(0, "completed"), "interrupted": count(0, "interrupted")},
        "surviving_server": {"completed": count(1, "completed"), "interrupted": count(1, "interrupted")},
        "resume_gap_ms_max": gaps.last().copied(),
        "resume_gap_ms_p50": gaps.get(gaps.len() / 2).copied(),
        "server_errors": server_errors,
        "post_retries": post_retries,
        "first_errors": first_errors,
        "ids_interrupted": records.iter()
            .filter(|r| r.status.as_deref() == Some("interrupted"))
            .map(|r| r.id.clone()).collect::<Vec<_>>(),
        "verdicts": {
            "no_event_lost_or_duplicated": broken.is_empty(),
            "every_stream_resumed": records.iter().all(|r| r.error.is_none()),
            "only_the_killed_servers_interrupted": count(1, "interrupted") == 0,
            "no_5xx": server_errors == 0,
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn record(posted_to: usize, seqs: Vec<u64>, status: Option<&str>) -> Record {
        Record {
            id: "x".into(),
            posted_to,
            seqs,
            status: status.map(str::to_string),
            resumes: 0,
            longest_gap: None,
            error: None,
        }
    }

    #[test]
    fn a_gap_a_duplicate_or_a_missing_end_is_broken() {
        let ok = record(0, vec![1, 2, 3], Some("interrupted"));
        let gap = record(1, vec![1, 3], Some("completed"));
        let dup = record(1, vec![1, 2, 2, 3], Some("completed"));
        let open = record(1, vec![1, 2], None);
        let v = summarize(std::slice::from_ref(&ok), 0, 0, vec![]);
        assert_eq!(v["verdicts"]["no_event_lost_or_duplicated"], true);
        assert_eq!(v["killed_server"]["interrupted"], 1);
        for bad in [gap, dup, open] {
            let v = summarize(&[ok.clone(), bad], 0, 0, vec![]);
            assert_eq!(v["broken"], 1, "{v}");
            assert_eq!(v["verdicts"]["no_event_lost_or_duplicated"], false);
        }
        let v = summarize(&[record(1, vec![1], Some("interrupted"))], 0, 0, vec![]);
        assert_eq!(v["verdicts"]["only_the_killed_servers_interrupted"], false);
    }

    #[test]
    fn pick_skips_a_server_that_is_down() {
        let c = Cluster::new(vec!["a".into(), "b".into()]);
        assert_eq!(c.pick(0).unwrap().1, "a");
        assert_eq!(c.pick(3).unwrap().1, "b");
        c.set(0, None);
        assert_eq!(c.pick(0).unwrap(), (1, "b".into()));
        c.set(1, None);
        assert!(c.pick(0).is_none());
    }
}
