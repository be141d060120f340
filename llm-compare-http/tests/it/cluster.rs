//! Two servers sharing one Redis registry (and one database): POST on A, stream on B, resume
//! on A with `Last-Event-ID`; per-user active limits and cancels across servers.
//!
//! Needs `LLM_COMPARE_TEST_REDIS_URL` (CI sets it and `LLM_COMPARE_REQUIRE_SERVICES=1`, which
//! turns a missing Redis into a failure instead of a skip).

use std::time::Duration;

use futures::StreamExt;
use llm_compare_core::registry::numbered;
use llm_compare_core::{
    Complete, EventKind, NewRequest, RequestRegistry, RequestStatus, SimConfig, Totals,
};
use llm_compare_http::{AppState, Backend, ServerOptions};
use llm_compare_service::{ComparisonStore, NewComparison, RedisRegistry, SqlStore};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common;
use common::*;

const KEY: &str = "KEY-A";

/// Two servers on one Redis (keys under a prefix of their own) and one SQLite file.
async fn cluster(url: &str) -> (Server, Server) {
    let (a, b, _) = cluster_with(url, |_| {}).await;
    (a, b)
}

/// [`cluster`] with options of its own, and the servers' registries.
async fn cluster_with(
    url: &str,
    tune: impl Fn(&mut ServerOptions),
) -> (Server, Server, Vec<RedisRegistry>) {
    let prefix = format!("llm-compare-test-{}", uuid::Uuid::now_v7());
    let db = std::env::temp_dir().join(format!("llm-compare-cluster-{}.db", uuid::Uuid::now_v7()));
    let db = format!("sqlite://{}", db.display());
    let mut servers = Vec::new();
    let mut registries = Vec::new();
    for name in ["a", "b"] {
        let mut options = ServerOptions {
            api_keys: vec![("alice".into(), KEY.into()), ("bob".into(), "KEY-B".into())],
            instance_id: format!("server-{name}"),
            ..ServerOptions::default()
        };
        tune(&mut options);
        let redis = RedisRegistry::connect(url, &prefix, options.registry)
            .await
            .unwrap();
        registries.push(redis.clone());
        let store = SqlStore::open(&db).await.unwrap();
        let (engine, sim) = sim_engine(SimConfig {
            ttft: Duration::from_millis(5),
            slow_ttft: Duration::from_secs(30),
            tokens_per_s: 200.0,
        });
        let state = AppState::with_backend(engine, options, Some(store), Backend::Redis(redis));
        servers.push(start_state(state, sim).await);
    }
    let b = servers.pop().unwrap();
    let a = servers.pop().unwrap();
    (a, b, registries)
}

/// A Redis server of the test's own (its connections are the test's to count), stopped
/// when dropped.
struct OwnRedis {
    child: std::process::Child,
    url: String,
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn own_redis() -> OwnRedis {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("llm-compare-redis-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let child = std::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server (Debian's package) runs the cluster tests");
    // Killed and waited for on drop, or below if it never answers.
    let mut own = OwnRedis {
        child,
        url: format!("redis://127.0.0.1:{port}"),
    };
    let url = own.url.clone();
    // Ready when it answers.
    let client = redis::Client::open(url.as_str()).unwrap();
    for _ in 0..500 {
        if let Ok(mut c) = client.get_multiplexed_async_connection().await
            && redis::cmd("PING")
                .query_async::<String>(&mut c)
                .await
                .is_ok()
        {
            return own;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = own.child.kill();
    panic!("redis-server did not start on {port}");
}

/// Issue 45: each open SSE stream held a Redis connection of its own (a blocking `XREAD`),
/// so Redis's `maxclients` capped a cluster's streams. Now 1,000 streams on a server that
/// does not run their comparisons take no connection each: the test counts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_open_streams_hold_at_most_sixteen_redis_connections() {
    if common::redis_url("cluster tests").is_none() {
        return;
    }
    let redis = own_redis().await;
    let (a, b, registries) = cluster_with(&redis.url, |o| {
        o.registry.max_active_per_owner = 2_000;
        o.requests_per_minute = 0;
        // Every stream comes from this one address.
        o.max_connections_per_client = 10_000;
        o.max_streams_per_user = 10_000;
    })
    .await;
    // One client for all (building one per request costs milliseconds of CPU each).
    let http = client();
    let slow = json!({"prompt": "take your time", "models": ["sim/slow"]});
    let ids: Vec<String> = futures::stream::iter(0..1_000)
        .map(|_| {
            let request = http
                .post(format!("{}/v1/comparisons", a.url))
                .bearer_auth(KEY)
                .json(&slow);
            async move {
                let r = request.send().await.unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
                r.json::<Value>().await.unwrap()["request_id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    // Every stream opened on B: none of them runs there.
    let t0 = std::time::Instant::now();
    let streams: Vec<(String, reqwest::Response)> = futures::stream::iter(ids.iter())
        .map(|id| {
            let request = http
                .get(format!("{}/v1/comparisons/{id}/stream", b.url))
                .bearer_auth(KEY);
            async move {
                let r = request.send().await.unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                (id.clone(), r)
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert_eq!(registries[1].readers(), 1_000);
    let admin = redis::Client::open(redis.url.as_str()).unwrap();
    let mut conn = admin.get_multiplexed_async_connection().await.unwrap();
    let list: String = redis::cmd("CLIENT")
        .arg("LIST")
        .query_async(&mut conn)
        .await
        .unwrap();
    // Both servers' connections, and this test's one.
    let servers = list.lines().count() - 1;
    assert!(
        servers <= 16,
        "{servers} connections for 1,000 streams:\n{list}"
    );
    // And they are live: a comparison that finishes on A streams whole on B.
    let id = {
        let r = post(&a, json!({"prompt": "across", "models": ["sim/echo"]})).await;
        r.json::<Value>().await.unwrap()["request_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let events = read_sse(&b, Some(KEY), &id, None, 10_000).await;
    assert_eq!(events.last().unwrap().1, "complete");
    assert_eq!(seqs(&events), (1..=events.len() as u64).collect::<Vec<_>>());
    // A cancel on A reaches the reader on B.
    let (cancelled, mut first) = streams.into_iter().next().unwrap();
    let r = call(
        &a,
        Method::DELETE,
        &format!("/v1/comparisons/{cancelled}"),
        Some(KEY),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let mut text = String::new();
    while let Some(chunk) = first.chunk().await.unwrap() {
        text.push_str(&String::from_utf8_lossy(&chunk));
        if text.contains("event: complete") {
            break;
        }
    }
    assert!(text.contains("\"cancelled\""), "{text}");
    eprintln!(
        "{servers} Redis connections held by two servers for 1,000 open streams ({:?} to open them and check)",
        t0.elapsed()
    );
    // The rest end with the servers (dropped here).
}

async fn post(s: &Server, body: Value) -> reqwest::Response {
    call(s, Method::POST, "/v1/comparisons", Some(KEY), Some(body)).await
}

#[tokio::test]
async fn post_on_a_stream_on_b_resume_on_a_without_gap_or_duplicate() {
    let Some(url) = common::redis_url("cluster tests") else {
        return;
    };
    let (a, b) = cluster(&url).await;
    let r = post(
        &a,
        json!({"prompt": "stream me across servers", "models": ["sim/lorem", "sim/echo"], "params": {"max_tokens": 60}}),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Stream on B, drop the connection after a few events.
    let first = read_sse(&b, Some(KEY), &id, None, 12).await;
    assert_eq!(first.len(), 12);
    let last = first.last().unwrap().0.unwrap();
    // Resume on A where B left off.
    let rest = read_sse(&a, Some(KEY), &id, Some(last), 10_000).await;
    assert_eq!(rest.last().unwrap().1, "complete");
    let all: Vec<u64> = seqs(&first).into_iter().chain(seqs(&rest)).collect();
    let expected: Vec<u64> = (1..=all.len() as u64).collect();
    assert_eq!(all, expected, "no gap, no duplicate");
    // The text reassembled from both halves is the model's whole answer.
    let text: String = first
        .iter()
        .chain(&rest)
        .filter(|e| e.1 == "response_chunk" && e.2["model_index"] == 0)
        .map(|e| e.2["delta"].as_str().unwrap())
        .collect();
    let complete = &rest.last().unwrap().2;
    assert_eq!(complete["results"][0]["text"].as_str().unwrap(), text);
    // Either server has the snapshot; another user has nothing anywhere.
    for s in [&a, &b] {
        let snap = call(
            s,
            Method::GET,
            &format!("/v1/comparisons/{id}"),
            Some(KEY),
            None,
        )
        .await;
        assert_eq!(snap.status(), StatusCode::OK);
        let snap: Value = snap.json().await.unwrap();
        assert_eq!(snap["status"], "completed");
        assert_eq!(snap["models"][0]["text"].as_str().unwrap(), text);
        let other = call(
            s,
            Method::GET,
            &format!("/v1/comparisons/{id}"),
            Some("KEY-B"),
            None,
        )
        .await;
        assert_eq!(other.status(), StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn the_sixth_active_request_is_refused_on_either_server_and_cancels_cross_over() {
    let Some(url) = common::redis_url("cluster tests") else {
        return;
    };
    let (a, b) = cluster(&url).await;
    let slow = json!({"prompt": "take your time", "models": ["sim/slow"]});
    let mut ids = Vec::new();
    for i in 0..5 {
        let s = if i % 2 == 0 { &a } else { &b };
        let r = post(s, slow.clone()).await;
        assert_eq!(r.status(), StatusCode::CREATED, "request {i}");
        ids.push(
            r.json::<Value>().await.unwrap()["request_id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    for s in [&a, &b] {
        let r = post(s, slow.clone()).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(r.headers().contains_key("retry-after"));
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["code"], "rate_limited");
    }
    // Another user is not affected.
    let r = call(
        &b,
        Method::POST,
        "/v1/comparisons",
        Some("KEY-B"),
        Some(slow.clone()),
    )
    .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    // Cancel on B a request that runs on A: A stops its upstream call and frees the slot.
    assert!(a.sim.active_streams() > 0);
    let r = call(
        &b,
        Method::DELETE,
        &format!("/v1/comparisons/{}", ids[0]),
        Some(KEY),
        None,
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let events = read_sse(&b, Some(KEY), &ids[0], None, 10_000).await;
    assert_eq!(events.last().unwrap().2["status"], "cancelled");
    let r = post(&b, slow.clone()).await;
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "the cancelled request's slot is free"
    );
    for id in ids.iter().skip(1) {
        for s in [&a, &b] {
            let _ = call(
                s,
                Method::DELETE,
                &format!("/v1/comparisons/{id}"),
                Some(KEY),
                None,
            )
            .await;
        }
    }
}

/// A finished model's result, as a store and a log hold it.
fn finished(i: usize, model: &str, text: &str) -> llm_compare_core::ModelResult {
    let snapshot = llm_compare_service::service::ModelSnapshot {
        model_index: i,
        model: model.into(),
        stage: llm_compare_core::Stage::Streaming,
        text: String::new(),
        result: None,
    };
    let ending = llm_compare_service::recover::interrupted_ending("x", vec![snapshot], 0.0);
    let Some(base) = ending.into_iter().find_map(|e| match e {
        EventKind::ModelResult(r) => Some(*r),
        _ => None,
    }) else {
        panic!("an ending has a model_result")
    };
    llm_compare_core::ModelResult {
        error: None,
        finish_reason: Some(llm_compare_core::FinishReason::Stop),
        partial: false,
        text: text.into(),
        ..base
    }
}

/// A server killed after writing a comparison's final row but before publishing its
/// `complete` (the store is written first, by contract): restarted under its instance id, it
/// ends that log as the store has it — a client following it on another server gets the
/// missing result and `complete`, instead of waiting until the log expires.
#[tokio::test]
async fn a_restarted_server_ends_the_logs_its_store_had_finished_before_the_crash() {
    let Some(url) = common::redis_url("cluster tests") else {
        return;
    };
    let prefix = format!("llm-compare-test-{}", uuid::Uuid::now_v7());
    let db = std::env::temp_dir().join(format!("llm-compare-crash-{}.db", uuid::Uuid::now_v7()));
    let db = format!("sqlite://{}", db.display());
    let instance = "server-a";
    let options = ServerOptions {
        instance_id: instance.into(),
        ..ServerOptions::default()
    };
    let models = vec!["sim/echo".to_string(), "sim/lorem".to_string()];
    let (a, b) = (
        finished(0, "sim/echo", "hi"),
        finished(1, "sim/lorem", "lorem ipsum"),
    );
    // The process that dies. Its first comparison ends normally: nothing left to end.
    let dead = RedisRegistry::connect(&url, &prefix, options.registry)
        .await
        .unwrap();
    let store = SqlStore::open(&db).await.unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let mut new = NewRequest::new("alice", models.clone());
        new.instance = instance.into();
        dead.register(&new).await.unwrap();
        store
            .create_comparison(&NewComparison {
                id: new.id.clone(),
                owner: "alice".into(),
                models: models.clone(),
                instance: instance.into(),
                created_at_ms: 1,
                ..NewComparison::default()
            })
            .await
            .unwrap();
        ids.push(new.id);
    }
    let complete = |id: &str| Complete {
        request_id: id.to_string(),
        status: RequestStatus::Completed,
        totals: Totals::of(&[a.clone(), b.clone()]),
        results: vec![a.clone(), b.clone()],
        duration_ms: 7.0,
    };
    for id in &ids {
        store.save_result(id, &a).await.unwrap();
        store.save_result(id, &b).await.unwrap();
        store.finish_comparison(id, &complete(id)).await.unwrap();
    }
    let running = vec![
        EventKind::Status {
            status: RequestStatus::Running,
        },
        EventKind::ModelResult(Box::new(a.clone())),
    ];
    let mut whole = running.clone();
    whole.extend([
        EventKind::ModelResult(Box::new(b.clone())),
        EventKind::Status {
            status: RequestStatus::Completed,
        },
        EventKind::Complete(complete(&ids[0])),
    ]);
    dead.publish(&ids[0], numbered(0, whole)).await.unwrap();
    // The second: killed after its final row, before its `complete` went out.
    dead.publish(&ids[1], numbered(0, running)).await.unwrap();
    drop(dead);

    // A client follows it on server B from the last event it saw.
    let b_registry = RedisRegistry::connect(&url, &prefix, options.registry)
        .await
        .unwrap();
    let mut follow = b_registry.subscribe("alice", &ids[1], 2).await.unwrap();
    let rest = tokio::spawn(async move {
        let mut out = Vec::new();
        while let Some(e) = follow.next().await {
            let end = matches!(e.kind, EventKind::Complete(_));
            out.push(e);
            if end {
                break;
            }
        }
        out
    });

    // A, restarted under its instance id.
    let restarted = RedisRegistry::connect(&url, &prefix, options.registry)
        .await
        .unwrap();
    let (engine, _) = sim_engine(SimConfig {
        ttft: Duration::from_millis(5),
        slow_ttft: Duration::from_secs(30),
        tokens_per_s: 200.0,
    });
    let state = AppState::with_backend(
        engine,
        options.clone(),
        Some(SqlStore::open(&db).await.unwrap()),
        Backend::Redis(restarted.clone()),
    );
    let recovered = state.service().recover().await.unwrap();
    assert_eq!(
        (recovered.interrupted, recovered.ended_as_stored),
        (0, 1),
        "{recovered:?}"
    );
    let rest = tokio::time::timeout(Duration::from_secs(10), rest)
        .await
        .expect("the follower's stream ends once A has restarted")
        .unwrap();
    let seqs: Vec<u64> = rest.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![3, 4, 5], "{rest:?}");
    assert!(matches!(&rest[0].kind, EventKind::ModelResult(r) if **r == b));
    let EventKind::Complete(c) = &rest[2].kind else {
        panic!("no complete: {rest:?}")
    };
    assert_eq!(c.status, RequestStatus::Completed);
    assert_eq!(c.results, vec![a.clone(), b.clone()]);
    assert_eq!(
        b_registry.status("alice", &ids[1]).await.unwrap().status,
        RequestStatus::Completed
    );
    // Nothing is left for a later restart, and the log got one ending only.
    assert!(
        restarted
            .left_unfinished(instance)
            .await
            .unwrap()
            .is_empty()
    );
    let again = state.service().recover().await.unwrap();
    assert_eq!(again.ended_as_stored, 0, "{again:?}");
    assert_eq!(
        b_registry.events("alice", &ids[1], 0).await.unwrap().len(),
        5
    );
}
